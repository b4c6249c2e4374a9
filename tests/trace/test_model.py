"""The event model: six-kind mapping, syscall and status events, stacks, system
goroutine filter, harness markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedcast.trace import Event, Frame, GoState, Kind, Trace, read_trace
from schedcast.trace.model import KIND_OF_TRANSITION, KINDS, is_system_entry

from .conftest import FIXTURES, CollectedTrace

S = GoState


def make_event(g: int, fr: GoState, to: GoState, *, actor: int = -1, reason: str = "") -> Event:
    return Event(0, g, actor, 0, 0, fr, to, reason, (), (), "test")


def test_kind_order_is_the_fixed_predictor_order() -> None:
    assert [str(k) for k in KINDS] == ["GoBlock", "GoCreate", "GoEnd", "GoSched", "GoStart", "GoUnblock"]


@pytest.mark.parametrize(
    ("fr", "to", "kind"),
    [
        (S.NOT_EXIST, S.RUNNABLE, Kind.GoCreate),
        (S.NOT_EXIST, S.WAITING, Kind.GoCreate),  # GoCreateBlocked
        (S.NOT_EXIST, S.SYSCALL, Kind.GoCreate),  # GoCreateSyscall (cgo callback)
        (S.RUNNABLE, S.RUNNING, Kind.GoStart),
        (S.RUNNING, S.WAITING, Kind.GoBlock),
        (S.WAITING, S.RUNNABLE, Kind.GoUnblock),
        (S.RUNNING, S.RUNNABLE, Kind.GoSched),
        (S.RUNNING, S.NOT_EXIST, Kind.GoEnd),
        (S.SYSCALL, S.NOT_EXIST, Kind.GoEnd),  # GoDestroySyscall
        # Syscalls are kept in the model but have no kind.
        (S.RUNNING, S.SYSCALL, None),
        (S.SYSCALL, S.RUNNING, None),
        (S.SYSCALL, S.RUNNABLE, None),
        # Per-generation status events have no kind.
        (S.UNDETERMINED, S.RUNNING, None),
        (S.UNDETERMINED, S.WAITING, None),
        (S.WAITING, S.WAITING, None),
        (S.RUNNABLE, S.RUNNABLE, None),
    ],
)
def test_kind_mapping(fr: GoState, to: GoState, kind: Kind | None) -> None:
    ev = make_event(5, fr, to)
    assert ev.kind == kind
    assert ev.is_status == (fr == S.UNDETERMINED or fr == to)


def test_kind_table_is_the_documented_one() -> None:
    assert len(KIND_OF_TRANSITION) == 9
    assert {k for k in KIND_OF_TRANSITION.values()} == set(KINDS)


def test_real_trace_kinds_and_wire_names_agree(collected_traces: list[CollectedTrace]) -> None:
    expected = {
        "GoCreate": {Kind.GoCreate},
        "GoStart": {Kind.GoStart},
        "GoBlock": {Kind.GoBlock},
        "GoUnblock": {Kind.GoUnblock},
        "GoStop": {Kind.GoSched},
        "GoDestroy": {Kind.GoEnd},
        "GoSyscallBegin": {None},
        "GoSyscallEnd": {None},
        "GoSyscallEndBlocked": {None},
        "GoStatus": {None},
        "GoStatusStack": {None},
    }
    seen: dict[str, set] = {}
    for ct in collected_traces:
        if ct.procs != 2 or ct.run != 0:
            continue
        for ev in read_trace(ct.path).events:
            seen.setdefault(ev.wire, set()).add(ev.kind)
    for wire, kinds in seen.items():
        assert kinds <= expected[wire], (wire, kinds)
    # GoStop carries "preempted" or "runtime.Gosched"; blocks carry their reason.
    assert {"GoCreate", "GoStart", "GoBlock", "GoUnblock", "GoStop", "GoDestroy", "GoSyscallBegin"} <= set(seen)


def test_status_events_are_first_generation_announcements_or_confirmations() -> None:
    trace = read_trace(FIXTURES / "multigen.trace")
    assert trace.generations == 3
    status = [ev for ev in trace.events if ev.wire in ("GoStatus", "GoStatusStack")]
    assert any(ev.from_state == S.UNDETERMINED for ev in status)
    # Later generations restate every live goroutine: from == to (e.g. Waiting->Waiting).
    assert any(ev.from_state == ev.to_state == S.WAITING for ev in status)
    assert all(ev.kind is None and ev.is_status for ev in status)


def test_stack_is_the_transitioning_goroutines(collected_traces: list[CollectedTrace]) -> None:
    ct = next(t for t in collected_traces if t.program == "chan" and not t.race)
    trace = read_trace(ct.path)
    creates = [ev for ev in trace.events if ev.kind is Kind.GoCreate and ev.stack and ev.stack[0].func == "main.producer"]
    assert creates, "producer goroutines are created"
    for ev in creates:
        # The new goroutine's stack is its entry function; the creator's is main.main.
        assert len(ev.stack) == 1
        assert ev.actor_stack[0].func.startswith("main.")
        assert ev.actor_stack != ev.stack
    unblocks = [ev for ev in trace.events if ev.kind is Kind.GoUnblock and ev.g == 1]
    assert unblocks
    for ev in unblocks:
        # Goroutine 1 was unblocked where *it* blocked (chan receive in main.main),
        # by some other goroutine whose stack is the actor stack.
        assert any(f.func == "main.main" for f in ev.stack), ev.stack
        assert ev.actor != 1
        assert ev.actor_stack and not any(f.func == "main.main" for f in ev.actor_stack[:1])


def test_system_goroutine_rule() -> None:
    assert is_system_entry("")
    assert is_system_entry("runtime.gcBgMarkWorker")
    assert is_system_entry("runtime/trace.(*traceMultiplexer).startLocked.func1")
    assert is_system_entry("os/signal.loop")
    assert is_system_entry("testing.(*M).startAlarm.func1")
    assert is_system_entry("main.schedcastHarnessWatchdog")
    assert not is_system_entry("runtime.main")
    assert not is_system_entry("main.main")
    assert not is_system_entry("main.worker.func1")
    assert not is_system_entry("testing.tRunner")
    assert not is_system_entry("github.com/x/y.(*Server).serve")


def test_main_goroutine_is_the_programs_even_when_tracing_starts_in_init() -> None:
    # The capture harness starts the tracer in init(): goroutine 1's first stack is
    # rooted at runtime.doInit1, which must not make it a system goroutine.
    ev = Event(0, 1, 1, 0, 0, S.RUNNING, S.WAITING, "chan send", (Frame("main.init.0", "prog/h.go", 1), Frame("runtime.doInit1", "runtime/proc.go", 2)), (), "GoBlock")
    trace = Trace(None, 26, [ev], [], 1, 2, 3)
    assert trace.goroutines[1].entry == "runtime.main" and not trace.goroutines[1].system
    assert trace.program_events() == [ev]


def test_markers_and_filtered_view() -> None:
    trace = read_trace(FIXTURES / "leak.trace")
    start, end = trace.program_start, trace.program_end
    assert start is not None and end is not None
    assert start.category == end.category == "schedcast"
    assert (start.message, end.message) == ("program-start", "program-end")
    assert start.index <= end.index
    assert start.g == end.g == 1
    goroutines = trace.goroutines
    harness = [g for g, info in goroutines.items() if "schedcastHarness" in info.entry]
    assert len(harness) == 1 and goroutines[harness[0]].system
    view = trace.program_events()
    lo, hi = trace.window()
    assert view == [ev for ev in trace.events[lo:hi] if not goroutines[ev.g].system]
    assert all(not goroutines[ev.g].system for ev in view)
    assert {ev.g for ev in view} >= {1}
    # The two leaky goroutines are created inside the window, but first run (and
    # block forever) after program-end, while the harness lets them settle.
    created = {ev.stack[0].func for ev in view if ev.kind is Kind.GoCreate}
    assert {"main.leakySend", "main.leakySelect"} <= created

    def blocked_in(events: list[Event]) -> dict[str, str]:
        return {ev.stack[-1].func: ev.reason for ev in events if ev.kind is Kind.GoBlock and ev.stack}

    assert "main.leakySend" not in blocked_in(view)
    whole = trace.program_events(window=False)
    assert blocked_in(whole)["main.leakySend"] == "chan send"
    assert blocked_in(whole)["main.leakySelect"] == "select"
    # Switches: system goroutines kept, window off.
    assert len(trace.program_events(system=True, window=False)) == len(trace.events)
    assert len(trace.program_events(window=False)) > len(view)
    assert any(goroutines[ev.g].system for ev in trace.program_events(system=True, window=False))


def test_no_markers_keeps_everything(collected_traces: list[CollectedTrace]) -> None:
    ct = next(t for t in collected_traces if t.program == "mutex")
    trace = read_trace(ct.path)
    assert trace.program_start is None and trace.program_end is None
    assert trace.window() == (0, len(trace.events))
    assert trace.program_events(system=True) == trace.events


def test_event_is_immutable_and_printable() -> None:
    ev = make_event(3, S.RUNNING, S.WAITING, reason="chan receive")
    with pytest.raises(AttributeError):
        ev.g = 4  # type: ignore[misc]
    assert "GoBlock" in str(ev) and "chan receive" in str(ev)


def test_fixture_paths_exist() -> None:
    assert Path(FIXTURES / "leak.trace").stat().st_size < 50_000
    assert Path(FIXTURES / "multigen.trace").stat().st_size < 50_000
