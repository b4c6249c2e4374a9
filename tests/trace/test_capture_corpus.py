"""The built-in corpus collected by the capture stage (harness-wrapped programs,
race and plain builds, several runs each): every transition equals Go's parser's,
and the FSM accepts every event. Slow: the spinning programs yield ~250k events."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from schedcast.trace import TruncatedTraceWarning, read_trace
from schedcast.trace.fsm import FSM
from schedcast.trace.oracle import compare, go_transitions, parse_go_dump, run_go_parser_partial
from schedcast.trace.snapshot import Snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus_traces(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("capture")
    for race in ("--race", "--no-race"):
        proc = subprocess.run(
            [sys.executable, "-m", "schedcast", "collect", "-o", str(out), "-n", "3", race],
            capture_output=True, text=True, timeout=1800,
        )
        assert proc.returncode == 0, proc.stderr
    traces = sorted(out.glob("traces/*/*.trace"))
    assert len(traces) >= 40
    return traces


def test_capture_corpus_matches_go_event_for_event(corpus_traces: list[Path]) -> None:
    failures = []
    for path in corpus_traces:
        text, go_error = run_go_parser_partial(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedTraceWarning)
            trace = read_trace(path)
        go = go_transitions(text)
        matched, mismatches = compare(trace.events, go)
        if matched != len(go) or len(trace.events) != len(go):
            failures.append(f"{path}: {matched}/{len(go)}: {mismatches[:3]}")
        if go_error is None and trace.total_events != len(list(parse_go_dump(text))):
            failures.append(f"{path}: total events differ")
    assert not failures, "\n".join(failures)


def test_fsm_accepts_capture_corpus(corpus_traces: list[Path]) -> None:
    for path in corpus_traces:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedTraceWarning)
            trace = read_trace(path)
        if not trace.events:
            continue  # a run that crashed before the tracer flushed anything
        fsm = FSM(trace.gomaxprocs)
        for view in (trace.events, trace.program_events(), trace.program_events(window=False)):
            snap = Snapshot()
            for event in view:
                fsm.apply(snap, event)
