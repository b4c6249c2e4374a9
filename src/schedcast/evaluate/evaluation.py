"""Evaluate predictors on a dataset split: every metric, with program-level intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from schedcast.collect.executor import Executor, LocalExecutor, imap_ordered
from schedcast.dataset.access import DatasetView
from schedcast.dataset.stats import split_composition
from schedcast.evaluate import metrics as m
from schedcast.evaluate.references import Reference, reference_rows
from schedcast.models.base import KIND_NAMES, Predictor
from schedcast.terminal import track

GROUP_COLUMN = {"paper": "paper_group", "state": "state_group"}
DIFFERENCE_REFERENCE = "ngram"  # accuracy differences are reported against this model (the strongest baseline)
PREDICTIONS_KEPT_UP_TO = 1_000_000  # examples: above this, predictions.parquet is not written (24 MB per model)


class EvaluationError(ValueError):
    pass


@dataclass
class ModelScores:
    name: str
    n: int
    accuracy: m.Interval
    accuracy_per_program: float  # mean over programs of each program's accuracy
    nll: m.Interval
    brier: float
    ece: float
    classwise_ece: float
    mean_abs_diff: float  # the prototype's "ECE" (vs the group's p̂)
    kl: float  # mean KL(p̂ || q) over examples
    tv: float
    per_kind_accuracy: list[float]
    confusion: list[list[int]]  # rows: true kind, columns: predicted kind
    entropy_vs_nondeterminism: m.Correlation | None
    correct: np.ndarray = field(repr=False)
    # For the report (evaluate/output.py): the 15-bin top-label reliability data, and the
    # predictions themselves (float32) when the split has at most PREDICTIONS_KEPT_UP_TO examples.
    reliability: list[dict[str, Any]] = field(default_factory=list, repr=False)
    probs: np.ndarray | None = field(default=None, repr=False)
    # The ECE a perfectly calibrated model with these confidences would score here (metrics.ece_floor).
    ece_floor: m.EceFloor | None = None
    # The ECE's program-bootstrap 95 % interval (metrics.ece_by_program): how far it moves with the set of programs.
    ece_interval: m.Interval | None = None


@dataclass
class Evaluation:
    split: str
    protocol: str
    grouping: str
    n_examples: int
    n_programs: int
    majority_kind: str
    majority_accuracy: float
    references: list[Reference]  # in-sample and leave-one-run-out oracles (evaluate/references.py)
    train_frequency: list[float]
    test_frequency: list[float]
    models: list[ModelScores]
    mcnemar: dict[str, dict[str, Any]]
    # Per model other than DIFFERENCE_REFERENCE: its accuracy minus the reference's, with a
    # paired program-bootstrap 95 % interval (empty when the reference was not evaluated).
    differences: list[dict[str, Any]]
    n_boot: int
    origins: list[str]  # the origins evaluated (all of the split's unless --origin chose)
    per_origin: list[dict[str, Any]]  # per origin: examples, programs, majority and each model's accuracy
    per_program: list[dict[str, Any]]  # per program: origin, examples, runs, events, majority and each model's accuracy
    composition: dict[str, Any]  # what the evaluated split is made of (dataset.stats.split_composition)
    # One row per evaluated example (program, origin, run_key, run_id, k, depth_pct, label,
    # group_entropy_bits), in the order of each model's `probs`: for predictions.parquet.
    example_rows: pl.DataFrame | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("models", "references", "example_rows")}
        out["references"] = [r.__dict__ for r in self.references]
        out["models"] = []
        for s in self.models:
            d = {k: v for k, v in s.__dict__.items() if k not in ("correct", "probs", "reliability")}
            d["accuracy"] = s.accuracy.__dict__
            d["nll"] = s.nll.__dict__
            d["entropy_vs_nondeterminism"] = s.entropy_vs_nondeterminism.__dict__ if s.entropy_vs_nondeterminism else None
            d["ece_floor"] = s.ece_floor.__dict__ if s.ece_floor else None
            d["ece_interval"] = s.ece_interval.__dict__ if s.ece_interval else None
            out["models"].append(d)
        return out


def reliability_bins(q: np.ndarray, y: np.ndarray, pred: np.ndarray) -> list[dict[str, Any]]:
    """The bins of the top-label ECE (metrics.ece): per equal-width confidence bin, its
    count, mean confidence and accuracy (NaN for an empty bin)."""
    conf = q.max(axis=1)
    hit = pred == y
    bins = np.minimum((conf * m.ECE_BINS).astype(np.int64), m.ECE_BINS - 1)
    out = []
    for b in range(m.ECE_BINS):
        mask = bins == b
        n = int(mask.sum())
        out.append({
            "bin": b, "low": b / m.ECE_BINS, "high": (b + 1) / m.ECE_BINS, "count": n,
            "mean_confidence": float(conf[mask].mean()) if n else float("nan"),
            "accuracy": float(hit[mask].mean()) if n else float("nan"),
        })
    return out


def _example_groups(view: DatasetView, grouping: str, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """p̂ (n, 6) and the entropy of p̂ of each example's group under `grouping`."""
    groups = view.groups.filter(pl.col("grouping") == grouping)
    index = {g: i for i, g in enumerate(groups["group_id"].to_list())}
    at = np.array([index[g] for g in rows[GROUP_COLUMN[grouping]].to_list()], dtype=np.int64)
    p_hat = np.array(groups["p_hat"].to_list(), dtype=np.float64)[at]
    p_hat /= p_hat.sum(axis=1, keepdims=True)  # stored as float32
    return p_hat, groups["entropy_bits"].to_numpy().astype(np.float64)[at]


def _bootstrap(job: tuple[str, tuple[Any, ...]]) -> m.Interval:
    """A program-bootstrap interval (a task any executor runs): ("mean", (values, programs,
    n_boot, seed)) of a per-example value's mean, or ("ece", (probs, labels, programs,
    n_boot, seed, model)) of the top-label ECE."""
    what, args = job
    if what == "mean":
        values, programs, n_boot, seed = args
        return m.bootstrap_by_program(lambda idx: float(values[idx].mean()), programs, n_boot, seed)
    q, y, programs, n_boot, seed, name = args
    return m.ece_by_program(q, y, programs, n_boot, seed, model=name)


def evaluate(
    models: Sequence[Predictor],
    view: DatasetView,
    split: str = "test",
    protocol: str = "paper",
    grouping: str = "paper",
    n_boot: int = 1000,
    seed: int = 0,
    origins: Sequence[str] | None = None,
    executor: Executor | None = None,
) -> Evaluation:
    """`executor` runs the bootstraps (default: threads here; a DaskExecutor spreads them)."""
    if n_boot < 1:
        raise EvaluationError(f"the bootstrap needs at least 1 replicate (got {n_boot})")
    if grouping not in GROUP_COLUMN:
        raise EvaluationError(f"unknown grouping {grouping!r}; choose from {sorted(GROUP_COLUMN)}")
    if grouping == "paper" and protocol != "paper":
        raise EvaluationError("the paper grouping exists only for the paper protocol (use --grouping state)")
    examples, rows = view.model_examples(split, protocol)
    if len(examples) == 0:
        available = view.examples.filter(pl.col("label") >= 0).group_by("split").len().sort("split").rows()
        raise EvaluationError(f"split {split!r} has no {protocol} examples (available: {dict(available)})")
    origin_of = dict(zip(view.programs["program_id"].to_list(), view.programs["origin"].cast(pl.Utf8).to_list()))
    example_origin = np.array([origin_of[p] for p in examples.programs], dtype=object)
    present = sorted(set(example_origin.tolist()))
    if origins:
        unknown = sorted(set(origins) - set(present))
        if unknown:
            raise EvaluationError(f"no {split} examples of origin {', '.join(unknown)} (present: {', '.join(present)})")
        keep = np.isin(example_origin, list(origins))
        examples, rows, example_origin = examples.subset(np.flatnonzero(keep)), rows.filter(pl.Series(keep)), example_origin[keep]
        present = sorted(set(origins))
    train, _ = view.model_examples("train", protocol)
    if len(train) == 0:
        raise EvaluationError("the train split is empty: nothing to take the majority class and frequencies from")

    # The observed distribution of each example's group.
    p_hat, group_entropy = _example_groups(view, grouping, rows)
    y = examples.labels
    programs = examples.programs.astype(str)
    prog_names, prog_index = np.unique(programs, return_inverse=True)

    # Nondeterminism measured from runs: a program's mean group entropy over its examples.
    nondeterminism = np.bincount(prog_index, weights=group_entropy) / np.bincount(prog_index)

    scores: list[ModelScores] = []
    for model in track(models, "evaluate", len(models), "models"):
        q = m.check_probs(model.predict_proba(examples), model.name)
        if q.shape[0] != len(examples):
            raise m.MetricInputError(f"{model.name}: {q.shape[0]} predictions for {len(examples)} examples")
        pred = m.predicted_kind(q)
        correct = (pred == y).astype(np.float64)
        nll_each = -np.log(np.maximum(q[np.arange(y.size), y], m.PROB_FLOOR))
        jobs = [("mean", (values, programs, n_boot, seed)) for values in (correct, nll_each)]
        jobs.append(("ece", (q, y, programs, n_boot, seed, model.name)))
        acc_ci, nll_ci, ece_ci = imap_ordered(executor or LocalExecutor(2), _bootstrap, jobs)
        per_program = np.bincount(prog_index, weights=correct) / np.bincount(prog_index)
        confusion = np.zeros((6, 6), dtype=np.int64)
        np.add.at(confusion, (y, pred), 1)
        entropy = m.entropy_bits(q)
        model_entropy = np.bincount(prog_index, weights=entropy) / np.bincount(prog_index)
        corr = None
        if prog_names.size >= 3 and np.ptp(model_entropy) > 0 and np.ptp(nondeterminism) > 0:
            corr = m.spearman(model_entropy, nondeterminism)
        scores.append(
            ModelScores(
                name=model.name,
                n=len(examples),
                accuracy=acc_ci,
                accuracy_per_program=float(per_program.mean()),
                nll=nll_ci,
                brier=m.brier(q, y, model.name),
                ece=ece_ci.estimate,
                classwise_ece=m.classwise_ece(q, y, model=model.name),
                mean_abs_diff=m.mean_absolute_difference(q, p_hat, model.name),
                kl=float(m.kl_divergence(p_hat, q, model.name).mean()),
                tv=float(m.total_variation(p_hat, q, model.name).mean()),
                per_kind_accuracy=[float(x) for x in m.per_kind_accuracy(q, y, model.name)],
                confusion=confusion.tolist(),
                entropy_vs_nondeterminism=corr,
                correct=correct.astype(bool),
                reliability=reliability_bins(q, y, pred),
                probs=q.astype(np.float32) if len(examples) <= PREDICTIONS_KEPT_UP_TO else None,
                ece_floor=m.ece_floor(q, model=model.name),
                ece_interval=ece_ci,
            )
        )

    pairs: dict[str, dict[str, Any]] = {}
    for a, b in combinations(scores, 2):
        t = m.mcnemar(a.correct, b.correct)
        pairs[f"{a.name} vs {b.name}"] = {"only_a_right": t.only_a_right, "only_b_right": t.only_b_right, "p_value": t.p_value}

    differences = []
    reference = next((s for s in scores if s.name == DIFFERENCE_REFERENCE), None)
    for s in scores:
        if reference is not None and s is not reference:
            d = m.paired_difference(s.correct, reference.correct, programs, n_boot, seed)
            differences.append({"model": s.name, "reference": reference.name, "difference": d.estimate, "low": d.low, "high": d.high})

    train_freq = m.kind_frequencies(train.labels)
    majority = int(np.argmax(train_freq))
    majority_correct = (y == majority).astype(np.float64)

    def accuracies(idx: np.ndarray) -> dict[str, float]:
        out = {"majority class": float(majority_correct[idx].mean())}
        out.update({s.name: float(s.correct[idx].mean()) for s in scores})
        return out

    per_origin = []
    for origin in present:
        idx = np.flatnonzero(example_origin == origin)
        per_origin.append({"origin": origin, "examples": int(idx.size), "programs": int(np.unique(programs[idx]).size), **accuracies(idx)})
    runs = view.runs.select("run_key", pl.col("program_id").cast(pl.Utf8), "n_events")
    run_keys = rows["run_key"].to_numpy()
    per_program = []
    for i, name in enumerate(prog_names.tolist()):
        idx = np.flatnonzero(prog_index == i)
        mine = runs.filter(pl.col("run_key").is_in(np.unique(run_keys[idx]).tolist()))
        per_program.append({
            "program": name, "origin": origin_of[name], "examples": int(idx.size), "runs": mine.height,
            "events_per_run_median": float(mine["n_events"].median() or 0), **accuracies(idx),
        })
    run_ids = dict(zip(view.runs["run_key"].to_list(), view.runs["run_id"].to_list()))
    example_rows = pl.DataFrame({
        "program": programs.tolist(),
        "origin": example_origin.tolist(),
        "run_key": run_keys.astype(np.int32),
        "run_id": [run_ids[int(r)] for r in run_keys],
        "k": rows["k"].to_numpy(),
        "depth_pct": rows["depth_pct"].to_numpy(),
        "label": y.astype(np.int8),
        "group_entropy_bits": group_entropy,
    })
    composition = split_composition(view.programs, view.runs, view.examples.filter(pl.col("run_key").is_in(np.unique(run_keys).tolist())), split, protocol)
    return Evaluation(
        split=split,
        protocol=protocol,
        grouping=grouping,
        n_examples=len(examples),
        n_programs=int(prog_names.size),
        majority_kind=KIND_NAMES[majority],
        majority_accuracy=m.majority_baseline_accuracy(train.labels, y),
        references=reference_rows(view, rows, y, majority),
        train_frequency=train_freq.tolist(),
        test_frequency=m.kind_frequencies(y).tolist(),
        models=scores,
        mcnemar=pairs,
        differences=differences,
        n_boot=n_boot,
        origins=present,
        per_origin=per_origin,
        per_program=per_program,
        composition=composition,
        example_rows=example_rows,
    )
