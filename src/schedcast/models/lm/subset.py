"""A seeded, program-stratified subset of a dataset's evaluation split, for models too
slow to score every example (a language model on a shared CPU).

`python -m schedcast.models.lm.subset DATASET OUT --per-program K --seed S` writes a
dataset folder OUT that is DATASET with, in the chosen split, only K examples of each
program (K examples of the split's protocol, chosen by a seeded shuffle within the
program; K is spread over the depths first). Every other split is kept whole, and the
other files are linked, not copied. `schedcast evaluate OUT ...` then scores every model
(LMs, n-gram, structural) on exactly the same examples, and its oracles are computed on
them too.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl

EXAMPLES = "examples.parquet"


def stratified_subset(examples: pl.DataFrame, programs_of_run: dict[int, str], split: str, protocol: str, per_program: int, seed: int) -> pl.DataFrame:
    """The rows of `split`/`protocol` (with a next event) kept: per program, `per_program`
    examples, one per depth in turn, each depth's order a seeded shuffle."""
    if per_program < 1:
        raise ValueError(f"--per-program must be at least 1 (got {per_program})")
    rows = examples.with_row_index("row").filter(
        (pl.col("split") == split) & (pl.col("protocol") == protocol) & (pl.col("label") >= 0)
    )
    rng = np.random.default_rng(seed)
    program = np.array([programs_of_run[int(r)] for r in rows["run_key"].to_list()], dtype=object)
    depth = rows["depth_pct"].to_numpy()
    index = rows["row"].to_numpy()
    keep: list[int] = []
    for p in sorted(set(program.tolist())):
        mine = np.flatnonzero(program == p)
        by_depth = [rng.permutation(mine[depth[mine] == d]).tolist() for d in np.unique(depth[mine]).tolist()]
        chosen: list[int] = []
        while len(chosen) < per_program and any(by_depth):
            for queue in by_depth:
                if queue and len(chosen) < per_program:
                    chosen.append(queue.pop(0))
        keep.extend(int(index[i]) for i in chosen)
    return examples.with_row_index("row").filter(pl.col("row").is_in(sorted(keep))).drop("row")


def write_subset(dataset: Path, out: Path, split: str = "test", protocol: str = "paper", per_program: int = 3, seed: int = 0) -> tuple[int, int]:
    """Write the subset dataset; returns (examples kept in the split, programs)."""
    dataset, out = Path(dataset), Path(out)
    if not (dataset / EXAMPLES).is_file():
        raise FileNotFoundError(f"{dataset}: no {EXAMPLES} (not a schedcast dataset)")
    import pyarrow.parquet as pq

    table = pq.read_table(dataset / EXAMPLES)
    examples = pl.from_arrow(table)
    assert isinstance(examples, pl.DataFrame)
    runs = pl.read_parquet(dataset / "runs.parquet", columns=["run_key", "program_id"])
    programs_of_run = dict(zip(runs["run_key"].to_list(), runs["program_id"].to_list()))
    chosen = stratified_subset(examples, programs_of_run, split, protocol, per_program, seed)
    others = examples.filter(~((pl.col("split") == split) & (pl.col("protocol") == protocol)))
    kept = pl.concat([others, chosen]).sort(["run_key", "k", "protocol"])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for f in dataset.iterdir():
        if f.name != EXAMPLES:
            (out / f.name).symlink_to(f.resolve())
    # the same Arrow schema (types and the schema-version metadata) as the source file
    pq.write_table(kept.to_arrow().cast(table.schema), out / EXAMPLES)
    n_programs = len({programs_of_run[int(r)] for r in chosen["run_key"].to_list()})
    return chosen.height, n_programs


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m schedcast.models.lm.subset", description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--split", default="test")
    ap.add_argument("--protocol", default="paper")
    ap.add_argument("--per-program", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        n, programs = write_subset(a.dataset, a.out, a.split, a.protocol, a.per_program, a.seed)
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{a.out}: {n} {a.split} examples ({a.per_program} per program, seed {a.seed}) from {programs} programs; other splits whole")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
