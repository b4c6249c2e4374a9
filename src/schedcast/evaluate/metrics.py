"""Metrics for next-event predictors, each defined exactly (docs/evaluate.md).

Predictions are arrays of shape (n, 6) over the fixed kind order
GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock; labels are kind indices
0..5. Every function checks its inputs and names the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from schedcast.models.scoring import (  # noqa: F401 - re-exported: the checks, the NLL and the program bootstrap are defined once, there
    PROB_FLOOR,
    SUM_TOLERANCE,
    Interval,
    MetricInputError,
    _pair,
    bootstrap_by_program,
    check_labels,
    check_probs,
    nll,
)
from schedcast.trace import N_KINDS

ECE_BINS = 15


def predicted_kind(probs: np.ndarray) -> np.ndarray:
    """Arg-max; ties go to the first kind in the fixed order."""
    return np.argmax(probs, axis=1)


def accuracy(probs: np.ndarray, labels: np.ndarray, model: str = "model") -> float:
    p, y = _pair(probs, labels, model)
    return float(np.mean(predicted_kind(p) == y))


def per_kind_accuracy(probs: np.ndarray, labels: np.ndarray, model: str = "model") -> np.ndarray:
    """Recall per true kind: of the examples whose next event is kind k, the share predicted k (NaN if none)."""
    p, y = _pair(probs, labels, model)
    pred = predicted_kind(p)
    out = np.full(N_KINDS, np.nan)
    for k in range(N_KINDS):
        mask = y == k
        if mask.any():
            out[k] = float(np.mean(pred[mask] == k))
    return out


def kind_frequencies(labels: np.ndarray) -> np.ndarray:
    y = check_labels(labels)
    if y.size == 0:
        return np.zeros(N_KINDS)
    return np.bincount(y, minlength=N_KINDS) / y.size


def majority_baseline_accuracy(train_labels: np.ndarray, test_labels: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent training kind (ties: first kind)."""
    majority = int(np.argmax(kind_frequencies(train_labels)))
    y = check_labels(test_labels, name="test labels")
    if y.size == 0:
        raise MetricInputError("majority baseline: no test examples")
    return float(np.mean(y == majority))


def brier(probs: np.ndarray, labels: np.ndarray, model: str = "model") -> float:
    """Multi-class Brier score: mean over examples of sum_k (p_k - 1[y = k])^2, in [0, 2]."""
    p, y = _pair(probs, labels, model)
    onehot = np.eye(N_KINDS)[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    # Bin b covers [b/n, (b+1)/n); the last bin also takes confidence 1.0.
    return np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)


def _binned_gap(conf: np.ndarray, hit: np.ndarray, n_bins: int) -> float:
    bins = _bin_index(conf, n_bins)
    total = 0.0
    for b in np.unique(bins):
        mask = bins == b
        total += mask.sum() / conf.size * abs(float(hit[mask].mean()) - float(conf[mask].mean()))
    return total


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS, model: str = "model") -> float:
    """Top-label expected calibration error with equal-width bins.

    ECE = sum over bins b of (n_b / n) * |accuracy_b - mean confidence_b|, where an
    example's confidence is its largest probability and it falls in bin
    floor(confidence * n_bins) (confidence 1.0 in the last bin). Empty bins add nothing.
    """
    p, y = _pair(probs, labels, model)
    conf = p.max(axis=1)
    hit = (predicted_kind(p) == y).astype(np.float64)
    return _binned_gap(conf, hit, n_bins)


@dataclass(frozen=True)
class EceFloor:
    mean: float  # mean ECE over the draws
    q95: float  # 95 % of the draws score at most this


def ece_floor(probs: np.ndarray, n_bins: int = ECE_BINS, draws: int = 200, seed: int = 0, model: str = "model") -> EceFloor:
    """The ECE a perfectly calibrated predictor with these confidences would score on
    this many examples: each draw makes every example's top label right with
    probability equal to its confidence, then computes the top-label ECE (`ece`'s bins).
    Not 0 on a finite set (a bin of n examples misses its confidence by about
    sqrt(c(1-c)/n)); a model's ECE below the 95 % figure is within sampling noise of
    perfect calibration."""
    p = check_probs(probs, model)
    if draws < 1:
        raise MetricInputError(f"{model}: ece_floor needs at least 1 draw, got {draws}")
    if p.shape[0] == 0:
        return EceFloor(0.0, 0.0)
    conf = p.max(axis=1)
    rng = np.random.default_rng(seed)
    gaps = np.array([_binned_gap(conf, (rng.random(conf.size) < conf).astype(np.float64), n_bins) for _ in range(draws)])
    return EceFloor(float(gaps.mean()), float(np.quantile(gaps, 0.95)))


def ece_by_program(
    probs: np.ndarray, labels: np.ndarray, programs: Sequence[str] | np.ndarray, n_boot: int = 1000, seed: int = 0,
    n_bins: int = ECE_BINS, model: str = "model",
) -> Interval:
    """The top-label ECE (`ece`) with a program-bootstrap 95 % interval: each replicate
    resamples the programs and scores the ECE on all examples of the drawn ones.

    `ece_floor` assumes every example's label is drawn on its own; a program's examples
    are right or wrong together far more often than that, so the figure moves with the
    set of programs more than the floor says. This interval shows how much. The ECE is
    biased upwards (each bin's |gap| is never below 0), the more so on fewer distinct
    programs, so the interval sits a little above the estimate: read it as the spread
    over sets of programs, not as an unbiased range of the model's true calibration."""
    p, y = _pair(probs, labels, model)
    conf = p.max(axis=1)
    hit = (predicted_kind(p) == y).astype(np.float64)
    if np.asarray(programs).size != y.size:
        raise MetricInputError(f"{model}: {np.asarray(programs).size} programs for {y.size} examples")
    return bootstrap_by_program(lambda idx: _binned_gap(conf[idx], hit[idx], n_bins), programs, n_boot, seed)


def classwise_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS, model: str = "model") -> float:
    """Mean over the six kinds of the binned gap between p_k and the frequency of kind k."""
    p, y = _pair(probs, labels, model)
    return float(np.mean([_binned_gap(p[:, k], (y == k).astype(np.float64), n_bins) for k in range(N_KINDS)]))


def check_distributions(dists: np.ndarray, name: str) -> np.ndarray:
    return check_probs(dists, name)


def mean_absolute_difference(pred: np.ndarray, target: np.ndarray, model: str = "model") -> float:
    """The research prototype's "ECE": mean over rows and kinds of |q_k - p̂_k|.

    It is a distance between distributions, not a calibration error; we report it
    under its real name only to compare with the prototype's figures.
    """
    q = check_probs(pred, model)
    t = check_distributions(target, "empirical distributions")
    if q.shape != t.shape:
        raise MetricInputError(f"{model}: {q.shape[0]} predictions for {t.shape[0]} distributions")
    return float(np.mean(np.abs(q - t)))


def kl_divergence(target: np.ndarray, pred: np.ndarray, model: str = "model") -> np.ndarray:
    """KL(p̂ || q) per row, in nats; terms with p̂_k = 0 add nothing, q floored at 1e-12."""
    q = check_probs(pred, model)
    t = check_distributions(target, "empirical distributions")
    if q.shape != t.shape:
        raise MetricInputError(f"{model}: {q.shape[0]} predictions for {t.shape[0]} distributions")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1.0)) - np.log(np.maximum(q, PROB_FLOOR))), 0.0)
    return terms.sum(axis=1)


def total_variation(target: np.ndarray, pred: np.ndarray, model: str = "model") -> np.ndarray:
    """Total variation distance per row: half the L1 distance, in [0, 1]."""
    q = check_probs(pred, model)
    t = check_distributions(target, "empirical distributions")
    if q.shape != t.shape:
        raise MetricInputError(f"{model}: {q.shape[0]} predictions for {t.shape[0]} distributions")
    return 0.5 * np.abs(q - t).sum(axis=1)


def entropy_bits(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row, in bits (0 log 0 = 0)."""
    p = check_probs(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)


@dataclass(frozen=True)
class Correlation:
    rho: float
    p_value: float
    n: int


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> Correlation:
    """Spearman's rank correlation with its two-sided p-value (scipy)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise MetricInputError("spearman: two 1-d arrays of the same length are needed")
    if a.size < 3:
        raise MetricInputError(f"spearman: at least 3 pairs are needed, got {a.size}")
    result = stats.spearmanr(a, b)
    return Correlation(float(result.statistic), float(result.pvalue), int(a.size))


def paired_difference(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    programs: Sequence[str] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Accuracy of A minus accuracy of B on the same examples, with a paired program
    bootstrap: each replicate resamples programs once and scores both models on the
    same draw, so the interval accounts for the two being correlated."""
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size != np.asarray(programs).size:
        raise MetricInputError("paired difference: two 1-d correctness arrays over the same examples (and their programs) are needed")
    diff = a - b
    return bootstrap_by_program(lambda idx: float(diff[idx].mean()), programs, n_boot, seed, level)


@dataclass(frozen=True)
class McNemar:
    only_a_right: int
    only_b_right: int
    p_value: float  # exact two-sided binomial test on the discordant pairs


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Paired McNemar test between two models scored on the same examples."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise MetricInputError("mcnemar: two 1-d correctness arrays over the same examples are needed")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    n = only_a + only_b
    p = 1.0 if n == 0 else float(stats.binomtest(only_a, n, 0.5).pvalue)
    return McNemar(only_a, only_b, p)


def oracle_accuracy(group_distributions: np.ndarray, example_groups: np.ndarray) -> float:
    """The best accuracy any predictor can reach given the observed distributions:
    the mean over examples of max_k p̂_k of the example's group."""
    d = check_distributions(group_distributions, "group distributions")
    g = np.asarray(example_groups)
    if g.size == 0:
        raise MetricInputError("oracle: no examples")
    return float(np.mean(d.max(axis=1)[g]))
