"""Export goroutine timelines as Chrome trace-event JSON (opens in Perfetto and
chrome://tracing).

One track per goroutine (named ``G<id> <entry function>``) with a slice for every
interval it spent running, runnable, blocked (named by the block reason) or in a
syscall; flow arrows from the goroutine that created or unblocked another; an
instant event for every user log (the harness markers among them).
"""

from __future__ import annotations

import json
from typing import Any

from .model import Event, GoState, Trace

_PID = 1
_STATE_NAME = {
    GoState.RUNNING: "running",
    GoState.RUNNABLE: "runnable",
    GoState.WAITING: "blocked",
    GoState.SYSCALL: "syscall",
}


def _us(t: int, t0: int) -> float:
    return (t - t0) / 1000.0


def to_chrome_trace(trace: Trace, events: list[Event] | None = None) -> dict[str, Any]:
    """The trace-event JSON object for ``events`` (default: the program view)."""
    if events is None:
        events = trace.program_events()
    out: list[dict[str, Any]] = []
    t0 = events[0].time if events else 0
    infos = trace.goroutines
    out.append({"ph": "M", "pid": _PID, "name": "process_name", "args": {"name": trace.path or "go trace"}})
    named: set[int] = set()
    # Open interval per goroutine: (state, reason, site, start time).
    open_: dict[int, tuple[GoState, str, str, int]] = {}
    flow_id = 0

    def close(g: int, t: int) -> None:
        state, reason, site, start = open_.pop(g)
        name = reason if state == GoState.WAITING and reason else _STATE_NAME[state]
        args = {"state": _STATE_NAME[state]}
        if reason:
            args["reason"] = reason
        if site:
            args["at"] = site
        out.append(
            {"ph": "X", "pid": _PID, "tid": g, "name": name, "cat": _STATE_NAME[state],
             "ts": _us(start, t0), "dur": _us(t, t0) - _us(start, t0), "args": args}
        )

    for ev in events:
        g = ev.g
        if g not in named:
            named.add(g)
            info = infos.get(g)
            label = f"G{g} {info.entry}" if info and info.entry else f"G{g}"
            out.append({"ph": "M", "pid": _PID, "tid": g, "name": "thread_name", "args": {"name": label}})
            out.append({"ph": "M", "pid": _PID, "tid": g, "name": "thread_sort_index", "args": {"sort_index": g}})
        if g in open_:
            close(g, ev.time)
        if ev.to_state in _STATE_NAME:
            site = f"{ev.stack[0].file}:{ev.stack[0].line}" if ev.stack else ""
            open_[g] = (ev.to_state, ev.reason, site, ev.time)
        kind = ev.kind
        if kind is not None and kind in ("GoCreate", "GoUnblock") and ev.actor >= 0 and ev.actor in named:
            flow_id += 1
            ts = _us(ev.time, t0)
            out.append({"ph": "s", "pid": _PID, "tid": ev.actor, "id": flow_id, "name": str(kind), "cat": "flow", "ts": ts})
            out.append({"ph": "f", "pid": _PID, "tid": g, "id": flow_id, "name": str(kind), "cat": "flow", "ts": ts, "bp": "e"})
    end = events[-1].time if events else 0
    for g in list(open_):
        close(g, end)
    for log in trace.logs:
        if events and events[0].time <= log.time <= end:
            out.append(
                {"ph": "i", "pid": _PID, "tid": log.g, "s": "t", "name": f"{log.category}: {log.message}",
                 "ts": _us(log.time, t0), "cat": "log"}
            )
    return {"traceEvents": out, "displayTimeUnit": "ns"}


def write_chrome_trace(trace: Trace, path: str, events: list[Event] | None = None) -> None:
    with open(path, "w") as f:
        json.dump(to_chrome_trace(trace, events), f)
