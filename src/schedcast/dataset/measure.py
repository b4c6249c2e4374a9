"""Measured metadata: what programs actually did, computed from a collection.

Declared labels (pattern, expected outcomes) are written by hand or by construction;
these are measured from the runs of a collection directory (``schedcast collect``):

- outcome distribution: in how many runs each outcome showed;
- manifestation rate: the share of runs showing at least one declared bug outcome
  (declared outcomes other than ``ok``); None for programs declared clean;
- max live user goroutines: the most program goroutines alive at once, from the
  trace (system goroutines filtered by the trace reader; the main / test goroutine
  counts). The harness's goroutines-at-end list only sees the end of a run, so the
  trace is the source; without traces this stays None;
- nondeterminism: the number of distinct event-kind sequences over the runs (and that
  number divided by the runs), and the mean entropy, in bits, of the next-event-kind
  distribution at prefixes shared by at least two runs (each run's sequence ends with
  an end marker; the mean is weighted by how many runs reach the prefix). Outcome
  sets give a coarser, trace-free count: distinct outcome sets per program.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from schedcast.collect.store import RunStore
from schedcast.corpus.program import Program
from schedcast.dataset.extract import EventRules, extract_run
from schedcast.terminal import track

END = "<end>"


@dataclass
class Measured:
    program_id: str
    origin: str
    pattern: str
    expected: tuple[str, ...]
    runs: int
    outcomes: dict[str, int]
    manifestation_rate: float | None
    distinct_outcome_sets: int
    goroutines_at_end_max: int  # program goroutines the harness saw when the run ended
    traced_runs: int = 0
    max_live_goroutines: int | None = None
    distinct_sequences: int | None = None
    nondeterminism: float | None = None  # distinct sequences / traced runs
    next_event_entropy: float | None = None  # bits
    mean_events: float | None = None
    trace_errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["expected"] = list(self.expected)
        return d


def bug_outcomes(expected: Iterable[str]) -> set[str]:
    return {o for o in expected if o != "ok"}


def manifestation_rate(expected: Iterable[str], run_outcomes: list[list[str]]) -> float | None:
    """Share of runs with at least one declared non-ok outcome; None if none is declared."""
    bugs = bug_outcomes(expected)
    if not bugs or not run_outcomes:
        return None
    return sum(1 for outs in run_outcomes if bugs.intersection(outs)) / len(run_outcomes)


def prefix_entropy(sequences: list[tuple[object, ...]]) -> float | None:
    """Mean entropy (bits) of the next symbol at every prefix shared by >= 2 sequences,
    weighted by the number of sequences through the prefix. None for < 2 sequences."""
    if len(sequences) < 2:
        return None
    total_weight = 0
    total = 0.0
    groups: list[list[tuple[object, ...]]] = [sequences]
    depth = 0
    while groups:
        next_groups: list[list[tuple[object, ...]]] = []
        for group in groups:
            if len(group) < 2:
                continue
            children: dict[object, list[tuple[object, ...]]] = defaultdict(list)
            for s in group:
                children[s[depth] if depth < len(s) else END].append(s)
            n = len(group)
            h = -sum(len(c) / n * math.log2(len(c) / n) for c in children.values())
            total += n * h
            total_weight += n
            next_groups += [c for sym, c in children.items() if sym != END]
        groups = next_groups
        depth += 1
    return total / total_weight if total_weight else None


def measure_collection(
    out_dir: Path,
    *,
    programs: Iterable[Program] | None = None,
    traces: bool = True,
    max_traces_per_program: int | None = None,
) -> dict[str, Measured]:
    """Measured metadata of every program in a collection directory, by program id.

    With `programs`, only runs of exactly those programs (same id and source hash)
    count: a collection may also hold runs of older versions of a program."""
    store = RunStore(Path(out_dir))
    store.consolidate()
    runs = store.read_runs().select(
        ["program_id", "source_hash", "outcomes", "goroutines_at_end", "trace_path", "run_index"]
    ).to_pylist()
    if programs is not None:
        keep = {(p.id, p.source_hash) for p in programs}
        runs = [r for r in runs if (r["program_id"], r["source_hash"]) in keep]
    declared: dict[str, dict[str, object]] = {}
    if store.programs_path.exists():
        for row in pq.read_table(store.programs_path, columns=["program_id", "origin", "kind", "pattern", "expected"]).to_pylist():
            declared[row["program_id"]] = row
    by_program: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in runs:
        by_program[str(r["program_id"])].append(r)
    result: dict[str, Measured] = {}
    for pid in track(sorted(by_program), "corpus-table", len(by_program), "programs"):
        rows = sorted(by_program[pid], key=lambda r: (str(r["source_hash"]), int(r["run_index"])))  # type: ignore[call-overload]
        meta = declared.get(pid, {})
        expected = tuple(meta.get("expected") or ())  # type: ignore[arg-type]
        outcome_lists = [list(r["outcomes"]) for r in rows]  # type: ignore[call-overload]
        counts = Counter(o for outs in outcome_lists for o in outs)
        at_end = max((len(json.loads(str(r["goroutines_at_end"]) or "[]")) for r in rows), default=0)
        m = Measured(
            program_id=pid,
            origin=str(meta.get("origin", "")),
            pattern=str(meta.get("pattern", "")),
            expected=expected,
            runs=len(rows),
            outcomes=dict(sorted(counts.items())),
            manifestation_rate=manifestation_rate(expected, outcome_lists),
            distinct_outcome_sets=len({tuple(sorted(o)) for o in outcome_lists}),
            goroutines_at_end_max=at_end,
        )
        if traces:
            _add_trace_measures(m, store.root, rows, max_traces_per_program, str(meta.get("kind") or "main"))
        result[pid] = m
    return result


def _add_trace_measures(m: Measured, root: Path, rows: list[dict[str, object]], limit: int | None, kind: str) -> None:
    # Traces are read the way the dataset reads them (same window, same filter).
    rules = EventRules.for_program(kind, m.origin)
    sequences: list[tuple[int, ...]] = []
    max_live = 0
    for r in rows[:limit] if limit else rows:
        if not r["trace_path"]:
            continue
        run = extract_run(str(root / str(r["trace_path"])), rules)
        if run.status == "unreadable":
            m.trace_errors.append(f"run {r['run_index']}: {run.detail}")
            continue
        sequences.append(tuple(run.kinds))
        max_live = max(max_live, run.max_live)
    if not sequences:
        return
    m.traced_runs = len(sequences)
    m.max_live_goroutines = max_live
    m.distinct_sequences = len(set(sequences))
    m.nondeterminism = m.distinct_sequences / len(sequences)
    m.next_event_entropy = prefix_entropy(sequences)
    m.mean_events = sum(len(s) for s in sequences) / len(sequences)


# ------------------------------------------------------------------ tables
def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def origin_table(measured: dict[str, Measured]) -> list[dict[str, object]]:
    """Per origin: programs, runs, outcome mix, manifestation, nondeterminism."""
    groups: dict[str, list[Measured]] = defaultdict(list)
    for m in measured.values():
        groups[m.origin or "unknown"].append(m)
    rows = []
    for origin in sorted(groups):
        ms = groups[origin]
        outcomes: Counter[str] = Counter()
        for m in ms:
            outcomes.update(m.outcomes)
        buggy = [m for m in ms if m.manifestation_rate is not None]
        rows.append({
            "origin": origin,
            "programs": len(ms),
            "runs": sum(m.runs for m in ms),
            "outcomes": dict(sorted(outcomes.items())),
            "buggy_programs": len(buggy),
            "manifested_programs": sum(1 for m in buggy if (m.manifestation_rate or 0) > 0),
            "mean_manifestation_rate": _mean([m.manifestation_rate for m in buggy if m.manifestation_rate is not None]),
            "mean_nondeterminism": _mean([m.nondeterminism for m in ms if m.nondeterminism is not None]),
            "mean_next_event_entropy": _mean([m.next_event_entropy for m in ms if m.next_event_entropy is not None]),
            "mean_max_live_goroutines": _mean([float(m.max_live_goroutines) for m in ms if m.max_live_goroutines is not None]),
        })
    return rows


def origin_table_markdown(measured: dict[str, Measured]) -> str:
    lines = [
        "| origin | programs | runs | outcome mix (runs) | manifested / buggy | mean manifestation rate | mean nondeterminism (distinct seqs / runs) | mean next-event entropy (bits) | mean max live goroutines |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in origin_table(measured):
        mix = ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())  # type: ignore[union-attr]
        lines.append(
            f"| {r['origin']} | {r['programs']} | {r['runs']} | {mix} | {r['manifested_programs']} / {r['buggy_programs']} | "
            f"{_fmt(r['mean_manifestation_rate'])} | {_fmt(r['mean_nondeterminism'])} | "  # type: ignore[arg-type]
            f"{_fmt(r['mean_next_event_entropy'])} | {_fmt(r['mean_max_live_goroutines'], 1)} |"  # type: ignore[arg-type]
        )
    return "\n".join(lines) + "\n"


def program_table_markdown(measured: dict[str, Measured]) -> str:
    lines = [
        "| program | origin | declared | runs | outcomes | manifestation | distinct seqs | entropy | max live |",
        "|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for m in sorted(measured.values(), key=lambda m: (m.origin, m.program_id)):
        outs = ", ".join(f"{k} {v}" for k, v in m.outcomes.items())
        lines.append(
            f"| {m.program_id} | {m.origin} | {','.join(m.expected)} | {m.runs} | {outs} | {_fmt(m.manifestation_rate)} | "
            f"{m.distinct_sequences if m.distinct_sequences is not None else '–'} | {_fmt(m.next_event_entropy)} | "
            f"{m.max_live_goroutines if m.max_live_goroutines is not None else '–'} |"
        )
    return "\n".join(lines) + "\n"
