"""The paper's distributional anomaly signal, and Cohen's d with a bootstrap interval.

The paper groups runs by (program, split depth): at 25/50/75 % of each run's program
events (the modelling window), the next event's kind; over the runs, that gives an
empirical next-event distribution per depth. Its anomaly signal is the probability of
GoUnblock in those distributions (a select-blocked leak drives it to 0) and their
entropy; it compared buggy and clean programs with Cohen's d (0.29, n = 9).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from schedcast.trace import Trace

PAPER_DEPTHS = (0.25, 0.5, 0.75)


def next_kinds_at_depths(trace: Trace, depths: Sequence[float] = PAPER_DEPTHS) -> dict[str, str]:
    """The kind of the event after a prefix of depth d (fraction of the run's program
    events in the window), for each depth; a depth at or past the end has no entry."""
    return next_kinds([ev.kind.value for ev in trace.program_events() if ev.kind is not None], depths)


def next_kinds(kinds: Sequence[str], depths: Sequence[float] = PAPER_DEPTHS) -> dict[str, str]:
    """`next_kinds_at_depths` from a run's window kind sequence."""
    out: dict[str, str] = {}
    for d in depths:
        k = int(d * len(kinds))
        if k < len(kinds):
            out[f"{d:g}"] = kinds[k]
    return out


def program_signal(per_run: Sequence[dict[str, str]], depths: Sequence[float] = PAPER_DEPTHS) -> tuple[float, float] | None:
    """(mean P(GoUnblock), mean entropy in bits) over the depths' next-event
    distributions of one program's runs; None when no depth has an observation."""
    p_unblock: list[float] = []
    entropy: list[float] = []
    for d in depths:
        counts = Counter(r[f"{d:g}"] for r in per_run if f"{d:g}" in r)
        n = sum(counts.values())
        if not n:
            continue
        p_unblock.append(counts.get("GoUnblock", 0) / n)
        entropy.append(-sum((c / n) * math.log2(c / n) for c in counts.values()))
    if not p_unblock:
        return None
    return float(np.mean(p_unblock)), float(np.mean(entropy))


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean(a) - mean(b)) / pooled standard deviation (ddof = 1); nan if undefined."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return float("nan")
    pooled = ((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / (len(x) + len(y) - 2)
    if pooled <= 0:
        return float("nan")
    return float((x.mean() - y.mean()) / math.sqrt(pooled))


def bootstrap_d(a: Sequence[float], b: Sequence[float], *, boot: int = 10000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Cohen's d and its percentile bootstrap interval, resampling programs within each group."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = cohens_d(x, y)
    rng = np.random.default_rng(seed)
    ds = []
    for _ in range(boot):
        v = cohens_d(rng.choice(x, len(x)), rng.choice(y, len(y)))
        if not math.isnan(v):
            ds.append(v)
    if not ds:
        return d, float("nan"), float("nan")
    lo, hi = np.quantile(ds, [(1 - level) / 2, 1 - (1 - level) / 2])
    return d, float(lo), float(hi)
