"""How often the held-out kernels' characteristic transitions occur in training and test.

For each (kind of the example's last event -> label) pair the kernels make and the
training programs rarely do, counts the train split's examples (every protocol) and
the test split's paper-protocol examples (docs/models.md, "Stress forms").

Usage: python benchmarks/transitions.py DATASET
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

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


if __name__ == "__main__":
    main()
