"""The hand-crafted suite: its shape, and that every declared outcome really happens."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from schedcast.collect import OUTCOMES
from schedcast.corpus import builtin_programs
from schedcast.corpus.catalog import handcrafted_programs
from tests.corpus.conftest import HANDCRAFTED_RUNS

PROGRAMS = handcrafted_programs()
REQUIRED_PATTERNS = {
    "channel", "buffered_channel", "mutex", "rwmutex", "select", "pipeline", "waitgroup",
    "fan_in", "fan_out", "worker_pool", "context", "timeout", "once", "cond",
}
# Slack on top of a program's wall-clock limit: build-free start, harness exit, CI noise.
STOP_SLACK_S = 5.0
DEFAULT_LIMIT_S = 10.0


def test_suite_size_and_metadata() -> None:
    assert len(PROGRAMS) >= 40
    ids = [p.id for p in PROGRAMS]
    assert len(set(ids)) == len(ids)
    for p in PROGRAMS:
        assert p.origin == "handcrafted"
        assert p.pattern, p.id
        assert p.description, p.id
        assert p.expected and set(p.expected) <= set(OUTCOMES), p.id


def test_patterns_and_outcomes_are_covered() -> None:
    patterns = {p.pattern for p in PROGRAMS}
    assert REQUIRED_PATTERNS <= patterns, REQUIRED_PATTERNS - patterns
    outcomes = Counter(o for p in PROGRAMS for o in p.expected)
    for outcome in ("ok", "deadlock", "leak", "race", "panic", "timeout", "blocked"):
        assert outcomes[outcome] >= 1, outcome
    assert outcomes["deadlock"] >= 8 and outcomes["leak"] >= 8 and outcomes["race"] >= 4


def _select_cases(source: str) -> list[int]:
    """Number of cases of each select statement (a tiny brace matcher, enough for our sources)."""
    counts = []
    for m in re.finditer(r"\bselect\s*\{", source):
        depth, i, cases = 1, m.end(), 0
        while depth and i < len(source):
            if source[i] == "{":
                depth += 1
            elif source[i] == "}":
                depth -= 1
            elif depth == 1 and re.match(r"\bcase\b", source[i:i + 5]) and not source[i - 1].isalnum():
                cases += 1
            i += 1
        counts.append(cases)
    return counts


def test_select_leaks_with_two_and_four_cases() -> None:
    leaky_selects = {
        n for p in PROGRAMS if "leak" in p.expected and p.pattern == "select"
        for src in p.sources.values() for n in _select_cases(src)
    }
    assert {2, 4} <= leaky_selects


def test_buggy_programs_have_clean_twins() -> None:
    by_id = {p.id: p for p in PROGRAMS}
    twins = [(p, by_id.get(p.extra["twin"])) for p in PROGRAMS if "twin" in p.extra]
    assert len(twins) >= 10
    for program, twin in twins:
        assert twin is not None, f"{program.id}: twin {program.extra['twin']!r} does not exist"
        assert twin.pattern == program.pattern
        assert ("ok" in twin.expected) != ("ok" in program.expected), (program.id, twin.id)


def test_no_program_repeats_a_builtin_one() -> None:
    # The run store keys runs by source hash: a duplicate would share runs.
    builtin = {p.source_hash for p in builtin_programs()}
    assert not builtin & {p.source_hash for p in PROGRAMS}
    assert len({p.source_hash for p in PROGRAMS}) == len(PROGRAMS)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.id)
def test_declared_outcome_happens(program, handcrafted_collection: tuple[Path, pa.Table]) -> None:  # type: ignore[no-untyped-def]
    _, runs = handcrafted_collection
    mine = [r for r in runs.select(["program_id", "outcomes", "duration_s", "race_reports", "leaked_goroutines"]).to_pylist() if r["program_id"] == program.id]
    assert len(mine) == HANDCRAFTED_RUNS
    seen = Counter(o for r in mine for o in r["outcomes"])
    for outcome in program.expected:
        assert seen[outcome] >= 1, f"{program.id}: declared {outcome!r}, saw {dict(seen)} in {len(mine)} runs"
    limit = program.wall_timeout_s or DEFAULT_LIMIT_S
    for r in mine:
        assert r["duration_s"] <= limit + STOP_SLACK_S, f"{program.id}: a run took {r['duration_s']:.1f} s"
        # The evidence behind the label: race reports, leaked goroutines.
        if "race" in r["outcomes"]:
            assert r["race_reports"] != "[]"
        if "leak" in r["outcomes"]:
            assert r["leaked_goroutines"] >= 1
    if "ok" in program.expected:
        assert set(seen) == {"ok"}, f"{program.id}: a clean program produced {dict(seen)}"
