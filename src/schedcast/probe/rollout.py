"""Multi-step rollouts: from a real prefix, a predictor's own moves are fed back.

The scheduler state of a rollout is replayed from the prefix's six-kind events
(`SchedState`): each goroutine is runnable, running, blocked or dead; one seen first
as the goroutine of a GoStart was runnable before it, of GoBlock / GoSched / GoEnd
running, of GoUnblock blocked; one seen only as the acting goroutine was running.
A move is (goroutine, kind) in the dataset's terms (a GoCreate names the new
goroutine, which gets the next free id). The rules are those of
schedcast.trace.fsm.FSM for known goroutines, in O(1) per move:

- GoCreate: a running goroutine creates, or the scheduler context does while a P is
  free (fewer running goroutines than GOMAXPROCS);
- GoStart: a runnable goroutine, and a free P;
- GoBlock, GoSched, GoEnd: a running goroutine;
- GoUnblock: a blocked goroutine;
- a move naming a goroutine the rollout has not shown (goroutine 0, or an unknown
  id) is a violation: nothing says such a goroutine exists.

`replay_through_fsm` replays a recorded rollout through the trace FSM itself
(schedcast.trace.fsm.FSM on a schedcast.trace.snapshot.Snapshot): the tests use it to
show that constrained rollouts are 100 % valid and that the probe's violations are
the FSM's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from schedcast.models.base import KIND_NAMES, N_KINDS

BLOCK, CREATE, END, SCHED, START, UNBLOCK = range(6)
RUNNABLE, RUNNING, BLOCKED, DEAD = "runnable", "running", "blocked", "dead"
STATUS_AFTER = {BLOCK: BLOCKED, CREATE: RUNNABLE, END: DEAD, SCHED: RUNNABLE, START: RUNNING, UNBLOCK: RUNNABLE}
STATUS_BEFORE = {BLOCK: RUNNING, END: RUNNING, SCHED: RUNNING, START: RUNNABLE, UNBLOCK: BLOCKED}
KIND_NEEDS = {BLOCK: RUNNING, END: RUNNING, SCHED: RUNNING, START: RUNNABLE, UNBLOCK: BLOCKED}
# Status codes of SchedState.codes (0 = not shown).
CODE = {RUNNABLE: 1, RUNNING: 2, BLOCKED: 3, DEAD: 4}
NEED_CODE = np.array([CODE[KIND_NEEDS[k]] if k in KIND_NEEDS else 0 for k in range(N_KINDS)], dtype=np.int8)


class _IndexedSet:
    """A set with O(1) add, remove and uniform random choice."""

    def __init__(self) -> None:
        self.items: list[int] = []
        self.pos: dict[int, int] = {}

    def add(self, x: int) -> None:
        if x not in self.pos:
            self.pos[x] = len(self.items)
            self.items.append(x)

    def discard(self, x: int) -> None:
        i = self.pos.pop(x, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last] = i

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, x: int) -> bool:
        return x in self.pos

    def choice(self, rng: np.random.Generator) -> int:
        return self.items[int(rng.integers(len(self.items)))]

    def copy(self) -> "_IndexedSet":
        other = _IndexedSet()
        other.items = list(self.items)
        other.pos = dict(self.pos)
        return other


@dataclass
class SchedState:
    """Goroutine statuses of one run (canonical ids), with one set per live status."""

    gomaxprocs: int
    status: dict[int, str] = field(default_factory=dict)
    by_status: dict[str, _IndexedSet] = field(default_factory=lambda: {s: _IndexedSet() for s in (RUNNABLE, RUNNING, BLOCKED)})
    next_id: int = 1
    inconsistent: int = 0  # prefix events the FSM would not have accepted from the replayed state
    codes: np.ndarray = field(default_factory=lambda: np.zeros(16, dtype=np.int8))  # status code per goroutine id

    def copy(self) -> "SchedState":
        return SchedState(
            self.gomaxprocs, dict(self.status), {s: v.copy() for s, v in self.by_status.items()}, self.next_id,
            self.inconsistent, self.codes.copy(),
        )

    def _set(self, g: int, st: str) -> None:
        old = self.status.get(g)
        if old in self.by_status:
            self.by_status[old].discard(g)
        self.status[g] = st
        if st in self.by_status:
            self.by_status[st].add(g)
        self.next_id = max(self.next_id, g + 1)
        if g >= self.codes.size:
            self.codes = np.concatenate([self.codes, np.zeros(max(g + 1, 2 * self.codes.size) - self.codes.size, dtype=np.int8)])
        self.codes[g] = CODE[st]

    def check_moves(self, moves: np.ndarray) -> np.ndarray:
        """check() for an (m, 2) array of (goroutine, kind) moves at once: True = allowed."""
        g = moves[:, 0]
        kind = moves[:, 1]
        known = (g > 0) & (g < self.codes.size)
        code = np.where(known, self.codes[np.where(known, g, 0)], 0)
        ok = known & (code == NEED_CODE[kind])
        ok &= (kind != START) | self.free_p()
        return np.where(kind == CREATE, self.kind_allowed(CREATE), ok)

    def count(self, st: str) -> int:
        return len(self.by_status[st])

    def free_p(self) -> bool:
        return self.count(RUNNING) < self.gomaxprocs

    # -- the rules -------------------------------------------------------------
    def kind_allowed(self, kind: int) -> bool:
        if kind == CREATE:
            return self.count(RUNNING) > 0 or self.free_p()
        if kind == START:
            return self.count(RUNNABLE) > 0 and self.free_p()
        return self.count(KIND_NEEDS[kind]) > 0

    def allowed_kinds(self) -> np.ndarray:
        return np.array([self.kind_allowed(k) for k in range(N_KINDS)], dtype=bool)

    def check(self, g: int, kind: int) -> str | None:
        """Why the move (g, kind) cannot happen next; None if it can."""
        if kind == CREATE:
            return None if self.kind_allowed(CREATE) else f"no running goroutine and no free P (GOMAXPROCS={self.gomaxprocs}) to create one"
        st = self.status.get(g)
        if st is None:
            return f"G{g} is a goroutine the prefix has not shown"
        need = KIND_NEEDS[kind]
        if st != need:
            return f"{KIND_NAMES[kind]} needs a {need} goroutine; G{g} is {st}"
        if kind == START and not self.free_p():
            return f"GOMAXPROCS={self.gomaxprocs} goroutines are already running"
        return None

    def candidates(self, kind: int) -> _IndexedSet | None:
        """The goroutines that can make `kind` now (None for GoCreate)."""
        if kind == CREATE:
            return None
        if kind == START and not self.free_p():
            return _IndexedSet()
        return self.by_status[KIND_NEEDS[kind]]

    def apply(self, g: int, kind: int) -> int:
        """Apply a move (no check); returns the goroutine that changed state (for
        GoCreate the new one)."""
        if kind == CREATE:
            g = self.next_id
        self._set(g, STATUS_AFTER[kind])
        return g

    def creator(self) -> int:
        """Who makes a GoCreate: the running goroutine with the smallest id, or 0 (the
        scheduler context, which needs a free P)."""
        running = self.by_status[RUNNING].items
        return min(running) if running else 0

    # -- replay of a real prefix ---------------------------------------------------
    def replay(self, kind: np.ndarray, g: np.ndarray, actor: np.ndarray, start: int = 0, stop: int | None = None) -> None:
        """Apply real events start..stop-1 leniently: a goroutine seen for the first
        time gets the status its first move needs; an event the rules would refuse
        from the replayed state (a system call or a left-out event in between) is
        applied anyway and counted in `inconsistent`."""
        stop = kind.size if stop is None else stop
        for kd, ge, ac in zip(kind[start:stop].tolist(), g[start:stop].tolist(), actor[start:stop].tolist()):
            if ac > 0 and ac not in self.status:
                self._set(ac, RUNNING)
            if kd != CREATE and ge not in self.status:
                self._set(ge, STATUS_BEFORE[kd])
            if kd == CREATE:
                if ge in self.status or not self.kind_allowed(CREATE):
                    self.inconsistent += 1
                self._set(ge, RUNNABLE)
            else:
                if self.check(ge, kd) is not None:
                    self.inconsistent += 1
                self._set(ge, STATUS_AFTER[kd])



def replay_through_fsm(kind: np.ndarray, g: np.ndarray, actor: np.ndarray, moves: list[tuple[int, int]], gomaxprocs: int) -> tuple[int, str | None]:
    """Replay a prefix (leniently, seeding first-seen goroutines as `SchedState.replay`
    does) into a trace Snapshot, then the rollout's moves through
    schedcast.trace.fsm.FSM strictly. Returns (valid moves before the first
    violation, the FSM's reason or None)."""
    from schedcast.trace.fsm import FSM
    from schedcast.trace.model import KINDS, NO_GOROUTINE
    from schedcast.trace.snapshot import GoroutineState, Snapshot, Status

    fsm = FSM(gomaxprocs)
    snap = Snapshot()
    before = {BLOCK: Status.RUNNING, END: Status.RUNNING, SCHED: Status.RUNNING, START: Status.RUNNABLE, UNBLOCK: Status.BLOCKED}

    def creator_of(snap: Snapshot) -> int:
        running = snap.running
        return min(running) if running else NO_GOROUTINE

    for kd, ge, ac in zip(kind.tolist(), g.tolist(), actor.tolist()):
        if ac > 0 and snap.state(ac).status is Status.UNKNOWN:
            snap.goroutines[ac] = GoroutineState(Status.RUNNING)
        if kd != CREATE and snap.state(ge).status is Status.UNKNOWN:
            snap.goroutines[ge] = GoroutineState(before[kd])
        if kd == CREATE:
            ev = FSM.event_for(snap, (KINDS[CREATE], creator_of(snap)), new_goroutine=ge)
        else:
            ev = FSM.event_for(snap, (KINDS[kd], ge))
        snap.apply(ev)  # the prefix is real: applied without a check
    next_id = max([*snap.goroutines, 0]) + 1
    for step, (ge, kd) in enumerate(moves):
        if kd == CREATE:
            move = (KINDS[CREATE], creator_of(snap))
            ev = FSM.event_for(snap, move, new_goroutine=next_id)
            next_id += 1
        else:
            if snap.state(ge).status is Status.UNKNOWN:
                return step, f"G{ge} is a goroutine the prefix has not shown"
            ev = FSM.event_for(snap, (KINDS[kd], ge))
        reason = fsm.check(snap, ev)
        if reason is not None:
            return step, reason
        snap.apply(ev)
    return len(moves), None
