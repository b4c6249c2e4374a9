"""Features of the structural predictor: history, scheduler state and program source.

Every feature is computed from what precedes the next event only: the prefix events
(kind, canonical goroutine, actor, block reason, user site), the goroutine snapshot
they replay to, the FSM's allowed kinds, k, and static facts of the program's
source (schedcast.corpus.facts: Go's own parser). Never the run's length.

Three groups (names start with the group):

- ``hist.*``: the last HISTORY kinds (categorical), whether each of the last few
  events is by the same goroutine as the last one, the share of each kind in the
  prefix and in the last RECENT events, log(1 + k).
- ``state.*``: goroutines per status (runnable, running, blocked, dead) and created
  so far, blocked goroutines per block-reason category, the FSM's allowed kinds,
  the status and event count of the last event's goroutine.
- ``src.*`` (only with source features): what the operations at the site of the last
  event are and what can follow them; the same for the last event's goroutine at
  its current site (what it will do next when it runs); summed over running and
  over runnable goroutines (what they will do next) and over blocked goroutines
  (what they wait on); the program's operation counts; whether facts exist.

A program whose source cannot be analysed gets zeros for every ``src.*`` feature and
``src.has_facts = 0`` (its examples are counted in `FeatureReport.without_facts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from schedcast.corpus.facts import OPS, ProgramFacts, facts_for_sources
from schedcast.dataset.access import STATUS_AFTER, ExampleStructure, RunPrefix
from schedcast.models.base import KIND_NAMES, N_KINDS, Examples, ModelError

HISTORY = 8  # last kinds, as categorical features
TABLE_CELLS = 4_000_000  # featurize: goroutine-table cells copied per chunk of a run's examples
SAME_G = 4  # same-goroutine flags for the last few events
RECENT = 16  # kind shares over the last RECENT events
STATUSES = ("runnable", "running", "blocked", "dead")
REASON_CATEGORIES = ("chan_receive", "chan_send", "select", "mutex", "cond", "waitgroup", "sleep", "other")
NEXT_NAMES = (*OPS, "nothing")  # next_ops vocabulary; "nothing": no operation follows in the function
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_NEXT_INDEX = {op: i for i, op in enumerate(NEXT_NAMES)}


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
    if source:
        names += [f"src.last_site.op.{o}" for o in OPS] + [f"src.last_site.next.{o}" for o in NEXT_NAMES]
        names += [f"src.last_g.op.{o}" for o in OPS] + [f"src.last_g.next.{o}" for o in NEXT_NAMES]
        names += [f"src.running.next.{o}" for o in NEXT_NAMES] + [f"src.runnable.next.{o}" for o in NEXT_NAMES]
        names += ["src.runnable.fresh"] + [f"src.blocked.op.{o}" for o in OPS]
        names += [f"src.program.{o}" for o in OPS] + ["src.has_facts"]
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
    """One program's op and next-op vectors per site code, computed on first use."""

    def __init__(self, facts: ProgramFacts, sites: tuple[str, ...]) -> None:
        self.facts = facts
        self.sites = sites
        self.has_facts = not facts.parse_errors and bool(facts.sites)
        counts = facts.counts()
        self.counts = np.log1p(np.array([counts[o] for o in OPS], dtype=np.float64)) if self.has_facts else np.zeros(len(OPS))
        self._zero = (np.zeros(len(OPS)), np.zeros(len(NEXT_NAMES)))
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def at(self, code: int) -> tuple[np.ndarray, np.ndarray]:
        if code < 0:
            return self._zero
        found = self._cache.get(code)
        if found is None:
            facts = self.facts.at(self.sites[code])
            if not facts:
                found = self._zero
            else:
                o = np.zeros(len(OPS))
                nx = np.zeros(len(NEXT_NAMES))
                for fact in facts:
                    o[_OP_INDEX[fact.op]] = 1.0
                    for name in fact.next_ops or ("nothing",):
                        if name in _NEXT_INDEX:
                            nx[_NEXT_INDEX[name]] = 1.0
                found = (o, nx)
            self._cache[code] = found
        return found

    def total(self, codes: np.ndarray, which: int) -> np.ndarray:
        """Sum of the op (which=0) or next-op (1) vectors at these site codes."""
        acc = self._zero[which].copy()
        if codes.size:
            distinct, counts = np.unique(codes, return_counts=True)
            for code, count in zip(distinct.tolist(), counts.tolist()):
                acc += count * self.at(code)[which]
        return acc


def program_facts_of(structure: ExampleStructure, programs: list[str]) -> dict[str, ProgramFacts]:
    """Static facts of each program, from the source stored with the dataset."""
    files = [structure.sources.get(p, {}) for p in programs]
    return dict(zip(programs, facts_for_sources([(f, "") for f in files])))


class _Replay:
    """One run's prefix state, advanced event slice by event slice (examples of a run are
    visited in increasing k, so each event is read once per run)."""

    def __init__(self, run: RunPrefix) -> None:
        self.run = run
        size = int(max(run.g.max(initial=0), run.actor.max(initial=0))) + 2
        self.last = np.full(size, -1, dtype=np.int64)  # per goroutine: its last event
        self.where = np.full(size, -1, dtype=np.int64)  # per goroutine: its last event naming its site
        self.events = np.zeros(size, dtype=np.int64)  # per goroutine: events so far
        self.k = 0

    def advance(self, k: int) -> None:
        lo = self.k
        if k <= lo:
            return
        run = self.run
        idx = np.arange(lo, k, dtype=np.int64)
        g = run.g[lo:k]
        np.maximum.at(self.last, g, idx)
        np.add.at(self.events, g, 1)
        kind = run.kind[lo:k]
        by_actor = ((kind == 1) | (kind == 5)) & (run.actor[lo:k] > 0)
        owner = np.where(by_actor, run.actor[lo:k], g)
        has = run.site[lo:k] >= 0
        np.maximum.at(self.where, owner[has], idx[has])
        self.k = k


def _gather(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values[positions] as float64, NaN where the position is negative."""
    if values.size == 0:
        return np.full(positions.shape, np.nan)
    return np.where(positions >= 0, values[np.maximum(positions, 0)], np.nan)


def _counts(labels: np.ndarray, valid: np.ndarray, width: int) -> np.ndarray:
    """Per row of `labels` (n, G): how many valid entries hold each value 0..width-1."""
    n = labels.shape[0]
    rows = np.broadcast_to(np.arange(n)[:, None], labels.shape)[valid]
    return np.bincount(rows * width + labels[valid], minlength=n * width).reshape(n, width).astype(np.float64)


def featurize(
    examples: Examples, source: bool = True, facts: Mapping[str, ProgramFacts] | None = None
) -> tuple[np.ndarray, FeatureReport]:
    """The (n, F) float64 feature matrix (-1 = missing) in `feature_names(source)` order.

    Vectorised per run: the run's prefix is replayed once, the goroutine table (each
    goroutine's last event and last site event) is copied at each example's k, and the
    features of all the run's examples are computed together from those tables."""
    s = examples.structure
    if s is None:
        raise ModelError("structural: these examples carry no structure (read them with DatasetView.model_examples)")
    n = len(examples)
    names = feature_names(source)
    out = np.full((n, len(names)), np.nan)
    report = FeatureReport(examples=n)
    allowed = examples.allowed if examples.allowed is not None else np.ones((n, N_KINDS), dtype=bool)
    programs = sorted({s.program_of_run[int(r)] for r in np.unique(s.run_keys).tolist()})
    if source:
        facts = dict(facts) if facts is not None else {}
        missing = [p for p in programs if p not in facts]
        if missing:
            facts.update(program_facts_of(s, missing))
    tables: dict[str, _SiteTable] = {}
    if source:
        for program in programs:
            pf = facts[program]  # type: ignore[index]
            table = tables[program] = _SiteTable(pf, s.sites)
            if not table.has_facts:
                report.programs_without_facts[program] = pf.parse_errors[0] if pf.parse_errors else "no concurrency operations found"
    reason_cat = np.array([reason_category(r) for r in s.reasons] or [len(REASON_CATEGORIES) - 1], dtype=np.int64)
    order = np.lexsort((s.ks, s.run_keys))
    bounds = np.flatnonzero(np.diff(s.run_keys[order])) + 1
    for rows in np.split(order, bounds) if n else []:
        key = int(s.run_keys[rows[0]])
        table = tables.get(s.program_of_run[key]) if source else None
        replay = _Replay(s.runs[key])
        # Chunks of examples, so the copied goroutine tables stay under TABLE_CELLS cells.
        step = max(1, TABLE_CELLS // replay.last.size)
        for lo in range(0, rows.size, step):
            chunk = rows[lo : lo + step]
            _run_features(out, chunk, replay, s.ks[chunk], allowed[chunk], reason_cat, table, source)
        if table is not None and not table.has_facts:
            report.without_facts += rows.size
    # Missing values (short prefixes) as -1: an all-missing column would stop the booster.
    return np.nan_to_num(out, nan=-1.0), report


def _run_features(
    out: np.ndarray, rows: np.ndarray, replay: _Replay, ks: np.ndarray, allowed: np.ndarray,
    reason_cat: np.ndarray, table: _SiteTable | None, source: bool,
) -> None:
    """Fill out[rows] for examples of one run (ks ascending, none before the replay's k)."""
    n = rows.size
    run = replay.run
    kind, g = run.kind, run.g
    cols: list[np.ndarray] = []
    # History: the last kinds, same-goroutine flags, kind shares, log k.
    cols.append(_gather(kind, ks[:, None] - np.arange(1, HISTORY + 1)[None, :]))
    last_pos = ks - 1
    same_pos = ks[:, None] - np.arange(2, SAME_G + 2)[None, :]
    last_g_of = np.where(ks > 0, g[np.maximum(last_pos, 0)] if g.size else -1, -1).astype(np.int64)
    cols.append(np.where(same_pos >= 0, _gather(g, same_pos) == last_g_of[:, None], np.nan))
    lo = np.maximum(ks - RECENT, 0)
    upto = np.zeros((n, N_KINDS))
    before_lo = np.zeros((n, N_KINDS))
    for c in range(N_KINDS):
        at = np.flatnonzero(kind == c)
        upto[:, c] = np.searchsorted(at, ks)
        before_lo[:, c] = np.searchsorted(at, lo)
    cols.append(upto / np.maximum(ks, 1)[:, None])
    cols.append((upto - before_lo) / np.maximum(ks - lo, 1)[:, None])
    cols.append(np.log1p(ks)[:, None].astype(np.float64))
    # Scheduler state: the goroutine table at each k.
    last = np.empty((n, replay.last.size), dtype=np.int64)
    where = np.empty_like(last)
    last_events = np.zeros(n)
    for i, k in enumerate(ks.tolist()):
        replay.advance(k)
        last[i] = replay.last
        where[i] = replay.where
        if k:
            last_events[i] = replay.events[last_g_of[i]]
    seen = last >= 0
    status = np.full(last.shape, -1, dtype=np.int64)
    if kind.size:
        status[seen] = STATUS_AFTER[kind[last[seen]]]
    cols.append(_counts(np.maximum(status, 0), seen, 4))
    cols.append(upto[:, 1:2])  # created so far
    blocked = status == 2
    codes = np.where(blocked, run.reason[np.maximum(last, 0)] if run.reason.size else -1, -1)
    cats = np.where(codes >= 0, reason_cat[np.maximum(codes, 0)], len(REASON_CATEGORIES) - 1)
    cols.append(_counts(cats, blocked, len(REASON_CATEGORIES)))
    cols.append(allowed.astype(np.float64))
    has_last = ks > 0
    rng = np.arange(n)
    g_last = np.maximum(last_g_of, 0)
    cols.append(np.stack([
        np.where(has_last, status[rng, g_last], np.nan),
        np.where(has_last, last_events, np.nan),
        np.where(has_last, (run.actor[np.maximum(last_pos, 0)] if run.actor.size else -1) == last_g_of, np.nan),
    ], axis=1))
    c = sum(a.shape[1] for a in cols)
    out[rows, :c] = np.concatenate(cols, axis=1)
    if not source or table is None:
        return
    if not table.has_facts:
        out[rows, c:] = 0.0
        return
    nop = len(OPS)
    site_at = np.where(where >= 0, run.site[np.maximum(where, 0)] if run.site.size else -1, -1)
    last_site = np.where(has_last, run.site[np.maximum(last_pos, 0)] if run.site.size else -1, -1)
    last_g_site = np.where(has_last, site_at[rng, g_last], -1)
    # The distinct site codes in play (no sort: a bincount over the vocabulary), and a
    # local index into their op / next-op vectors (row 0: no site).
    present = np.zeros(len(table.sites) + 1, dtype=bool)
    present[site_at.ravel() + 1] = True
    present[last_site + 1] = True
    present[last_g_site + 1] = True
    present[0] = True
    distinct = np.flatnonzero(present) - 1
    local = np.zeros(present.size, dtype=np.int64)
    local[distinct + 1] = np.arange(distinct.size)
    vectors = [table.at(int(code)) for code in distinct.tolist()]
    op = np.stack([v[0] for v in vectors])
    nx = np.stack([v[1] for v in vectors])
    u = distinct.size
    site_local = local[site_at + 1]
    live = (status >= 0) & (status <= 2)
    per_status = _counts(np.maximum(status, 0) * u + site_local, live, 3 * u).reshape(n, 3, u)
    i_last, i_last_g = local[last_site + 1], local[last_g_site + 1]
    src = [
        op[i_last], nx[i_last], op[i_last_g], nx[i_last_g],
        per_status[:, 1] @ nx,  # running: what they do next
        per_status[:, 0] @ nx,  # runnable
        ((status == 0) & (site_at < 0)).sum(axis=1, keepdims=True).astype(np.float64),
        per_status[:, 2] @ op,  # blocked: what they wait on
        np.broadcast_to(table.counts, (n, nop)),
        np.ones((n, 1)),
    ]
    block = np.concatenate(src, axis=1)
    out[rows, c : c + block.shape[1]] = block
