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
    blob = json.loads((out / "metrics.json").read_text())
    assert 0 < blob["oracle_accuracy"] <= 1 and 0 <= blob["majority_accuracy"] <= 1
    by_name = {m["name"]: m for m in blob["models"]}
    # Majority: exactly the majority-class accuracy; the n-gram sees context and beats it on train.
    assert by_name["majority"]["accuracy"]["estimate"] == pytest.approx(blob["majority_accuracy"])
    assert by_name["ngram"]["accuracy"]["estimate"] > blob["majority_accuracy"]
    confusion = np.array(by_name["prior"]["confusion"])
    assert confusion.sum() == blob["n_examples"]
    text = page.read_text()
    assert "schedcast evaluate" in text and "GOMAXPROCS" in text and "oracle, paper groups" in text and "oracle, state groups" in text
    assert 0 < blob["oracle_state_accuracy"] <= 1


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
    # Ties inside a group break to the first kind, so the oracle can only be matched, not beaten.
    assert ev.models[0].accuracy.estimate <= ev.oracle_accuracy + 1e-9
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
