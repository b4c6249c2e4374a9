"""Event order: the reader's fast path against Go's parser on traces with timestamp
ties, and against the reader's own faithful handlers on every trace of the test
corpus."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from schedcast.trace import TraceError, read_trace
from schedcast.trace.oracle import compare, go_transitions, parse_go_dump, run_go_parser_partial
from schedcast.trace.textformat import convert, go_test_traces

from .conftest import TIE_TRACES, CollectedTrace, fixture_bytes, fixture_names, fixture_path


@pytest.mark.parametrize("name", TIE_TRACES)
def test_tie_traces_match_go_event_for_event(name: str, tmp_path: Path) -> None:
    # When the head thread advanced and then could not, the frontier used to be
    # sorted on the time of the head's first event, not of the one it stopped at:
    # with another thread's event at that same time and more than twelve threads
    # (Go's unstable pdqsort) the two were tried in a different order than Go's.
    path = fixture_path(name, tmp_path)
    text, go_error = run_go_parser_partial(path)
    assert go_error is None, go_error
    trace = read_trace(path)
    go = go_transitions(text)
    matched, mismatches = compare(trace.events, go)
    assert matched == len(go) == len(trace.events), mismatches[:3]
    assert trace.total_events == len(list(parse_go_dump(text)))
    assert trace.version == int(name[4:6])


def _outcome(data: bytes, fast: bool) -> tuple:
    """Everything a read returns, or the error it raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            t = read_trace(data, fast=fast)
        except TraceError as exc:
            return ("error", exc.offset, exc.message)
    return (t.events, t.logs, t.total_events, t.gomaxprocs, t.generations, t.warnings, t.truncated_at)


def _corpus(collected: list[CollectedTrace]) -> dict[str, bytes]:
    corpus = {name: fixture_bytes(name) for name in fixture_names()}
    for case in go_test_traces():
        corpus[case.stem] = convert(case.read_text())[0]
    for ct in collected:
        corpus[ct.id] = ct.path.read_bytes()
    return corpus


def test_fast_path_orders_like_the_faithful_handlers(collected_traces: list[CollectedTrace]) -> None:
    # The fast path inlines the frequent events and keeps the head thread going
    # while Go's heap would keep it on top; the faithful path is Go's ReadEvent
    # loop, every event through the handlers. They must agree on every trace:
    # events (all fields, in order), logs, counts, warnings and errors.
    corpus = _corpus(collected_traces)
    assert len(corpus) > 90
    differ = []
    errors = 0
    for name, data in corpus.items():
        fast, faithful = _outcome(data, True), _outcome(data, False)
        errors += fast[0] == "error"
        if fast != faithful:
            differ.append(name)
    assert not differ, differ
    assert errors >= 2  # Go's corpus has traces it rejects: both paths reject them alike


def test_fast_path_agrees_on_cut_and_damaged_traces() -> None:
    # The two paths also agree where the trace goes wrong: cut at many offsets, and
    # with bytes flipped (corrupt events reach the handlers' error paths).
    data = fixture_bytes("multigen")
    cases = [data[:cut] for cut in range(17, len(data), 97)]
    for at in range(20, len(data), 211):
        damaged = bytearray(data)
        damaged[at] ^= 0x55
        cases.append(bytes(damaged))
    outcomes = set()
    for case in cases:
        fast = _outcome(case, True)
        assert fast == _outcome(case, False)
        outcomes.add("error" if fast[0] == "error" else "read")
    assert outcomes == {"error", "read"}



class _StopAt:
    """A stop rule that ends the read once event `at` is ordered; it records what it saw."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.starts: list[int] = []
        self.seen = 0

    def __call__(self, events: list, start: int) -> bool:  # type: ignore[type-arg]
        assert start == self.seen  # every event is shown once, in order
        self.starts.append(start)
        self.seen = len(events)
        return len(events) > self.at


def test_stop_reads_a_prefix_and_no_further(collected_traces: list[CollectedTrace]) -> None:
    # A stop rule ends the read early on both paths: the events are the full read's
    # first ones, up to at least the event it stopped at, and fewer than all; a rule
    # that never fires changes nothing.
    corpus = {name: data for name, data in _corpus(collected_traces).items() if _outcome(data, True)[0] != "error"}
    stopped = 0
    for name, data in corpus.items():
        full = read_trace(data)
        n = len(full.events)
        never = _StopAt(n + 1)
        assert read_trace(data, stop=never).events == full.events, name
        assert never.seen == n
        if n < 3 * 4096:
            continue
        for fast in (True, False):
            rule = _StopAt(n // 3)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                part = read_trace(data, fast=fast, stop=rule)
            assert n // 3 < len(part.events) < n, (name, fast)
            assert part.events == full.events[: len(part.events)], (name, fast)
            stopped += 1
    assert stopped >= 4


def test_stop_before_a_cut_reads_without_a_warning() -> None:
    # A trace cut short in its last generation: a read that stops before the cut
    # never reaches it, so it has nothing to warn about.
    data = fixture_bytes("multigen")
    full = read_trace(data)
    cut = data[: len(data) - 50]
    with pytest.warns(Warning):
        read_trace(cut)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = read_trace(cut, stop=_StopAt(0))
    assert part.truncated_at is None and not part.warnings
    assert 0 < len(part.events) < len(full.events)
    assert part.events == full.events[: len(part.events)]
