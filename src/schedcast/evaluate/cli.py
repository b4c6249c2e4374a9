"""`schedcast train baselines` and `schedcast evaluate`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from schedcast.terminal import console, fail
from schedcast.terminal import err_console as err

train_app = typer.Typer(no_args_is_help=True, help="Fit predictors on a dataset's train split.")


@train_app.command("baselines")
def train_baselines_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the model files.")] = Path("schedcast-models"),
    protocol: Annotated[str, typer.Option(help="Train on paper or all examples.")] = "paper",
) -> None:
    """Fit uniform, prior, majority, FSM-aware prior and n-gram (order picked on validation)."""
    from schedcast.dataset.access import DatasetView
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.base import ModelError
    from schedcast.models.fitting import fit_baselines, save_models

    try:
        models, report = fit_baselines(DatasetView(dataset), protocol)
        paths = save_models(models, out)
    except (SchemaError, ModelError, OSError) as exc:
        fail(str(exc))
    how = (
        f"order {report.ngram_order} picked on {report.validation_examples} validation examples "
        f"(NLL by order: {', '.join(f'{k}: {v:.3f}' for k, v in report.ngram_validation_nll.items())})"
        if report.ngram_validation_nll
        else f"order {report.ngram_order} (no validation examples to pick it)"
    )
    err.print(f"{len(paths)} baselines fit on {report.train_examples} examples -> {out}; n-gram {how}", highlight=False, soft_wrap=True)


def evaluate_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    models: Annotated[list[Path], typer.Argument(help="Model files, or directories of model files.")],
    split: Annotated[str, typer.Option(help="train | val | test")] = "test",
    protocol: Annotated[str, typer.Option(help="paper | all")] = "paper",
    grouping: Annotated[str, typer.Option(help="paper | state")] = "paper",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write metrics.csv, metrics.json, per_kind.csv, confusion_*.csv here.")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Also write a results page (Markdown) here.")] = None,
    boot: Annotated[int, typer.Option(help="Bootstrap replicates (at least 1).")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    origin: Annotated[Optional[list[str]], typer.Option(help="Evaluate only the programs of this origin (repeatable), e.g. goker, gobench.")] = None,
    context_extra: Annotated[Optional[str], typer.Option(hidden=True)] = None,
) -> None:
    """Evaluate saved predictors: accuracy (with program-bootstrap CI) beside the majority
    class and the group oracles, per-kind, per-origin and per-program accuracy, NLL,
    Brier, ECE, KL, TV, McNemar."""
    from schedcast.dataset.access import DatasetView
    from schedcast.dataset.schema import SchemaError
    from schedcast.evaluate.evaluation import EvaluationError, evaluate
    from schedcast.evaluate.metrics import MetricInputError
    from schedcast.evaluate.output import print_evaluation, results_markdown, write_evaluation
    from schedcast.models.base import ModelError, load_predictor

    if boot < 1:
        fail(f"--boot must be at least 1 (got {boot})")
    files: list[Path] = []
    for path in models:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                fail(f"{path}: no model files (*.json) in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            fail(f"{path}: no such model file or directory")
    try:
        predictors = [load_predictor(f) for f in files]
        view = DatasetView(dataset)
        ev = evaluate(predictors, view, split, protocol, grouping, n_boot=boot, seed=seed, origins=origin)
    except (SchemaError, ModelError, EvaluationError, MetricInputError) as exc:
        fail(str(exc))
    print_evaluation(ev, console)
    context = dataset_context(view)
    args = ["schedcast", "evaluate", str(dataset), *map(str, models), "--split", split, "--protocol", protocol]
    args += ["--grouping", grouping, "--boot", str(boot), "--seed", str(seed)]
    args += [a for o in origin or [] for a in ("--origin", o)]
    if markdown is not None:
        args += ["--markdown", str(markdown)]
    context["command"] = " ".join(shlex.quote(a) for a in args)
    if context_extra:
        # The main job passes how the data were made, for the results page.
        context = {**json.loads(context_extra), **context}
    if out is not None:
        write_evaluation(ev, out, context)
        err.print(f"tables -> {out}")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(results_markdown(ev, context))
        err.print(f"results page -> {markdown}")


def dataset_context(view) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What was run, read from the dataset's tables: corpus, runs, GOMAXPROCS, seeds."""
    import json

    import polars as pl

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


def _mount_trajectory() -> None:
    from schedcast.models.trajectory_cli import train_trajectory_cmd

    train_app.command("trajectory")(train_trajectory_cmd)


_mount_trajectory()
