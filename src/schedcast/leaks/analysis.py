"""One run's goroutines at the end of its whole trace.

The modelling window stops at the harness's program-end marker, but a leaking
goroutine often starts and blocks only after it (a test function returns first, the
goroutines it started run while the harness settles). This view therefore walks the
*whole* trace: every program goroutine (system goroutines filtered, see
``schedcast.trace``), where it was created, its first block, how often it was
unblocked after that, and its state when the trace ends.

A goroutine *leaked* in a run when the trace ends with it blocked for any reason but
``sleep`` (a sleeper wakes up by itself). Sleeping, runnable and running goroutines
at the end are *alive*: not leaks, but goroutines a goleak-style end-of-test check
would still report if they outlive its retries.

What Go's ``goroutineleak`` profile said comes from the harness's status file (the
run store's ``goroutines_at_end``): the harness runs the profile when the program
returns, at quiescence (deadlock) or on the wall-clock signal, and marks the
goroutines whose wait no runnable goroutine can reach. Trace goroutine ids are the
runtime's goroutine ids, so the two are matched by id.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from schedcast.leaks.signal import next_kinds
from schedcast.trace import GoState, Trace, TraceError, read_trace
from schedcast.trace.reader import gc_paused
from schedcast.trace.model import KIND_OF_TRANSITION, MAIN_GOROUTINE, Frame, Stack
from schedcast.trace.snapshot import is_user_frame

# Profile verdicts for one goroutine in one run.
PROFILE_LEAKED = "leaked"  # the profile proved it can never be woken
PROFILE_NOT_PROVEN = "not proven"  # listed by the profile, not marked leaked
PROFILE_NOT_LISTED = "not listed"  # the profile did not list it (it ended, or it is main)
PROFILE_NONE = "no profile"  # the run has no harness status (crash, cut trace)

_HARNESS_FILE_MARKS = ("00_schedcast_harness", "zz_schedcast_", "_testmain.go")
# The harness reports goroutines that wait on nothing at all (select {}, nil channels)
# as blocked forever; the profile does not mark them.
_FOREVER_STATES = ("select (no cases)", "chan receive (nil chan)", "chan send (nil chan)")


def _is_harness_file(file: str) -> bool:
    name = file.rsplit("/", 1)[-1]
    return name.startswith(_HARNESS_FILE_MARKS)


@functools.cache  # stacks are interned tuples that repeat across events and runs
def site_of(stack: Stack) -> str:
    """``file:line`` of the innermost user frame, harness files excluded ("" if none)."""
    for frame in stack:
        if is_user_frame(frame) and not _is_harness_file(frame.file):
            return f"{frame.file}:{frame.line}"
    return ""


@functools.cache
def func_of(stack: Stack) -> str:
    """Function of the innermost user frame (harness excluded), else of the top frame."""
    for frame in stack:
        if is_user_frame(frame) and not _is_harness_file(frame.file):
            return frame.func
    return stack[0].func if stack else ""


def _sync_primitive(stack: Stack) -> str:
    """``sync.Mutex.Lock`` from a stack blocked in package sync ("" if none)."""
    for frame in stack:
        func = frame.func
        if func.startswith("sync.") and not func.startswith("sync.runtime_"):
            return "sync." + func.removeprefix("sync.").replace("(*", "").replace(")", "")
    return ""


@functools.cache
def wait_kind(reason: str, stack: Stack) -> str:
    """What a blocked goroutine waits on: the trace's reason, with ``sync`` told apart
    by its stack (Mutex, RWMutex, WaitGroup...), ``forever`` for ``select {}`` and nil
    channels."""
    if reason == "sync":
        return _sync_primitive(stack) or "sync"
    if reason == "sync.(*Cond).Wait":
        return "sync.Cond.Wait"
    return reason or "unknown"


@dataclass
class GoroutineEnd:
    """One program goroutine of one run, as the whole trace shows it."""

    g: int
    created_at: str  # user site of the `go` statement ("" if unknown)
    entry: str  # the goroutine's start function
    state: str  # at the end of the trace: blocked / sleeping / runnable / running / syscall
    blocked_at: str  # user site where it is blocked (or stopped) at the end
    blocked_func: str
    reason: str  # Go's block reason at the end
    wait: str  # refined reason (sync.Mutex.Lock, select, chan send...)
    blocked_after_end: bool  # its final block happened after the program-end marker
    first_block_at: str
    first_block_reason: str
    unblocks_after_first_block: int
    select_signature: bool  # first block is a select at blocked_at, never unblocked since
    profile: str  # PROFILE_*
    profile_state: str  # the profile's state text (e.g. "sync.Mutex.Lock")
    program_unblocks_after: int = 0  # GoUnblock events of any program goroutine after its first block
    program_events_after: int = 0  # program events (six kinds) after its first block


@dataclass
class FirstSelectBlock:
    """Goroutines of one creation site whose first block was a select at one site."""

    created_at: str
    site: str
    goroutines: int
    unblocked_later: int  # of them, how many were unblocked after that first block


@dataclass
class RunLeaks:
    run_id: str
    run_index: int
    outcomes: list[str]
    harness_end: str
    trace_complete: bool
    profile_available: bool
    profile_leaked: int  # goroutines the profile marked leaked in this run
    leaked: list[GoroutineEnd] = field(default_factory=list)
    alive: list[GoroutineEnd] = field(default_factory=list)
    first_selects: list[FirstSelectBlock] = field(default_factory=list)
    events: int = 0  # every transition in the trace
    program_events: int = 0  # the program goroutines' transitions (whole trace)
    trace_error: str = ""
    no_tests_ran: bool = False
    depth_next: dict[str, str] = field(default_factory=dict)  # the paper's depths -> next kind (window view)

    def to_json(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["leaked"] = [dict(g.__dict__) for g in self.leaked]
        d["alive"] = [dict(g.__dict__) for g in self.alive]
        d["first_selects"] = [dict(f.__dict__) for f in self.first_selects]
        return d

    @staticmethod
    def from_json(data: dict[str, object]) -> "RunLeaks":
        d = dict(data)
        d["leaked"] = [GoroutineEnd(**g) for g in d.get("leaked", [])]  # type: ignore[arg-type, union-attr]
        d["alive"] = [GoroutineEnd(**g) for g in d.get("alive", [])]  # type: ignore[arg-type, union-attr]
        d["first_selects"] = [FirstSelectBlock(**f) for f in d.get("first_selects", [])]  # type: ignore[arg-type, union-attr]
        return RunLeaks(**d)  # type: ignore[arg-type]


@dataclass
class _G:
    created_at: str = ""
    first_block_index: int = -1
    first_block_site: str = ""
    first_block_reason: str = ""
    unblocks_after_first: int = 0
    state: int = int(GoState.UNDETERMINED)
    reason: str = ""
    stack: Stack = ()
    last_change: int = -1
    kinds_at_first_block: int = 0
    unblocks_at_first_block: int = 0


_KIND_NAMES: list[str] = [""] * 64
for (_f, _t), _k in KIND_OF_TRANSITION.items():
    _KIND_NAMES[_f * 8 + _t] = _k.value
_HAS_KIND = [bool(k) for k in _KIND_NAMES]

_STATE_NAMES = {
    GoState.RUNNABLE: "runnable",
    GoState.RUNNING: "running",
    GoState.SYSCALL: "syscall",
    GoState.NOT_EXIST: "dead",
    GoState.UNDETERMINED: "unknown",
}


def parse_profile(goroutines_at_end: str | list[dict[str, object]] | None) -> dict[int, tuple[bool, str]]:
    """The harness's goroutine list: goroutine id -> (marked leaked, state text)."""
    if goroutines_at_end is None:
        return {}
    items = json.loads(goroutines_at_end) if isinstance(goroutines_at_end, str) else goroutines_at_end
    out: dict[int, tuple[bool, str]] = {}
    for item in items or []:
        try:
            out[int(str(item.get("id")))] = (bool(item.get("leaked")), str(item.get("state", "")))
        except (TypeError, ValueError):
            continue
    return out


def analyze_trace(
    trace: Trace,
    profile: dict[int, tuple[bool, str]] | None,
    *,
    run_id: str = "",
    run_index: int = 0,
    outcomes: list[str] | None = None,
    harness_end: str = "",
    trace_complete: bool = True,
) -> RunLeaks:
    """Every program goroutine's fate in one run (see the module docstring)."""
    system = trace.system_goroutines()
    end_marker = trace.program_end
    end_index = end_marker.index if end_marker is not None else len(trace.events)
    gs: dict[int, _G] = {}
    n_kind = n_unblock = 0  # program events of the six kinds so far; GoUnblocks among them
    program_events = 0
    WAITING, RUNNING, RUNNABLE, SYSCALL, NOT_EXIST, UNDETERMINED = (
        int(GoState.WAITING), int(GoState.RUNNING), int(GoState.RUNNABLE), int(GoState.SYSCALL),
        int(GoState.NOT_EXIST), int(GoState.UNDETERMINED),
    )
    has_kind = _HAS_KIND
    lo, hi = trace.window()
    window_kinds: list[str] = []  # the six-kind sequence of the program window (the paper's depths)
    # Events are unpacked (faster than attribute access: a trace can hold millions).
    for i, (_, g, _, _, _, frm, to, reason, stack, actor_stack, _) in enumerate(trace.events):
        if g in system:
            continue
        program_events += 1
        st = gs.get(g)
        if st is None:
            st = gs[g] = _G()
        if frm == to or frm == UNDETERMINED:
            if st.state == UNDETERMINED:
                st.state, st.reason, st.stack, st.last_change = to, reason, stack, i
            continue  # a per-generation status event: no change, and no kind
        if frm == NOT_EXIST:
            st.created_at = site_of(actor_stack)
        code = frm * 8 + to
        if has_kind[code]:
            n_kind += 1
            if lo <= i < hi:
                window_kinds.append(_KIND_NAMES[code])
        if to == WAITING:
            if frm == RUNNING and st.first_block_index < 0:
                st.first_block_index = i
                st.first_block_site = site_of(stack)
                st.first_block_reason = reason
                st.kinds_at_first_block, st.unblocks_at_first_block = n_kind, n_unblock
            st.reason, st.stack = reason, stack
        elif frm == WAITING and to == RUNNABLE:
            n_unblock += 1
            if st.first_block_index >= 0:
                st.unblocks_after_first += 1
            st.reason = ""
            if stack:
                st.stack = stack
        elif to == SYSCALL or (to == RUNNABLE and frm == RUNNING):
            st.reason, st.stack = reason, stack
        elif stack:
            st.reason, st.stack = "", stack
        st.last_change = i
        st.state = to

    run = RunLeaks(
        run_id=run_id,
        run_index=run_index,
        outcomes=list(outcomes or []),
        harness_end=harness_end,
        trace_complete=trace_complete,
        profile_available=profile is not None,
        profile_leaked=sum(1 for leaked, _ in (profile or {}).values() if leaked),
        events=len(trace.events),
        program_events=program_events,
        depth_next=next_kinds(window_kinds),
    )
    first_selects: dict[tuple[str, str], list[int]] = {}
    for g, st in gs.items():
        if st.first_block_index >= 0 and st.first_block_reason == "select":
            counts = first_selects.setdefault((st.created_at, st.first_block_site), [0, 0])
            counts[0] += 1
            counts[1] += 1 if st.unblocks_after_first else 0
        if st.state in (GoState.NOT_EXIST, GoState.UNDETERMINED):
            continue
        blocked_at = site_of(st.stack)
        if g == MAIN_GOROUTINE and (not blocked_at or st.state != GoState.WAITING):
            continue  # the main goroutine inside the harness or the testing framework
        blocked = st.state == GoState.WAITING and st.reason != "sleep"
        if profile is None:
            verdict, profile_state = PROFILE_NONE, ""
        elif g in profile:
            leaked, profile_state = profile[g]
            verdict = PROFILE_LEAKED if leaked else PROFILE_NOT_PROVEN
        else:
            verdict, profile_state = PROFILE_NOT_LISTED, ""
        signature = (
            blocked
            and st.first_block_reason == "select"
            and st.unblocks_after_first == 0
            and st.first_block_site == blocked_at
        )
        after, unblocks_after = 0, 0
        if signature:  # program events after its select block, and the GoUnblocks among them
            after = n_kind - st.kinds_at_first_block
            unblocks_after = n_unblock - st.unblocks_at_first_block
        end = GoroutineEnd(
            g=g,
            created_at=st.created_at,
            entry=trace.goroutines[g].entry if g in trace.goroutines else "",
            state="blocked" if blocked else ("sleeping" if st.state == GoState.WAITING else _STATE_NAMES.get(st.state, "unknown")),
            blocked_at=blocked_at or _top(st.stack),
            blocked_func=func_of(st.stack),
            reason=st.reason,
            wait=wait_kind(st.reason, st.stack) if st.state == GoState.WAITING else "",
            blocked_after_end=st.last_change >= end_index,
            first_block_at=st.first_block_site,
            first_block_reason=st.first_block_reason,
            unblocks_after_first_block=st.unblocks_after_first,
            select_signature=signature,
            profile=verdict,
            profile_state=profile_state,
            program_unblocks_after=unblocks_after,
            program_events_after=after,
        )
        (run.leaked if blocked else run.alive).append(end)
    run.first_selects = [FirstSelectBlock(c, s, n, u) for (c, s), (n, u) in sorted(first_selects.items())]
    return run


def _top(stack: Stack) -> str:
    if not stack:
        return ""
    f: Frame = stack[0]
    return f"{f.file}:{f.line}"


NO_TESTS_TEXT = "testing: warning: no tests to run"


def analyze_run(collection: Path, row: dict[str, object]) -> RunLeaks:
    """Analyse one stored run (a row of the run store) of a collection directory."""
    status_known = bool(row.get("harness_end"))
    profile = parse_profile(str(row.get("goroutines_at_end") or "[]")) if status_known else None
    base = dict(
        run_id=str(row.get("run_id", "")),
        run_index=int(row.get("run_index") or 0),  # type: ignore[arg-type]
        outcomes=list(row.get("outcomes") or []),  # type: ignore[call-overload]
        harness_end=str(row.get("harness_end") or ""),
        trace_complete=bool(row.get("trace_complete")),
    )
    no_tests = NO_TESTS_TEXT in str(row.get("stderr") or "") or NO_TESTS_TEXT in str(row.get("stdout") or "")
    path = row.get("trace_path")
    if not path:
        return RunLeaks(**base, profile_available=profile is not None, profile_leaked=0, trace_error="no trace", no_tests_ran=no_tests)  # type: ignore[arg-type]
    try:
        with gc_paused(), warnings.catch_warnings():  # the analysis too walks every event
            warnings.simplefilter("ignore")
            trace = read_trace(Path(collection) / str(path))
            run = analyze_trace(trace, profile, **base)  # type: ignore[arg-type]
    except TraceError as exc:
        return RunLeaks(**base, profile_available=profile is not None, profile_leaked=0, trace_error=str(exc), no_tests_ran=no_tests)  # type: ignore[arg-type]
    run.no_tests_ran = no_tests
    return run
