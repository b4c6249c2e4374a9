"""Build the dataset tables from a collection: events once, examples by reference.

Two example protocols:
- paper: for each run, prefix lengths k = floor(n * d / 100) for d in 25, 50, 75
  (n = the run's event count); the label is event k of the same run. In a run of
  fewer than 4 events two depths can name the same k: that position is kept once,
  under the first (smallest) depth that names it, so no event counts twice in its
  group (a run of 1 event gives one example, of 2 events two, of 3+ events three).
- all (built only when asked for: ``BuildOptions(all_depths=True)``, ``dataset build
  --all-depths``): every k = 0..n (optionally every `stride`-th); k = n has no next
  event and is kept with label -1 (the run ended there, e.g. deadlocked), excluded
  from every distribution. The state group of every position is stored with the
  events either way (``events.state_group``).

Two groupings of examples into distributions:
- paper: (program, depth) across runs, as in the paper, over paper examples;
- state: (program, abstract state before event k): the last three (kind, goroutine
  role) pairs plus the multiset of live goroutines' status and block reason, over
  all positions of all runs. Every example (both protocols) points to its state group.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from schedcast.collect.executor import Executor, imap_ordered
from schedcast.corpus.catalog import kernel_bug_key
from schedcast.dataset import schema
from schedcast.dataset.extract import EventRules, RunEvents, extract_run
from schedcast.dataset.groups import group_distribution
from schedcast.dataset.snapshots import position_snapshots
from schedcast.dataset.splits import ProgramSplitInfo, assign_splits, duplicate_kernels, program_families
from schedcast.terminal import track

PAPER_DEPTHS = (25, 50, 75)


class DatasetError(ValueError):
    """The collection cannot be turned into a dataset; says what and where."""


@dataclass(frozen=True)
class BuildOptions:
    all_depths: bool = False
    keep_runtime: bool = False  # keep transitions the runtime makes on a program goroutine's behalf
    stride: int = 1  # all-depths protocol: keep every stride-th prefix length
    validation_fraction: float = 0.1
    workers: int | None = None


@dataclass
class BuildReport:
    collection: str
    runs_total: int = 0
    runs_used: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_runs: list[tuple[str, str, str]] = field(default_factory=list)  # (run_id, reason, detail)
    truncated_runs: int = 0
    programs: int = 0
    events: int = 0
    examples: Counter[str] = field(default_factory=Counter)  # "protocol/split" -> count
    left_out: dict[str, Counter[str]] = field(default_factory=dict)  # split -> reason -> program events left out
    not_read: dict[str, Counter[str]] = field(default_factory=dict)  # split -> reason -> runs not read past the window's end
    duplicates: dict[str, str] = field(default_factory=dict)  # excluded GoKer kernel -> the GoBench kernel tested instead
    groups: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = dict(self.skipped)
        d["examples"] = dict(self.examples)
        d["groups"] = dict(self.groups)
        d["left_out"] = {k: dict(v) for k, v in self.left_out.items()}
        d["not_read"] = {k: dict(v) for k, v in self.not_read.items()}
        return d


def _read_collection(collection: Path) -> tuple[pa.Table, pa.Table]:
    from schedcast.collect.store import RunStore, StoreError

    if not collection.is_dir():
        raise DatasetError(f"{collection}: no such collection directory")
    writable = os.access(collection, os.W_OK)
    try:
        store = RunStore(collection, read_only=not writable)
        if writable:
            store.consolidate()
        elif any((collection / "pending").glob("*.json")):
            raise DatasetError(
                f"{collection}: read-only collection with runs not yet merged into runs.parquet; "
                "run `schedcast runs` once with write access, or copy the collection"
            )
        runs = store.read_runs()
        programs = store.read_programs() if store.programs_path.exists() else None
    except StoreError as exc:
        raise DatasetError(str(exc)) from exc
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(
            f"{collection}: runs.parquet or programs.parquet is not readable Parquet ({first}); "
            "collect again into a new --out directory"
        ) from exc
    if runs.num_rows == 0:
        raise DatasetError(f"{collection}: the collection holds no runs (run `schedcast collect --out {collection}` first)")
    if programs is None:
        raise DatasetError(f"{collection}: programs.parquet is missing")
    return runs, programs


def _extract_job(job: tuple[str, EventRules]) -> RunEvents:
    return extract_run(*job)


def _extract_all(jobs: list[tuple[str, EventRules]], workers: int | None, executor: Executor | None = None) -> Iterator[RunEvents]:
    """Read the traces in worker processes (or on `executor`'s workers, which read
    the traces by path); results stream back in order, so only a few runs are held
    in memory at once."""
    if not jobs:
        return
    if executor is not None:
        yield from imap_ordered(executor, _extract_job, jobs)
        return
    n = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if n == 1:
        yield from (extract_run(path, rules) for path, rules in jobs)
        return
    with ProcessPoolExecutor(max_workers=n) as pool:
        window = 4 * n
        pending = [pool.submit(extract_run, *job) for job in jobs[:window]]
        for i in range(len(jobs)):
            result = pending[i].result()
            pending[i] = None  # type: ignore[call-overload]  # let the result go once used
            if i + window < len(jobs):
                pending.append(pool.submit(extract_run, *jobs[i + window]))
            yield result


def _add_examples(
    parts: dict[str, list[Any]],
    run_key: int,
    ks: np.ndarray,
    protocol: str,
    depth: np.ndarray,
    paper_group: np.ndarray,
    kinds: np.ndarray,
    goroutines: np.ndarray,
    state_group: np.ndarray,
    split: str,
) -> None:
    n = kinds.size
    has_next = ks < n
    safe = np.minimum(ks, max(n - 1, 0))
    parts["run_key"].append(np.full(ks.size, run_key, dtype=np.int32))
    parts["k"].append(ks.astype(np.int32))
    parts["protocol"].append(pa.array([protocol] * ks.size, type=pa.string()).dictionary_encode())
    parts["depth_pct"].append(depth)
    parts["label"].append(np.where(has_next, kinds[safe], -1).astype(np.int8))
    parts["label_g"].append(np.where(has_next, goroutines[safe], -1).astype(np.int32))
    parts["split"].append(pa.array([split] * ks.size, type=pa.string()).dictionary_encode())
    parts["paper_group"].append(paper_group.astype(np.int32))
    parts["state_group"].append(np.where(has_next, state_group[ks], -1).astype(np.int32))


def _add_snapshots(
    parts: dict[str, list[Any]], run_key: int, ks: np.ndarray, kinds: np.ndarray, goroutines: np.ndarray,
    actors: np.ndarray, reasons: pa.DictionaryArray, sites: pa.DictionaryArray, actor_sites: pa.DictionaryArray,
    times: np.ndarray,
) -> None:
    """The goroutine snapshot at each of the run's positions ks (snapshots.parquet)."""
    reason_codes, reason_vocab = schema.string_codes(reasons)
    site_codes, actor_site_codes, site_vocab = schema.shared_string_codes(sites, actor_sites)
    ks = np.sort(ks)
    snap = position_snapshots(kinds, goroutines, actors, reason_codes, site_codes, ks, actor_site_codes, times)
    site_name = np.array([*site_vocab, ""], dtype=object)  # code -1 -> ""
    reason_name = np.array([*reason_vocab, ""], dtype=object)
    for p in range(ks.size):
        lo, hi = int(snap.offsets[p]), int(snap.offsets[p + 1])
        parts["run_key"].append(run_key)
        parts["k"].append(int(ks[p]))
        parts["kinds_before"].append(snap.kinds_before[p].tolist())
        parts["last_g_events"].append(int(snap.last_g_events[p]))
        parts["last_g_site"].append(site_name[snap.last_g_site[p]])
        parts["status"].append(snap.status[lo:hi].tolist())
        parts["reason"].append(reason_name[snap.reason[lo:hi]].tolist())
        parts["site"].append(site_name[snap.site[lo:hi]].tolist())
        parts["start_site"].append(site_name[snap.start_site[lo:hi]].tolist())
        parts["start_entry"].append(snap.start_entry[lo:hi].tolist())
        parts["count"].append(snap.count[lo:hi].tolist())
        parts["since_ns"].append(snap.since[lo:hi].tolist())


def _concat_snapshots(parts: dict[str, list[Any]]) -> dict[str, Any]:
    return {column.name: parts.get(column.name, []) for column in schema.SNAPSHOTS}


def paper_positions(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(depths, prefix lengths) of the paper protocol in a run of n >= 1 events:
    k = floor(n * d / 100), each distinct k once, under the first depth naming it."""
    depths: list[int] = []
    ks: list[int] = []
    for d in PAPER_DEPTHS:
        k = n * d // 100
        if k not in ks:
            depths.append(d)
            ks.append(k)
    return np.array(depths, dtype=np.int8), np.array(ks, dtype=np.int32)


def _group_counts(codes: list[np.ndarray], n_groups: int) -> np.ndarray:
    """(n_groups, 6) counts of next kinds from the group_id * 6 + kind codes."""
    flat = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    return np.bincount(flat, minlength=6 * n_groups).reshape(n_groups, 6)


def _concat(parts: dict[str, list[Any]], table_schema: pa.Schema) -> dict[str, Any]:
    """Join per-run pieces into one column each (arrays, not Python lists)."""
    out: dict[str, Any] = {}
    for column in table_schema:
        pieces = parts.get(column.name, [])
        if pa.types.is_dictionary(column.type):
            out[column.name] = pa.chunked_array(pieces, type=column.type)
        else:
            out[column.name] = pa.array(np.concatenate(pieces) if pieces else np.array([]), type=column.type)
    return out


def build_dataset(collection: Path, out: Path, options: BuildOptions = BuildOptions(), executor: Executor | None = None) -> BuildReport:
    started = time.monotonic()
    collection, out = Path(collection), Path(out)
    if options.stride < 1:
        raise DatasetError("stride must be at least 1")
    runs, programs = _read_collection(collection)
    report = BuildReport(collection=str(collection), runs_total=runs.num_rows)

    # Programs, keyed by id (an id collected with two different sources gets both, suffixed).
    prog_rows = {(r["program_id"], r["source_hash"]): r for r in programs.to_pylist()}
    hashes_per_id: dict[str, set[str]] = defaultdict(set)
    for pid, h in prog_rows:
        hashes_per_id[pid].add(h)

    def program_key(pid: str, h: str) -> str:
        return pid if len(hashes_per_id[pid]) == 1 else f"{pid}@{h[:8]}"

    def split_info(pid: str, h: str, r: dict[str, Any]) -> ProgramSplitInfo:
        extra = json.loads(r.get("extra") or "{}")
        twin = str(extra.get("twin", ""))
        bug = kernel_bug_key(str(r["origin"]), extra)
        return ProgramSplitInfo(
            program_key(pid, h), h, r["origin"], twin=twin,
            template=str(extra.get("template", "")), seed=str(extra.get("seed", "")), bug_key=bug,
        )

    split_infos = [split_info(pid, h, r) for (pid, h), r in prog_rows.items()]
    splits = assign_splits(split_infos, options.validation_fraction)
    report.duplicates = duplicate_kernels(split_infos)
    families = program_families(split_infos)
    rules_of = {
        (pid, h): EventRules.for_program(str(r.get("kind") or "main"), str(r["origin"]), options.keep_runtime)
        for (pid, h), r in prog_rows.items()
    }

    # Runs: read every trace (in parallel processes), record why any is skipped.
    columns = ["run_id", "program_id", "source_hash", "run_index", "outcomes", "trace_path", "gomaxprocs"]
    columns += ["trace_truncated"] if "trace_truncated" in runs.column_names else []
    run_rows = runs.select(columns).to_pylist()
    todo = []
    for r in run_rows:
        if (r["program_id"], r["source_hash"]) not in prog_rows:
            report.skipped["unknown_program"] += 1
            report.skipped_runs.append((r["run_id"], "unknown_program", f"{r['program_id']} is not in programs.parquet"))
        elif r.get("trace_truncated"):
            report.skipped["trace_truncated"] += 1
            report.skipped_runs.append((r["run_id"], "trace_truncated", "the trace hit the size cap at collection; not stored"))
        elif not r["trace_path"]:
            reason = "build_error" if "build_error" in r["outcomes"] else "no_trace"
            report.skipped[reason] += 1
            report.skipped_runs.append((r["run_id"], reason, ",".join(r["outcomes"])))
        elif not (collection / r["trace_path"]).is_file():
            report.skipped["trace_missing"] += 1
            report.skipped_runs.append((r["run_id"], "trace_missing", r["trace_path"]))
        else:
            todo.append(r)
    extracted = _extract_all(
        [(str(collection / r["trace_path"]), rules_of[(r["program_id"], r["source_hash"])]) for r in todo], options.workers, executor
    )

    run_table: dict[str, list[Any]] = defaultdict(list)
    ev_parts: dict[str, list[Any]] = defaultdict(list)  # per-run arrays, concatenated at the end
    ex_parts: dict[str, list[Any]] = defaultdict(list)
    snap_parts: dict[str, list[Any]] = defaultdict(list)
    paper_groups: dict[tuple[str, int], int] = {}  # (program, depth) -> group id
    paper_codes: list[np.ndarray] = []  # group_id * 6 + kind of every paper example
    state_ids: dict[tuple[str, int], int] = {}  # (program, state digest) -> group id
    state_texts: list[str] = []
    state_programs: list[str] = []
    state_codes: list[np.ndarray] = []  # group_id * 6 + kind of every position with a next event
    per_program: dict[str, dict[str, Any]] = defaultdict(lambda: {"runs": 0, "used": 0, "max_live": 0, "sequences": set()})

    for run_key, (r, ev) in enumerate(track(zip(todo, extracted), "dataset", len(todo), "runs")):
        pkey = program_key(r["program_id"], r["source_hash"])
        split = splits[pkey]
        per_program[pkey]["runs"] += 1
        run_table["run_key"].append(run_key)
        run_table["run_id"].append(r["run_id"])
        run_table["program_id"].append(pkey)
        run_table["run_index"].append(r["run_index"])
        run_table["outcomes"].append(r["outcomes"])
        run_table["gomaxprocs"].append(r["gomaxprocs"])
        run_table["status"].append(ev.status)
        run_table["detail"].append(ev.detail)
        run_table["n_events"].append(len(ev.kinds))
        run_table["max_live_goroutines"].append(ev.max_live)
        run_table["left_out"].append(json.dumps(dict(sorted(ev.left_out.items()))))
        run_table["not_read"].append(ev.not_read)
        if ev.status in ("unreadable", "no_events"):
            report.skipped[ev.status] += 1
            report.skipped_runs.append((r["run_id"], ev.status, ev.detail))
            continue
        if ev.status == "truncated":
            report.truncated_runs += 1
        if split == "excluded":
            report.skipped["excluded_program"] += 1
            continue
        report.runs_used += 1
        report.left_out.setdefault(split, Counter()).update(ev.left_out)
        if ev.not_read:
            report.not_read.setdefault(split, Counter())[ev.not_read] += 1
        stats = per_program[pkey]
        stats["used"] += 1
        stats["max_live"] = max(stats["max_live"], ev.max_live)
        kinds = np.array(ev.kinds, dtype=np.int8)
        goroutines = np.array(ev.goroutines, dtype=np.int32)
        stats["sequences"].add(hashlib.blake2b(kinds.tobytes(), digest_size=8).digest())
        n = kinds.size
        report.events += n
        ev_parts["run_key"].append(np.full(n, run_key, dtype=np.int32))
        ev_parts["seq"].append(np.arange(n, dtype=np.int32))
        ev_parts["kind"].append(kinds)
        ev_parts["g"].append(goroutines)
        actors = np.array(ev.actors, dtype=np.int32)
        ev_parts["actor"].append(actors)
        reasons = pa.array(ev.reasons, type=pa.string()).dictionary_encode()
        sites = pa.array(ev.sites, type=pa.string()).dictionary_encode()
        actor_sites = pa.array(ev.actor_sites, type=pa.string()).dictionary_encode()
        ev_parts["reason"].append(reasons)
        ev_parts["site"].append(sites)
        ev_parts["actor_site"].append(actor_sites)
        times = np.array(ev.times, dtype=np.int64)
        ev_parts["time_ns"].append(times)
        ev_parts["allowed"].append(np.array(ev.allowed, dtype=np.uint8))

        # State group of every position (k = 0..n-1 have a next event; k = n does not):
        # only the run's distinct states go through the dictionary.
        distinct, inverse = np.unique(np.array(ev.state_keys, dtype=np.uint64), return_inverse=True)
        gids = np.empty(distinct.size, dtype=np.int32)
        for j, digest in enumerate(distinct.tolist()):
            key = (pkey, digest)
            gid = state_ids.get(key)
            if gid is None:
                gid = state_ids[key] = len(state_texts)
                state_texts.append(ev.state_texts[digest])
                state_programs.append(pkey)
            gids[j] = gid
        state_group = gids[inverse.reshape(-1)]
        state_codes.append(state_group[:n].astype(np.int64) * 6 + kinds)
        ev_parts["state_group"].append(state_group[:n].astype(np.int32))

        # Paper protocol: three examples per run (fewer when depths collide in a short run).
        depths, depth_ks = paper_positions(n)
        paper_group = np.array([paper_groups.setdefault((pkey, d), len(paper_groups)) for d in depths.tolist()], dtype=np.int32)
        paper_codes.append(paper_group.astype(np.int64) * 6 + kinds[depth_ks])
        _add_examples(ex_parts, run_key, depth_ks, "paper", depths, paper_group, kinds, goroutines, state_group, split)
        report.examples[f"paper/{split}"] += int(depth_ks.size)
        _add_snapshots(snap_parts, run_key, depth_ks, kinds, goroutines, actors, reasons, sites, actor_sites, times)
        if options.all_depths:
            ks = np.arange(0, n + 1, options.stride, dtype=np.int32)
            if ks[-1] != n:
                ks = np.append(ks, np.int32(n))  # the end-of-run marker is always kept
            _add_examples(ex_parts, run_key, ks, "all", np.full(ks.size, -1, dtype=np.int8), np.full(ks.size, -1, dtype=np.int32), kinds, goroutines, state_group, split)
            report.examples[f"all/{split}"] += int(ks.size)

    # Groups table.
    g_cols: dict[str, list[Any]] = defaultdict(list)

    def add_group(gid: int, grouping: str, pkey: str, key: str, counts: np.ndarray) -> None:
        d = group_distribution(counts)
        g_cols["group_id"].append(gid)
        g_cols["grouping"].append(grouping)
        g_cols["program_id"].append(pkey)
        g_cols["key"].append(key)
        g_cols["n"].append(d.n)
        g_cols["counts"].append(d.counts.tolist())
        g_cols["p_hat"].append(d.p_hat.tolist())
        g_cols["posterior_mean"].append(d.posterior_mean.tolist())
        g_cols["ci_low"].append(d.ci_low.tolist())
        g_cols["ci_high"].append(d.ci_high.tolist())
        g_cols["entropy_bits"].append(d.entropy_bits)
        report.groups[grouping] += 1

    paper_counts = _group_counts(paper_codes, len(paper_groups))
    for (pkey, depth), gid in paper_groups.items():
        add_group(gid, "paper", pkey, f"depth={depth}", paper_counts[gid])
    state_counts = _group_counts(state_codes, len(state_texts))
    for gid, counts in enumerate(state_counts):
        if counts.sum() > 0:  # end-of-run states have no next event
            add_group(gid, "state", state_programs[gid], state_texts[gid], counts)

    prog_table: dict[str, list[Any]] = defaultdict(list)
    for (pid, h), r in sorted(prog_rows.items()):
        pkey = program_key(pid, h)
        stats = per_program[pkey]
        prog_table["program_id"].append(pkey)
        prog_table["source_hash"].append(h)
        prog_table["origin"].append(r["origin"])
        prog_table["kind"].append(r["kind"])
        prog_table["pattern"].append(r["pattern"])
        prog_table["expected"].append(r["expected"])
        prog_table["description"].append(r["description"])
        prog_table["split"].append(splits[pkey])
        prog_table["family"].append(families[pkey])
        prog_table["sources"].append(r["sources"])
        prog_table["runs"].append(stats["runs"])
        prog_table["runs_used"].append(stats["used"])
        prog_table["max_live_goroutines"].append(stats["max_live"])
        prog_table["distinct_sequences"].append(len(stats["sequences"]))
    report.programs = len(prog_table["program_id"])

    out.mkdir(parents=True, exist_ok=True)
    schema.write(out / "programs.parquet", prog_table, schema.PROGRAMS)
    schema.write(out / "runs.parquet", run_table, schema.RUNS)
    schema.write(out / "events.parquet", _concat(ev_parts, schema.EVENTS), schema.EVENTS)
    schema.write(out / "examples.parquet", _concat(ex_parts, schema.EXAMPLES), schema.EXAMPLES)
    schema.write(out / "groups.parquet", g_cols, schema.GROUPS)
    schema.write(out / "snapshots.parquet", _concat_snapshots(snap_parts), schema.SNAPSHOTS)
    report.seconds = time.monotonic() - started
    meta = {"schema_version": schema.SCHEMA_VERSION, "options": asdict(options), "report": report.to_json()}
    schema.atomic_write_text(out / "dataset.json", json.dumps(meta, indent=2))
    return report
