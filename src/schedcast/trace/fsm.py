"""A finite-state machine of the Go scheduler over goroutine snapshots.

It decides whether an event can happen next from a snapshot. The rules are the
scheduler's invariants, each of which Go's own trace parser also enforces:

* a goroutine moves only from the state it is in (``from_state`` must match);
* GoStart needs a runnable goroutine and a free P: fewer running goroutines than
  GOMAXPROCS (a goroutine leaving a syscall, Syscall->Running, needs one too);
* GoBlock, GoSched, GoEnd and entering a syscall need a running goroutine;
* GoUnblock needs a blocked goroutine;
* GoCreate into Runnable or Waiting (a ``go`` statement) makes a goroutine that
  never existed (the runtime numbers them from one global counter); its creator
  is a running goroutine, or - when the actor is not a tracked goroutine (the
  scheduler running a timer callback, or a filtered system goroutine) - some P
  must be free of tracked running goroutines;
* GoCreate into Syscall is a C thread calling into Go (a cgo callback): it needs
  no P (the thread holds none until it leaves the syscall state) and its
  goroutine may be one that ended before, because the runtime keeps the
  goroutine of an extra M across callbacks and the next C thread reuses it;
* a per-generation status event (X->X) must agree with the snapshot.

Goroutines the snapshot has not seen (``unknown``: filtered views, the first
generation before its status events) may be in any state, so moves of unknown
goroutines are accepted from any plausible state. :meth:`FSM.allowed` enumerates
the moves of known goroutines.
"""

from __future__ import annotations

from .model import KIND_OF_TRANSITION, NO_GOROUTINE, Event, GoState, Kind
from .snapshot import STATUS_OF_STATE, Snapshot, Status

# The status a goroutine must have for each (from, to) transition.
_S = GoState
_SOURCE: dict[GoState, Status] = {
    _S.NOT_EXIST: Status.DEAD,
    _S.RUNNABLE: Status.RUNNABLE,
    _S.RUNNING: Status.RUNNING,
    _S.WAITING: Status.BLOCKED,
    _S.SYSCALL: Status.SYSCALL,
}
# Every transition a real trace can contain (Go's StateTransition cases).
VALID_TRANSITIONS: frozenset[tuple[GoState, GoState]] = frozenset(
    {
        (_S.NOT_EXIST, _S.RUNNABLE),
        (_S.NOT_EXIST, _S.WAITING),
        (_S.NOT_EXIST, _S.SYSCALL),
        (_S.RUNNABLE, _S.RUNNING),
        (_S.RUNNING, _S.NOT_EXIST),
        (_S.SYSCALL, _S.NOT_EXIST),
        (_S.RUNNING, _S.RUNNABLE),
        (_S.RUNNING, _S.WAITING),
        (_S.WAITING, _S.RUNNABLE),
        (_S.RUNNING, _S.SYSCALL),
        (_S.SYSCALL, _S.RUNNING),
        (_S.SYSCALL, _S.RUNNABLE),
    }
)


class FSMViolation(ValueError):
    """An event that cannot happen from the given snapshot."""

    def __init__(self, event: Event, reason: str) -> None:
        self.event = event
        self.reason = reason
        super().__init__(f"impossible event {event}: {reason}")


class FSM:
    """Scheduler FSM for a program run with at most ``gomaxprocs`` Ps."""

    def __init__(self, gomaxprocs: int, *, cgo_callbacks: bool = False) -> None:
        if gomaxprocs < 1:
            raise ValueError(f"gomaxprocs must be at least 1, got {gomaxprocs}")
        self.gomaxprocs = gomaxprocs
        # Whether C threads call into Go (Trace.cgo_callbacks): then a callback can
        # create a goroutine at any moment, free P or not, and allowed() says so.
        self.cgo_callbacks = cgo_callbacks

    def allowed(self, snap: Snapshot) -> set[tuple[Kind, int]]:
        """Every (kind, goroutine) move possible next among known goroutines.

        For GoCreate the goroutine is the *creator* (the new one does not exist
        yet); ``-1`` stands for creation by the scheduler context (no goroutine
        running on that thread), possible while a P is free - or at any moment
        with ``cgo_callbacks=True``: a C thread entering Go needs no P.
        """
        moves: set[tuple[Kind, int]] = set()
        running = 0
        for g, st in snap.goroutines.items():
            s = st.status
            if s is Status.RUNNING:
                running += 1
                moves.add((Kind.GoBlock, g))
                moves.add((Kind.GoSched, g))
                moves.add((Kind.GoEnd, g))
                moves.add((Kind.GoCreate, g))
            elif s is Status.BLOCKED:
                moves.add((Kind.GoUnblock, g))
            elif s is Status.SYSCALL:
                moves.add((Kind.GoEnd, g))  # a cgo callback's goroutine ending in its syscall
        free_p = running < self.gomaxprocs
        if free_p or self.cgo_callbacks:
            moves.add((Kind.GoCreate, NO_GOROUTINE))
        if free_p:
            for g, st in snap.goroutines.items():
                if st.status is Status.RUNNABLE:
                    moves.add((Kind.GoStart, g))
        return moves

    def allowed_kinds(self, snap: Snapshot) -> set[Kind]:
        """The event kinds possible next (for predictors that only name a kind)."""
        return {kind for kind, _ in self.allowed(snap)}

    def check(self, snap: Snapshot, ev: Event) -> str | None:
        """Why ``ev`` cannot happen from ``snap``; None if it can."""
        fr, to = ev.from_state, ev.to_state
        current = snap.state(ev.g).status
        known = current is not Status.UNKNOWN
        # Per-generation status events: Undetermined->X announces, X->X confirms.
        if fr == _S.UNDETERMINED:
            if known and current is not STATUS_OF_STATE[to]:
                return f"status event says G{ev.g} is {to}, snapshot has it {current}"
            return None
        if fr == to:
            if known and current is not STATUS_OF_STATE[to]:
                return f"status event says G{ev.g} is {to}, snapshot has it {current}"
            return None
        if (fr, to) not in VALID_TRANSITIONS:
            return f"no such transition {fr}->{to}"
        if fr == _S.NOT_EXIST:
            if to == _S.SYSCALL:
                # A cgo callback: no P needed, and the ID of an ended callback
                # goroutine comes back.
                if known and current is not Status.DEAD:
                    return f"G{ev.g} is {current}: a callback cannot create it"
                if snap.state(ev.actor).status is not Status.UNKNOWN:
                    return f"a callback enters Go on a thread running no goroutine, not G{ev.actor}"
                return None
            if known:
                return f"G{ev.g} already {'existed' if current is Status.DEAD else current}: cannot be created"
            creator = snap.state(ev.actor).status
            if creator is Status.UNKNOWN:
                if self._running(snap) >= self.gomaxprocs:
                    return f"creation outside a tracked goroutine needs a free P; {self.gomaxprocs} are running"
            elif creator is not Status.RUNNING:
                return f"creator G{ev.actor} is {creator}, not running"
            return None
        if known and current is not _SOURCE[fr]:
            return f"G{ev.g} is {current}, not {_SOURCE[fr]}"
        if to == _S.RUNNING and self._running(snap) >= self.gomaxprocs:
            return f"GOMAXPROCS={self.gomaxprocs} goroutines are already running"
        return None

    def accepts(self, snap: Snapshot, ev: Event) -> bool:
        return self.check(snap, ev) is None

    def apply(self, snap: Snapshot, ev: Event) -> None:
        """Apply ``ev`` to ``snap`` in place; FSMViolation if it is impossible."""
        reason = self.check(snap, ev)
        if reason is not None:
            raise FSMViolation(ev, reason)
        snap.apply(ev)

    @staticmethod
    def move_of(snap: Snapshot, ev: Event) -> tuple[Kind, int] | None:
        """The (kind, goroutine) pair of ``ev`` in :meth:`allowed`'s terms (None for
        syscall and status transitions, which have no kind)."""
        kind = KIND_OF_TRANSITION.get((ev.from_state, ev.to_state))
        if kind is None:
            return None
        if kind is Kind.GoCreate:
            tracked = snap.state(ev.actor).status is not Status.UNKNOWN
            return (kind, ev.actor if tracked else NO_GOROUTINE)
        return (kind, ev.g)

    @staticmethod
    def event_for(snap: Snapshot, move: tuple[Kind, int], *, new_goroutine: int | None = None) -> Event:
        """The canonical event of a move from :meth:`allowed` (for rollouts that
        feed predicted moves back): the transition, with the acting goroutine and
        the goroutine's current wait reason. A GoCreate makes ``new_goroutine``
        (default: one more than the largest ID the snapshot knows)."""
        kind, g = move
        if kind is Kind.GoCreate:
            new = new_goroutine if new_goroutine is not None else max(snap.goroutines, default=0) + 1
            return Event(snap.time, new, g, -1, -1, _S.NOT_EXIST, _S.RUNNABLE, "", (), (), "GoCreate")
        status = snap.state(g).status
        fr, to = {
            Kind.GoStart: (_S.RUNNABLE, _S.RUNNING),
            Kind.GoBlock: (_S.RUNNING, _S.WAITING),
            Kind.GoUnblock: (_S.WAITING, _S.RUNNABLE),
            Kind.GoSched: (_S.RUNNING, _S.RUNNABLE),
            Kind.GoEnd: (_S.SYSCALL if status is Status.SYSCALL else _S.RUNNING, _S.NOT_EXIST),
        }[kind]
        actor = g if fr in (_S.RUNNING, _S.SYSCALL) else -1
        return Event(snap.time, g, actor, -1, -1, fr, to, "", (), (), str(kind))

    @staticmethod
    def _running(snap: Snapshot) -> int:
        return snap.count(Status.RUNNING)
