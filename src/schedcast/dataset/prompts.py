"""Render examples as LM prompts, and truncate them under a token budget.

Two formats:
- paper: the research prototype's layout: program source, the partial trace as
  JSON, the current goroutine states, and a JSON answer
  {"event_type": ..., "goroutine_id": ...}.
- compact: ours: the same information with one short line per event and per
  goroutine, and the answer "GoBlock G2".

Truncation keeps the target whole and removes, in this order: source lines from
the left (the top of the program), then the oldest trace events (a line says how
many were left out). If the prompt still does not fit, `PromptTooLong` is raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from schedcast.trace import KIND_NAMES
FORMATS = ("paper", "compact")


class PromptTooLong(ValueError):
    """Even without source and trace, the prompt exceeds the budget."""


@dataclass(frozen=True)
class PromptEvent:
    kind: int
    g: int
    reason: str = ""
    site: str = ""


@dataclass(frozen=True)
class PromptExample:
    source: str  # the program's files, each under a "// file: NAME" header
    events: Sequence[PromptEvent]  # the prefix (its newest events when `omitted` > 0), oldest first
    states: dict[int, str]  # goroutine -> "running", "blocked (chan receive) at prog/main.go:12", ...
    target_kind: int
    target_g: int
    # Oldest prefix events not carried in `events` (a prompt can never show more events
    # than its token budget, so huge prefixes are cut before rendering); they count as
    # dropped by truncation, and `states` still reflect the whole prefix.
    omitted: int = 0
    last_event: dict[int, int] | None = None  # goroutine -> index of its last prefix event (whole prefix)


@dataclass(frozen=True)
class Prompt:
    prompt: str
    target: str
    source_lines_dropped: int
    events_dropped: int
    tokens: int | None = None


def state_text(kind: int, reason: str, site: str) -> str:
    """A goroutine's state after an event of `kind` that moved it (see goroutine_states)."""
    name = KIND_NAMES[kind]
    if name == "GoStart":
        return "running"
    if name == "GoBlock":
        where = f" at {site}" if site else ""
        return f"blocked ({reason}){where}" if reason else f"blocked{where}"
    if name == "GoEnd":
        return "dead"
    return "runnable"  # GoCreate, GoUnblock, GoSched


def goroutine_states(events: Sequence[PromptEvent]) -> dict[int, str]:
    """Replay the six-kind events of a prefix into each goroutine's state.

    (Syscall transitions are not positions of the sequence; a goroutine in a system
    call shows as running, as it did before entering it.)
    """
    states: dict[int, str] = {}
    for ev in events:
        kind = KIND_NAMES[ev.kind]
        if kind in ("GoCreate", "GoUnblock", "GoSched"):
            states[ev.g] = "runnable"
        elif kind == "GoStart":
            states[ev.g] = "running"
        elif kind == "GoBlock":
            where = f" at {ev.site}" if ev.site else ""
            states[ev.g] = f"blocked ({ev.reason}){where}" if ev.reason else f"blocked{where}"
        elif kind == "GoEnd":
            states[ev.g] = "dead"
    return states


def _target(ex: PromptExample, fmt: str) -> str:
    if fmt == "paper":
        return json.dumps({"event_type": KIND_NAMES[ex.target_kind], "goroutine_id": ex.target_g})
    return f"{KIND_NAMES[ex.target_kind]} G{ex.target_g}"


def _render(ex: PromptExample, fmt: str, source_from: int, events_from: int) -> str:
    lines = ex.source.splitlines()[source_from:]
    events = ex.events[events_from:]
    events_from += ex.omitted  # the note counts every prefix event left out
    states = "\n".join(f"G{g}: {s}" for g, s in sorted(ex.states.items())) or "(no goroutine has run yet)"
    omitted_src = f"// ... {source_from} lines of source omitted\n" if source_from else ""
    if fmt == "paper":
        trace = json.dumps(
            [{"event_type": KIND_NAMES[e.kind], "goroutine_id": e.g} for e in events]
        )
        omitted_ev = f"(the {events_from} oldest events are omitted)\n" if events_from else ""
        return (
            "You are given a concurrent Go program and a partial execution trace of one run.\n"
            "### Program\n```go\n" + omitted_src + "\n".join(lines) + "\n```\n"
            "### Partial trace (JSON)\n" + omitted_ev + trace + "\n"
            "### Goroutine states\n" + states + "\n"
            '### Question\nWhat is the next scheduler event? Answer with JSON {"event_type": ..., "goroutine_id": ...}.\n'
            "### Answer\n"
        )
    trace_lines = [
        f"G{e.g} {KIND_NAMES[e.kind]}" + (f" ({e.reason})" if e.reason else "") + (f" {e.site}" if e.site else "")
        for e in events
    ]
    if events_from:
        trace_lines.insert(0, f"... {events_from} earlier events")
    return (
        "program:\n" + omitted_src + "\n".join(lines) + "\n"
        "trace:\n" + "\n".join(trace_lines) + "\n"
        "goroutines:\n" + states + "\n"
        "next:\n"
    )


def render(ex: PromptExample, fmt: str = "paper") -> Prompt:
    if fmt not in FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; choose from {FORMATS}")
    return Prompt(_render(ex, fmt, 0, 0), _target(ex, fmt), 0, ex.omitted)


def truncate(ex: PromptExample, budget: int, count_tokens: Callable[[str], int], fmt: str = "paper") -> Prompt:
    """The longest prompt (fewest lines and events dropped, source first) whose
    prompt + target fit in `budget` tokens."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; choose from {FORMATS}")
    target = _target(ex, fmt)
    n_lines = len(ex.source.splitlines())
    n_events = len(ex.events)

    def size(src_from: int, ev_from: int) -> int:
        return count_tokens(_render(ex, fmt, src_from, ev_from) + target)

    full = size(0, 0)
    if full <= budget:
        return Prompt(_render(ex, fmt, 0, 0), target, 0, ex.omitted, full)

    def smallest(lo: int, hi: int, fits: Callable[[int], bool]) -> int | None:
        # Token counts shrink (almost always) as more is dropped, so binary search.
        # Every value it returns was checked to fit; a rare bump (the "N lines
        # omitted" note growing a digit) can only make it drop a little more.
        if not fits(hi):
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    src_from = smallest(1, n_lines, lambda s: size(s, 0) <= budget)
    if src_from is not None:
        return Prompt(_render(ex, fmt, src_from, 0), target, src_from, ex.omitted, size(src_from, 0))
    ev_from = smallest(1, n_events, lambda e: size(n_lines, e) <= budget)
    if ev_from is None:
        raise PromptTooLong(f"budget of {budget} tokens is too small: without source and trace the prompt takes {size(n_lines, n_events)}")
    return Prompt(_render(ex, fmt, n_lines, ev_from), target, n_lines, ex.omitted + ev_from, size(n_lines, ev_from))
