"""Goroutine snapshots at example positions, computed once when the dataset is built.

A structural predictor reads, at each example, the goroutine snapshot the prefix
replays to (every goroutine the prefix has shown: its status after its last event,
its block reason, the site where it last was) plus a few facts of the prefix. Replaying
a run's prefix at prediction time costs O(prefix events); the dataset stage already
walks every event, so it stores, per paper-protocol example (snapshots.parquet):

- ``kinds_before``: the prefix's event count per kind (GoBlock .. GoUnblock);
- ``last_g_events``: how many prefix events the last event's goroutine made;
- ``last_g_site``: the site where that goroutine last was ("" when none);
- the snapshot aggregated: one entry per distinct (status, block reason, site, start)
  of the live goroutines with its goroutine count; dead goroutines as one entry with
  no reason, site or start (what a goroutine did before it ended is not stored).

A goroutine's *start* is the first site an event names for it (`start_site`): a
goroutine created in the prefix starts at its GoCreate's site, its start function's
line (`start_entry` true); one first seen acting (main creating goroutines before its
first own event) at that go statement or unblocking line, and one first seen in an
event of its own at that event's site (`start_entry` false: a line inside its function).
A model reads from it whether a goroutine still stands in the function it started in
(a `return` there ends it) or in one it called.

The replay rules are those of `schedcast.dataset.access.goroutine_table`: a
goroutine's status is the one after its last event as the goroutine changing state,
its site is the last one an event names for it (`site_stream`): an event's ``site``
is always the changing goroutine's (a new goroutine's start function for GoCreate,
where it was blocked for GoUnblock), its ``actor_site`` the creator's go statement or
the unblocker's send / unlock. `position_snapshots` is the one implementation; the
dataset build and the prediction-time fallback (positions not stored) both call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schedcast.trace import KIND_NAMES, N_KINDS

RUNNABLE, RUNNING, BLOCKED, DEAD = range(4)
_AFTER = {"GoBlock": BLOCKED, "GoCreate": RUNNABLE, "GoEnd": DEAD, "GoSched": RUNNABLE, "GoStart": RUNNING, "GoUnblock": RUNNABLE}
# The status a goroutine is in after an event of each kind (in KIND_NAMES order):
# runnable 0, running 1, blocked 2, dead 3.
STATUS_AFTER = np.array([_AFTER[k] for k in KIND_NAMES], dtype=np.int8)
WINDOW = 16  # the last events before a position, kept beside its snapshot
_CREATE = KIND_NAMES.index("GoCreate")
_NEVER = np.iinfo(np.int64).max


def site_stream(g: np.ndarray, actor: np.ndarray, site: np.ndarray, actor_site: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The sites the events name, as one stream of 2m (goroutine, site code) pairs:
    entry 2i is event i's actor at its actor_site (-1 when none), entry 2i+1 its
    goroutine at its site. A goroutine's site before event k is the last entry < 2k
    naming it with a site >= 0."""
    m = g.size
    owner = np.empty(2 * m, dtype=np.int64)
    where = np.empty(2 * m, dtype=np.int64)
    owner[1::2] = g
    where[1::2] = site
    owner[0::2] = actor
    where[0::2] = -1 if actor_site is None else np.where(actor > 0, actor_site[:m], -1)
    return owner, where


@dataclass(frozen=True)
class PositionSnapshots:
    """Snapshots at P positions of one run: per position scalars, and G aggregated
    entries, those of position p at offsets[p]:offsets[p+1]. Reasons and sites are
    codes into the caller's vocabularies (-1: none)."""

    kinds_before: np.ndarray  # (P, 6) int64
    last_g_events: np.ndarray  # (P,) int64, 0 at k = 0
    last_g_site: np.ndarray  # (P,) int64 site code, -1 at k = 0 or when none
    offsets: np.ndarray  # (P + 1,) int64
    status: np.ndarray  # (G,) int8: 0 runnable, 1 running, 2 blocked, 3 dead
    reason: np.ndarray  # (G,) int64 reason code, blocked goroutines only (-1 otherwise)
    site: np.ndarray  # (G,) int64 site code (-1: none; always -1 for the dead)
    start_site: np.ndarray  # (G,) int64 site code of the goroutine's start (-1: none; always for the dead)
    start_entry: np.ndarray  # (G,) bool: the start is its start function's line (its GoCreate's site)
    count: np.ndarray  # (G,) int64 goroutines
    since: np.ndarray  # (G,) int64 ns: the earliest time a goroutine of the entry made its last event (-1: not known)
    # The last WINDOW events before each position, most recent first: column j is event
    # k-1-j (-1 where that is before the run's start). Not stored: read from the events.
    last_kind: np.ndarray  # (P, WINDOW) int64
    last_g: np.ndarray
    last_actor: np.ndarray
    last_site: np.ndarray  # site codes
    last_time: np.ndarray  # ns since the run's first event (-1: none, or no times)

    def select(self, index: np.ndarray) -> "PositionSnapshots":
        """The positions `index`, in that order, as their own PositionSnapshots."""
        index = np.asarray(index, dtype=np.int64)
        first, length = self.offsets[index], self.offsets[index + 1] - self.offsets[index]
        entry = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length) + np.repeat(first, length)
        return PositionSnapshots(
            self.kinds_before[index], self.last_g_events[index], self.last_g_site[index],
            np.concatenate([[0], np.cumsum(length)]).astype(np.int64),
            self.status[entry], self.reason[entry], self.site[entry], self.start_site[entry], self.start_entry[entry],
            self.count[entry], self.since[entry],
            self.last_kind[index], self.last_g[index], self.last_actor[index], self.last_site[index], self.last_time[index],
        )


def concat_snapshots(pieces: list[PositionSnapshots]) -> PositionSnapshots:
    """Positions of the pieces one after the other (their offsets shifted)."""
    if len(pieces) == 1:
        return pieces[0]
    shift = np.cumsum([0] + [int(p.offsets[-1]) for p in pieces[:-1]])
    return PositionSnapshots(
        np.concatenate([p.kinds_before for p in pieces]),
        np.concatenate([p.last_g_events for p in pieces]),
        np.concatenate([p.last_g_site for p in pieces]),
        np.concatenate([[0]] + [p.offsets[1:] + d for p, d in zip(pieces, shift)]).astype(np.int64),
        np.concatenate([p.status for p in pieces]),
        np.concatenate([p.reason for p in pieces]),
        np.concatenate([p.site for p in pieces]),
        np.concatenate([p.start_site for p in pieces]),
        np.concatenate([p.start_entry for p in pieces]),
        np.concatenate([p.count for p in pieces]),
        np.concatenate([p.since for p in pieces]),
        *(np.concatenate([getattr(p, name) for p in pieces]) for name in ("last_kind", "last_g", "last_actor", "last_site", "last_time")),
    )


def last_events(
    kind: np.ndarray, g: np.ndarray, actor: np.ndarray, site: np.ndarray, starts: np.ndarray, ks: np.ndarray,
    time: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The last WINDOW events before each position (starts: index of the position's
    run's first event in the arrays; ks: its prefix length), as in PositionSnapshots:
    kind, goroutine, actor, site and time (-1 throughout without times)."""
    back = np.asarray(ks, dtype=np.int64)[:, None] - 1 - np.arange(WINDOW)[None, :]
    valid = back >= 0
    at = np.where(valid, np.asarray(starts, dtype=np.int64)[:, None] + back, 0)

    def gather(column: np.ndarray) -> np.ndarray:
        if column.size == 0:
            return np.full(back.shape, -1, dtype=np.int64)
        return np.where(valid, column[at], -1).astype(np.int64)

    times = gather(time) if time is not None else np.full(back.shape, -1, dtype=np.int64)
    return gather(kind), gather(g), gather(actor), gather(site), times


def position_snapshots(
    kind: np.ndarray, g: np.ndarray, actor: np.ndarray, reason: np.ndarray, site: np.ndarray, ks: np.ndarray,
    actor_site: np.ndarray | None = None, time: np.ndarray | None = None,
) -> PositionSnapshots:
    """The snapshots of one run before events ks (ascending, each <= the arrays' length).
    O(events + positions x goroutines). Without actor_site, creators and unblockers
    keep the site of their own last event; without time (ns per event), `since` and
    `last_time` are -1."""
    ks = np.asarray(ks, dtype=np.int64)
    if ks.size and np.any(np.diff(ks) < 0):
        raise ValueError("position_snapshots: positions must be ascending")
    m = int(ks.max(initial=0))
    kind = np.asarray(kind[:m], dtype=np.int64)
    g = np.asarray(g[:m], dtype=np.int64)
    actor = np.asarray(actor[:m], dtype=np.int64)
    reason = np.asarray(reason[:m], dtype=np.int64)
    site = np.asarray(site[:m], dtype=np.int64)
    times = None if time is None else np.asarray(time[:m], dtype=np.int64)
    size = int(max(g.max(initial=0), actor.max(initial=0))) + 1
    idx = np.arange(m, dtype=np.int64)
    owner, named = site_stream(g, actor, site, None if actor_site is None else np.asarray(actor_site[:m], dtype=np.int64))
    stream_idx = np.arange(2 * m, dtype=np.int64)
    has_site = named >= 0
    last = np.full(size, -1, dtype=np.int64)  # per goroutine: its last event so far
    where = np.full(size, -1, dtype=np.int64)  # per goroutine: its last stream entry naming its site
    first = np.full(size, 2 * m, dtype=np.int64)  # per goroutine: its first stream entry naming a site (2m: none)
    acted = np.zeros(size, dtype=bool)  # per goroutine: seen acting (creating, unblocking)
    acting = actor > 0
    events = np.zeros(size, dtype=np.int64)  # per goroutine: its events so far
    kinds_before = np.zeros((ks.size, N_KINDS), dtype=np.int64)
    last_g_events = np.zeros(ks.size, dtype=np.int64)
    last_g_site = np.full(ks.size, -1, dtype=np.int64)
    offsets = [0]
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    counts = np.zeros(N_KINDS, dtype=np.int64)
    lo = 0
    for p, k in enumerate(ks.tolist()):
        if k > lo:
            np.maximum.at(last, g[lo:k], idx[lo:k])
            acted[actor[lo:k][acting[lo:k]]] = True
            keep = has_site[2 * lo : 2 * k]
            np.maximum.at(where, owner[2 * lo : 2 * k][keep], stream_idx[2 * lo : 2 * k][keep])
            np.minimum.at(first, owner[2 * lo : 2 * k][keep], stream_idx[2 * lo : 2 * k][keep])
            counts = counts + np.bincount(kind[lo:k], minlength=N_KINDS)
            events += np.bincount(g[lo:k], minlength=size)
            lo = k
        kinds_before[p] = counts
        if k:
            last_g = int(g[k - 1])
            last_g_events[p] = events[last_g]
            w = int(where[last_g])
            last_g_site[p] = named[w] if w >= 0 else -1
        parts.append(_aggregate(last, where, first, kind, reason, named, acted, times))
        offsets.append(offsets[-1] + parts[-1][0].size)
    if parts:
        status, reasons, sites, starts, entries, n, since = (np.concatenate(col) for col in zip(*parts))
    else:
        status, reasons, sites, starts, entries, n, since = (np.zeros(0, dtype=np.int64) for _ in range(7))
    return PositionSnapshots(
        kinds_before, last_g_events, last_g_site, np.array(offsets, dtype=np.int64),
        status.astype(np.int8), reasons.astype(np.int64), sites.astype(np.int64), starts.astype(np.int64),
        entries.astype(bool), n.astype(np.int64), since.astype(np.int64),
        *last_events(kind, g, actor, site, np.zeros(ks.size, dtype=np.int64), ks, times),
    )


def _aggregate(
    last: np.ndarray, where: np.ndarray, first: np.ndarray, kind: np.ndarray, reason: np.ndarray, site: np.ndarray,
    acted: np.ndarray, time: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """(status, reason, site, start site, start entry, count, since) of each distinct
    entry of the goroutine table. A goroutine seen only acting (e.g. main creating
    goroutines before its first own event) is running. `since`: the earliest time of
    the entry's goroutines' last events (-1: none known)."""
    seen = np.flatnonzero((last >= 0) | acted)
    if seen.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, empty, empty, empty
    e = last[seen]
    status = np.where(e >= 0, STATUS_AFTER[kind[np.maximum(e, 0)]] if kind.size else RUNNING, RUNNING).astype(np.int64)
    r = np.where(status == BLOCKED, reason[np.maximum(e, 0)] if reason.size else -1, -1)
    w = where[seen]
    s = np.where((status != DEAD) & (w >= 0), site[np.maximum(w, 0)] if site.size else -1, -1)
    r = np.where(status == DEAD, -1, r)
    f = first[seen]
    has_start = (status != DEAD) & (f < site.size)
    start = np.where(has_start, site[np.minimum(f, max(site.size - 1, 0))] if site.size else -1, -1)
    # An odd stream entry is the event's own goroutine at its site; a GoCreate's site is its start function's line.
    entry = has_start & (f % 2 == 1) & (kind[np.minimum(f // 2, max(kind.size - 1, 0))] == _CREATE if kind.size else False)
    # One integer key per (status, reason + 1, site + 1, start + 1, entry): np.unique on a flat array.
    rw, sw = int(r.max()) + 2, int(max(s.max(), start.max())) + 2
    keys, inverse, n = np.unique(
        (((status * rw + (r + 1)) * sw + (s + 1)) * sw + (start + 1)) * 2 + entry, return_inverse=True, return_counts=True
    )
    since = np.full(keys.size, _NEVER, dtype=np.int64)
    if time is not None and time.size:
        np.minimum.at(since, inverse.reshape(-1), np.where(e >= 0, time[np.maximum(e, 0)], _NEVER))
    since[since == _NEVER] = -1
    entry_out, keys = keys % 2, keys // 2
    start_out, keys = keys % sw - 1, keys // sw
    site_out, keys = keys % sw - 1, keys // sw
    return keys // rw, keys % rw - 1, site_out, start_out, entry_out, n, since
