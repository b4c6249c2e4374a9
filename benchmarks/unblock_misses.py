"""Who wakes the goroutines of the test split's GoUnblock labels, and which the model calls.

For every paper-protocol test example whose next event is a GoUnblock: whether the
wake is the runtime's (the event's actor is no program goroutine: a sleep or a timer
ran out) or a program goroutine's, the block reason of the woken goroutine (its
GoBlock's, by category), and whether the structural model's top kind is GoUnblock.
Then, for the runtime's wakes, the runnable goroutines competing with the wake and the
model's probability of GoUnblock, split at 100 runnable goroutines, and one line per
example with its clock features (docs/models.md, "The prefix's clock").

Usage: python benchmarks/unblock_misses.py DATASET MODEL (e.g. schedcast-out/dataset
schedcast-out/models/structural.json)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from schedcast.dataset.access import DatasetView
from schedcast.models import load_predictor
from schedcast.models.features import REASON_CATEGORIES, feature_names, featurize, reason_category
from schedcast.trace import KIND_NAMES

UNBLOCK = KIND_NAMES.index("GoUnblock")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("model", type=Path)
    args = parser.parse_args()
    view = DatasetView(args.dataset)
    model = load_predictor(args.model)
    examples, rows = view.model_examples("test")
    p = model.predict_proba(examples)
    x, _ = featurize(examples, True)
    column = {name: x[:, i] for i, name in enumerate(feature_names(True))}
    idx = np.flatnonzero(examples.labels == UNBLOCK)
    wanted = rows[idx.tolist()].select("run_key", "k")
    events = pl.read_parquet(args.dataset / "events.parquet", columns=["run_key", "seq", "g", "actor", "reason"])
    events = events.filter(pl.col("run_key").is_in(wanted["run_key"].unique().to_list()))
    table = []
    for i, (run_key, k) in zip(idx.tolist(), wanted.iter_rows()):
        run = events.filter(pl.col("run_key") == run_key).sort("seq")
        g = run["g"].to_numpy()
        woken = int(g[k])
        before = np.flatnonzero(g[:k] == woken)
        reason = run["reason"][int(before[-1])] if before.size else None
        table.append({
            "program": view.program_of_run(run_key),
            "runtime_wake": int(run["actor"][k]) <= 0,
            "reason": REASON_CATEGORIES[reason_category(reason)] if reason else "none",
            "called": bool(p[i].argmax() == UNBLOCK),
            "p_unblock": round(float(p[i, UNBLOCK]), 3),
            "runnable": int(column["state.runnable"][i]),
            "timer_remaining": round(float(column["src.timer.remaining"][i]), 2),
            "timer_waiting": int(column["src.timer.waiting"][i]),
        })
    df = pl.DataFrame(table)
    pl.Config.set_tbl_rows(400)
    pl.Config.set_tbl_width_chars(200)
    print(f"{args.dataset}: {len(examples)} test examples, {idx.size} GoUnblock labels; {args.model}: calls {int(df['called'].sum())}")
    print(df.group_by("runtime_wake", "reason").agg(pl.len().alias("labels"), pl.col("called").sum().alias("called")).sort("runtime_wake", "reason"))
    runtime = df.filter(pl.col("runtime_wake"))
    print(f"runtime wakes: {runtime.height}, runnable goroutines median {runtime['runnable'].median()}")
    for name, part in (("< 100 runnable", runtime.filter(pl.col("runnable") < 100)), (">= 100 runnable", runtime.filter(pl.col("runnable") >= 100))):
        print(f"  {name}: {part.height} wakes, called {int(part['called'].sum())}, median p(GoUnblock) {part['p_unblock'].median()}")
    print(runtime.sort("reason", "program"))


if __name__ == "__main__":
    main()
