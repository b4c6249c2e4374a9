"""The evaluate stage's API: score saved predictors on a dataset split and write the
tables and the results page. The CLI (schedcast.evaluate.cli) and the pipeline call it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from schedcast.collect.executor import Executor
from schedcast.dataset.access import DatasetView
from schedcast.evaluate.ablations import ablations_markdown, structural_ablations
from schedcast.evaluate.evaluation import Evaluation, EvaluationError, evaluate
from schedcast.evaluate.output import results_markdown, write_evaluation
from schedcast.models.base import ModelError, Predictor, load_predictor, model_files
from schedcast.models.structural import StructuralPredictor


@dataclass(frozen=True)
class EvaluateInputs:
    """What to evaluate and how. `made_by` is how the data were made (the results page's
    first rows, e.g. the main job's command, corpus and collection); `command` is the
    command that reproduces this evaluation."""

    dataset: Path
    models: tuple[Path, ...]
    split: str = "test"
    protocol: str = "paper"
    grouping: str = "paper"
    boot: int = 1000
    seed: int = 0
    origins: tuple[str, ...] = ()
    ablations: bool = False
    made_by: dict[str, str] = field(default_factory=dict)
    command: str = ""


@dataclass
class EvaluateResult:
    evaluation: Evaluation
    context: dict[str, object]
    ablations_section: str = ""  # Markdown; empty without ablations
    written: list[Path] = field(default_factory=list)


def run_evaluation(
    inputs: EvaluateInputs, out: Path | None = None, markdown: Path | None = None, executor: Executor | None = None,
) -> EvaluateResult:
    """Evaluate; write metrics.json and the CSV tables under `out` (and ablations.json),
    and the results page at `markdown`, when given. `executor` runs the bootstraps
    (default: threads here)."""
    if inputs.boot < 1:
        raise EvaluationError(f"--boot must be at least 1 (got {inputs.boot})")
    predictors = [load_predictor(f) for f in model_files(list(inputs.models))]
    view = DatasetView(inputs.dataset)
    ev = evaluate(
        predictors, view, inputs.split, inputs.protocol, inputs.grouping, n_boot=inputs.boot, seed=inputs.seed,
        origins=list(inputs.origins) or None, executor=executor,
    )
    context: dict[str, object] = {**inputs.made_by, **dataset_context(view)}
    if inputs.command:
        context["command"] = inputs.command
    result = EvaluateResult(ev, context)
    ablations = None
    if inputs.ablations:
        ablations = _ablations(view, predictors, inputs.split, inputs.boot, inputs.seed)
        result.ablations_section = ablations_markdown(ablations)
    if out is not None:
        write_evaluation(ev, out, context)
        result.written.append(out)
        if ablations is not None:
            (out / "ablations.json").write_text(json.dumps(ablations, indent=2))
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        section = result.ablations_section
        markdown.write_text(results_markdown(ev, context) + ("\n" + section if section else ""))
        result.written.append(markdown)
    return result


def _ablations(view: DatasetView, predictors: list[Predictor], split: str, boot: int, seed: int) -> dict:  # type: ignore[type-arg]
    found = [p for p in predictors if isinstance(p, StructuralPredictor)]
    if not found:
        raise ModelError("--ablations needs a structural model among the models (schedcast train structural)")
    return structural_ablations(view, found[0], [p for p in predictors if p is not found[0]], split, boot, seed)


def dataset_context(view: DatasetView) -> dict[str, object]:
    """What was run, read from the dataset's tables: corpus, runs, GOMAXPROCS, seeds."""
    meta = json.loads((view.root / "dataset.json").read_text())
    programs = view.programs.group_by(["origin", "split"]).len().sort(["origin", "split"]).rows()
    runs = view.runs
    per_program = runs.group_by("program_id").len()["len"]
    return {
        "dataset": str(view.root),
        "collection": meta["report"]["collection"],
        "programs (origin, split, count)": "; ".join(f"{o}/{s}: {n}" for o, s, n in programs),
        "runs read": runs.height,
        "runs per program": f"{per_program.min()}–{per_program.max()}" if per_program.len() else "0",
        "GOMAXPROCS": sorted(set(runs["gomaxprocs"].to_list())),
        "runs skipped": meta["report"]["skipped"],
        "run seeds": "per run, derived from (base seed, program source hash, run index); recorded in the collection's runs.parquet",
        "examples with a next event (all protocols and splits)": view.examples.filter(pl.col("label") >= 0).height,
    }
