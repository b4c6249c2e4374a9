"""The event model: one event type for goroutine state transitions, and the trace.

Modelled on Go's ``internal/trace``: an event is a *state transition* of one
goroutine (from -> to, with a reason and a stack), observed in an execution context
(the goroutine, P and M that were running when it happened). The classic six event
kinds are a derived view of the transition (:attr:`Event.kind`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .snapshot import Snapshot

NO_GOROUTINE = -1
NO_PROC = -1
NO_THREAD = -1


class GoState(IntEnum):
    """Goroutine states, numbered like Go's ``trace.GoState``."""

    UNDETERMINED = 0  # nothing known yet (first generation's status events)
    NOT_EXIST = 1
    RUNNABLE = 2
    RUNNING = 3
    WAITING = 4
    SYSCALL = 5

    def __str__(self) -> str:
        return _GO_STATE_NAMES[self]


_GO_STATE_NAMES = {
    GoState.UNDETERMINED: "Undetermined",
    GoState.NOT_EXIST: "NotExist",
    GoState.RUNNABLE: "Runnable",
    GoState.RUNNING: "Running",
    GoState.WAITING: "Waiting",
    GoState.SYSCALL: "Syscall",
}
GO_STATE_BY_NAME = {name: state for state, name in _GO_STATE_NAMES.items()}


class Kind(StrEnum):
    """The six classic event kinds, in the fixed order every predictor uses."""

    GoBlock = "GoBlock"
    GoCreate = "GoCreate"
    GoEnd = "GoEnd"
    GoSched = "GoSched"
    GoStart = "GoStart"
    GoUnblock = "GoUnblock"


KINDS: tuple[Kind, ...] = tuple(Kind)
KIND_NAMES: tuple[str, ...] = tuple(k.value for k in KINDS)  # the one definition of the kind order
N_KINDS = len(KINDS)

_S = GoState
# (from, to) -> kind. Transitions not listed (syscall enter/exit, status events)
# have no kind: see docs/trace.md, "Mapping to the six kinds".
KIND_OF_TRANSITION: dict[tuple[GoState, GoState], Kind] = {
    (_S.NOT_EXIST, _S.RUNNABLE): Kind.GoCreate,
    (_S.NOT_EXIST, _S.WAITING): Kind.GoCreate,  # GoCreateBlocked
    (_S.NOT_EXIST, _S.SYSCALL): Kind.GoCreate,  # GoCreateSyscall (cgo callback)
    (_S.RUNNABLE, _S.RUNNING): Kind.GoStart,
    (_S.RUNNING, _S.WAITING): Kind.GoBlock,
    (_S.WAITING, _S.RUNNABLE): Kind.GoUnblock,
    (_S.RUNNING, _S.RUNNABLE): Kind.GoSched,
    (_S.RUNNING, _S.NOT_EXIST): Kind.GoEnd,
    (_S.SYSCALL, _S.NOT_EXIST): Kind.GoEnd,  # GoDestroySyscall (cgo callback)
}
# Flat lookup table indexed by from * 8 + to, for hot loops.
_KIND_TABLE: list[Kind | None] = [None] * 64
for (_from, _to), _kind in KIND_OF_TRANSITION.items():
    _KIND_TABLE[_from * 8 + _to] = _kind


class Frame(NamedTuple):
    """One stack frame: function, file, line (and the program counter)."""

    func: str
    file: str
    line: int
    pc: int = 0

    def __str__(self) -> str:
        return f"{self.func} {self.file}:{self.line}"


Stack = tuple[Frame, ...]  # innermost frame first, like Go prints them


class Event(NamedTuple):
    """A goroutine state transition.

    ``g`` is the goroutine whose state changed; ``actor`` is the goroutine that was
    running on the thread when it happened (``-1``: none, e.g. the scheduler or
    sysmon), ``p`` and ``m`` the P and thread of that context (``-1``: none). Times
    are nanoseconds on the trace clock, made strictly increasing like Go does.

    ``stack`` is the stack of the *transitioning* goroutine ``g`` (see
    docs/trace.md, "Stacks"); ``actor_stack`` is the stack of the acting context at
    the event (Go's ``Event.Stack()``): who unblocked, who created.

    ``wire`` names the wire-format event that produced the transition
    (``"GoBlock"``, ``"GoStatus"``, ``"GoSyscallBegin"``...).
    """

    time: int
    g: int
    actor: int
    p: int
    m: int
    from_state: GoState
    to_state: GoState
    reason: str
    stack: Stack
    actor_stack: Stack
    wire: str

    @property
    def kind(self) -> Kind | None:
        """The six-kind label, or None for syscall and status transitions."""
        return _KIND_TABLE[self.from_state * 8 + self.to_state]

    @property
    def is_status(self) -> bool:
        """A per-generation status event (Undetermined->X, or X->X): not a change."""
        return self.from_state == GoState.UNDETERMINED or self.from_state == self.to_state

    @property
    def top_frame(self) -> Frame | None:
        return self.stack[0] if self.stack else None

    def __str__(self) -> str:
        kind = self.kind or self.wire
        top = f" at {self.stack[0]}" if self.stack else ""
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.time} G{self.g} {self.from_state}->{self.to_state} {kind}{reason}{top}"


class UserLog(NamedTuple):
    """A ``runtime/trace.Log`` record. ``index`` is the number of goroutine
    transitions in :attr:`Trace.events` that precede it.

    ``message`` is text: bytes that are not valid UTF-8 read as U+FFFD. Go keeps a
    log's bytes as they were; so does ``raw``, set only when they differ from
    ``message.encode()`` (empty otherwise): use :attr:`message_bytes`."""

    index: int
    time: int
    g: int
    task: int
    category: str
    message: str
    stack: Stack
    raw: bytes = b""

    @property
    def message_bytes(self) -> bytes:
        """The message exactly as the program logged it."""
        return self.raw or self.message.encode()


# The harness protocol (see collect/harness): markers around the user's program.
MARKER_CATEGORY = "schedcast"
MARKER_START = "program-start"
MARKER_END = "program-end"

# Goroutines whose entry function starts with one of these are not the program's:
# the Go runtime's own (runtime.isSystemGoroutine), the tracer's, os/signal's
# dispatcher and the testing framework's (alarm, etc.; testing.tRunner runs the
# user's test function and stays).
SYSTEM_ENTRY_PREFIXES = ("runtime.", "runtime/trace.", "os/signal.", "internal/", "testing.")
# runtime.main and the package initialisers it calls run on the main goroutine;
# runtime.cgocallback is the root of a C thread's call into an exported Go function
# (a cgo callback), which runs the program's code.
PROGRAM_ENTRY_EXCEPTIONS = (
    "runtime.main", "runtime.doInit", "runtime.doInit1", "testing.tRunner", "runtime.cgocallback",
)
CGO_CALLBACK_WIRE = "GoCreateSyscall"  # the wire event of a C thread entering Go
CGO_CALLBACK_ENTRY = "runtime.cgocallback"  # the root frame of a cgo callback's stacks
HARNESS_MARK = "schedcastHarness"
MAIN_GOROUTINE = 1  # the runtime gives the main goroutine ID 1


@functools.cache  # few distinct entries; a trace asks once per goroutine (tens of thousands)
def is_system_entry(entry: str) -> bool:
    """Whether a goroutine whose entry (root) function is ``entry`` is a system
    goroutine. An unknown entry (no stack ever seen) counts as system, like Go's
    ``trace.IsSystemGoroutine``."""
    if not entry:
        return True
    if HARNESS_MARK in entry:
        return True
    if entry in PROGRAM_ENTRY_EXCEPTIONS:
        return False
    return entry.startswith(SYSTEM_ENTRY_PREFIXES)


@dataclass(frozen=True)
class GoroutineInfo:
    id: int
    entry: str  # root frame function of the first stack seen ("" if none)
    system: bool
    callback: bool = False  # a cgo callback's goroutine (created by a C thread entering Go)


@dataclass
class Trace:
    """A read trace: every goroutine transition in Go's order, plus user logs."""

    path: str | None
    version: int  # minor Go version of the format, e.g. 26 for "go 1.26 trace"
    events: list[Event]
    logs: list[UserLog]
    generations: int  # complete generations read
    gomaxprocs: int  # largest GOMAXPROCS the trace reported
    total_events: int  # every event Go's reader returns (all kinds, incl. Sync), for throughput figures
    warnings: list[str] = field(default_factory=list)
    truncated_at: int | None = None  # byte offset of the incomplete generation, if any
    _goroutines: dict[int, GoroutineInfo] | None = field(default=None, repr=False, compare=False)

    # -- goroutines ------------------------------------------------------------------
    @property
    def goroutines(self) -> dict[int, GoroutineInfo]:
        """Every goroutine seen, with its entry function and system flag."""
        if self._goroutines is None:
            entries: dict[int, str] = {}
            callbacks: set[int] = set()
            for _, g, _, _, _, _, _, _, stack, _, wire in self.events:  # unpacked: faster
                if stack and not entries.get(g):
                    entries[g] = stack[-1].func
                elif g not in entries:
                    entries[g] = ""
                if wire == CGO_CALLBACK_WIRE:
                    callbacks.add(g)
            # The main goroutine is the program's even when its first stack is an
            # init function's (the tracer started in init) or the harness's.
            if MAIN_GOROUTINE in entries:
                entries[MAIN_GOROUTINE] = "runtime.main"  # traced stacks omit it
            # A cgo callback's goroutine runs the program's exported Go function (its
            # stacks are often empty: the tracer cannot unwind the C frames). One
            # alive before tracing started shows only its stacks' root.
            callbacks.update(g for g, e in entries.items() if e == CGO_CALLBACK_ENTRY)
            self._goroutines = {
                g: GoroutineInfo(
                    g, e, g != MAIN_GOROUTINE and g not in callbacks and is_system_entry(e), g in callbacks
                )
                for g, e in entries.items()
            }
        return self._goroutines

    @property
    def cgo_callbacks(self) -> bool:
        """Whether C threads called into Go during the trace (cgo callbacks): then
        a goroutine can appear at any moment, without a free P (see FSM)."""
        return any(info.callback for info in self.goroutines.values())

    def system_goroutines(self) -> set[int]:
        """The runtime's, the tracer's, the test framework's and the harness's
        goroutines (not cgo callbacks': those run the program's code)."""
        return {g for g, info in self.goroutines.items() if info.system}

    # -- harness markers -------------------------------------------------------------
    def _marker(self, message: str) -> UserLog | None:
        for log in self.logs:
            if log.category == MARKER_CATEGORY and log.message == message:
                return log
        return None

    @property
    def program_start(self) -> UserLog | None:
        """The harness's "program-start" marker, if the trace has one."""
        return self._marker(MARKER_START)

    @property
    def program_end(self) -> UserLog | None:
        """The harness's "program-end" marker, if the trace has one."""
        return self._marker(MARKER_END)

    def window(self) -> tuple[int, int]:
        """Index range [lo, hi) of :attr:`events` between the harness markers (the
        whole trace when a marker is missing)."""
        start, end = self.program_start, self.program_end
        lo = start.index if start is not None else 0
        hi = end.index if end is not None else len(self.events)
        return lo, max(lo, hi)

    # -- views -----------------------------------------------------------------------
    def initial_snapshot(self, *, system: bool = False, window: bool = True) -> "Snapshot":
        """The state, just before the first event of ``program_events(system=...,
        window=...)``, of the goroutines that view keeps: start snapshots of that
        view here so that goroutines alive before the window are not unknown."""
        from .snapshot import Snapshot  # snapshot imports model

        lo = self.window()[0] if window else 0
        snap = Snapshot()
        for ev in self.events[:lo]:
            snap.apply(ev)
        drop = set() if system else self.system_goroutines()
        snap.goroutines = {g: st for g, st in snap.goroutines.items() if g not in drop}
        snap.index = 0
        return snap

    def program_events(self, *, system: bool = False, window: bool = True) -> list[Event]:
        """The program's goroutine transitions.

        ``system=False`` (default) drops transitions of system goroutines (see
        :func:`is_system_entry`). ``window=True`` (default) keeps only events between
        the harness's program-start and program-end markers when they are present:
        outside them the main goroutine runs harness code. Note that goroutines
        which had not run yet when the program returned (typically leaked ones)
        start and block only after program-end, while the harness lets them settle:
        use ``window=False`` to see those blocks.
        """
        lo, hi = self.window() if window else (0, len(self.events))
        events = self.events[lo:hi]
        if system:
            return events
        drop = self.system_goroutines()
        return [ev for ev in events if ev.g not in drop]
