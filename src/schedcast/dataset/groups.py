"""Distribution groups: examples that share a situation, their next-kind counts, the
empirical distribution and the Dirichlet posterior.

With counts c over the six kinds and a Jeffreys prior (alpha = 0.5 per kind), the
posterior is Dirichlet(c + 0.5). Its mean is (c_k + 0.5) / (n + 3), and the 95 %
credible interval of kind k is the 2.5 % and 97.5 % quantiles of its marginal,
Beta(c_k + 0.5, n + 3 - c_k - 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from schedcast.trace import N_KINDS

JEFFREYS_ALPHA = 0.5
CREDIBLE_LEVEL = 0.95


@dataclass(frozen=True)
class GroupDistribution:
    counts: np.ndarray  # (6,) int
    p_hat: np.ndarray  # (6,) empirical distribution
    alpha: np.ndarray  # (6,) posterior Dirichlet parameters
    posterior_mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    entropy_bits: float  # of p_hat

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def group_distribution(counts: np.ndarray, prior: float = JEFFREYS_ALPHA, level: float = CREDIBLE_LEVEL) -> GroupDistribution:
    c = np.asarray(counts, dtype=np.float64)
    if c.shape != (N_KINDS,) or np.any(c < 0):
        raise ValueError(f"counts must be 6 non-negative numbers, got {counts!r}")
    n = c.sum()
    if n == 0:
        raise ValueError("a distribution group needs at least one example")
    p_hat = c / n
    alpha = c + prior
    total = alpha.sum()
    tail = (1 - level) / 2
    low = stats.beta.ppf(tail, alpha, total - alpha)
    high = stats.beta.ppf(1 - tail, alpha, total - alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = float(-np.sum(np.where(p_hat > 0, p_hat * np.log2(np.where(p_hat > 0, p_hat, 1.0)), 0.0)))
    return GroupDistribution(c.astype(np.int64), p_hat, alpha, alpha / total, low, high, entropy)
