"""Goroutine snapshots: the state of every goroutine after a prefix of events.

A :class:`Snapshot` is updated in place, one event at a time (:meth:`Snapshot.apply`),
so walking a trace costs one small dict update per event; nothing is copied unless
you ask (:meth:`Snapshot.copy`).
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Iterable, Iterator, NamedTuple

from .model import HARNESS_MARK, Event, Frame, GoState, Stack


class Status(StrEnum):
    """What a goroutine is doing, as the snapshot reports it."""

    RUNNING = "running"
    RUNNABLE = "runnable"
    BLOCKED = "blocked"
    SYSCALL = "syscall"
    DEAD = "dead"
    UNKNOWN = "unknown"  # not seen yet, or only seen as Undetermined


STATUS_OF_STATE: dict[GoState, Status] = {
    GoState.UNDETERMINED: Status.UNKNOWN,
    GoState.NOT_EXIST: Status.DEAD,
    GoState.RUNNABLE: Status.RUNNABLE,
    GoState.RUNNING: Status.RUNNING,
    GoState.WAITING: Status.BLOCKED,
    GoState.SYSCALL: Status.SYSCALL,
}


class GoroutineState(NamedTuple):
    """One goroutine in a snapshot.

    ``reason`` says why it is blocked (Go's block reason, e.g. ``"chan receive"``)
    or why it stopped running (``"preempted"``); ``site`` is its top *user* frame
    (``file:line``) where it blocked, stopped or entered a syscall; ``since`` is
    the index of the event that put it in this state.
    """

    status: Status
    reason: str = ""
    site: str = ""
    since: int = -1


UNKNOWN = GoroutineState(Status.UNKNOWN)


def package_of(func: str) -> str:
    """Import path of a function name: ``"sync.(*Mutex).Lock"`` -> ``"sync"``."""
    func = func.split("[", 1)[0]  # generic instantiations may contain '/' and '.'
    slash = func.rfind("/")
    dot = func.find(".", slash + 1)
    return func[:dot] if dot >= 0 else func


def is_user_frame(frame: Frame) -> bool:
    """Whether a frame is the program's own code, not the Go runtime, the standard
    library or the schedcast harness.

    Standard library: the function's import path is not ``main`` and has no dot in
    its first element, and its file is a standard library file - either under a
    ``.../src/<dir>/`` tree whose first directory has no dot (a GOROOT path; note
    ``time.Sleep`` lives in ``src/runtime/time.go``), or, in ``-trimpath`` builds
    where files read ``runtime/chan.go``, a directory that exists in the pinned
    toolchain's ``GOROOT/src``.
    """
    if HARNESS_MARK in frame.func:
        return False
    pkg = package_of(frame.func)
    if pkg == "main" or "." in pkg.split("/", 1)[0]:
        return True
    file = frame.file
    if not file.startswith("/") and ":" not in file[:3]:  # -trimpath: "<import path>/<file>"
        return not _is_std_dir(file.rpartition("/")[0])
    at = file.rfind("/src/")
    if at < 0:
        return True
    return "." in file[at + 5 :].split("/", 1)[0]


@functools.cache
def _std_dirs() -> frozenset[str] | None:
    try:
        from ..toolchain import find_toolchain

        src = find_toolchain().goroot / "src"
        return frozenset(str(p.relative_to(src)) for p in src.rglob("*") if p.is_dir() and "testdata" not in p.parts)
    except Exception:  # noqa: BLE001 - no toolchain: fall back to the import-path shape
        return None


def _is_std_dir(directory: str) -> bool:
    if not directory or "." in directory.split("/", 1)[0]:
        return False
    std = _std_dirs()
    return True if std is None else directory in std


@functools.cache  # stacks are interned tuples that repeat across events
def user_site(stack: Stack) -> str:
    """``file:line`` of the innermost user frame of ``stack`` ("" if none)."""
    for frame in stack:
        if is_user_frame(frame):
            return f"{frame.file}:{frame.line}"
    return ""


class Snapshot:
    """Per-goroutine states after the first :attr:`index` events of a sequence."""

    __slots__ = ("goroutines", "index", "time")

    def __init__(self) -> None:
        self.goroutines: dict[int, GoroutineState] = {}
        self.index = 0  # number of events applied
        self.time = 0  # time of the last event applied

    def apply(self, ev: Event) -> None:
        """Advance by one event (no validity check: see :class:`~.fsm.FSM`)."""
        status = STATUS_OF_STATE[ev.to_state]
        prev = self.goroutines.get(ev.g)
        if ev.from_state == ev.to_state and prev is not None and prev.status is status:
            state = prev  # a per-generation status event (X->X): nothing changed
        elif status is Status.BLOCKED or status is Status.SYSCALL or (
            status is Status.RUNNABLE and ev.from_state == GoState.RUNNING
        ):
            state = GoroutineState(status, ev.reason, user_site(ev.stack), self.index)
        else:
            state = GoroutineState(status, "", "", self.index)
        self.goroutines[ev.g] = state
        self.index += 1
        self.time = ev.time

    def state(self, g: int) -> GoroutineState:
        return self.goroutines.get(g, UNKNOWN)

    def with_status(self, status: Status) -> list[int]:
        return [g for g, s in self.goroutines.items() if s.status is status]

    def count(self, status: Status) -> int:
        return sum(1 for s in self.goroutines.values() if s.status is status)

    @property
    def running(self) -> list[int]:
        return self.with_status(Status.RUNNING)

    @property
    def runnable(self) -> list[int]:
        return self.with_status(Status.RUNNABLE)

    @property
    def blocked(self) -> list[int]:
        return self.with_status(Status.BLOCKED)

    def copy(self) -> Snapshot:
        other = Snapshot()
        other.goroutines = dict(self.goroutines)
        other.index = self.index
        other.time = self.time
        return other

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Snapshot) and self.goroutines == other.goroutines and self.index == other.index

    def __repr__(self) -> str:
        counts = {s.value: self.count(s) for s in Status if self.count(s)}
        return f"Snapshot(index={self.index}, {counts})"


def snapshots(events: Iterable[Event], start: Snapshot | None = None) -> Iterator[tuple[Event, Snapshot]]:
    """Yield ``(event, snapshot after it)`` for every event. The same Snapshot
    object is updated in place and yielded each time: copy it to keep it."""
    snap = start if start is not None else Snapshot()
    for ev in events:
        snap.apply(ev)
        yield ev, snap


def snapshot_at(events: list[Event], k: int, start: Snapshot | None = None) -> Snapshot:
    """The snapshot after the first ``k`` events (a fresh object)."""
    snap = start.copy() if start is not None else Snapshot()
    for ev in events[:k]:
        snap.apply(ev)
    return snap
