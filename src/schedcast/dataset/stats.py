"""Summary figures of a built dataset (`schedcast dataset stats`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from schedcast.dataset import schema

KIND_NAMES = ("GoBlock", "GoCreate", "GoEnd", "GoSched", "GoStart", "GoUnblock")


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
    return out
