"""Plain Python entry points of the probe, for the pipeline and scripts (the CLI
`schedcast probe` is a thin layer over them):

- `run_probe(dataset_dir, model_paths, options) -> ProbeResult`
- `write_probe_outputs(result, out_dir, command) -> list[Path]`: summary.csv,
  curves.csv, survival.csv, entropy_by_class.csv, probe.json and probe.md (the
  results page's section, Markdown).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from schedcast.probe.probe import (
    MODES, ProbeResult, class_rows, curve_rows, probe, program_rows, results_markdown, summary_rows, survival_rows, tv_difference_rows,
)


@dataclass(frozen=True)
class ProbeOptions:
    split: str = "test"
    horizon: int = 15
    samples: int = 3
    modes: tuple[str, ...] = MODES
    runs_per_program: int | None = 3  # None = every run
    seed: int = 0


def run_probe(dataset_dir: Path, model_paths: Sequence[Path], options: ProbeOptions = ProbeOptions()) -> ProbeResult:
    """Load the models (files, or directories of *.json model files) and probe them on
    the dataset. Raises ProbeError, ModelError or SchemaError with one line."""
    from schedcast.dataset.access import DatasetView
    from schedcast.models.base import load_predictor, model_files

    predictors = [load_predictor(f) for f in model_files(list(model_paths))]
    view = DatasetView(Path(dataset_dir))
    return probe(
        predictors, view, options.split, options.horizon, options.samples, tuple(options.modes),
        options.runs_per_program, options.seed,
    )


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        path.write_text("")
        return
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def write_probe_outputs(result: ProbeResult, out_dir: Path, command: str, meta: dict[str, Any] | None = None) -> list[Path]:
    """Write the probe's tables (CSV), probe.json (the summary and `meta`) and probe.md
    (the results page's section; `command` is the command line it names) into out_dir.
    Returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summary_rows(result)
    tables = {
        "summary.csv": summary,
        "curves.csv": curve_rows(result),
        "survival.csv": survival_rows(result),
        "entropy_by_class.csv": class_rows(result),
        "tv_differences.csv": tv_difference_rows(result),
        "tv_by_program.csv": program_rows(result),
    }
    written = []
    for name, rows in tables.items():
        _write_csv(out_dir / name, rows)
        written.append(out_dir / name)
    blob = {
        **(meta or {}), "command": command, "split": result.split, "horizon": result.horizon, "samples": result.samples,
        "prefixes": result.prefixes, "programs": result.programs, "runs": result.runs,
        "inconsistent_prefixes": result.inconsistent_prefixes, "summary": summary, "tv_differences": tables["tv_differences.csv"],
    }
    (out_dir / "probe.json").write_text(json.dumps(blob, indent=2, default=float))
    (out_dir / "probe.md").write_text(results_markdown(result, command))
    return [*written, out_dir / "probe.json", out_dir / "probe.md"]


def options_dict(options: ProbeOptions) -> dict[str, Any]:
    return asdict(options)
