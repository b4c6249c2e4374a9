"""Summary figures of a built dataset (`schedcast dataset stats`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from schedcast.dataset import schema

from schedcast.trace import KIND_NAMES

DOMINANCE_WARNING = 0.05  # warn when one program holds more than this share of a split's examples


def split_composition(
    programs: pl.DataFrame, runs: pl.DataFrame, examples: pl.DataFrame, split: str, protocol: str = "paper"
) -> dict[str, Any]:
    """What a split is made of: programs, runs, events per run, label shares, the
    share of the split's examples each program contributes (largest first), the
    program events left out per reason, and the runs whose trace was not read past
    the window's end, per reason (docs/dataset.md)."""
    ex = examples.filter((pl.col("split") == split) & (pl.col("protocol") == protocol) & (pl.col("label") >= 0))
    used = runs.filter(pl.col("run_key").is_in(ex["run_key"].unique().implode()))
    prog_of = runs.select("run_key", pl.col("program_id").cast(pl.Utf8))
    per_program = (
        ex.join(prog_of, on="run_key").group_by("program_id").len().sort(["len", "program_id"], descending=[True, False])
    )
    n = ex.height
    events_of = dict(used.group_by(pl.col("program_id").cast(pl.Utf8)).agg(pl.col("n_events").sum()).iter_rows())
    total_events = sum(events_of.values()) or 1
    # Largest first: by examples, then by program events (paper examples are 3 per run).
    ranked = sorted(per_program.iter_rows(), key=lambda row: (-row[1], -events_of.get(row[0], 0), row[0]))
    shares = [(pid, c, c / n) for pid, c in ranked] if n else []
    labels = ex["label"].to_numpy()
    left_out: Counter[str] = Counter()
    for text in used["left_out"].to_list():
        left_out.update(json.loads(text or "{}"))
    not_read = Counter(r for r in used["not_read"].to_list() if r) if "not_read" in used.columns else Counter()
    events = used["n_events"]
    return {
        "split": split,
        "protocol": protocol,
        "programs": int(per_program.height),
        "runs": int(used.height),
        "examples": int(n),
        "events": int(events.sum() or 0),
        "events_per_run_median": float(events.median() or 0),
        "events_per_run_max": int(events.max() or 0),
        "label_share": {k: float((labels == i).sum() / n) if n else 0.0 for i, k in enumerate(KIND_NAMES)},
        "program_share": [
            {"program": pid, "examples": c, "share": sh, "events": int(events_of.get(pid, 0)), "event_share": events_of.get(pid, 0) / total_events}
            for pid, c, sh in shares
        ],
        "dominant_programs": [pid for pid, _, sh in shares if sh > DOMINANCE_WARNING],
        "left_out": dict(sorted(left_out.items())),
        "not_read": dict(sorted(not_read.items())),  # reason -> runs
        "origins": {
            o: int(c)
            for o, c in programs.filter(pl.col("program_id").is_in(per_program["program_id"].implode()))
            .group_by(pl.col("origin").cast(pl.Utf8))
            .len()
            .sort("origin")
            .iter_rows()
        },
    }


def dataset_stats(root: Path) -> dict[str, Any]:
    """Examples and groups per split, kind frequencies per split (the paper's Table 5
    columns), and the sharpness of both groupings (mean entropy and size, weighted by
    the paper-protocol examples that use them)."""
    root = Path(root)
    tables = {name: schema.read(root / f"{name}.parquet") for name in ("programs", "runs", "examples", "groups")}
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return con.execute(sql).fetchall()

    out: dict[str, Any] = {}
    out["programs"] = {s: n for s, n in rows("select split, count(*) from programs group by split order by split")}
    out["examples"] = {
        f"{p}/{s}": n for p, s, n in rows("select protocol, split, count(*) from examples group by all order by all")
    }
    out["end_of_run_examples"] = rows("select count(*) from examples where label = -1")[0][0]
    freq: dict[str, dict[str, float]] = {}
    for split, label, n, total in rows(
        """select split, label, count(*), sum(count(*)) over (partition by split)
           from examples where protocol = 'paper' and label >= 0 group by split, label"""
    ):
        freq.setdefault(split, {k: 0.0 for k in KIND_NAMES})[KIND_NAMES[label]] = n / total
    out["kind_frequency_paper"] = freq
    sharp: dict[str, dict[str, float]] = {}
    for grouping, column in (("paper", "paper_group"), ("state", "state_group")):
        r = rows(
            f"""select count(distinct g.group_id), avg(g.entropy_bits), avg(g.n)
                from examples e join groups g on g.grouping = '{grouping}' and g.group_id = e.{column}
                where e.protocol = 'paper' and e.label >= 0"""
        )[0]
        sharp[grouping] = {"groups_used": r[0], "mean_entropy_bits": r[1], "mean_group_size": r[2]}
    out["groupings"] = sharp
    out["groups"] = {g: n for g, n in rows("select grouping, count(*) from groups group by grouping order by grouping")}
    frames = {name: pl.from_arrow(t) for name, t in tables.items()}
    out["composition"] = {
        split: split_composition(frames["programs"], frames["runs"], frames["examples"], split)
        for split in sorted(set(frames["programs"]["split"].cast(pl.Utf8).to_list()) - {"excluded"})
    }
    out["excluded_programs"] = sorted(frames["programs"].filter(pl.col("split") == "excluded")["program_id"].to_list())
    return out
