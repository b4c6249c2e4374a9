"""Go's own trace parser as an oracle: ``go tool trace -d=parsed FILE``.

Runs the pinned toolchain's parser and turns its text dump into records that can
be compared field by field with :class:`~schedcast.trace.model.Event`. Used by the
differential tests and ``benchmarks/trace_diff.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

from .model import Event, Frame, Stack

GoStackLine = tuple[str, str, int]  # (func, file, line)


@dataclass
class GoEvent:
    """One event of Go's parsed dump (only the fields we compare)."""

    kind: str  # "StateTransition", "Log", "Sync", "Metric", ...
    m: int
    p: int
    g: int
    time: int
    goid: int | None = None  # goroutine transitions only
    procid: int | None = None  # proc transitions only
    from_state: str = ""
    to_state: str = ""
    reason: str = ""
    category: str = ""
    message: str = ""
    message_bytes: bytes = b""  # the message exactly, also when it is not valid UTF-8
    transition_stack: list[GoStackLine] = field(default_factory=list)
    stack: list[GoStackLine] = field(default_factory=list)


class OracleError(RuntimeError):
    """Go's parser failed on the trace (its message is kept)."""


def run_go_parser(path: str | os.PathLike[str], timeout: float = 600) -> str:
    """The text of ``go tool trace -d=parsed PATH``; OracleError if Go rejects it."""
    text, error = run_go_parser_partial(path, timeout)
    if error is not None:
        raise OracleError(error)
    return text


def run_go_parser_partial(path: str | os.PathLike[str], timeout: float = 600) -> tuple[str, str | None]:
    """What Go printed before stopping, and its error (None if it read everything).
    On a broken trace Go prints every event it could order, then fails."""
    from ..toolchain import run_go

    proc = run_go(["tool", "trace", "-d=parsed", os.fspath(path)], timeout=timeout)
    if proc.returncode != 0:
        return proc.stdout, proc.stderr.strip() or f"go tool trace exited with {proc.returncode}"
    return proc.stdout, None


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}


def go_unquote_bytes(text: str) -> bytes:
    """The bytes of a Go string literal as ``%q`` (strconv.Quote) prints it:
    ``\\xNN`` is one raw byte (Go strings may hold invalid UTF-8), ``\\uNNNN`` and
    ``\\UNNNNNNNN`` a rune, other characters themselves. Unquoted text is taken as is."""
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        return text.encode()
    out = bytearray()
    body = text[1:-1]
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif e in "uU":
            width = 4 if e == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode()
            i += 2 + width
        else:  # octal \\NNN
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
    return bytes(out)


def _unquote(text: str) -> str:
    """A Go-quoted string as the reader gives it: invalid UTF-8 bytes as U+FFFD."""
    return go_unquote_bytes(text).decode("utf-8", "replace")


def _field(line: str, key: str) -> str:
    start = line.index(key) + len(key)
    end = line.find(" ", start)
    return line[start:] if end < 0 else line[start:end]


def parse_go_dump(text: str) -> Iterator[GoEvent]:
    """Parse the text dump of ``go tool trace -d=parsed``."""
    ev: GoEvent | None = None
    target: list[GoStackLine] | None = None
    pending_func: str | None = None
    for line in text.splitlines():
        if line.startswith("M="):
            if ev is not None:
                yield ev
            head = line.split(" ", 5)
            m, p, g = (int(part.split("=", 1)[1]) for part in head[:3])
            kind = head[3]
            time = int(head[4].split("=", 1)[1])
            ev = GoEvent(kind=kind, m=m, p=p, g=g, time=time)
            rest = head[5] if len(head) > 5 else ""
            if kind == "StateTransition":
                what, trans, reason = rest.split(" ", 2)
                ident, value = what.split("=", 1)
                if ident == "GoID":
                    ev.goid = int(value)
                else:
                    ev.procid = int(value)
                ev.from_state, ev.to_state = trans.split("->", 1)
                ev.reason = _unquote(reason.removeprefix("Reason="))
            elif kind == "Log":
                cat_at = rest.index(" Category=") + len(" Category=")
                msg_at = rest.index(" Message=")
                ev.category = _unquote(rest[cat_at:msg_at])
                ev.message_bytes = go_unquote_bytes(rest[msg_at + len(" Message=") :])
                ev.message = ev.message_bytes.decode("utf-8", "replace")
            target = None
        elif ev is None:
            continue
        elif line == "TransitionStack=":
            target = ev.transition_stack
        elif line == "Stack=":
            target = ev.stack
        elif line.startswith("\t\t") and target is not None and pending_func is not None:
            file, _, lineno = line[2:].rpartition(":")
            target.append((pending_func, file, int(lineno)))
            pending_func = None
        elif line.startswith("\t") and target is not None:
            pending_func = line[1:].rsplit(" @ ", 1)[0]
    if ev is not None:
        yield ev


def go_transitions(text: str) -> list[GoEvent]:
    """Goroutine state transitions of a Go dump, in Go's order."""
    return [ev for ev in parse_go_dump(text) if ev.kind == "StateTransition" and ev.goid is not None]


def _frames(stack: Stack) -> list[GoStackLine]:
    return [(f.func, f.file, f.line) for f in stack]


def derive_transition_stacks(go_events: list[GoEvent]) -> list[list[GoStackLine]]:
    """The stack of the transitioning goroutine for every Go transition, derived the
    way schedcast documents it (docs/trace.md, "Stacks") from Go's own output: the
    event's TransitionStack when Go gives one, else the goroutine's last stack (its
    creation stack for GoEnd)."""
    last: dict[int, list[GoStackLine]] = {}
    start: dict[int, list[GoStackLine]] = {}
    out: list[list[GoStackLine]] = []
    for ev in go_events:
        gid = ev.goid
        assert gid is not None
        if ev.to_state == "NotExist":
            stack = start.pop(gid, [])
            prev = last.pop(gid, [])
            if not stack and prev:
                stack = [prev[-1]]
        elif ev.transition_stack or _carries_stack(ev):
            stack = ev.transition_stack
            last[gid] = stack
            if ev.from_state == "NotExist":
                start[gid] = stack
        else:
            stack = last.get(gid, [])
        out.append(stack)
    return out


def _carries_stack(ev: GoEvent) -> bool:
    # Blocks, stops and syscall entries always own a stack slot (maybe empty).
    return (ev.from_state == "Running" and ev.to_state in ("Waiting", "Runnable", "Syscall")) or (
        ev.from_state == "NotExist" and ev.to_state in ("Runnable", "Waiting")
    )


@dataclass
class Mismatch:
    index: int
    field: str
    ours: object
    go: object


def compare(events: list[Event], go_events: list[GoEvent], *, limit: int = 20) -> tuple[int, list[Mismatch]]:
    """Compare schedcast's transitions with Go's, event for event.

    Compared per event: goroutine, from, to, reason, top frame of the transitioning
    goroutine's stack, time, acting goroutine, P, M and top frame of the acting
    context's stack. Returns (number of events that match in every field, the first
    ``limit`` mismatches); a length difference counts every missing event as a
    mismatch.
    """
    derived = derive_transition_stacks(go_events)
    matched = 0
    mismatches: list[Mismatch] = []
    for i, (ours, go, stack) in enumerate(zip(events, go_events, derived)):
        checks = (
            ("g", ours.g, go.goid),
            ("from", str(ours.from_state), go.from_state),
            ("to", str(ours.to_state), go.to_state),
            ("reason", ours.reason, go.reason),
            ("top frame", _top(ours.stack), stack[0] if stack else None),
            ("time", ours.time, go.time),
            ("actor", ours.actor, go.g),
            ("p", ours.p, go.p),
            ("m", ours.m, go.m),
            ("actor top frame", _top(ours.actor_stack), go.stack[0] if go.stack else None),
        )
        ok = True
        for name, a, b in checks:
            if a != b:
                ok = False
                if len(mismatches) < limit:
                    mismatches.append(Mismatch(i, name, a, b))
        matched += ok
    if len(events) != len(go_events) and len(mismatches) < limit:
        mismatches.append(Mismatch(min(len(events), len(go_events)), "length", len(events), len(go_events)))
    return matched, mismatches


def _top(stack: Stack) -> GoStackLine | None:
    if not stack:
        return None
    f: Frame = stack[0]
    return (f.func, f.file, f.line)
