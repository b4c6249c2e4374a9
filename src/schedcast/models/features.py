"""Features of the structural predictor: history, scheduler state and program source.

Every feature is computed from what precedes the next event only: the prefix events
(kind, canonical goroutine, actor, block reason, user site), the goroutine snapshot
they replay to, the FSM's allowed kinds, k, and static facts of the program's
source (schedcast.corpus.facts: Go's own parser). Never the run's length.

The snapshot comes aggregated per (status, block reason, site): read from the dataset
(snapshots.parquet holds it at every paper-protocol example) or, at any other
position, replayed from the prefix by the same function the dataset build uses
(schedcast.dataset.snapshots). Either way `featurize` then works on all examples at
once, with no loop over runs: O(examples) when the snapshots are stored.

Four groups (names start with the group):

- ``hist.*``: the last HISTORY kinds (categorical), whether each of the last few
  events is by the same goroutine as the last one, the share of each kind in the
  prefix and in the last RECENT events, log(1 + k).
- ``state.*``: goroutines per status (runnable, running, blocked, dead) and created
  so far, blocked goroutines per block-reason category, the FSM's allowed kinds,
  the status and event count of the last event's goroutine.
- ``time.*``: the prefix's clock (the events' time_ns): the last gap, the recent mean
  gap, how long the longest sleeper has slept (`_time_features`).
- ``src.*`` (only with source features): what the operations at the site of the last
  event are and what can follow them; the same for the last event's goroutine at
  its current site (what it will do next when it runs); summed over running and
  over runnable goroutines (what they will do next) and over blocked goroutines
  (what they wait on); who can wake whom (``src.wake.*``: a running goroutine's next
  operation against what blocked ones wait on, WAKES); running goroutines that can
  only return next, split by whether they stand in the function they started in (a
  return ends them), in one they called, or where that is not known (goroutines not
  created in the prefix): ``src.running.return_ends`` / ``return_to_caller`` /
  ``return_unknown``;
  the program's operation counts; whether facts exist; the clock against the
  constant waits the source names (``src.timer.*``, `_time_features`).

A program whose source cannot be analysed gets zeros for every ``src.*`` feature and
``src.has_facts = 0`` (its examples are counted in `FeatureReport.without_facts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from schedcast.corpus.facts import OPS, ProgramFacts, SiteFact, facts_for_sources
from schedcast.dataset.access import ExampleStructure
from schedcast.dataset.snapshots import STATUS_AFTER, WINDOW, PositionSnapshots, concat_snapshots, position_snapshots
from schedcast.models.base import KIND_NAMES, N_KINDS, Examples, ModelError

# Bumped when a feature's meaning changes under the same name (a saved model is refused).
# 2: sites follow each goroutine (creators at their go statement); func_start facts at entry;
#    next operations look through the silent ones (wg.Add, context.WithCancel, timers).
# 3: next operations follow calls of the program's own functions (schedcast.corpus.facts).
# 4: src.wake.* (running goroutines that can wake blocked ones).
# 5: src.running.return_ends / return_to_caller / return_unknown (dataset format 5: each goroutine's start).
# 6: time.* (the prefix's clock) and src.timer.* (sleeps and timer selects against their constant durations).
FEATURES_VERSION = 6
HISTORY = 8  # last kinds, as categorical features
SAME_G = 4  # same-goroutine flags for the last few events
RECENT = 16  # kind shares over the last RECENT events
assert HISTORY <= WINDOW and RECENT <= WINDOW and SAME_G + 1 <= WINDOW
STATUSES = ("runnable", "running", "blocked", "dead")
REASON_CATEGORIES = ("chan_receive", "chan_send", "select", "mutex", "cond", "waitgroup", "sleep", "other")
NEXT_NAMES = (*OPS, "nothing")  # next_ops vocabulary; "nothing": no operation follows in the function
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
# Operations that never show in the trace: the goroutine goes on to what follows them.
SILENT_OPS = frozenset({"wg_add", "ctx_with_cancel", "timer"})
_START, _CREATE = KIND_NAMES.index("GoStart"), KIND_NAMES.index("GoCreate")
_FUNC_START = _OP_INDEX["func_start"]
_NEXT_INDEX = {op: i for i, op in enumerate(NEXT_NAMES)}
_NEXT_RETURN, _NEXT_NOTHING = _NEXT_INDEX["return"], _NEXT_INDEX["nothing"]
# Who can wake whom: (name, what a running goroutine does next, what a blocked one waits on).
# src.wake.NAME = min(running goroutines that can do one of the first next, blocked
# goroutines waiting on one of the second), summed over the operations of each side.
WAKES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("receiver", ("send", "close", "select"), ("recv", "select")),
    ("sender", ("recv", "select"), ("send", "select")),
    ("mutex", ("mutex_unlock",), ("mutex_lock",)),
    ("rwmutex", ("rwmutex_unlock", "rwmutex_runlock"), ("rwmutex_lock", "rwmutex_rlock")),
    ("waitgroup", ("wg_done",), ("wg_wait",)),
    ("cond", ("cond_signal", "cond_broadcast"), ("cond_wait",)),
    ("context", ("ctx_cancel",), ("ctx_done", "select")),
)


def wake_features(running_next: np.ndarray, blocked_op: np.ndarray) -> np.ndarray:
    """(n, len(WAKES)) from the running goroutines' summed next-op vectors (NEXT_NAMES
    columns) and the blocked goroutines' summed op vectors (OPS columns)."""
    cols = []
    for _, wakers, waiters in WAKES:
        a = running_next[:, [_NEXT_INDEX[o] for o in wakers]].sum(axis=1)
        b = blocked_op[:, [_OP_INDEX[o] for o in waiters]].sum(axis=1)
        cols.append(np.minimum(a, b))
    return np.stack(cols, axis=1)


def reason_category(reason: str) -> int:
    """The block reason's category, an index into REASON_CATEGORIES."""
    r = reason.lower()
    if "select" in r:
        return 2
    if "chan receive" in r:
        return 0
    if "chan send" in r:
        return 1
    if "cond" in r:
        return 4
    if "waitgroup" in r:
        return 5
    if r.startswith("sync") or "mutex" in r or "semacquire" in r:
        return 3
    if "sleep" in r:
        return 6
    return 7


def feature_names(source: bool) -> list[str]:
    names = [f"hist.kind[-{j}]" for j in range(1, HISTORY + 1)]
    names += [f"hist.same_g[-{j}]" for j in range(2, SAME_G + 2)]
    names += [f"hist.share.{k}" for k in KIND_NAMES] + [f"hist.recent.{k}" for k in KIND_NAMES] + ["hist.log_k"]
    names += [f"state.{s}" for s in STATUSES] + ["state.created"]
    names += [f"state.blocked.{c}" for c in REASON_CATEGORIES]
    names += [f"state.allowed.{k}" for k in KIND_NAMES]
    names += ["state.last_g.status", "state.last_g.events", "state.last_g.is_actor"]
    names += ["time.gap[-1]", "time.gap.recent", "time.sleep.elapsed"]
    if source:
        names += [f"src.last_site.op.{o}" for o in OPS] + [f"src.last_site.next.{o}" for o in NEXT_NAMES]
        names += [f"src.last_g.op.{o}" for o in OPS] + [f"src.last_g.next.{o}" for o in NEXT_NAMES]
        names += [f"src.running.next.{o}" for o in NEXT_NAMES] + [f"src.runnable.next.{o}" for o in NEXT_NAMES]
        names += ["src.runnable.fresh"] + [f"src.blocked.op.{o}" for o in OPS]
        names += [f"src.wake.{w}" for w, _, _ in WAKES]
        names += ["src.running.return_ends", "src.running.return_to_caller", "src.running.return_unknown"]
        names += [f"src.program.{o}" for o in OPS] + ["src.has_facts"]
        names += ["src.timer.remaining", "src.timer.remaining_events", "src.timer.waiting"]
    return names


def categorical_features(names: list[str]) -> np.ndarray:
    """Boolean mask of the categorical columns (the last kinds, the last goroutine's status)."""
    return np.array([n.startswith("hist.kind[") or n == "state.last_g.status" for n in names])


@dataclass
class FeatureReport:
    examples: int = 0
    without_facts: int = 0  # examples whose program's source could not be analysed
    programs_without_facts: dict[str, str] = field(default_factory=dict)  # program -> first parse error


class _SiteTable:
    """One program's op and next-op vectors per site code, computed on first use.

    A line can hold facts of two functions: `go func() {` is the parent's go statement
    and the literal's func_start. A goroutine entering the function (its first run)
    reads the func_start facts there; any other goroutine at that line the others
    (`at(code, entry)`; either falls back to all the line's facts when it has none of
    its own)."""

    def __init__(self, facts: ProgramFacts, sites: tuple[str, ...]) -> None:
        self.facts = facts
        self.sites = sites
        self.has_facts = not facts.parse_errors and bool(facts.sites)
        counts = facts.counts()
        self.counts = np.log1p(np.array([counts[o] for o in OPS], dtype=np.float64)) if self.has_facts else np.zeros(len(OPS))
        self._zero = (np.zeros(len(OPS)), np.zeros(len(NEXT_NAMES)))
        self._cache: dict[tuple[int, bool], tuple[np.ndarray, np.ndarray]] = {}
        self._wait: dict[int, float] = {}
        # Per (function, silent op): what can follow that op there (all its sites together).
        self._after: dict[tuple[str, str], set[str]] = {}
        for fact in facts.sites:
            if fact.op in SILENT_OPS:
                self._after.setdefault((fact.func, fact.op), set()).update(fact.next_ops)

    def next_names(self, fact: SiteFact) -> set[str]:
        """What can follow a site: its next operations and, through operations that never
        show in the trace (SILENT_OPS: `wg.Add(1); go f()` is followed by a go statement),
        what follows those in the same function."""
        names = set(fact.next_ops or ("nothing",))
        todo = [n for n in names if n in SILENT_OPS]
        while todo:
            for name in self._after.get((fact.func, todo.pop()), ()):
                if name not in names:
                    names.add(name)
                    if name in SILENT_OPS:
                        todo.append(name)
        return names

    def _read(self, code: int, entry: bool) -> tuple[SiteFact, ...]:
        """The facts of the line a goroutine reads: the func_start ones when it enters
        the function there, the others otherwise (all of them when it has none of its own)."""
        facts = self.facts.at(self.sites[code])
        return tuple(f for f in facts if (f.op == "func_start") == entry) or facts

    def at(self, code: int, entry: bool = False) -> tuple[np.ndarray, np.ndarray]:
        if code < 0:
            return self._zero
        found = self._cache.get((code, entry))
        if found is None:
            facts = self._read(code, entry)
            if not facts:
                found = self._zero
            else:
                o = np.zeros(len(OPS))
                nx = np.zeros(len(NEXT_NAMES))
                for fact in facts:
                    o[_OP_INDEX[fact.op]] = 1.0
                    for name in self.next_names(fact):
                        if name in _NEXT_INDEX:
                            nx[_NEXT_INDEX[name]] = 1.0
                found = (o, nx)
            self._cache[(code, entry)] = found
        return found

    def wait_ns(self, code: int) -> float:
        """How long a goroutine blocked at this line waits for the clock, when the source
        says (a `time.Sleep` of a constant, a select with a `<-time.After(constant)`
        case: the shortest); NaN otherwise."""
        if code < 0:
            return np.nan
        found = self._wait.get(code)
        if found is None:
            waits = [
                float(f.detail[key])  # type: ignore[arg-type]
                for f in self._read(code, False)
                for key in (("ns",) if f.op == "sleep" else ("timer_ns",) if f.op == "select" else ())
                if key in f.detail
            ]
            found = min(waits) if waits else np.nan
            self._wait[code] = found
        return found

    def funcs(self, code: int, entry: bool = False) -> frozenset[str]:
        """The functions whose facts `at(code, entry)` reads (empty: none)."""
        return frozenset(f.func for f in self._read(code, entry)) if code >= 0 else frozenset()

    def is_entry(self, code: int) -> bool:
        """Whether a function starts on this line (a goroutine there may be entering it)."""
        return bool(self.at(code, entry=True)[0][_FUNC_START])

    def total(self, codes: np.ndarray, which: int, entry: np.ndarray | None = None) -> np.ndarray:
        """Sum of the op (which=0) or next-op (1) vectors at these site codes, each read
        as an entry or not (the per-example reference, tests/models/featurize_reference.py,
        sums this way)."""
        acc = self._zero[which].copy()
        flags = np.zeros(codes.size, dtype=bool) if entry is None else np.asarray(entry, dtype=bool)
        for code, flag in zip(codes.tolist(), flags.tolist()):
            acc += self.at(code, flag)[which]
        return acc


def program_facts_of(structure: ExampleStructure, programs: list[str]) -> dict[str, ProgramFacts]:
    """Static facts of each program, from the source stored with the dataset."""
    files = [structure.sources.get(p, {}) for p in programs]
    return dict(zip(programs, facts_for_sources([(f, "") for f in files])))


def snapshots_of(s: ExampleStructure) -> tuple[PositionSnapshots, np.ndarray]:
    """Every example's snapshot: (snapshots, the position of each example in them).
    Stored ones are read as they are; the others are replayed from the prefix, once
    per run (`position_snapshots`, the function the dataset build stores)."""
    n = len(s)
    at = s.stored_at.copy() if s.stored is not None and s.stored_at is not None else np.full(n, -1, dtype=np.int64)
    pieces = [s.stored] if s.stored is not None else []
    base = int(s.stored.last_g_events.size) if s.stored is not None else 0
    missing = np.flatnonzero(at < 0)
    if missing.size:
        missing = missing[np.argsort(s.run_keys[missing], kind="stable")]
        keys = s.run_keys[missing]
        for rows in np.split(missing, np.flatnonzero(np.diff(keys)) + 1):
            run = s.runs[int(s.run_keys[rows[0]])]
            ks, inverse = np.unique(s.ks[rows], return_inverse=True)
            pieces.append(position_snapshots(run.kind, run.g, run.actor, run.reason, run.site, ks, run.actor_site, run.time))
            at[rows] = base + inverse.reshape(-1)
            base += ks.size
    if not pieces:
        pieces.append(position_snapshots(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)))
    return concat_snapshots(pieces), at


@dataclass(frozen=True)
class _Last:
    """The last WINDOW events before each example, most recent first (-1: none)."""

    kind: np.ndarray  # (n, WINDOW)
    g: np.ndarray
    actor: np.ndarray
    site: np.ndarray


def featurize(
    examples: Examples, source: bool = True, facts: Mapping[str, ProgramFacts] | None = None
) -> tuple[np.ndarray, FeatureReport]:
    """The (n, F) float64 feature matrix (-1 = missing) in `feature_names(source)` order.

    O(examples), vectorised over all examples at once: each example's goroutine
    snapshot comes aggregated per (status, block reason, site), stored with the
    dataset (snapshots.parquet) or, for positions the dataset does not store,
    replayed from the prefix once per run; the history features read the last WINDOW
    events before each example, kept beside its snapshot."""
    s = examples.structure
    if s is None:
        raise ModelError("structural: these examples carry no structure (read them with DatasetView.model_examples)")
    n = len(examples)
    names = feature_names(source)
    report = FeatureReport(examples=n)
    allowed = examples.allowed if examples.allowed is not None else np.ones((n, N_KINDS), dtype=bool)
    programs = sorted({s.program_of_run[int(r)] for r in np.unique(s.run_keys).tolist()})
    if source:
        facts = dict(facts) if facts is not None else {}
        missing = [p for p in programs if p not in facts]
        if missing:
            facts.update(program_facts_of(s, missing))
    tables: list[_SiteTable] = []
    if source:
        for program in programs:
            pf = facts[program]  # type: ignore[index]
            table = _SiteTable(pf, s.sites)
            tables.append(table)
            if not table.has_facts:
                report.programs_without_facts[program] = pf.parse_errors[0] if pf.parse_errors else "no concurrency operations found"
    if n == 0:
        return np.zeros((0, len(names))), report
    reason_cat = np.array([reason_category(r) for r in s.reasons] or [len(REASON_CATEGORIES) - 1], dtype=np.int64)
    snaps, at = snapshots_of(s)
    w = _Last(snaps.last_kind[at], snaps.last_g[at], snaps.last_actor[at], snaps.last_site[at])
    ks = s.ks
    valid = ks[:, None] - 1 - np.arange(WINDOW)[None, :] >= 0
    has_last = ks > 0
    nan = np.nan
    cols: list[np.ndarray] = []
    # History: the last kinds, same-goroutine flags, kind shares, log k.
    cols.append(np.where(valid[:, :HISTORY], w.kind[:, :HISTORY], nan))
    cols.append(np.where(valid[:, 1 : SAME_G + 1], w.g[:, 1 : SAME_G + 1] == w.g[:, :1], nan))
    kinds_before = snaps.kinds_before[at].astype(np.float64)
    cols.append(kinds_before / np.maximum(ks, 1)[:, None])
    recent = valid[:, :RECENT, None] & (w.kind[:, :RECENT, None] == np.arange(N_KINDS)[None, None, :])
    cols.append(recent.sum(axis=1) / np.maximum(np.minimum(ks, RECENT), 1)[:, None])
    cols.append(np.log1p(ks)[:, None].astype(np.float64))
    # Scheduler state: the snapshot's entries, each with its example (ex) and goroutine count.
    first, length = snaps.offsets[at], snaps.offsets[at + 1] - snaps.offsets[at]
    ex = np.repeat(np.arange(n), length)
    entry = np.arange(ex.size) - np.repeat(np.cumsum(length) - length, length) + np.repeat(first, length)
    status = snaps.status[entry].astype(np.int64)
    count = snaps.count[entry].astype(np.float64)
    cols.append(np.bincount(ex * 4 + status, weights=count, minlength=4 * n).reshape(n, 4))
    cols.append(kinds_before[:, 1:2])  # created so far
    blocked = status == 2
    reason = snaps.reason[entry][blocked]
    cats = np.where(reason >= 0, reason_cat[np.maximum(reason, 0)], len(REASON_CATEGORIES) - 1)
    n_cat = len(REASON_CATEGORIES)
    cols.append(np.bincount(ex[blocked] * n_cat + cats, weights=count[blocked], minlength=n_cat * n).reshape(n, n_cat))
    cols.append(allowed.astype(np.float64))
    cols.append(np.stack([
        np.where(has_last, STATUS_AFTER[np.maximum(w.kind[:, 0], 0)], nan),
        np.where(has_last, snaps.last_g_events[at], nan),
        np.where(has_last, w.actor[:, 0] == w.g[:, 0], nan),
    ], axis=1))
    program_index = {p: i for i, p in enumerate(programs)}
    prog = np.array([program_index[s.program_of_run[int(r)]] for r in s.run_keys.tolist()], dtype=np.int64)
    clock, timers = _time_features(s, tables, prog, reason_cat, snaps, at, ex, entry, status, count)
    cols.append(clock)
    if source:
        cols.append(_source_features(s, tables, prog, snaps, at, w, has_last, ex, entry, status, count, timers))
        no_facts = [i for i, t in enumerate(tables) if not t.has_facts]
        if no_facts:
            report.without_facts = int(np.isin(prog, no_facts).sum())
    out = np.concatenate(cols, axis=1).astype(np.float64)
    # Missing values (short prefixes) as -1: an all-missing column would stop the booster.
    return np.nan_to_num(out, nan=-1.0), report


NO_DEADLINE = 30.0  # src.timer.remaining(_events) when no blocked goroutine waits for the clock: "never"
_SLEEP = REASON_CATEGORIES.index("sleep")
_NEVER = np.inf


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _time_features(
    s: ExampleStructure, tables: list[_SiteTable], prog: np.ndarray, reason_cat: np.ndarray, snaps: PositionSnapshots,
    at: np.ndarray, ex: np.ndarray, entry: np.ndarray, status: np.ndarray, count: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The time.* columns (n, 3) and the src.timer.* columns (n, 3; computed when `tables`
    holds the programs' facts, `prog` indexes them per example), from the prefix's
    clock: `now` is the time of the last prefix event, ns since the run's first.

    - time.gap[-1], time.gap.recent: log1p of the last gap and of the mean gap over the
      last WINDOW events (the pace of the run).
    - time.sleep.elapsed: log1p(now - when the longest-blocked goroutine in time.Sleep
      blocked).
    - src.timer.remaining: of the goroutines blocked where the source names a constant
      wait (a `time.Sleep(d)`, a select with a `<-time.After(d)` case), the least time
      left to its deadline (block time + d), in signed log1p(microseconds); <= 0 is due.
      src.timer.remaining_events: log1p(that time left / the recent mean gap), how many
      events at the run's pace before the clock wakes one; src.timer.waiting: how many
      goroutines are blocked at such a site.

    Read from each example's snapshot (an entry's `since` is the earliest block time of
    its goroutines) and its last WINDOW event times: O(examples + snapshot entries)."""
    n = at.size
    clock = np.full((n, 3), np.nan)
    timers = np.column_stack([np.full(n, NO_DEADLINE), np.full(n, NO_DEADLINE), np.zeros(n)])
    if n == 0:
        return clock, timers
    t = snaps.last_time[at].astype(np.float64)  # (n, WINDOW), most recent first; -1: none
    t[snaps.last_time[at] < 0] = np.nan
    now = t[:, 0]
    clock[:, 0] = np.log1p(np.maximum(now - t[:, 1], 0))
    r = np.minimum(WINDOW - 1, s.ks - 1)
    first = t[np.arange(n), np.maximum(r, 0)]
    mean_gap = np.where(r > 0, (now - first) / np.maximum(r, 1), np.nan)
    clock[:, 1] = np.log1p(np.maximum(mean_gap, 0))
    blocked = status == 2
    reason = snaps.reason[entry]
    since = snaps.since[entry].astype(np.float64)
    known = blocked & (since >= 0)
    sleepy = known & (reason >= 0) & (reason_cat[np.clip(reason, 0, reason_cat.size - 1)] == _SLEEP)
    oldest = np.full(n, _NEVER)
    np.minimum.at(oldest, ex[sleepy], since[sleepy])
    found = np.isfinite(oldest) & np.isfinite(now)
    clock[found, 2] = np.log1p(np.maximum(now[found] - oldest[found], 0))
    if not tables:
        return clock, timers
    # The wait at each blocked entry's site, one lookup per distinct (program, site).
    rows = np.flatnonzero(known)
    site = snaps.site[entry][rows]
    width = len(s.sites) + 1
    keys, inverse = np.unique(prog[ex[rows]] * width + site + 1, return_inverse=True)
    wait = np.array([tables[key // width].wait_ns(key % width - 1) for key in keys.tolist()] or [np.nan])[inverse.reshape(-1)]
    has_wait = ~np.isnan(wait)
    timed = rows[has_wait]
    deadline = np.full(n, _NEVER)
    np.minimum.at(deadline, ex[timed], since[timed] + wait[has_wait])
    waiting = np.bincount(ex[timed], weights=count[timed], minlength=n)
    found = np.isfinite(deadline) & np.isfinite(now)
    left = deadline[found] - now[found]
    timers[found, 0] = _signed_log(left / 1e3)
    gap = np.nan_to_num(mean_gap[found], nan=1.0)
    timers[found, 1] = np.log1p(np.maximum(left, 0) / np.maximum(gap, 1.0))
    timers[:, 2] = waiting
    return clock, timers


def _source_features(
    s: ExampleStructure, tables: list[_SiteTable], prog: np.ndarray, snaps: PositionSnapshots, at: np.ndarray,
    w: _Last, has_last: np.ndarray, ex: np.ndarray, entry: np.ndarray, status: np.ndarray, count: np.ndarray,
    timers: np.ndarray,
) -> np.ndarray:
    """The src.* columns: op / next-op vectors at the sites in play, summed per example
    (`prog`: each example's index into `tables`), then the src.timer.* columns
    (`_time_features`)."""
    n = at.size
    nop, nnx = len(OPS), len(NEXT_NAMES)
    last_site = np.where(has_last, w.site[:, 0], -1)
    last_g_site = np.where(has_last, snaps.last_g_site[at], -1)
    site = snaps.site[entry]
    # Which facts of a line apply (_SiteTable): a goroutine just created (GoCreate names
    # its start function's line) or in its first run reads the func_start facts, and so
    # do runnable goroutines (not yet run, or resuming); running goroutines do only when
    # the last event started them there; blocked ones never (they wait on an operation).
    started = has_last & (w.kind[:, 0] == _START) & (snaps.last_g_events[at] <= 2)
    first_run = started | (has_last & (w.kind[:, 0] == _CREATE))
    # (After a GoCreate the running creator may stand on the same line, `go func() {`:
    # it is not entering, the new goroutine is, and that one is runnable.)
    entry_flag = (status == 0) | ((status == 1) & started[ex] & (site == last_site[ex]))
    # One (program, site, entry) key per vector needed; each distinct key's vectors looked up once.
    width = len(s.sites) + 1
    keys = np.concatenate([
        (prog * width + last_site + 1) * 2 + first_run,
        (prog * width + last_g_site + 1) * 2 + first_run,
        (prog[ex] * width + site + 1) * 2 + entry_flag,
    ])
    distinct, inverse = np.unique(keys, return_inverse=True)
    vectors = [tables[key // 2 // width].at(key // 2 % width - 1, bool(key % 2)) for key in distinct.tolist()]
    op = np.stack([v[0] for v in vectors]) if vectors else np.zeros((0, nop))
    nx = np.stack([v[1] for v in vectors]) if vectors else np.zeros((0, nnx))
    inverse = inverse.reshape(-1)
    i_last, i_last_g, i_entry = inverse[:n], inverse[n : 2 * n], inverse[2 * n :]

    def summed(mask: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        acc = np.zeros((n, vecs.shape[1]))
        np.add.at(acc, ex[mask], count[mask, None] * vecs[i_entry[mask]])
        return acc

    # Runnable and not yet run: at its start function's line (runnable goroutines read a
    # line's func_start facts, so its op vector says whether one starts there), or never
    # shown at a site.
    fresh = (status == 0) & ((site < 0) | (op[i_entry, _FUNC_START] > 0))
    running_next, blocked_op = summed(status == 1, nx), summed(status == 2, op)
    # A running goroutine that can only return next: does that end it (it stands in the
    # function it started in) or go back to a caller? Known for goroutines created in the
    # prefix (their start is their GoCreate's line); unknown for the others (main first
    # seen creating inside a helper it called). One lookup per distinct (program, site, start).
    returning = nx[:, _NEXT_RETURN] + nx[:, _NEXT_NOTHING]
    only_returns = (returning > 0) & (returning == nx.sum(axis=1))  # nothing but a return can come next
    running = np.flatnonzero((status == 1) & only_returns[i_entry])
    cases = np.stack([
        prog[ex[running]], site[running], entry_flag[running], snaps.start_site[entry[running]], snaps.start_entry[entry[running]],
    ], axis=1).astype(np.int64)
    distinct2, inverse2 = np.unique(cases, axis=0, return_inverse=True)
    where_to = np.full(len(distinct2), 2)  # 0: ends, 1: back to a caller, 2: unknown
    for j, (p, here, here_entry, start, created) in enumerate(distinct2.tolist()):
        if created:  # the start is a GoCreate's line: the start function is known
            in_start = tables[p].funcs(here, bool(here_entry)) & tables[p].funcs(start, True)
            where_to[j] = 0 if in_start else 1
    returns = np.zeros((n, 3))
    np.add.at(returns, (ex[running], where_to[inverse2.reshape(-1)]), count[running])
    block = np.concatenate([
        op[i_last], nx[i_last], op[i_last_g], nx[i_last_g],
        running_next,  # running: what they do next
        summed(status == 0, nx),  # runnable
        np.bincount(ex[fresh], weights=count[fresh], minlength=n)[:, None],
        blocked_op,  # blocked: what they wait on
        wake_features(running_next, blocked_op),
        returns,  # running goroutines that can only return next: it ends them, goes to a caller, unknown
        np.stack([t.counts for t in tables])[prog] if tables else np.zeros((n, nop)),
        np.ones((n, 1)),
        timers,
    ], axis=1)
    has_facts = np.array([t.has_facts for t in tables], dtype=bool)[prog] if tables else np.zeros(n, dtype=bool)
    return np.where(has_facts[:, None], block, 0.0)
