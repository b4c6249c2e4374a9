"""Differential test: schedcast's reader against Go's own parser, event for event."""

from __future__ import annotations

from schedcast.trace import read_trace
from schedcast.trace.oracle import compare

from .conftest import PROGRAMS, CollectedTrace, GoOracle


def test_collection_covers_every_program_race_and_procs(collected_traces: list[CollectedTrace]) -> None:
    seen = {(t.program, t.race, t.procs) for t in collected_traces}
    assert seen == {(p, r, n) for p in PROGRAMS for r in (False, True) for n in (1, 2)}


def test_transitions_equal_go_parser_event_for_event(
    collected_traces: list[CollectedTrace], go_oracle: GoOracle
) -> None:
    go_oracle.prefetch([t.path for t in collected_traces])
    failures = []
    total = 0
    samples = 0
    for ct in collected_traces:
        trace = read_trace(ct.path)
        go_events = go_oracle.events(ct.path)
        samples += sum(1 for e in go_events if e.kind == "StackSample")
        go_trans = [e for e in go_events if e.kind == "StateTransition" and e.goid is not None]
        matched, mismatches = compare(trace.events, go_trans)
        total += len(go_trans)
        assert go_trans, f"{ct.id}: Go reported no transitions"
        if matched != len(go_trans) or len(trace.events) != len(go_trans):
            failures.append(f"{ct.id}: {matched}/{len(go_trans)} match; first: {mismatches[:3]}")
        # Every event Go returns (all kinds, Sync included) is accounted for.
        if trace.total_events != len(go_events):
            failures.append(f"{ct.id}: {trace.total_events} events in total, Go has {len(go_events)}")
        # User logs (the harness markers) match Go's Log events, in order.
        go_logs = [(e.g, e.category, e.message, e.time) for e in go_events if e.kind == "Log"]
        ours = [(log.g, log.category, log.message, log.time) for log in trace.logs]
        if ours != go_logs:
            failures.append(f"{ct.id}: logs differ: {ours} vs {go_logs}")
    assert not failures, "\n".join(failures)
    assert total > 1000
    # CPU profile samples (cpuprofile.go) are merged by time with the scheduler
    # events, which shifts Go's timestamp fix-ups: the total count covers them.
    assert samples > 0


def test_race_and_plain_builds_both_produce_syscalls_and_blocks(collected_traces: list[CollectedTrace]) -> None:
    # The corpus exercises what the mapping must handle: blocking reasons of every
    # primitive, preemption, syscalls, creation and exit.
    reasons: set[str] = set()
    wires: set[str] = set()
    for ct in collected_traces:
        for ev in read_trace(ct.path).events:
            reasons.add(ev.reason)
            wires.add(ev.wire)
    for reason in ("chan receive", "chan send", "select", "sync", "sleep", "sync.(*Cond).Wait"):
        assert reason in reasons, reason
    assert "preempted" in reasons or "runtime.Gosched" in reasons
    for wire in ("GoCreate", "GoStart", "GoBlock", "GoUnblock", "GoStop", "GoDestroy", "GoSyscallBegin", "GoSyscallEnd", "GoStatus"):
        assert wire in wires, wire
