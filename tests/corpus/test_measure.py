"""Measured metadata: hand-computed cases, then a real collection."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest

from schedcast.dataset.measure import (
    manifestation_rate,
    measure_collection,
    origin_table,
    origin_table_markdown,
    prefix_entropy,
)


def test_prefix_entropy_hand_computed() -> None:
    # Root: both runs start with a (H=0, weight 2); then b vs c (H=1, weight 2).
    assert prefix_entropy([("a", "b"), ("a", "c")]) == pytest.approx(0.5)
    # Identical runs: no uncertainty anywhere.
    assert prefix_entropy([("a", "b")] * 3) == 0.0
    # A run that ends where another goes on: {end, b} at depth 1 -> H=1.
    assert prefix_entropy([("a",), ("a", "b")]) == pytest.approx(0.5)
    # Three runs: depth 0 {a:2, b:1}; the two a-runs then agree and end together.
    h0 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert prefix_entropy([("a", "x"), ("a", "x"), ("b",)]) == pytest.approx((3 * h0 + 0 + 0) / (3 + 2 + 2))
    assert prefix_entropy([("a",)]) is None


def test_manifestation_rate() -> None:
    assert manifestation_rate(("leak",), [["leak"], ["ok"], ["leak", "race"], ["ok"]]) == 0.5
    assert manifestation_rate(("leak", "deadlock"), [["deadlock"], ["ok"]]) == 0.5
    assert manifestation_rate(("ok",), [["ok"]]) is None
    assert manifestation_rate((), [["race"]]) is None


# Hand-counted from the sources: program goroutines alive at once, main included.
MAX_LIVE = {
    "chan_ping_pong": 3,  # main + two players
    "fanin_first_reply_leak": 4,  # main + three replicas
    "buffered_overfill_deadlock": 1,  # main blocks before starting its consumer
    "mutex_reentrant_deadlock": 2,
}


def test_measure_real_collection(handcrafted_collection: tuple[Path, pa.Table]) -> None:
    out, runs = handcrafted_collection
    measured = measure_collection(out)
    assert set(measured) == set(runs.column("program_id").to_pylist())
    for pid, expected_live in MAX_LIVE.items():
        assert measured[pid].max_live_goroutines == expected_live, pid
    leak = measured["fanin_first_reply_leak"]
    assert leak.origin == "handcrafted" and leak.expected == ("leak",)
    assert leak.manifestation_rate == 1.0 and leak.outcomes == {"leak": leak.runs}
    assert leak.goroutines_at_end_max == 2  # the two slower replicas
    clean = measured["chan_ping_pong"]
    assert clean.manifestation_rate is None
    for m in measured.values():
        assert m.traced_runs == m.runs, (m.program_id, m.trace_errors)
        assert 1 <= (m.distinct_sequences or 0) <= m.runs
        assert m.next_event_entropy is not None and m.next_event_entropy >= 0
    rows = origin_table(measured)
    assert [r["origin"] for r in rows] == ["handcrafted"]
    assert rows[0]["programs"] == len(measured) and rows[0]["manifested_programs"] == rows[0]["buggy_programs"]
    assert "| handcrafted |" in origin_table_markdown(measured)


def test_measure_only_the_given_program_versions(handcrafted_collection: tuple[Path, pa.Table]) -> None:
    from dataclasses import replace

    from schedcast.corpus.catalog import handcrafted_programs

    out, _ = handcrafted_collection
    program = next(p for p in handcrafted_programs() if p.id == "chan_ping_pong")
    only = measure_collection(out, programs=[program], traces=False)
    assert list(only) == ["chan_ping_pong"] and only["chan_ping_pong"].runs >= 1
    # Another version of the same program (different sources) has no runs here.
    edited = replace(program, sources={"main.go": program.sources["main.go"] + "\n// edited\n"})
    assert measure_collection(out, programs=[edited], traces=False) == {}
