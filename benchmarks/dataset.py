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
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow as pa

from schedcast.collect import RunConfig, collect
from schedcast.corpus import builtin_programs
from schedcast.dataset import BuildOptions, build_dataset
from schedcast.dataset.access import DatasetView
from schedcast.dataset.prompts import KIND_NAMES


def prototype_bytes(view: DatasetView, protocol: str) -> tuple[int, int, int]:
    """(examples, raw JSONL bytes, zstd bytes) of the prototype's layout."""
    examples = view.examples.filter((pl.col("protocol") == protocol) & (pl.col("label") >= 0))
    sink = pa.MockOutputStream()  # counts bytes, stores nothing
    packed_stream = pa.CompressedOutputStream(sink, "zstd")
    raw = n = 0
    for row, ex in view.iter_prompt_examples(examples):
        line = (
            json.dumps(
                {
                    "program_source": ex.source,
                    "partial_trace": [{"event_type": KIND_NAMES[e.kind], "goroutine_id": e.g} for e in ex.events],
                    "next_event": {"event_type": KIND_NAMES[ex.target_kind], "goroutine_id": ex.target_g},
                    "split_percent": row["depth_pct"],
                }
            )
            + "\n"
        ).encode()
        raw += len(line)
        packed_stream.write(line)
        n += 1
    packed_stream.close()
    return n, raw, sink.size()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=Path, help="an existing collection directory")
    parser.add_argument("--runs", type=int, default=20, help="runs per program when collecting the built-ins")
    args = parser.parse_args()

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
        print(f"build: {seconds:.2f} s, {events} events, {sum(report.examples.values())} examples, {sum(report.groups.values())} groups")
        print(f"{'layout':<58} {'bytes':>12} {'bytes/event':>12}")
        print(f"{'schedcast events.parquet (each event once)':<58} {events_bytes:>12,} {events_bytes / events:>12.2f}")
        print(f"{'schedcast whole dataset (all five tables + json)':<58} {total_bytes:>12,} {total_bytes / events:>12.2f}")
        for p in sorted(out.iterdir()):
            print(f"{'    ' + p.name:<58} {p.stat().st_size:>12,} {p.stat().st_size / events:>12.2f}")
        for protocol in ("paper", "all"):
            n, raw, packed = prototype_bytes(view, protocol)
            print(f"{f'prototype layout, {protocol} protocol ({n} examples), JSONL':<58} {raw:>12,} {raw / events:>12.2f}")
            print(f"{f'prototype layout, {protocol} protocol, JSONL + zstd':<58} {packed:>12,} {packed / events:>12.2f}")
        print(f"\ntarget <= 16 bytes/event on disk: events.parquet {'meets' if events_bytes / events <= 16 else 'MISSES'} it "
              f"({events_bytes / events:.2f}); the whole dataset {'meets' if total_bytes / events <= 16 else 'misses'} it ({total_bytes / events:.2f}); "
              "a Parquet file costs a few KB of fixed footer, which dominates small collections")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
