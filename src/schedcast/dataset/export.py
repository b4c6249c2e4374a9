"""Exports: the research prototype's JSONL schema, and a HuggingFace dataset for LM training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from schedcast.dataset.access import DatasetView
from schedcast.dataset.prompts import KIND_NAMES, render

EXPORT_FORMATS = ("paper-jsonl", "hf")


def _distributions(view: DatasetView, grouping: str) -> dict[int, list[float]]:
    g = view.groups.filter(pl.col("grouping") == grouping)
    return dict(zip(g["group_id"].to_list(), g["p_hat"].to_list()))


def export_paper_jsonl(root: Path, out: Path) -> int:
    """One line per paper-protocol example with a next event, in the prototype's
    schema (program_source, partial_trace, goroutine_states, next_event,
    split_percent), plus the run's identity and its group's empirical distribution.
    Unlike the prototype, next_event is the event of this example's own run."""
    view = DatasetView(root)
    dist = _distributions(view, "paper")
    runs = {r["run_key"]: r for r in view.runs.iter_rows(named=True)}
    examples = view.examples.filter(pl.col("protocol") == "paper")
    n = 0
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "w") as f:
        for row, ex in view.iter_prompt_examples(examples):
            run = runs[row["run_key"]]
            record = {
                "program_id": run["program_id"],
                "run_id": run["run_id"],
                "run_index": run["run_index"],
                "split": row["split"],
                "split_percent": row["depth_pct"],
                "program_source": ex.source,
                "partial_trace": [{"event_type": KIND_NAMES[e.kind], "goroutine_id": e.g} for e in ex.events],
                "goroutine_states": {str(g): s for g, s in sorted(ex.states.items())},
                "next_event": {"event_type": KIND_NAMES[ex.target_kind], "goroutine_id": ex.target_g},
                "distribution": dict(zip(KIND_NAMES, dist[row["paper_group"]])),
            }
            f.write(json.dumps(record) + "\n")
            n += 1
    tmp.replace(out)
    return n


def export_hf(root: Path, out: Path, protocol: str = "paper", fmt: str = "paper") -> dict[str, int]:
    """A `datasets.DatasetDict` (one split per dataset split) saved with save_to_disk:
    prompt, target, label (kind index), label_g, the example's state-group and
    paper-group distributions (six floats each, -1 group -> empty), and identity."""
    try:
        import datasets
    except ImportError as exc:
        raise RuntimeError("the HuggingFace export needs the package datasets: pip install 'schedcast[hf]'") from exc
    view = DatasetView(root)
    paper = _distributions(view, "paper")
    state = _distributions(view, "state")
    program_of = dict(zip(view.runs["run_key"].to_list(), view.runs["program_id"].cast(pl.Utf8).to_list()))
    rows: dict[str, list[dict[str, Any]]] = {}
    examples = view.examples.filter(pl.col("protocol") == protocol)
    for row, ex in view.iter_prompt_examples(examples):
        p = render(ex, fmt)
        rows.setdefault(row["split"], []).append(
            {
                "prompt": p.prompt,
                "target": p.target,
                "label": row["label"],
                "label_g": row["label_g"],
                "program_id": program_of[row["run_key"]],
                "run_key": row["run_key"],
                "k": row["k"],
                "depth_pct": row["depth_pct"],
                "paper_distribution": paper.get(row["paper_group"], []),
                "state_distribution": state.get(row["state_group"], []),
            }
        )
    features = datasets.Features(
        {
            "prompt": datasets.Value("string"),
            "target": datasets.Value("string"),
            "label": datasets.Value("int8"),
            "label_g": datasets.Value("int32"),
            "program_id": datasets.Value("string"),
            "run_key": datasets.Value("int32"),
            "k": datasets.Value("int32"),
            "depth_pct": datasets.Value("int8"),
            "paper_distribution": datasets.List(datasets.Value("float32")),
            "state_distribution": datasets.List(datasets.Value("float32")),
        }
    )
    dd = datasets.DatasetDict({split: datasets.Dataset.from_list(r, features=features) for split, r in sorted(rows.items())})
    dd.save_to_disk(str(out))
    return {split: len(r) for split, r in rows.items()}
