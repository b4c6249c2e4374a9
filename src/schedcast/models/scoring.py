"""Scoring a predictor's probabilities against labels: the input checks, the NLL and the
program bootstrap, shared by model selection (models), the evaluation's metrics
(evaluate.metrics, which re-exports them) and the probe. Predictions are (n, 6) over
the fixed kind order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from schedcast.trace import N_KINDS

PROB_FLOOR = 1e-12  # log(0) guard for NLL and KL: a zero probability on the truth costs -log(1e-12)
SUM_TOLERANCE = 1e-6


class MetricInputError(ValueError):
    """Predictions or labels that cannot be scored; the message names the model and the problem."""


def check_probs(probs: np.ndarray, model: str = "model") -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != N_KINDS:
        raise MetricInputError(f"{model}: predictions must have shape (n, {N_KINDS}), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise MetricInputError(f"{model}: predictions contain NaN or infinite values")
    if np.any(p < 0):
        raise MetricInputError(f"{model}: predictions contain negative probabilities")
    sums = p.sum(axis=1)
    if p.shape[0] and np.max(np.abs(sums - 1.0)) > SUM_TOLERANCE:
        raise MetricInputError(f"{model}: prediction rows must sum to 1 (worst row sums to {sums[np.argmax(np.abs(sums - 1))]:.6f})")
    return p


def check_labels(labels: np.ndarray, n: int | None = None, name: str = "labels") -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise MetricInputError(f"{name}: must be a 1-d array of kind indices")
    if y.size and (y.min() < 0 or y.max() >= N_KINDS):
        raise MetricInputError(f"{name}: kind indices must lie in 0..{N_KINDS - 1}")
    if n is not None and y.shape[0] != n:
        raise MetricInputError(f"{name}: {y.shape[0]} labels for {n} predictions")
    return y


def _pair(probs: np.ndarray, labels: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    p = check_probs(probs, model)
    y = check_labels(labels, p.shape[0])
    if p.shape[0] == 0:
        raise MetricInputError(f"{model}: no examples to score (empty split?)")
    return p, y


def nll(probs: np.ndarray, labels: np.ndarray, model: str = "model") -> float:
    """Mean negative log-likelihood (nats) of the true kind; probabilities floored at 1e-12."""
    p, y = _pair(probs, labels, model)
    return float(-np.mean(np.log(np.maximum(p[np.arange(y.size), y], PROB_FLOOR))))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n_boot: int


def bootstrap_by_program(
    statistic: Callable[[np.ndarray], float],
    programs: Sequence[str] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap that resamples programs, not examples.

    `statistic(indices)` computes the metric on the examples at `indices` (with
    repetitions). Each replicate draws as many programs as there are, with
    replacement, and takes all examples of every drawn program: examples of one
    program are not independent, so resampling them one by one would give
    intervals that are too narrow.
    """
    prog = np.asarray(programs)
    if prog.size == 0:
        raise MetricInputError("bootstrap: no examples")
    names, inverse = np.unique(prog, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(names.size)]
    rng = np.random.default_rng(seed)
    estimate = statistic(np.arange(prog.size))
    reps = np.empty(n_boot)
    for r in range(n_boot):
        chosen = rng.integers(0, names.size, size=names.size)
        reps[r] = statistic(np.concatenate([members[c] for c in chosen]))
    alpha = (1 - level) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return Interval(float(estimate), float(low), float(high), n_boot)
