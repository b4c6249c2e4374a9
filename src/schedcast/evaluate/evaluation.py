"""Evaluate predictors on a dataset split: every metric, with program-level intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from schedcast.dataset.access import DatasetView
from schedcast.evaluate import metrics as m
from schedcast.models.base import KIND_NAMES, Predictor

GROUP_COLUMN = {"paper": "paper_group", "state": "state_group"}


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


@dataclass
class Evaluation:
    split: str
    protocol: str
    grouping: str
    n_examples: int
    n_programs: int
    majority_kind: str
    majority_accuracy: float
    oracle_accuracy: float  # under the evaluation's grouping
    oracle_state_accuracy: float  # under the sharper abstract-state grouping
    train_frequency: list[float]
    test_frequency: list[float]
    models: list[ModelScores]
    mcnemar: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "models"}
        out["models"] = []
        for s in self.models:
            d = {k: v for k, v in s.__dict__.items() if k != "correct"}
            d["accuracy"] = s.accuracy.__dict__
            d["nll"] = s.nll.__dict__
            d["entropy_vs_nondeterminism"] = s.entropy_vs_nondeterminism.__dict__ if s.entropy_vs_nondeterminism else None
            out["models"].append(d)
        return out


def _example_groups(view: DatasetView, grouping: str, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """p̂ (n, 6) and the entropy of p̂ of each example's group under `grouping`."""
    groups = view.groups.filter(pl.col("grouping") == grouping)
    index = {g: i for i, g in enumerate(groups["group_id"].to_list())}
    at = np.array([index[g] for g in rows[GROUP_COLUMN[grouping]].to_list()], dtype=np.int64)
    p_hat = np.array(groups["p_hat"].to_list(), dtype=np.float64)[at]
    p_hat /= p_hat.sum(axis=1, keepdims=True)  # stored as float32
    return p_hat, groups["entropy_bits"].to_numpy().astype(np.float64)[at]


def evaluate(
    models: Sequence[Predictor],
    view: DatasetView,
    split: str = "test",
    protocol: str = "paper",
    grouping: str = "paper",
    n_boot: int = 1000,
    seed: int = 0,
) -> Evaluation:
    if grouping not in GROUP_COLUMN:
        raise EvaluationError(f"unknown grouping {grouping!r}; choose from {sorted(GROUP_COLUMN)}")
    if grouping == "paper" and protocol != "paper":
        raise EvaluationError("the paper grouping exists only for the paper protocol (use --grouping state)")
    examples, rows = view.model_examples(split, protocol)
    if len(examples) == 0:
        available = view.examples.filter(pl.col("label") >= 0).group_by("split").len().sort("split").rows()
        raise EvaluationError(f"split {split!r} has no {protocol} examples (available: {dict(available)})")
    train, _ = view.model_examples("train", protocol)
    if len(train) == 0:
        raise EvaluationError("the train split is empty: nothing to take the majority class and frequencies from")

    # The observed distribution of each example's group, under both groupings.
    p_hat, group_entropy = _example_groups(view, grouping, rows)
    state_p_hat, _ = _example_groups(view, "state", rows)
    y = examples.labels
    programs = examples.programs.astype(str)
    prog_names, prog_index = np.unique(programs, return_inverse=True)

    # Nondeterminism measured from runs: a program's mean group entropy over its examples.
    nondeterminism = np.bincount(prog_index, weights=group_entropy) / np.bincount(prog_index)

    scores: list[ModelScores] = []
    for model in models:
        q = m.check_probs(model.predict_proba(examples), model.name)
        if q.shape[0] != len(examples):
            raise m.MetricInputError(f"{model.name}: {q.shape[0]} predictions for {len(examples)} examples")
        pred = m.predicted_kind(q)
        correct = (pred == y).astype(np.float64)
        nll_each = -np.log(np.maximum(q[np.arange(y.size), y], m.PROB_FLOOR))
        acc_ci = m.bootstrap_by_program(lambda idx: float(correct[idx].mean()), programs, n_boot, seed)
        nll_ci = m.bootstrap_by_program(lambda idx: float(nll_each[idx].mean()), programs, n_boot, seed)
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
                ece=m.ece(q, y, model=model.name),
                classwise_ece=m.classwise_ece(q, y, model=model.name),
                mean_abs_diff=m.mean_absolute_difference(q, p_hat, model.name),
                kl=float(m.kl_divergence(p_hat, q, model.name).mean()),
                tv=float(m.total_variation(p_hat, q, model.name).mean()),
                per_kind_accuracy=[float(x) for x in m.per_kind_accuracy(q, y, model.name)],
                confusion=confusion.tolist(),
                entropy_vs_nondeterminism=corr,
                correct=correct.astype(bool),
            )
        )

    pairs: dict[str, dict[str, Any]] = {}
    for a, b in combinations(scores, 2):
        t = m.mcnemar(a.correct, b.correct)
        pairs[f"{a.name} vs {b.name}"] = {"only_a_right": t.only_a_right, "only_b_right": t.only_b_right, "p_value": t.p_value}

    train_freq = m.kind_frequencies(train.labels)
    return Evaluation(
        split=split,
        protocol=protocol,
        grouping=grouping,
        n_examples=len(examples),
        n_programs=int(prog_names.size),
        majority_kind=KIND_NAMES[int(np.argmax(train_freq))],
        majority_accuracy=m.majority_baseline_accuracy(train.labels, y),
        oracle_accuracy=m.oracle_accuracy(p_hat, np.arange(len(examples))),
        oracle_state_accuracy=m.oracle_accuracy(state_p_hat, np.arange(len(examples))),
        train_frequency=train_freq.tolist(),
        test_frequency=m.kind_frequencies(y).tolist(),
        models=scores,
        mcnemar=pairs,
    )
