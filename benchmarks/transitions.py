"""How often the held-out kernels' characteristic transitions occur in training and test.

For each (kind of the example's last event -> label) pair the kernels make and the
training programs rarely do, counts the train split's examples (every protocol) and
the test split's paper-protocol examples (docs/models.md, "Stress forms").

Then, on the paper-protocol examples of both splits, what the structural model's
source features say about GoCreate: of the examples where a running goroutine can make
a go statement next (`src.running.next.go` > 0), the share whose next event is a
GoCreate, and the share of the GoCreate examples that feature covers (docs/models.md,
"Where each goroutine stands").

And the same for GoEnd: of the examples where a running goroutine that can only return
next stands in the function it started in (`src.running.return_ends` > 0), the share
whose next event is a GoEnd, the share of the GoEnd examples it covers, and how many of
those follow a GoCreate (docs/models.md, "Calls, wakes and starts").

And the clock: the examples where a goroutine waits where the source names a constant
sleep or timer (`src.timer.waiting` > 0), how many of them are GoUnblock, and the same
for those whose earliest deadline has passed at the last prefix event
(`src.timer.remaining` < 0), with the median count of runnable goroutines
(docs/models.md, "The kernels' harness").

Usage: python benchmarks/transitions.py DATASET
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from schedcast.dataset.access import DatasetView
from schedcast.models.features import feature_names, featurize
from schedcast.trace import KIND_NAMES

PAIRS = (("GoStart", "GoCreate"), ("GoCreate", "GoEnd"), ("GoStart", "GoUnblock"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    args = parser.parse_args()
    examples = pl.read_parquet(args.dataset / "examples.parquet").filter(pl.col("label") >= 0)
    events = pl.read_parquet(args.dataset / "events.parquet", columns=["run_key", "seq", "kind"])
    last = examples.with_columns((pl.col("k") - 1).alias("seq")).join(events, on=["run_key", "seq"], how="left")
    code = {name: i for i, name in enumerate(KIND_NAMES)}
    for split, protocol in (("train", None), ("test", "paper")):
        rows = last.filter(pl.col("split") == split)
        if protocol is not None:
            rows = rows.filter(pl.col("protocol") == protocol)
        counts = [
            f"{a} -> {b}: {rows.filter((pl.col('kind') == code[a]) & (pl.col('label') == code[b])).height}" for a, b in PAIRS
        ]
        print(f"{split} ({protocol or 'every protocol'}): {rows.height} examples; " + "; ".join(counts))
    view = DatasetView(args.dataset)
    names = feature_names(True)
    go_column, end_column, last_column = (names.index(n) for n in ("src.running.next.go", "src.running.return_ends", "hist.kind[-1]"))
    waiting_column, remaining_column, runnable_column = (names.index(n) for n in ("src.timer.waiting", "src.timer.remaining", "state.runnable"))
    create, end, unblock = code["GoCreate"], code["GoEnd"], code["GoUnblock"]
    for split in ("train", "test"):
        examples, _ = view.model_examples(split, "paper")
        x = featurize(examples, True)[0]
        can_go = x[:, go_column] > 0
        is_create = examples.labels == create
        print(
            f"{split} (paper): a running goroutine can make a go statement next at {int(can_go.sum())} examples, "
            f"{(is_create & can_go).sum() / max(can_go.sum(), 1):.0%} of them a GoCreate; "
            f"they cover {(is_create & can_go).sum() / max(is_create.sum(), 1):.0%} of the {int(is_create.sum())} GoCreate examples"
        )
        ends = x[:, end_column] > 0
        is_end = examples.labels == end
        after_create = ends & (x[:, last_column] == create)
        print(
            f"{split} (paper): a running goroutine can only return from its start function next at {int(ends.sum())} examples, "
            f"{(is_end & ends).sum() / max(ends.sum(), 1):.0%} of them a GoEnd; "
            f"they cover {(is_end & ends).sum() / max(is_end.sum(), 1):.0%} of the {int(is_end.sum())} GoEnd examples; "
            f"right after a GoCreate: {int(after_create.sum())} examples, {int((after_create & is_end).sum())} of them a GoEnd"
        )
        waiting = x[:, waiting_column] > 0
        overdue = waiting & (x[:, remaining_column] < 0)
        is_unblock = examples.labels == unblock
        parts = []
        for name, where in (("a goroutine waits on a constant sleep or timer", waiting), ("its deadline has passed", overdue)):
            runnable = float(np.median(x[where, runnable_column])) if where.any() else float("nan")
            parts.append(
                f"{name} at {int(where.sum())} examples ({where.mean():.0%}), {int((where & is_unblock).sum())} of them "
                f"a GoUnblock, median {runnable:.0f} runnable goroutines"
            )
        print(f"{split} (paper): " + "; ".join(parts))


if __name__ == "__main__":
    main()
