"""The leak detectors the comparison measures, on the first k runs of a program.

(a) signature: some leak shows the select-block signature in every one of the k runs
    (its goroutines' first block is the select they end in, never unblocked after it);
(b) blocked:   some leak (same creation site, blocking site and wait) is blocked at
    the end of every one of the k runs;
(c) profile:   Go's goroutineleak profile marked a goroutine leaked in at least one of
    the k runs (the profile is a proof: one run suffices);
(d) a or c:    the two proofs together (scheduler semantics, GC reachability);
(any)          a goroutine blocked at the end of at least one run: what makes
    `schedcast leaks` exit 1.

Labels by construction: a program whose declared outcomes include a blocking bug
(leak, deadlock, or blocked: goroutines waiting forever) is a positive, one declared
clean (ok) a negative; the rest (race, panic, timeout only) are not labelled.
"""

from __future__ import annotations

from schedcast.corpus.program import Program
from schedcast.leaks.analysis import RunLeaks
from schedcast.leaks.report import aggregate
from schedcast.leaks.sites import SourceSites

DETECTORS = ("signature", "blocked", "profile", "signature|profile", "any")
DETECTOR_TITLES = {
    "signature": "(a) select-block signature, every run",
    "blocked": "(b) blocked at end, every run",
    "profile": "(c) Go goroutineleak profile, any run",
    "signature|profile": "(d) (a) or (c)",
    "any": "blocked at end in any run (`schedcast leaks` exit 1)",
}
BLOCKING_OUTCOMES = frozenset({"leak", "deadlock", "blocked"})


def label(program: Program) -> bool | None:
    """True: a blocking bug by construction; False: declared clean; None: not labelled."""
    expected = set(program.expected)
    if expected & BLOCKING_OUTCOMES:
        return True
    if expected == {"ok"}:
        return False
    return None


def detect(program: Program, runs: list[RunLeaks], k: int, sites: SourceSites | None = None) -> dict[str, bool]:
    """Each detector's verdict on the runs with run_index < k."""
    first = [r for r in runs if r.run_index < k]
    report = aggregate(program, first, sites=sites)
    signature = any(l.signature for l in report.leaks)
    blocked = any(l.runs == l.of_runs and l.of_runs > 0 for l in report.leaks)
    profile = any(r.profile_leaked > 0 for r in first if not r.trace_error)
    return {
        "signature": signature,
        "blocked": blocked,
        "profile": profile,
        "signature|profile": signature or profile,
        "any": bool(report.leaks),
    }


def precision_recall(verdicts: list[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """From (label, flagged) pairs: TP, FP, FN, TN, precision, recall (None if undefined)."""
    tp = sum(1 for y, f in verdicts if y and f)
    fp = sum(1 for y, f in verdicts if not y and f)
    fn = sum(1 for y, f in verdicts if y and not f)
    tn = sum(1 for y, f in verdicts if not y and not f)
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }
