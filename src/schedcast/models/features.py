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
    """One run's prefix state, advanced event by event slice (examples of a run are
    visited in increasing k, so each event is read once per run)."""

    def __init__(self, run: RunPrefix) -> None:
        self.run = run
        size = int(max(run.g.max(initial=0), run.actor.max(initial=0))) + 2
        self.last = np.full(size, -1, dtype=np.int64)  # per goroutine: its last event
        self.where = np.full(size, -1, dtype=np.int64)  # per goroutine: its last event naming its site
        self.events = np.zeros(size, dtype=np.int64)  # per goroutine: events so far
        self.kinds = np.zeros(N_KINDS, dtype=np.int64)
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
        self.kinds += np.bincount(kind, minlength=N_KINDS)
        by_actor = ((kind == 1) | (kind == 5)) & (run.actor[lo:k] > 0)
        owner = np.where(by_actor, run.actor[lo:k], g)
        has = run.site[lo:k] >= 0
        np.maximum.at(self.where, owner[has], idx[has])
        self.k = k

    def site_at(self) -> np.ndarray:
        if self.run.site.size == 0:
            return np.full(self.where.size, -1, dtype=np.int64)
        return np.where(self.where >= 0, self.run.site[np.maximum(self.where, 0)], -1)


def featurize(
    examples: Examples, source: bool = True, facts: Mapping[str, ProgramFacts] | None = None
) -> tuple[np.ndarray, FeatureReport]:
    """The (n, F) float64 feature matrix (-1 = missing) in `feature_names(source)` order."""
    s = examples.structure
    if s is None:
        raise ModelError("structural: these examples carry no structure (read them with DatasetView.model_examples)")
    n = len(examples)
    names = feature_names(source)
    out = np.full((n, len(names)), np.nan)
    report = FeatureReport(examples=n)
    allowed = examples.allowed if examples.allowed is not None else np.ones((n, N_KINDS), dtype=bool)
    programs = sorted({s.program(i) for i in range(n)})
    if source:
        facts = dict(facts) if facts is not None else {}
        missing = [p for p in programs if p not in facts]
        if missing:
            facts.update(program_facts_of(s, missing))
    tables: dict[str, _SiteTable] = {}
    reason_cat = np.array([reason_category(r) for r in s.reasons] or [len(REASON_CATEGORIES) - 1], dtype=np.int64)
    nop, nnx = len(OPS), len(NEXT_NAMES)
    # Examples of one run in increasing k: the run's replay advances monotonically.
    order = np.lexsort((s.ks, s.run_keys))
    replay: _Replay | None = None
    for i in order.tolist():
        run, k = s.prefix(i)
        if replay is None or replay.run is not run or replay.k > k:
            replay = _Replay(run)
        replay.advance(k)
        row = out[i]
        lo = max(0, k - RECENT)
        recent = run.kind[lo:k].astype(np.int64)
        g = run.g[lo:k]
        c = 0
        tail = recent[-HISTORY:][::-1]
        row[c : c + tail.size] = tail
        c += HISTORY
        if k:
            same = (g[-SAME_G - 1 : -1][::-1] == g[-1]).astype(np.float64)
            row[c : c + same.size] = same
        c += SAME_G
        row[c : c + N_KINDS] = replay.kinds / max(k, 1)
        c += N_KINDS
        row[c : c + N_KINDS] = np.bincount(recent, minlength=N_KINDS) / max(recent.size, 1)
        c += N_KINDS
        row[c] = np.log1p(k)
        c += 1
        last = replay.last
        site_at = replay.site_at()
        seen = last >= 0
        status = np.full(last.size, -1, dtype=np.int64)
        status[seen] = STATUS_AFTER[run.kind[last[seen]]]
        row[c : c + 4] = np.bincount(status[seen], minlength=4)[:4]
        c += 4
        row[c] = float(replay.kinds[1])
        c += 1
        blocked = np.flatnonzero(status == 2)
        codes = run.reason[last[blocked]]
        cats = np.where(codes >= 0, reason_cat[np.maximum(codes, 0)], len(REASON_CATEGORIES) - 1)
        row[c : c + len(REASON_CATEGORIES)] = np.bincount(cats, minlength=len(REASON_CATEGORIES))
        c += len(REASON_CATEGORIES)
        row[c : c + N_KINDS] = allowed[i]
        c += N_KINDS
        last_g = int(g[-1]) if k else -1
        if k:
            row[c] = status[last_g]
            row[c + 1] = float(replay.events[last_g])
            row[c + 2] = float(run.actor[k - 1] == last_g)
        c += 3
        if not source:
            continue
        program = s.program(i)
        table = tables.get(program)
        if table is None:
            pf = facts[program]  # type: ignore[index]
            table = tables[program] = _SiteTable(pf, s.sites)
            if not table.has_facts:
                report.programs_without_facts[program] = pf.parse_errors[0] if pf.parse_errors else "no concurrency operations found"
        if not table.has_facts:
            report.without_facts += 1
            row[c:] = 0.0
            continue
        at = table.at
        zero_o, zero_n = np.zeros(nop), np.zeros(nnx)
        o, nx = at(int(run.site[k - 1])) if k else (zero_o, zero_n)
        row[c : c + nop] = o
        row[c + nop : c + nop + nnx] = nx
        c += nop + nnx
        o, nx = at(int(site_at[last_g])) if k else (zero_o, zero_n)
        row[c : c + nop] = o
        row[c + nop : c + nop + nnx] = nx
        c += nop + nnx
        for wanted in (1, 0):  # running, runnable: what they do next
            row[c : c + nnx] = table.total(site_at[status == wanted], 1)
            c += nnx
        row[c] = float(np.count_nonzero((status == 0) & (site_at < 0)))
        c += 1
        row[c : c + nop] = table.total(site_at[blocked], 0)
        c += nop
        row[c : c + nop] = table.counts
        c += nop
        row[c] = 1.0
    # Missing values (short prefixes) as -1: an all-missing column would stop the booster.
    return np.nan_to_num(out, nan=-1.0), report
