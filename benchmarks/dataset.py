"""Dataset build time and size on disk, beside the research prototype's layout.

schedcast stores every event once (events.parquet) and examples as (run, k)
references. The prototype copied the whole prefix (and the program source) into
every example. This script builds the dataset from a collection and measures:

- build time (reading every trace included), events, examples;
- bytes per event on disk: events.parquet alone, and the whole dataset directory;
- the bytes the prototype's layout would take for the same examples: one JSON line
  per example with program_source and the full partial_trace, raw and zstd-compressed
  (computed by serialising every example; nothing is written).

Usage: python benchmarks/dataset.py [--collection DIR] [--runs 20]
Without --collection it first collects the built-in programs (the main job's corpus).

`--compare-src DIR --collection C` instead times `schedcast dataset build C` with this
install's code and with the code in DIR (another commit's `src`, e.g. from
`git archive COMMIT src | tar -x -C DIR/..`), alternating, `--rounds` times each, and
prints wall and CPU seconds (the trace-reading workers included) and the peak
resident memory of the largest process, for both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from schedcast.collect import RunConfig, collect
from schedcast.corpus import builtin_programs
from schedcast.dataset import BuildOptions, build_dataset
from schedcast.dataset.access import DatasetView
from schedcast.dataset.prompts import KIND_NAMES


def _line(source: str, events: list[dict[str, object]], kind: int, g: int, depth: int) -> bytes:
    """One example in the prototype's JSONL layout: the whole prefix copied in."""
    record = {
        "program_source": source,
        "partial_trace": events,
        "next_event": {"event_type": KIND_NAMES[kind], "goroutine_id": g},
        "split_percent": depth,
    }
    return (json.dumps(record) + "\n").encode()


def prototype_bytes_serialized(view: DatasetView, protocol: str) -> tuple[int, int, int]:
    """(examples, raw JSONL bytes, zstd bytes): every example written out (counted, not stored)."""
    examples = view.examples.filter((pl.col("protocol") == protocol) & (pl.col("label") >= 0))
    sink = pa.MockOutputStream()  # counts bytes, stores nothing
    packed_stream = pa.CompressedOutputStream(sink, "zstd")
    raw = n = 0
    for row, ex in view.iter_prompt_examples(examples):
        events = [{"event_type": KIND_NAMES[e.kind], "goroutine_id": e.g} for e in ex.events]
        line = _line(ex.source, events, ex.target_kind, ex.target_g, row["depth_pct"])
        raw += len(line)
        packed_stream.write(line)
        n += 1
    packed_stream.close()
    return n, raw, sink.size()


def prototype_bytes_computed(view: DatasetView, protocol: str) -> tuple[int, int]:
    """(examples, raw JSONL bytes) by arithmetic: a line's length is its program's
    fixed part, plus its label's, plus the prefix's entries (prefix sums per run).
    Linear in the events, where writing the lines out grows with the square of the
    run length."""
    def entry_length(kinds: np.ndarray, gs: np.ndarray) -> np.ndarray:
        # len(json.dumps({"event_type": KIND, "goroutine_id": g})) for g >= 0
        base = np.array([len(json.dumps({"event_type": k, "goroutine_id": 0})) - 1 for k in KIND_NAMES])
        return base[kinds] + np.floor(np.log10(np.maximum(gs, 1))).astype(np.int64) + 1

    source_of = {
        pid: len(_line(view.source_of_program(pid), [], 0, 0, 0)) - len(_line("", [], 0, 0, 0))
        for pid in view.programs["program_id"].to_list()
    }
    empty = len(_line("", [], 0, 0, 0)) - entry_length(np.array([0]), np.array([0]))[0] - 1  # without label and depth
    examples = view.examples.filter((pl.col("protocol") == protocol) & (pl.col("label") >= 0))
    total = 0
    for (run_key,), rows in examples.group_by(["run_key"]):
        kinds, gs = view.run_events(int(run_key))
        prefix = np.concatenate([[0], np.cumsum(entry_length(kinds, gs))])
        k = rows["k"].to_numpy()
        trace = prefix[k] + 2 * np.maximum(k - 1, 0)  # entries joined by ", "
        label = entry_length(rows["label"].to_numpy().astype(np.int64), rows["label_g"].to_numpy().astype(np.int64))
        depth = np.array([len(str(d)) for d in rows["depth_pct"].to_list()])
        total += int(np.sum(empty + source_of[view.program_of_run(int(run_key))] + trace + label + depth))
    return examples.height, total


def timed_build(collection: Path, out: Path, src: Path | None) -> tuple[float, float, float]:
    """(wall s, CPU s, peak MB) of
    `schedcast dataset build` in a fresh process, with the code in `src` when given.
    Linux's wait4 counts the trace-reading workers (reaped by the build) in the CPU
    seconds, and the peak is the largest single process's resident memory."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)  # ahead of the installed package
    command = [sys.executable, "-c", "import sys; from schedcast.cli import app; sys.argv[0] = 'schedcast'; app()",
               "dataset", "build", str(collection), "--out", str(out)]
    start = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise SystemExit(f"dataset build failed ({'baseline' if src else 'this install'}): {stderr.strip().splitlines()[-1:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def compare_builds(collection: Path, baseline: Path, rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="schedcast-bench-build-"))
    try:
        results: dict[str, list[tuple[float, float, float]]] = {"baseline": [], "this install": []}
        for r in range(rounds):
            for name, src in (("baseline", baseline), ("this install", None)) if r % 2 == 0 else (("this install", None), ("baseline", baseline)):
                out = work / f"{name.replace(' ', '-')}-{r}"
                results[name].append(timed_build(collection, out, src))
                shutil.rmtree(out, ignore_errors=True)
                print(f"round {r + 1} {name:<13} wall {results[name][-1][0]:7.1f} s  CPU {results[name][-1][1]:7.1f} s  "
                      f"peak {results[name][-1][2]:6.0f} MB", flush=True)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'code':<13} {'wall s (min/mean)':>18} {'CPU s (min/mean)':>18} {'peak MB (max)':>14}")
        for name, rows in results.items():
            walls, cpus, peaks = zip(*rows)
            print(f"{name:<13} {min(walls):>8.1f}/{np.mean(walls):<9.1f} {min(cpus):>8.1f}/{np.mean(cpus):<9.1f} {max(peaks):>14.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=Path, help="an existing collection directory")
    parser.add_argument("--runs", type=int, default=20, help="runs per program when collecting the built-ins")
    parser.add_argument("--serialize-limit", type=float, default=2e9, help="write the prototype layout out (for zstd) only below this many bytes")
    parser.add_argument("--compare-src", type=Path, help="time the build with this install and with the code in DIR (another commit's src)")
    parser.add_argument("--rounds", type=int, default=2, help="--compare-src: builds per side")
    args = parser.parse_args()
    if args.compare_src is not None:
        if args.collection is None:
            raise SystemExit("--compare-src needs --collection")
        compare_builds(args.collection, args.compare_src, args.rounds)
        return

    work = Path(tempfile.mkdtemp(prefix="schedcast-bench-dataset-"))
    try:
        collection = args.collection
        if collection is None:
            collection = work / "collection"
            collect(builtin_programs(), collection, RunConfig(runs=args.runs), show_progress=False)
        out = work / "dataset"
        start = time.monotonic()
        report = build_dataset(collection, out, BuildOptions())
        seconds = time.monotonic() - start
        events = report.events
        events_bytes = (out / "events.parquet").stat().st_size
        total_bytes = sum(p.stat().st_size for p in out.iterdir())
        view = DatasetView(out)
        print(f"collection: {collection}  ({report.runs_used} runs used of {report.runs_total})")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"build: {seconds:.2f} s, {events} events, {sum(report.examples.values())} examples, {sum(report.groups.values())} groups")
        print(f"peak memory after the build (this process; trace-reading workers not included): {peak_mb:.0f} MB")
        print(f"{'layout':<58} {'bytes':>12} {'bytes/event':>12}")
        print(f"{'schedcast events.parquet (each event once)':<58} {events_bytes:>12,} {events_bytes / events:>12.2f}")
        print(f"{'schedcast whole dataset (all five tables + json)':<58} {total_bytes:>12,} {total_bytes / events:>12.2f}")
        for p in sorted(out.iterdir()):
            print(f"{'    ' + p.name:<58} {p.stat().st_size:>12,} {p.stat().st_size / events:>12.2f}")
        for protocol in ("paper", "all"):
            n, raw = prototype_bytes_computed(view, protocol)
            print(f"{f'prototype layout, {protocol} protocol ({n} examples), JSONL':<58} {raw:>12,} {raw / events:>12.2f}")
            if raw <= args.serialize_limit:
                n_written, raw_written, packed = prototype_bytes_serialized(view, protocol)
                assert (n_written, raw_written) == (n, raw), "the arithmetic must match the serialized size"
                print(f"{f'prototype layout, {protocol} protocol, JSONL + zstd':<58} {packed:>12,} {packed / events:>12.2f}")
            else:
                print(f"{f'prototype layout, {protocol} protocol, JSONL + zstd':<58} {'not written':>12} (raw > --serialize-limit)")
        print(f"peak memory after reading the dataset back for the comparison: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print(f"\ntarget <= 16 bytes/event on disk: events.parquet {'meets' if events_bytes / events <= 16 else 'MISSES'} it "
              f"({events_bytes / events:.2f}); the whole dataset {'meets' if total_bytes / events <= 16 else 'misses'} it ({total_bytes / events:.2f}); "
              "a Parquet file costs a few KB of fixed footer, which dominates small collections")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
