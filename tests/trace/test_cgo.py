"""cgo callbacks: C threads calling into Go. Each call is a goroutine created in a
syscall (GoCreateSyscall) on a thread that holds no P, and the runtime hands the
same goroutine ID to the next C thread. Read like Go, accepted by the FSM, and the
callback's own code is the program's."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedcast.trace import FSM, GoState, Kind, Snapshot, Status, read_trace
from schedcast.trace.oracle import compare, go_transitions, parse_go_dump, run_go_parser

from .conftest import CGO_TRACES, fixture_path

S = GoState


def _ev(g: int, fr: GoState, to: GoState, actor: int = -1):
    from schedcast.trace import Event

    return Event(0, g, actor, -1, 0, fr, to, "", (), (), "test")


@pytest.mark.parametrize("name", CGO_TRACES)
def test_cgo_traces_match_go_event_for_event(name: str, tmp_path: Path) -> None:
    path = fixture_path(name, tmp_path)
    text = run_go_parser(path)
    trace = read_trace(path)
    go = go_transitions(text)
    matched, mismatches = compare(trace.events, go)
    assert matched == len(go) == len(trace.events), mismatches[:3]
    assert trace.total_events == len(list(parse_go_dump(text)))


@pytest.mark.parametrize("name", CGO_TRACES)
def test_fsm_accepts_every_event_of_cgo_traces(name: str, tmp_path: Path) -> None:
    trace = read_trace(fixture_path(name, tmp_path))
    assert trace.cgo_callbacks
    created: set[int] = set()
    reused = without_p = 0
    for event in trace.events:
        if event.wire == "GoCreateSyscall":
            reused += event.g in created
            without_p += event.p == -1
            created.add(event.g)
    # What the FSM used to reject: IDs coming back, creation on a thread without a P.
    assert reused > 0 and without_p > 0
    fsm = FSM(trace.gomaxprocs)
    views = [
        (Snapshot(), trace.events),
        (Snapshot(), trace.program_events()),
        (trace.initial_snapshot(window=False), trace.program_events(window=False)),
    ]
    for snap, events in views:
        for event in events:
            fsm.apply(snap, event)  # FSMViolation on the first impossible event
        assert snap.count(Status.RUNNING) <= trace.gomaxprocs


def test_callback_code_is_the_programs(tmp_path: Path) -> None:
    # cgo_callback.go: the exported Go function blocks on a channel send. That block
    # belongs in the program view; the runtime's goroutines stay out of it.
    trace = read_trace(fixture_path("cgo_callback", tmp_path))
    callbacks = {g for g, info in trace.goroutines.items() if info.callback}
    assert callbacks and not callbacks & trace.system_goroutines()
    for g in trace.system_goroutines():
        entry = trace.goroutines[g].entry
        assert entry.startswith(("runtime.", "runtime/trace.")), entry
    sends = [
        ev for ev in trace.program_events()
        if ev.g in callbacks and ev.kind is Kind.GoBlock and ev.reason == "chan send"
    ]
    assert len(sends) >= 6
    assert all(any(f.func == "main.goCallback" for f in ev.stack) for ev in sends)
    assert {trace.goroutines[g].entry for g in callbacks} == {"runtime.cgocallback"}
    # The p6 traces' callbacks carry no stacks at all; they are the program's too.
    p6 = read_trace(fixture_path("p6_cgo.p2", tmp_path))
    p6_callbacks = {g for g, info in p6.goroutines.items() if info.callback}
    assert p6_callbacks and all(p6.goroutines[g].entry == "" for g in p6_callbacks)
    assert not p6_callbacks & p6.system_goroutines()
    assert {2, 3, 4} <= p6.system_goroutines()  # forcegc, bgsweep, bgscavenge


def test_callback_creation_rules() -> None:
    fsm = FSM(1)
    snap = Snapshot()
    snap.apply(_ev(1, S.RUNNABLE, S.RUNNING, actor=1))  # the only P is taken
    callback = _ev(17, S.NOT_EXIST, S.SYSCALL)
    assert fsm.check(snap, callback) is None  # a C thread needs no P
    assert fsm.check(snap, _ev(18, S.NOT_EXIST, S.RUNNABLE)) is not None  # the scheduler does
    fsm.apply(snap, callback)
    fsm.apply(snap, _ev(17, S.SYSCALL, S.NOT_EXIST, actor=17))  # back to C
    assert snap.state(17).status is Status.DEAD
    assert fsm.check(snap, callback) is None  # the next C thread reuses G17
    assert fsm.check(snap, _ev(17, S.NOT_EXIST, S.RUNNABLE, actor=1)) is not None  # a go statement does not
    # allowed(): a callback may come at any moment only if the program has them.
    assert (Kind.GoCreate, -1) not in fsm.allowed(snap)
    assert (Kind.GoCreate, -1) in FSM(1, cgo_callbacks=True).allowed(snap)
