"""`schedcast train baselines` + `schedcast evaluate` on the built-in dataset."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.dataset.access import DatasetView
from schedcast.evaluate.evaluation import EvaluationError, evaluate
from schedcast.evaluate.metrics import MetricInputError
from schedcast.models import Examples, Predictor, PriorPredictor

runner = CliRunner()


def test_train_then_evaluate_writes_every_table(builtin_dataset: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = runner.invoke(app, ["train", "baselines", str(builtin_dataset), "--out", str(models)])
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in models.glob("*.json")) == ["fsm_prior", "majority", "ngram", "prior", "uniform"]
    out = tmp_path / "results"
    page = tmp_path / "results.md"
    result = runner.invoke(
        app, ["evaluate", str(builtin_dataset), str(models), "--split", "train", "--out", str(out), "--markdown", str(page), "--boot", "200"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert {r["model"] for r in rows} == {"fsm_prior", "majority", "ngram", "prior", "uniform"}
    for r in rows:
        assert float(r["accuracy_ci_low"]) <= float(r["accuracy"]) <= float(r["accuracy_ci_high"])
        assert 0 <= float(r["ece_ci_low"]) <= float(r["ece_ci_high"]) <= 1
    blob = json.loads((out / "metrics.json").read_text())
    refs = {r["name"]: r for r in blob["references"]}
    assert set(refs) == {
        "in-sample oracle, paper groups", "leave-one-run-out oracle, paper groups",
        "in-sample oracle, state groups", "leave-one-run-out oracle, state groups",
    }
    assert all(0 < r["accuracy"] <= 1 and r["n"] == blob["n_examples"] for r in refs.values())
    assert 0 <= blob["majority_accuracy"] <= 1 and blob["n_boot"] == 200
    by_name = {m["name"]: m for m in blob["models"]}
    # Majority: exactly the majority-class accuracy; the n-gram sees context and beats it on train.
    assert by_name["majority"]["accuracy"]["estimate"] == pytest.approx(blob["majority_accuracy"])
    # On the 10 built-in programs the n-gram's order (picked out of fold) can be 1, whose
    # argmax is the majority class: at least as accurate, and its probabilities far better.
    assert by_name["ngram"]["accuracy"]["estimate"] >= blob["majority_accuracy"]
    assert by_name["ngram"]["nll"]["estimate"] < by_name["majority"]["nll"]["estimate"]
    # Each model's ECE beside the ECE a perfectly calibrated model with its confidences scores here.
    for name, row in by_name.items():
        assert 0 <= row["ece_floor"]["mean"] <= row["ece_floor"]["q95"] < 1, name
        # ... and its program-bootstrap interval, around the very ECE reported.
        assert row["ece_interval"]["estimate"] == row["ece"] and row["ece_interval"]["n_boot"] == 200, name
        assert 0 <= row["ece_interval"]["low"] <= row["ece_interval"]["high"] <= 1, name
    assert by_name["majority"]["ece_floor"]["q95"] == 0  # confidence 1 everywhere: nothing to miss by chance
    assert by_name["ngram"]["ece_floor"]["mean"] > 0
    assert "ECE against its sampling floor" in page.read_text() and "ECE against its sampling floor" in result.output
    assert "program bootstrap [" in page.read_text()
    confusion = np.array(by_name["prior"]["confusion"])
    assert confusion.sum() == blob["n_examples"]
    text = page.read_text()
    assert "schedcast evaluate" in text and "GOMAXPROCS" in text and "in-sample oracle, paper groups" in text
    assert "leave-one-run-out oracle, state groups" in text and "(200 replicates)" in text
    assert "## What the train set is" in text and "### Accuracy per program (%)" in text
    # Every model's accuracy difference to the n-gram, paired program bootstrap, on the page.
    diffs = {d["model"]: d for d in blob["differences"]}
    assert set(diffs) == {"fsm_prior", "majority", "prior", "uniform"} and all(d["reference"] == "ngram" for d in diffs.values())
    for name, d in diffs.items():
        assert d["difference"] == pytest.approx(by_name[name]["accuracy"]["estimate"] - by_name["ngram"]["accuracy"]["estimate"])
        assert d["low"] <= d["difference"] <= d["high"]
    assert "### Accuracy difference to ngram" in text and "| majority | " in text.split("### Accuracy difference to ngram")[1]
    per_program = list(csv.DictReader(open(out / "per_program.csv")))
    assert {r["program"] for r in per_program} == set(blob["composition"]["program_share"][i]["program"] for i in range(len(per_program)))
    assert sum(int(r["examples"]) for r in per_program) == blob["n_examples"]
    bad = runner.invoke(app, ["evaluate", str(builtin_dataset), str(models), "--split", "train", "--boot", "0"])
    assert bad.exit_code == 1 and "--boot must be at least 1" in bad.output and "Traceback" not in bad.output


def test_ceiling_holds_for_group_level_predictors(builtin_dataset: Path) -> None:
    """A predictor that outputs each example's own group distribution reaches exactly
    the oracle accuracy: the ceiling is what the observed distributions allow."""
    view = DatasetView(builtin_dataset)
    examples, rows = view.model_examples("train", "paper")
    groups = view.groups.filter(view.groups["grouping"] == "paper")
    p_hat = dict(zip(groups["group_id"].to_list(), groups["p_hat"].to_list()))
    table = np.array([p_hat[g] for g in rows["paper_group"].to_list()], dtype=np.float64)
    table /= table.sum(axis=1, keepdims=True)

    class GroupOracle(Predictor):
        name: ClassVar[str] = "group_oracle"

        def fit(self, train: Examples) -> "GroupOracle":
            return self

        def predict_proba(self, ex: Examples) -> np.ndarray:
            return table

    ev = evaluate([GroupOracle()], view, split="train", n_boot=50)
    # On the examples it is computed on, the in-sample oracle bounds any predictor
    # that sees only (program, depth): this one (p̂ from the same examples) meets it.
    in_sample = next(r for r in ev.references if r.name == "in-sample oracle, paper groups")
    assert ev.models[0].accuracy.estimate <= in_sample.accuracy + 1e-9
    assert ev.models[0].kl == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs(builtin_dataset: Path, tmp_path: Path) -> None:
    view = DatasetView(builtin_dataset)
    with pytest.raises(EvaluationError, match="has no paper examples"):
        evaluate([PriorPredictor()], view, split="test")
    with pytest.raises(EvaluationError, match="paper grouping exists only"):
        evaluate([PriorPredictor()], view, split="train", protocol="all", grouping="paper")

    class Broken(Predictor):
        name: ClassVar[str] = "broken"

        def fit(self, train: Examples) -> "Broken":
            return self

        def predict_proba(self, ex: Examples) -> np.ndarray:
            return np.full((len(ex), 6), np.nan)

    with pytest.raises(MetricInputError, match="broken: predictions contain NaN"):
        evaluate([Broken()], view, split="train")
    missing = runner.invoke(app, ["evaluate", str(builtin_dataset), str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "no such model file" in missing.output


def test_reference_oracles_by_hand() -> None:
    from schedcast.evaluate.references import in_sample_oracle, leave_one_run_out_oracle

    # Group 7: labels 0, 0, 1 -> 2 of 3 right; group 9: labels 2, 3 -> a tie: 1/2 each.
    groups = np.array([7, 7, 7, 9, 9])
    labels = np.array([0, 0, 1, 2, 3])
    assert in_sample_oracle(groups, labels) == pytest.approx((1 + 1 + 0 + 0.5 + 0.5) / 5)
    # Leave-one-run-out: the group's counts minus the example's own run.
    counts = np.array([[3, 1, 0, 0, 0, 0], [3, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    own = np.array([[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    # Example 1: rest (2, 1) -> kind 0, label 0: right. Example 2: rest (3, 0) -> kind 0, label 1: wrong.
    # Example 3: no other run -> the fallback kind 4, label 4: right.
    acc, fallback = leave_one_run_out_oracle(counts, own, np.array([0, 1, 4]), fallback_kind=4)
    assert acc == pytest.approx(2 / 3) and fallback == 1
    with pytest.raises(ValueError):
        leave_one_run_out_oracle(counts, counts + 1, np.array([0, 1, 4]), 0)


def test_leave_one_run_out_uses_only_other_runs(builtin_dataset: Path) -> None:
    """Recomputed by brute force from the events table: for each example, the next
    kinds at the positions of *other* runs of its program in the same state group."""
    import polars as pl

    from schedcast.evaluate.references import leave_one_run_out_oracle, reference_rows

    view = DatasetView(builtin_dataset)
    examples, rows = view.model_examples("train", "paper")
    events = pl.read_parquet(builtin_dataset / "events.parquet")
    counts = np.zeros((rows.height, 6), dtype=np.int64)
    for i, (run_key, group) in enumerate(rows.select("run_key", "state_group").iter_rows()):
        others = events.filter((pl.col("state_group") == group) & (pl.col("run_key") != run_key))["kind"].to_numpy()
        counts[i] = np.bincount(others, minlength=6)
    expected, fallback = leave_one_run_out_oracle(counts, np.zeros_like(counts), examples.labels, fallback_kind=0)
    refs = {r.name: r for r in reference_rows(view, rows, examples.labels, 0)}
    got = refs["leave-one-run-out oracle, state groups"]
    assert got.accuracy == pytest.approx(expected) and got.fallback == fallback


def test_origin_filter(builtin_dataset: Path) -> None:
    view = DatasetView(builtin_dataset)
    ev = evaluate([PriorPredictor().fit(view.model_examples("train")[0])], view, split="train", n_boot=20, origins=["builtin"])
    assert ev.origins == ["builtin"] and ev.per_origin[0]["examples"] == ev.n_examples
    with pytest.raises(EvaluationError, match="no train examples of origin goker"):
        evaluate([PriorPredictor()], view, split="train", origins=["goker"])
    with pytest.raises(EvaluationError, match="at least 1 replicate"):
        evaluate([PriorPredictor()], view, split="train", n_boot=0)
