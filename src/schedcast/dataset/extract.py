"""From one run's trace to its event sequence and the abstract state before each event.

The sequence holds the program's goroutine transitions that carry one of the six
kinds (GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock), in Go's order,
between the harness's program-start and program-end markers, system goroutines
left out (see docs/trace.md). Status events and syscall transitions carry no kind:
they update the goroutine snapshot but are not positions of the sequence.

Goroutine ids are canonicalised per run by first appearance (1, 2, ...): the same
program gets different raw ids in different runs (the test goroutine's id moves,
runtime goroutines take numbers), and a model must not learn raw ids.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

from schedcast.trace import KINDS, Kind, TraceError, TruncatedTraceWarning, read_trace
from schedcast.trace.snapshot import GoroutineState, Snapshot, Status, user_site

KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}
STATE_HISTORY = 3  # kinds of the last events in the abstract state


@dataclass
class RunEvents:
    status: str  # ok | truncated | unreadable | no_events
    detail: str = ""
    kinds: list[int] = field(default_factory=list)
    goroutines: list[int] = field(default_factory=list)  # canonical id of the goroutine that changed state
    actors: list[int] = field(default_factory=list)  # canonical id of the acting goroutine, 0 = not the program's
    reasons: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)  # top user frame (file:line) of the transitioning goroutine
    times: list[int] = field(default_factory=list)  # ns since the first event of the sequence
    state_keys: list[str] = field(default_factory=list)  # abstract state before event k, k = 0..n
    allowed: list[int] = field(default_factory=list)  # before event k: bit i set = the FSM allows KINDS[i]
    max_live: int = 0  # most program goroutines alive at once


def _mask(kinds: set) -> int:  # type: ignore[type-arg]
    return sum(1 << KIND_INDEX[k] for k in kinds)


_BLOCK, _CREATE, _END, _SCHED, _START, _UNBLOCK = (1 << i for i in range(6))


def allowed_mask(running: int, runnable: int, blocked: int, syscall: int, gomaxprocs: int) -> int:
    """The kinds the scheduler FSM allows next, from the counts of goroutines per
    status (the same rules as schedcast.trace.fsm.FSM.allowed_kinds, in O(1))."""
    mask = 0
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


def _label(st: GoroutineState) -> str | None:
    """A live goroutine's part of the abstract state; None for dead or unknown ones."""
    if st.status is Status.DEAD or st.status is Status.UNKNOWN:
        return None
    return f"blocked/{st.reason}" if st.status is Status.BLOCKED else str(st.status)


def _state_key(recent: list[tuple[int, int]], live: Counter[str]) -> str:
    """Canonical abstract state: the last few (kind, goroutine role) pairs, roles
    renamed by first appearance inside that window, plus the multiset of live
    goroutines' (status, block reason)."""
    roles: dict[int, str] = {}
    parts = []
    for kind, g in recent:
        role = roles.setdefault(g, "abcdefgh"[len(roles)])
        parts.append(f"{KINDS[kind]}:{role}")
    return " ".join(parts) + " | " + ",".join(f"{k}*{v}" for k, v in sorted(live.items()))


def extract_run(trace_path: str) -> RunEvents:
    """Read one trace; never raises for a bad trace (the status says what happened)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedTraceWarning)
        try:
            trace = read_trace(trace_path)
        except TraceError as exc:
            return RunEvents(status="unreadable", detail=str(exc))
    truncated = [str(w.message) for w in caught if issubclass(w.category, TruncatedTraceWarning)]
    out = RunEvents(status="truncated" if truncated else "ok", detail="; ".join(truncated))
    system = trace.system_goroutines()
    lo, hi = trace.window()
    gomaxprocs = max(1, trace.gomaxprocs)
    rename: dict[int, int] = {}
    snap = Snapshot()
    live: Counter[str] = Counter()  # live program goroutines by (status, reason), kept incrementally
    by_status = {Status.RUNNING: 0, Status.RUNNABLE: 0, Status.BLOCKED: 0, Status.SYSCALL: 0}
    recent: list[tuple[int, int]] = []
    t0: int | None = None
    for i, ev in enumerate(trace.events):
        if ev.g in system:
            continue
        kind = ev.kind
        # Events before the program-start marker (e.g. the per-generation status
        # events) still tell the snapshot where each goroutine stands.
        in_window = kind is not None and lo <= i < hi
        if in_window:
            g = rename.setdefault(ev.g, len(rename) + 1)
            out.state_keys.append(_state_key(recent, live))
            out.allowed.append(
                allowed_mask(by_status[Status.RUNNING], by_status[Status.RUNNABLE], by_status[Status.BLOCKED], by_status[Status.SYSCALL], gomaxprocs)
            )
        before = snap.state(ev.g)
        snap.apply(ev)
        after = snap.state(ev.g)
        if before is not after:
            old, new = _label(before), _label(after)
            if old is not None:
                live[old] -= 1
                if not live[old]:
                    del live[old]
                by_status[before.status] -= 1
            if new is not None:
                live[new] += 1
                by_status[after.status] += 1
        if not in_window:
            continue
        k = KIND_INDEX[kind]  # type: ignore[index]
        out.kinds.append(k)
        out.goroutines.append(g)
        out.actors.append(rename.get(ev.actor, 0))
        out.reasons.append(ev.reason)
        out.sites.append(after.site if kind is Kind.GoBlock else (user_site(ev.stack) if ev.stack else ""))
        if t0 is None:
            t0 = ev.time
        out.times.append(ev.time - t0)
        recent.append((k, g))
        if len(recent) > STATE_HISTORY:
            recent.pop(0)
        out.max_live = max(out.max_live, sum(by_status.values()))
    out.state_keys.append(_state_key(recent, live))  # after the last event: no next event
    if not out.kinds:
        out.status = "no_events"
        out.detail = out.detail or "the trace holds no program goroutine transitions"
    return out
