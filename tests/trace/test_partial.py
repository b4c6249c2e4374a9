"""Partial traces: a trace cut short keeps every complete generation, with a
warning saying where it stopped - and exactly the events Go's parser yields."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from schedcast.trace import TraceError, TruncatedTraceWarning, read_trace
from schedcast.trace.oracle import compare, go_transitions, run_go_parser_partial

from .conftest import FIXTURES

MULTIGEN = (FIXTURES / "multigen.trace").read_bytes()


def generation_starts(data: bytes) -> list[int]:
    """Byte offsets where generations 2.. start, found by cutting the trace."""
    full = read_trace(data)
    starts = []
    for gen in range(1, full.generations):
        lo, hi = 16, len(data)
        # Smallest cut that keeps `gen` complete generations.
        while lo < hi:
            mid = (lo + hi) // 2
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", TruncatedTraceWarning)
                    kept = read_trace(data[:mid]).generations
            except TraceError:
                kept = 0
            if kept >= gen:
                hi = mid
            else:
                lo = mid + 1
        starts.append(lo)
    return starts


@pytest.mark.parametrize("cut_back", [1, 100, 2500])
def test_cut_trace_matches_go_and_warns(tmp_path: Path, cut_back: int) -> None:
    path = tmp_path / "cut.trace"
    path.write_bytes(MULTIGEN[: len(MULTIGEN) - cut_back])
    with pytest.warns(TruncatedTraceWarning, match=r"incomplete.*kept the 2 complete generation") as rec:
        trace = read_trace(path)
    assert str(path) in str(rec[0].message)
    assert trace.generations == 2
    assert trace.truncated_at is not None and trace.truncated_at < len(MULTIGEN) - cut_back
    assert f"byte offset {trace.truncated_at}" in trace.warnings[0]
    text, error = run_go_parser_partial(path)
    assert error is not None  # Go fails too, after printing the complete generations
    go = go_transitions(text)
    matched, mismatches = compare(trace.events, go)
    assert matched == len(go) == len(trace.events), mismatches


def test_strict_mode_refuses_truncated_traces() -> None:
    with pytest.raises(TraceError, match="truncated"):
        read_trace(MULTIGEN[:-1], strict=True)


def test_cut_inside_the_first_generation_keeps_nothing_and_warns() -> None:
    with pytest.warns(TruncatedTraceWarning, match="first generation, starting at byte offset 16, is incomplete"):
        trace = read_trace(MULTIGEN[:2000])
    assert trace.events == [] and trace.generations == 0 and trace.truncated_at == 16
    with pytest.raises(TraceError, match="first generation") as info:
        read_trace(MULTIGEN[:2000], strict=True)
    assert info.value.offset == 16


def test_header_only_trace_is_empty_with_a_warning() -> None:
    # A run that crashed before the tracer flushed anything; Go reads it as empty.
    with pytest.warns(TruncatedTraceWarning, match="ends after its header"):
        trace = read_trace(MULTIGEN[:16])
    assert trace.events == [] and trace.truncated_at == 16
    with pytest.raises(TraceError, match="no events"):
        read_trace(MULTIGEN[:16], strict=True)


def test_every_generation_boundary() -> None:
    full = read_trace(MULTIGEN)
    starts = generation_starts(MULTIGEN)
    assert len(starts) == full.generations - 1
    for k, start in enumerate(starts, 1):
        exact = read_trace(MULTIGEN[:start])  # ends exactly after generation k: not truncated
        assert exact.generations == k and exact.truncated_at is None
        assert exact.events == full.events[: len(exact.events)]
