"""Read a built dataset back: examples joined with their runs, programs and prefixes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from schedcast.dataset import schema
from schedcast.dataset.examples import Examples
from schedcast.dataset.prompts import PromptEvent, PromptExample, state_text
from schedcast.dataset import snapshots
from schedcast.dataset.snapshots import STATUS_AFTER, PositionSnapshots, last_events
from schedcast.trace import KIND_NAMES

GO_BLOCK = KIND_NAMES.index("GoBlock")


def program_source(sources_json: str) -> str:
    """The program's files, each under a `// file: NAME` header, in name order."""
    files = json.loads(sources_json)
    return "\n".join(f"// file: {name}\n{text.rstrip()}" for name, text in sorted(files.items()))


GOROUTINE_STATUS = ("runnable", "running", "blocked", "dead")
# STATUS_AFTER (schedcast.dataset.snapshots): the status a goroutine is in after an event
# of each kind (GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock), an index into GOROUTINE_STATUS.


@dataclass(frozen=True)
class RunPrefix:
    """Events 0..m-1 of one run, m = the longest prefix any example of the set reads
    (never the run's length: a model must not know where the run ends). Reasons and
    sites are codes into the structure's `reasons` / `sites` vocabularies (-1: none)."""

    kind: np.ndarray  # int8
    g: np.ndarray  # int32, canonical goroutine
    actor: np.ndarray  # int32, canonical acting goroutine, 0 = not the program's
    reason: np.ndarray  # int32 codes
    site: np.ndarray  # int32 codes: the transitioning goroutine's top user frame
    actor_site: np.ndarray | None = None  # int32 codes: GoCreate / GoUnblock, the actor's top user frame (-1: none)
    time: np.ndarray | None = None  # int64 ns since the run's first event (None: not known)


@dataclass(frozen=True)
class GoroutineState:
    g: int
    status: str  # runnable | running | blocked | dead (replayed from the prefix's six kinds)
    reason: str  # block reason when blocked, else ""
    site: str  # where the goroutine last was: the last site an event names for it (its own events, or
    #            the go statement / unblocking line of a create / unblock it made); "" when none


@dataclass(frozen=True)
class ExampleStructure:
    """What a structural predictor reads of each example, beyond the prefix kinds:
    the prefix events with kind, canonical goroutine, actor, block reason and user
    site; the goroutine snapshot before the next event (`snapshot`); the FSM's allowed
    kinds (`Examples.allowed`); the program's source files; and k. Prefix events are
    views into per-run arrays shared by all examples of a run."""

    run_keys: np.ndarray  # (n,) int64
    ks: np.ndarray  # (n,) int64 prefix lengths
    runs: Mapping[int, RunPrefix]
    program_of_run: Mapping[int, str]
    sources: Mapping[str, dict[str, str]]  # program -> {file name: Go source}
    reasons: tuple[str, ...]
    sites: tuple[str, ...]
    # Snapshots stored with the dataset at this set's positions (snapshots.parquet, codes
    # into `reasons` / `sites`) and, per example, the stored position it is at (-1: not
    # stored, replay the prefix).
    stored: PositionSnapshots | None = None
    stored_at: np.ndarray | None = None  # (n,) int64

    def __len__(self) -> int:
        return int(self.ks.size)

    def subset(self, index: np.ndarray) -> "ExampleStructure":
        return ExampleStructure(
            self.run_keys[index], self.ks[index], self.runs, self.program_of_run, self.sources, self.reasons, self.sites,
            self.stored,
            None if self.stored_at is None else self.stored_at[index],
        )

    def prefix(self, i: int) -> tuple[RunPrefix, int]:
        """The run's events and the prefix length of example i (events 0..k-1 are its prefix)."""
        return self.runs[int(self.run_keys[i])], int(self.ks[i])

    def program(self, i: int) -> str:
        return self.program_of_run[int(self.run_keys[i])]

    def snapshot(self, i: int) -> list[GoroutineState]:
        """Every goroutine the prefix has shown, with its status, block reason and
        current site before the next event, by canonical id."""
        run, k = self.prefix(i)
        last, site_at = goroutine_table(run, k)
        out = []
        for g in np.flatnonzero(last != -1).tolist():
            e = int(last[g])
            status = GOROUTINE_STATUS[int(STATUS_AFTER[run.kind[e]])] if e >= 0 else "running"
            reason = self.reasons[int(run.reason[e])] if status == "blocked" and run.reason[e] >= 0 else ""
            s = int(site_at[g])
            out.append(GoroutineState(g, status, reason, self.sites[s] if s >= 0 else ""))
        return out


def goroutine_table(run: RunPrefix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per canonical goroutine id (index), before event k: the index of its last event
    as the goroutine changing state (-1: not seen; -2: seen only acting, so running) and
    the site code where it last was (-1: none; the rules of
    `schedcast.dataset.snapshots.site_stream`). O(k), vectorised."""
    size = int(max(run.g[:k].max(initial=0), run.actor[:k].max(initial=0))) + 1
    last = np.full(size, -1, dtype=np.int64)
    idx = np.arange(k, dtype=np.int64)
    np.maximum.at(last, run.g[:k], idx)
    acting = run.actor[:k][run.actor[:k] > 0]
    last[acting[last[acting] < 0]] = -2
    owner, named = snapshots.site_stream(
        run.g[:k], run.actor[:k], run.site[:k], None if run.actor_site is None else run.actor_site[:k]
    )
    has_site = named >= 0
    where = np.full(size, -1, dtype=np.int64)
    np.maximum.at(where, owner[has_site], np.arange(2 * k, dtype=np.int64)[has_site])
    site_at = np.where(where >= 0, named[np.maximum(where, 0)], -1) if k else np.full(size, -1, dtype=np.int64)
    return last, site_at


class DatasetView:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.programs = pl.from_arrow(schema.read(self.root / "programs.parquet"))
        self.runs = pl.from_arrow(schema.read(self.root / "runs.parquet"))
        self.examples = pl.from_arrow(schema.read(self.root / "examples.parquet"))
        self.groups = pl.from_arrow(schema.read(self.root / "groups.parquet"))
        self._snapshots_table = schema.read(self.root / "snapshots.parquet")
        self._snapshots: tuple[np.ndarray, PositionSnapshots] | None = None
        events = pl.from_arrow(schema.read(self.root / "events.parquet")).sort(["run_key", "seq"])
        # Per-run slices of the events table, by run_key (events are stored once).
        keys = events["run_key"].to_numpy()
        bounds = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate([[0], bounds]) if keys.size else np.array([], dtype=np.int64)
        ends = np.concatenate([bounds, [keys.size]]) if keys.size else np.array([], dtype=np.int64)
        self._span = {int(keys[s]): (int(s), int(e)) for s, e in zip(starts, ends)}
        self._kind = events["kind"].to_numpy()
        self._allowed = events["allowed"].to_numpy()
        self._g = events["g"].to_numpy()
        self._time = events["time_ns"].to_numpy()
        self._events = events.select("run_key", "seq", "kind", "state_group")
        # Reasons and sites stay Arrow-backed: only prompts need them, a prefix at a time.
        self._reason = events["reason"].cast(pl.Utf8)
        self._site = events["site"].cast(pl.Utf8)
        self._actor = events["actor"].to_numpy()
        self._state_group = events["state_group"].to_numpy()
        self._reason_arrow = events["reason"].to_arrow()
        self._site_arrow = events["site"].to_arrow()
        self._actor_site_arrow = events["actor_site"].to_arrow()
        self._group_runs: dict[int, int] | None = None
        # (reason codes, reasons), (site codes, actor-site codes, sites): sites in one vocabulary.
        self._codes: tuple[tuple[np.ndarray, tuple[str, ...]], tuple[np.ndarray, np.ndarray, tuple[str, ...]]] | None = None
        self._files = {pid: json.loads(src) for pid, src in zip(self.programs["program_id"].to_list(), self.programs["sources"].to_list())}
        self._program_of_run = dict(zip(self.runs["run_key"].to_list(), self.runs["program_id"].cast(pl.Utf8).to_list()))
        self._source = {
            pid: program_source(src) for pid, src in zip(self.programs["program_id"].to_list(), self.programs["sources"].to_list())
        }

    def model_examples(self, split: str, protocol: str = "paper"):  # type: ignore[no-untyped-def]
        """The examples of a split with a next event, as the predictors' `Examples`
        (prefix kinds are views into the events column: nothing is copied), with the
        structural view attached."""
        rows = self.examples.filter((pl.col("split") == split) & (pl.col("protocol") == protocol) & (pl.col("label") >= 0))
        examples = self.examples_at(rows["run_key"].to_numpy(), rows["k"].to_numpy(), rows["label"].to_numpy().astype(np.int64))
        return examples, rows

    def examples_at(self, run_keys: np.ndarray, ks: np.ndarray, labels: np.ndarray | None = None):  # type: ignore[no-untyped-def]
        """Predictor `Examples` at these (run, prefix length) positions, with the richer
        structural view attached (`Examples.structure`). Labels default to event k's kind."""
        run_keys = np.asarray(run_keys, dtype=np.int64)
        ks = np.asarray(ks, dtype=np.int64)
        starts = np.array([self._span[int(r)][0] for r in run_keys], dtype=np.int64)
        history = [self._kind[s : s + k] for s, k in zip(starts, ks)]
        if run_keys.size:
            bits = self._allowed[starts + ks]
            allowed = ((bits[:, None] >> np.arange(6)) & 1).astype(bool)
        else:
            allowed = np.zeros((0, 6), dtype=bool)
        if labels is None:
            labels = self._kind[starts + ks].astype(np.int64) if run_keys.size else np.zeros(0, dtype=np.int64)
        programs = np.array([self._program_of_run[int(r)] for r in run_keys], dtype=object)
        labels = np.asarray(labels, dtype=np.int64)
        label_gs = self._g[starts + ks] if run_keys.size else np.zeros(0, dtype=np.int64)

        def prompt(i: int, max_events: int | None = None) -> PromptExample:
            # The language models' view of example i, made on demand (see prompt_example).
            return self.prompt_example(int(run_keys[i]), int(ks[i]), int(labels[i]), int(label_gs[i]), max_events)

        return Examples(history, labels, programs, allowed, structure=self._structure(run_keys, ks), prompt=prompt)

    def _structure(self, run_keys: np.ndarray, ks: np.ndarray) -> ExampleStructure:
        if self._codes is None:
            reason_codes, reasons = schema.string_codes(self._reason_arrow)
            site_codes, actor_codes, sites = schema.shared_string_codes(self._site_arrow, self._actor_site_arrow)
            self._codes = (reason_codes.astype(np.int32), reasons), (site_codes.astype(np.int32), actor_codes.astype(np.int32), sites)
        (reason_codes, reasons), (site_codes, actor_codes, sites) = self._codes
        longest: dict[int, int] = {}
        for r, k in zip(run_keys.tolist(), ks.tolist()):
            longest[r] = max(longest.get(r, 0), k)
        runs = {}
        for r, m in longest.items():
            s = self._span[r][0]
            runs[r] = RunPrefix(
                self._kind[s : s + m], self._g[s : s + m], self._actor[s : s + m], reason_codes[s : s + m], site_codes[s : s + m],
                actor_codes[s : s + m], self._time[s : s + m],
            )
        program_of_run = {r: self._program_of_run[r] for r in longest}
        stored_keys, stored = self._stored_snapshots()
        wanted = run_keys * _KEY_SCALE + ks
        found = np.minimum(np.searchsorted(stored_keys, wanted), max(stored_keys.size - 1, 0))
        at = np.where(stored_keys[found] == wanted, found, -1) if stored_keys.size else np.full(ks.size, -1, dtype=np.int64)
        # Only the positions of this set: a model sees no stored position it was not given.
        used, inverse = np.unique(at[at >= 0], return_inverse=True)
        stored = stored.select(used)
        stored_at = np.full(ks.size, -1, dtype=np.int64)
        stored_at[at >= 0] = inverse.reshape(-1)
        return ExampleStructure(
            run_keys, ks, runs, program_of_run, self._files, reasons, sites, stored, stored_at
        )

    def _stored_snapshots(self) -> tuple[np.ndarray, PositionSnapshots]:
        """The stored snapshots, sorted by run_key * _KEY_SCALE + k (the returned keys),
        with reasons and sites as codes into the events' vocabularies."""
        if self._snapshots is None:
            assert self._codes is not None
            (_, reasons), (site_codes, _, sites) = self._codes
            t = self._snapshots_table.combine_chunks()
            keys = t["run_key"].to_numpy().astype(np.int64) * _KEY_SCALE + t["k"].to_numpy().astype(np.int64)
            order = np.argsort(keys, kind="stable")
            t = t.take(pa.array(order))

            def lists(name: str) -> tuple[np.ndarray, pa.Array]:
                column = t[name].combine_chunks()
                return column.offsets.to_numpy().astype(np.int64), column.flatten()

            offsets, status = lists("status")
            _, reason = lists("reason")
            _, site = lists("site")
            _, start_site = lists("start_site")
            _, start_entry = lists("start_entry")
            _, count = lists("count")
            _, since = lists("since_ns")
            starts = np.array([self._span[int(r)][0] for r in t["run_key"].to_pylist()], dtype=np.int64)
            kinds_before = t["kinds_before"].combine_chunks().flatten().to_numpy().astype(np.int64).reshape(-1, 6)
            self._snapshots = keys[order], PositionSnapshots(
                kinds_before,
                t["last_g_events"].to_numpy().astype(np.int64),
                _recode(t["last_g_site"], sites, "site"),
                offsets - offsets[0] if offsets.size else np.zeros(1, dtype=np.int64),
                status.to_numpy(zero_copy_only=False).astype(np.int8),
                _recode(reason, reasons, "reason"),
                _recode(site, sites, "site"),
                _recode(start_site, sites, "site"),
                start_entry.to_numpy(zero_copy_only=False).astype(bool),
                count.to_numpy(zero_copy_only=False).astype(np.int64),
                since.to_numpy(zero_copy_only=False).astype(np.int64),
                *last_events(self._kind, self._g, self._actor, site_codes, starts, t["k"].to_numpy(), self._time),
            )
        return self._snapshots

    def state_group_of(self, run_keys: np.ndarray, ks: np.ndarray) -> np.ndarray:
        """The abstract-state group of the position before event k of each run."""
        starts = np.array([self._span[int(r)][0] for r in run_keys], dtype=np.int64)
        return self._state_group[starts + np.asarray(ks, dtype=np.int64)] if starts.size else np.zeros(0, dtype=np.int64)

    def state_group_runs(self) -> dict[int, int]:
        """In how many distinct runs each abstract-state group was seen."""
        if self._group_runs is None:
            counted = self._events.group_by("state_group").agg(pl.col("run_key").n_unique().alias("runs"))
            self._group_runs = dict(zip(counted["state_group"].to_list(), counted["runs"].to_list()))
        return self._group_runs

    def sample_positions(self, split: str, per_run: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Up to `per_run` prefix lengths drawn uniformly (without replacement) from each
        run of the split's programs, k in 0..n-1 (every position with a next event)."""
        rng = np.random.default_rng(seed)
        programs = set(self.programs.filter(pl.col("split") == split)["program_id"].to_list())
        keys: list[np.ndarray] = []
        ks: list[np.ndarray] = []
        for r in sorted(self._span):
            if self._program_of_run[r] not in programs:
                continue
            start, end = self._span[r]
            n = end - start
            chosen = np.sort(rng.choice(n, size=min(per_run, n), replace=False)) if per_run > 0 else np.zeros(0, dtype=np.int64)
            keys.append(np.full(chosen.size, r, dtype=np.int64))
            ks.append(chosen.astype(np.int64))
        if not keys:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(keys), np.concatenate(ks)

    def events_of_runs(self, run_keys: list[int]) -> pl.DataFrame:
        """run_key, seq, kind and state_group of every event of these runs."""
        return self._events.filter(pl.col("run_key").is_in(run_keys))

    def program_of_run(self, run_key: int) -> str:
        return self._program_of_run[run_key]

    def source_of_program(self, program_id: str) -> str:
        return self._source[program_id]

    def run_events(self, run_key: int) -> tuple[np.ndarray, np.ndarray]:
        """Kinds and canonical goroutines of a run's events, as int64 arrays."""
        start, end = self._span[run_key]
        return self._kind[start:end].astype(np.int64), self._g[start:end].astype(np.int64)

    def prefix(self, run_key: int, k: int, first: int = 0) -> list[PromptEvent]:
        """Events first..k-1 of a run's prefix of k events."""
        start, _ = self._span[run_key]
        lo = start + max(0, min(first, k))
        reasons = self._reason.slice(lo, start + k - lo).to_list()
        sites = self._site.slice(lo, start + k - lo).to_list()
        return [
            PromptEvent(int(kind), int(g), reason or "", site or "")
            for kind, g, reason, site in zip(self._kind[lo : start + k], self._g[lo : start + k], reasons, sites)
        ]

    def prompt_example(self, run_key: int, k: int, label: int, label_g: int, max_events: int | None = None) -> PromptExample:
        """The language models' view of one example. With `max_events`, only the newest
        max_events prefix events are carried (a prompt of B tokens can show at most B
        events): the goroutine states still come from the whole prefix, vectorised, so a
        kernel's multi-million-event prefix costs milliseconds, not seconds."""
        start, _ = self._span[run_key]
        first = 0 if max_events is None else max(0, k - max_events)
        events = self.prefix(run_key, k, first)
        # Each goroutine's state is set by its last event in the prefix.
        gs = self._g[start : start + k]
        goroutines, from_end = np.unique(gs[::-1], return_index=True)
        last = (k - 1 - from_end).astype(np.int64)
        kinds = self._kind[start + last].tolist() if k else []
        blocked = [i for i, kind in enumerate(kinds) if kind == GO_BLOCK]
        at = start + last[blocked]
        reasons = dict(zip(blocked, self._reason.gather(at).to_list()))
        sites = dict(zip(blocked, self._site.gather(at).to_list()))
        states = {
            g: state_text(kind, reasons.get(i) or "", sites.get(i) or "")
            for i, (g, kind) in enumerate(zip(goroutines.tolist(), kinds))
        }
        return PromptExample(
            source=self._source[self._program_of_run[run_key]],
            events=events,
            states=states,
            target_kind=label,
            target_g=label_g,
            omitted=first,
            last_event=dict(zip(goroutines.tolist(), last.tolist())),
        )

    def iter_prompt_examples(self, examples: pl.DataFrame) -> Iterator[tuple[dict, PromptExample]]:
        for row in examples.filter(pl.col("label") >= 0).iter_rows(named=True):
            yield row, self.prompt_example(row["run_key"], row["k"], row["label"], row["label_g"])


_KEY_SCALE = 1 << 32  # stored snapshot key: run_key * _KEY_SCALE + k


def _recode(column: pa.Array | pa.ChunkedArray, vocab: tuple[str, ...], what: str) -> np.ndarray:
    """Codes into `vocab` (-1 for null or "") of a string column."""
    codes, names = schema.string_codes(column)
    index = {v: i for i, v in enumerate(vocab)}
    missing = sorted({n for n in names if n and n not in index})
    if missing:
        raise schema.SchemaError(
            f"snapshots.parquet names a {what} that no event has ({missing[0]!r}); rebuild the dataset with `schedcast dataset build`"
        )
    lookup = np.array([index.get(n, -1) if n else -1 for n in names] + [-1], dtype=np.int64)
    return lookup[codes] if codes.size else np.zeros(0, dtype=np.int64)
