"""The structural predictor's features computed one example at a time (the original,
straightforward replay): the oracle the vectorised `featurize` is checked against."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from schedcast.corpus.facts import OPS, ProgramFacts
from schedcast.dataset.access import STATUS_AFTER, RunPrefix
from schedcast.dataset.snapshots import WINDOW
from schedcast.models.base import N_KINDS, Examples, ModelError
from schedcast.models.features import (
    HISTORY,
    NO_DEADLINE,
    NEXT_NAMES,
    REASON_CATEGORIES,
    RECENT,
    SAME_G,
    WAKES,
    FeatureReport,
    _SiteTable,
    feature_names,
    program_facts_of,
    reason_category,
)


class _ReferenceReplay:
    """One run's prefix state, advanced event by event slice (examples of a run are
    visited in increasing k, so each event is read once per run)."""

    def __init__(self, run: RunPrefix) -> None:
        self.run = run
        size = int(max(run.g.max(initial=0), run.actor.max(initial=0))) + 2
        self.last = np.full(size, -1, dtype=np.int64)  # per goroutine: its last event
        self.where = np.full(size, -1, dtype=np.int64)  # per goroutine: the site code where it last was
        self.acted = np.zeros(size, dtype=bool)  # per goroutine: seen creating or unblocking
        # per goroutine: the first site named for it, and whether that is its GoCreate's (its start function's line)
        self.start: dict[int, tuple[int, bool]] = {}
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
        # In event order: the actor stands at its actor_site (creates, unblocks), the
        # goroutine at its own site.
        for i in range(lo, k):
            a = int(run.actor[i])
            if a > 0:
                self.acted[a] = True
                if run.actor_site is not None and run.actor_site[i] >= 0:
                    self.where[a] = run.actor_site[i]
                    self.start.setdefault(a, (int(run.actor_site[i]), False))
            if run.site[i] >= 0:
                self.where[int(run.g[i])] = run.site[i]
                self.start.setdefault(int(run.g[i]), (int(run.site[i]), int(run.kind[i]) == 1))
        self.k = k

    def site_at(self) -> np.ndarray:
        return self.where


def featurize_reference(
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
    replay: _ReferenceReplay | None = None
    for i in order.tolist():
        run, k = s.prefix(i)
        if replay is None or replay.run is not run or replay.k > k:
            replay = _ReferenceReplay(run)
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
        status[~seen & replay.acted] = 1  # seen only acting: running
        row[c : c + 4] = np.bincount(status[status >= 0], minlength=4)[:4]
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
        # time.*: the last gap, the recent mean gap, the longest sleeper's time asleep.
        t = run.time
        now = int(t[k - 1]) if t is not None and k else 0
        r = min(WINDOW - 1, k - 1)
        mean_gap = (now - int(t[k - 1 - r])) / r if t is not None and r > 0 else np.nan
        if t is not None:
            if k >= 2:
                row[c] = np.log1p(max(now - int(t[k - 2]), 0))
            row[c + 1] = np.log1p(max(mean_gap, 0)) if r > 0 else np.nan
            sleeping = [int(t[last[b]]) for b in blocked.tolist() if run.reason[last[b]] >= 0 and reason_cat[run.reason[last[b]]] == 6]
            if sleeping:
                row[c + 2] = np.log1p(max(now - min(sleeping), 0))
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
        # A goroutine just created (its GoCreate names its start function's line) or in
        # its first run reads that line's func_start facts; so do runnable goroutines, and
        # running ones at the line where the last event started them.
        started = bool(k) and int(run.kind[k - 1]) == 4 and int(replay.events[last_g]) <= 2
        first_run = started or (bool(k) and int(run.kind[k - 1]) == 1)
        o, nx = at(int(run.site[k - 1]), first_run) if k else (zero_o, zero_n)
        row[c : c + nop] = o
        row[c + nop : c + nop + nnx] = nx
        c += nop + nnx
        o, nx = at(int(site_at[last_g]), first_run) if k else (zero_o, zero_n)
        row[c : c + nop] = o
        row[c + nop : c + nop + nnx] = nx
        c += nop + nnx
        running = site_at[status == 1]
        running_flags = started & (running == (int(run.site[k - 1]) if k else -2))
        running_next = table.total(running, 1, running_flags)
        row[c : c + nnx] = running_next
        c += nnx
        # Running goroutines that can only return next: in their start function, in a callee,
        # or not known (not created in the prefix), one by one.
        returns = [0.0, 0.0, 0.0]
        for g_run, code, flag in zip(np.flatnonzero(status == 1).tolist(), running.tolist(), np.broadcast_to(running_flags, running.shape).tolist()):
            nx_here = at(int(code), bool(flag))[1]
            back = nx_here[NEXT_NAMES.index("return")] + nx_here[NEXT_NAMES.index("nothing")]
            if back and back == nx_here.sum():
                first, created = replay.start.get(g_run, (-1, False))
                if not created:
                    returns[2] += 1.0
                else:
                    returns[0 if table.funcs(int(code), bool(flag)) & table.funcs(first, True) else 1] += 1.0
        runnable = site_at[status == 0]
        row[c : c + nnx] = table.total(runnable, 1, np.ones(runnable.size, dtype=bool))
        c += nnx
        row[c] = float(sum(1 for code in runnable.tolist() if code < 0 or table.is_entry(code)))
        c += 1
        blocked_op = table.total(site_at[blocked], 0)
        row[c : c + nop] = blocked_op
        c += nop
        for wake, wakers, waiters in WAKES:  # src.wake.*
            woken = sum(blocked_op[OPS.index(o)] for o in waiters)
            row[c] = min(sum(running_next[NEXT_NAMES.index(o)] for o in wakers), woken)
            c += 1
        row[c : c + 3] = returns
        c += 3
        row[c : c + nop] = table.counts
        c += nop
        row[c] = 1.0
        c += 1
        # src.timer.*: blocked goroutines whose wait the source names, against the clock.
        deadlines: list[float] = []
        if t is not None:
            for b in blocked.tolist():
                wait = table.wait_ns(int(run.site[last[b]]))
                if not np.isnan(wait):
                    deadlines.append(float(t[last[b]]) + wait)
        if deadlines:
            left = min(deadlines) - now
            row[c] = np.sign(left / 1e3) * np.log1p(abs(left / 1e3))
            gap = 1.0 if np.isnan(mean_gap) else mean_gap
            row[c + 1] = np.log1p(max(left, 0) / max(gap, 1.0))
            row[c + 2] = float(len(deadlines))  # goroutines waiting for the clock
        else:
            row[c : c + 3] = (NO_DEADLINE, NO_DEADLINE, 0.0)
    # Missing values (short prefixes) as -1: an all-missing column would stop the booster.
    return np.nan_to_num(out, nan=-1.0), report
