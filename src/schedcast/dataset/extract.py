"""From one run's trace to its event sequence and the abstract state before each event.

The sequence holds the program's goroutine transitions that carry one of the six
kinds (GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock), in Go's order, inside
the program window, system goroutines left out (see docs/trace.md). Status events and
syscall transitions carry no kind: they update the goroutine snapshot but are not
positions of the sequence.

The program's events only (docs/dataset.md, "What counts as the program's events"):

- Transitions the runtime makes on a program goroutine's behalf are left out: those
  whose transitioning stack, read from the innermost frame up to the first user frame,
  passes through the garbage collector (``runtime.GC``, ``runtime.gc*``: GC assists,
  the collector's own yields), a profiler (``runtime/pprof``), the tracer
  (``runtime/trace``, ``runtime.trace*``) or the schedcast harness. Like status events
  they still update the goroutine snapshot (the state stays true), but they are not
  positions. A user's own ``runtime.GC()`` call is treated the same way: the collector's
  internal yields are not the program's scheduling. Counted per reason (``left_out``).
- The window starts at the harness's program-start marker. A ``main`` program's window
  ends at program-end (when ``main`` returns the process exits). A Go *test* binary's
  window runs to the end of the trace (the harness lets the goroutines settle, then
  stops the tracer): goroutines that start and block after the test function returned
  are the bug and stay in; goroutine 1 (``testing.(*M).Run``, waiting for the test) is
  the testing framework's and is left out, the test function's goroutine
  (``testing.tRunner``) is the program's. A GoKer kernel's window ends at its first
  transition inside its goroutine-leak profile call (``pprof.(*Profile).WriteTo``),
  and its trace is read only that far: nothing after that point is used, so it is
  not decoded (``RunEvents.not_read``; half of a kernel's events are the profile's
  collector loop).

Goroutine ids are canonicalised per run by first appearance (1, 2, ...), as the
goroutine that changed state or as the acting goroutine: the same program gets
different raw ids in different runs, and a model must not learn raw ids.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections import Counter
from dataclasses import dataclass, field

from schedcast.trace import KINDS, GoState, Trace, TraceError, TruncatedTraceWarning, read_trace
from schedcast.trace.model import HARNESS_MARK, MAIN_GOROUTINE, Event, Stack, is_system_entry
from schedcast.trace.snapshot import is_user_frame, user_site

KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}
STATE_HISTORY = 3  # kinds of the last events in the abstract state


# Why an event of a program goroutine is not a position of the sequence.
LEFT_OUT_REASONS = ("gc", "profiler", "tracer", "harness", "test_framework")
# Why the rest of a run's trace was not read (RunEvents.not_read): nothing after it is used.
NOT_READ_AFTER_LEAK_PROFILE = "after_leak_profile"
LEAK_PROFILE_FRAME = "runtime/pprof.(*Profile).WriteTo"
TEST_FRAMEWORK_GOROUTINE = 1  # in a test binary goroutine 1 runs testing.(*M).Run


@dataclass(frozen=True)
class EventRules:
    """How a program's events are read (see the module docstring)."""

    test: bool = False  # a Go test binary: window to the trace's end, goroutine 1 not the program's
    end_at_leak_profile: bool = False  # GoKer kernels: the window ends at the goroutine-leak profile call
    keep_runtime: bool = False  # keep transitions the runtime makes on a program goroutine's behalf

    @classmethod
    def for_program(cls, kind: str, origin: str, keep_runtime: bool = False) -> "EventRules":
        """The rules for a program of this kind ("main" | "test") and origin."""
        return cls(test=kind == "test", end_at_leak_profile=origin == "goker", keep_runtime=keep_runtime)


@functools.cache  # stacks are interned tuples that repeat across events
def on_behalf_reason(stack: Stack) -> str | None:
    """Why a transition with this (transitioning goroutine's) stack is the runtime's
    doing rather than the program's: "harness", "profiler", "tracer" or "gc" (in that
    order of precedence), from the frames below the first user frame; None when the
    program itself made it."""
    found: set[str] = set()
    for frame in stack:
        if is_user_frame(frame):
            break
        func = frame.func
        if HARNESS_MARK in func:
            found.add("harness")
        elif func.startswith("runtime/pprof."):
            found.add("profiler")
        elif func.startswith(("runtime/trace.", "runtime.trace")):
            found.add("tracer")
        elif func == "runtime.GC" or func.startswith(("runtime.gc", "runtime.(*gc")):
            found.add("gc")
    for reason in ("harness", "profiler", "tracer", "gc"):
        if reason in found:
            return reason
    return None


@functools.cache  # interned stacks repeat: one scan per distinct stack
def _in_leak_profile(stack: Stack) -> bool:
    return any(frame.func == LEAK_PROFILE_FRAME for frame in stack)


@dataclass
class RunEvents:
    status: str  # ok | truncated | unreadable | no_events
    detail: str = ""
    kinds: list[int] = field(default_factory=list)
    goroutines: list[int] = field(default_factory=list)  # canonical id of the goroutine that changed state
    actors: list[int] = field(default_factory=list)  # canonical id of the acting goroutine, 0 = not the program's
    reasons: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)  # top user frame (file:line) of the transitioning goroutine
    # GoCreate / GoUnblock by a program goroutine: the actor's top user frame (the go
    # statement, the send / unlock that unblocked), else "".
    actor_sites: list[str] = field(default_factory=list)
    times: list[int] = field(default_factory=list)  # ns since the first event of the sequence
    state_keys: list[int] = field(default_factory=list)  # 64-bit digest of the abstract state before event k, k = 0..n
    state_texts: dict[int, str] = field(default_factory=dict)  # digest -> readable key, once per distinct state
    allowed: list[int] = field(default_factory=list)  # before event k: bit i set = the FSM allows KINDS[i]
    max_live: int = 0  # most program goroutines alive at once
    left_out: Counter[str] = field(default_factory=Counter)  # program events left out, per reason (LEFT_OUT_REASONS)
    not_read: str = ""  # why the trace was not read to its end ("" = read whole; NOT_READ_AFTER_LEAK_PROFILE)


_BLOCK, _CREATE, _END, _SCHED, _START, _UNBLOCK = (1 << i for i in range(6))
_ACTOR_SITE_KINDS = (KIND_INDEX["GoCreate"], KIND_INDEX["GoUnblock"])


def allowed_mask(running: int, runnable: int, blocked: int, syscall: int, gomaxprocs: int, cgo_callbacks: bool = False) -> int:
    """The kinds the scheduler FSM allows next, from the counts of goroutines per
    status (the same rules as schedcast.trace.fsm.FSM.allowed_kinds, in O(1)). With
    cgo callbacks a C thread entering Go creates a goroutine without a free P."""
    mask = _CREATE if cgo_callbacks else 0
    if running:
        mask |= _BLOCK | _SCHED | _END | _CREATE
    if blocked:
        mask |= _UNBLOCK
    if syscall:
        mask |= _END
    if running < gomaxprocs:
        mask |= _CREATE
        if runnable:
            mask |= _START
    return mask


_LIVE_LABEL = {GoState.RUNNABLE: "runnable", GoState.RUNNING: "running", GoState.SYSCALL: "syscall"}


def count_bucket(n: int) -> str:
    """Counts in the abstract state: exact up to 3, then 4-7, 8-15, 16+. A kernel
    with 2,000 goroutines would otherwise make every position its own state."""
    if n <= 3:
        return str(n)
    if n <= 7:
        return "4-7"
    if n <= 15:
        return "8-15"
    return "16+"


def _recent_text(recent: list[tuple[int, int]]) -> str:
    """The last few (kind, goroutine role) pairs, roles renamed by first appearance
    inside that window."""
    roles: dict[int, str] = {}
    parts = []
    for kind, g in recent:
        role = roles.setdefault(g, "abcdefgh"[len(roles)])
        parts.append(f"{KINDS[kind]}:{role}")
    return " ".join(parts)


def _recent_shape(recent: list[tuple[int, int]]) -> tuple[int, ...]:
    """(kind, role) pairs of the recent events, roles by first appearance: the part
    of the state key that does not depend on raw goroutine ids."""
    shape: list[int] = []
    seen: list[int] = []
    for kind, g in recent:
        if g not in seen:
            seen.append(g)
        shape.append(kind)
        shape.append(seen.index(g))
    return tuple(shape)


def _live_text(live: Counter[str]) -> str:
    """The multiset of live goroutines' (status, block reason), counts bucketed."""
    return ",".join(f"{k}*{count_bucket(v)}" for k, v in sorted(live.items()))


def state_key(recent: list[tuple[int, int]], live: Counter[str]) -> str:
    """The canonical abstract state: recent events plus live goroutines."""
    return _recent_text(recent) + " | " + _live_text(live)


def _add_state_text(out: RunEvents, key: str) -> int:
    # A stable digest (Python's str hash differs between worker processes).
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    out.state_texts.setdefault(digest, key)
    return digest


class StopAtLeakProfile:
    """A stop rule for the trace reader (``read_trace(stop=...)``): reading ends at
    the first transition of a kind, inside the goroutine-leak profile call, of a
    goroutine that is the program's as far as the trace has shown it. It may stop a
    little early (the window's own rules are checked by ``extract_run``, which reads
    the whole trace again when the stop point is not the window's end)."""

    def __init__(self) -> None:
        self.entries: dict[int, str] = {}  # goroutine -> root function of its first stack
        # The reader interns stacks, and the events it keeps hold them: a stack's
        # id identifies it for the whole read (hashing a stack tuple costs its depth).
        self.in_profile: dict[int, bool] = {}
        self.stopped = False

    def __call__(self, events: list[Event], start: int) -> bool:
        entries, in_profile = self.entries, self.in_profile
        for i in range(start, len(events)):
            ev = events[i]
            stack = ev.stack
            if not stack:
                continue
            g = ev.g
            if g not in entries:
                entries[g] = stack[-1].func
            hit = in_profile.get(id(stack))
            if hit is None:
                hit = in_profile[id(stack)] = _in_leak_profile(stack)
            if hit and ev.kind is not None and (g == MAIN_GOROUTINE or not is_system_entry(entries[g])):
                self.stopped = True
                return True
        return False


def extract_run(trace_path: str, rules: EventRules = EventRules(), *, stop_early: bool = True) -> RunEvents:
    """Read one trace; never raises for a bad trace (the status says what happened).
    A GoKer kernel's trace is read only up to its window's end (see the module
    docstring); ``stop_early=False`` reads it whole, with the same result."""
    stop = StopAtLeakProfile() if rules.end_at_leak_profile and stop_early else None
    out = _read_run(trace_path, stop)
    if isinstance(out, RunEvents):
        return out
    result = _extract(out, rules)
    if stop is not None and stop.stopped and not result.not_read:
        # Stopped where the window does not end after all: read it whole.
        full = _read_run(trace_path, None)
        return full if isinstance(full, RunEvents) else _extract(full, rules)
    return result


def _read_run(trace_path: str, stop: StopAtLeakProfile | None) -> RunEvents | tuple[Trace, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedTraceWarning)
        try:
            trace = read_trace(trace_path, stop=stop)
        except TraceError as exc:
            return RunEvents(status="unreadable", detail=str(exc))
    return trace, [str(w.message) for w in caught if issubclass(w.category, TruncatedTraceWarning)]


def _extract(read: tuple[Trace, list[str]], rules: EventRules) -> RunEvents:
    trace, truncated = read
    out = RunEvents(status="truncated" if truncated else "ok", detail="; ".join(truncated))
    system = set(trace.system_goroutines())
    lo, hi = trace.window()
    if rules.test:
        hi = len(trace.events)  # the test function's return is not the program's end
        system.add(TEST_FRAMEWORK_GOROUTINE)
    gomaxprocs = max(1, trace.gomaxprocs)
    cgo = trace.cgo_callbacks
    rename: dict[int, int] = {}
    # Each program goroutine's live label ("running", "blocked/chan send", ...; None
    # when dead or unknown), the multiset of labels and the count per status, all
    # kept incrementally: O(1) per event whatever the number of goroutines. The
    # status rules are the snapshot's (schedcast.trace.snapshot.STATUS_OF_STATE);
    # a test checks the resulting masks against schedcast.trace.fsm.FSM.
    label_of: dict[int, tuple[str, GoState] | None] = {}
    live: Counter[str] = Counter()
    counts = [0, 0, 0, 0, 0, 0]  # live goroutines per GoState (RUNNABLE, RUNNING, WAITING, SYSCALL)
    recent: list[tuple[int, int]] = []
    live_text, live_dirty = "", False
    digests: dict[tuple[object, str], int] = {}  # the same state recurs: hash its text once
    t0: int | None = None
    waiting, not_exist, undetermined = GoState.WAITING, GoState.NOT_EXIST, GoState.UNDETERMINED
    for i, ev in enumerate(trace.events):
        if i >= hi:
            break  # after program-end: the harness's settling, not part of any prefix
        g_raw = ev.g
        if g_raw in system:
            if rules.test and g_raw == TEST_FRAMEWORK_GOROUTINE and ev.kind is not None and i >= lo:
                out.left_out["test_framework"] += 1
            continue
        kind = ev.kind
        # Events before the program-start marker (e.g. the per-generation status
        # events) still tell where each goroutine stands.
        in_window = kind is not None and i >= lo
        if in_window and rules.end_at_leak_profile and _in_leak_profile(ev.stack):
            out.not_read = NOT_READ_AFTER_LEAK_PROFILE  # the window ends here, and nothing after it is used
            break
        if in_window and not rules.keep_runtime:
            why = on_behalf_reason(ev.stack) if ev.stack else None
            if why is not None:
                out.left_out[why] += 1
                in_window = False  # still updates the snapshot below
        if in_window:
            a_raw = ev.actor
            actor = rename.setdefault(a_raw, len(rename) + 1) if a_raw > 0 and a_raw not in system else 0
            g = rename.setdefault(g_raw, len(rename) + 1)
            if live_dirty:
                live_text = _live_text(live)
                live_dirty = False
            cache_key = (_recent_shape(recent), live_text)
            digest = digests.get(cache_key)
            if digest is None:
                digest = digests[cache_key] = _add_state_text(out, _recent_text(recent) + " | " + live_text)
            out.state_keys.append(digest)
            out.allowed.append(allowed_mask(counts[GoState.RUNNING], counts[GoState.RUNNABLE], counts[waiting], counts[GoState.SYSCALL], gomaxprocs, cgo))
        to = ev.to_state
        old = label_of.get(g_raw)
        if to == waiting:
            # A per-generation status event (Waiting->Waiting) confirms, it does not change the reason.
            new = old if ev.from_state == waiting and old is not None else ("blocked/" + ev.reason, to)
        elif to == not_exist or to == undetermined:
            new = None
        else:
            new = (_LIVE_LABEL[to], to)
        if old != new:
            # The state text changes only when a label's count bucket changes.
            if old is not None:
                label, state = old
                c = live[label] - 1
                if c:
                    live[label] = c
                    live_dirty = live_dirty or c < 16
                else:
                    del live[label]
                    live_dirty = True
                counts[state] -= 1
            if new is not None:
                label, state = new
                c = live[label] + 1
                live[label] = c
                live_dirty = live_dirty or c <= 16
                counts[state] += 1
            label_of[g_raw] = new
        if not in_window:
            continue
        k = KIND_INDEX[kind]  # type: ignore[index]
        out.kinds.append(k)
        out.goroutines.append(g)
        out.actors.append(actor)
        out.reasons.append(ev.reason)
        out.sites.append(user_site(ev.stack) if ev.stack else "")
        out.actor_sites.append(user_site(ev.actor_stack) if actor > 0 and k in _ACTOR_SITE_KINDS and ev.actor_stack else "")
        if t0 is None:
            t0 = ev.time
        out.times.append(ev.time - t0)
        recent.append((k, g))
        if len(recent) > STATE_HISTORY:
            recent.pop(0)
        out.max_live = max(out.max_live, sum(counts))
    out.state_keys.append(_add_state_text(out, state_key(recent, live)))  # after the last event: no next event
    if not out.kinds:
        out.status = "no_events"
        out.detail = out.detail or "the trace holds no program goroutine transitions"
    return out
