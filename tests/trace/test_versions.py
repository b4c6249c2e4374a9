"""Older v2 formats (Go 1.22, 1.23, 1.25): read only where proven identical to Go.

The proof is Go's own trace test corpus (GOROOT/src/internal/trace/testdata/tests,
edge cases of generations, syscalls, P stealing, GC and tasks), converted to
binary and read by both parsers: every transition must match, and the traces Go
rejects must be rejected with the same error.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from schedcast.trace import TraceError, TruncatedTraceWarning, read_trace
from schedcast.trace.oracle import compare, go_transitions, parse_go_dump, run_go_parser_partial
from schedcast.trace.textformat import convert, go_test_traces

CASES = go_test_traces()


def test_go_corpus_covers_every_older_version() -> None:
    versions = {re.match(r"go1(\d+)-", p.name).group(1) for p in CASES}
    assert versions == {"22", "23", "25"}


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_older_version_matches_go(case: Path, tmp_path: Path) -> None:
    data, expected_error = convert(case.read_text())
    path = tmp_path / (case.stem + ".trace")
    path.write_bytes(data)
    text, go_error = run_go_parser_partial(path)
    if expected_error is not None:
        assert go_error is not None and re.search(expected_error, go_error)
        with pytest.raises(TraceError) as info:
            read_trace(path)
        assert re.search(expected_error, info.value.message), info.value.message
        return
    assert go_error is None, go_error
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedTraceWarning)
        trace = read_trace(path)
    go = go_transitions(text)
    matched, mismatches = compare(trace.events, go)
    assert matched == len(go) == len(trace.events), mismatches
    assert trace.total_events == len(list(parse_go_dump(text)))
    assert trace.version == int(case.name[3:5])


def complete_generation_transitions(text: str, go_failed: bool) -> list:
    """Go's transitions, without those of a generation it failed in: Go starts
    every generation with a Sync event, so a failure drops what follows the last."""
    events = list(parse_go_dump(text))
    if go_failed:
        last_sync = max((i for i, e in enumerate(events) if e.kind == "Sync"), default=0)
        events = events[:last_sync]
    return [e for e in events if e.kind == "StateTransition" and e.goid is not None]


def test_truncated_older_trace_keeps_what_go_keeps(tmp_path: Path) -> None:
    # Before Go 1.26 a generation has no end marker, so a cut one cannot be told
    # from a complete one by its framing: Go orders it as far as it goes. schedcast
    # keeps it when it is consistent and otherwise drops it whole, with a warning.
    case = next(p for p in CASES if p.stem == "go122-confuse-seq-across-generations")
    data, _ = convert(case.read_text())
    path = tmp_path / "cut.trace"
    outcomes = set()
    for cut in range(len(data) - 1, 16, -1):
        path.write_bytes(data[:cut])
        text, go_error = run_go_parser_partial(path)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always", TruncatedTraceWarning)
            try:
                trace = read_trace(path)
            except TraceError as exc:
                # Cut exactly between batches, the last generation looks complete
                # but is not: both parsers reject it.
                assert go_error is not None, (cut, exc)
                outcomes.add("error")
                continue
        if not rec:
            outcomes.add("clean cut")
            go = go_transitions(text)
            assert go_error is None
        else:
            message = str(rec[0].message)
            assert "cut short" in message
            kept = "read up to there" in message
            outcomes.add("kept" if kept else "dropped")
            go = go_transitions(text) if kept else complete_generation_transitions(text, go_error is not None)
        matched, mismatches = compare(trace.events, go)
        assert matched == len(go) == len(trace.events), (cut, mismatches)
    assert {"kept", "dropped"} <= outcomes
