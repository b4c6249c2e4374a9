"""`schedcast evaluate`: a thin layer over schedcast.evaluate.api."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from schedcast.terminal import console, fail
from schedcast.terminal import err_console as err


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
    ablations: Annotated[bool, typer.Option("--ablations/--no-ablations", help="Retrain the structural predictor's variants and add its ablations to the results (needs a structural model).")] = False,
) -> None:
    """Evaluate saved predictors: accuracy (with program-bootstrap CI) beside the majority
    class and the group oracles, per-kind, per-origin and per-program accuracy, NLL,
    Brier, ECE, KL, TV, McNemar."""
    from schedcast.dataset.schema import SchemaError
    from schedcast.evaluate.api import EvaluateInputs, run_evaluation
    from schedcast.evaluate.evaluation import EvaluationError
    from schedcast.evaluate.metrics import MetricInputError
    from schedcast.evaluate.output import print_evaluation
    from schedcast.models.base import ModelError

    if boot < 1:
        fail(f"--boot must be at least 1 (got {boot})")
    args = ["schedcast", "evaluate", str(dataset), *map(str, models), "--split", split, "--protocol", protocol]
    args += ["--grouping", grouping, "--boot", str(boot), "--seed", str(seed)]
    args += [a for o in origin or [] for a in ("--origin", o)]
    if markdown is not None:
        args += ["--markdown", str(markdown)]
    inputs = EvaluateInputs(
        dataset=dataset, models=tuple(models), split=split, protocol=protocol, grouping=grouping, boot=boot, seed=seed,
        origins=tuple(origin or ()), ablations=ablations, command=" ".join(shlex.quote(a) for a in args),
    )
    try:
        result = run_evaluation(inputs, out, markdown)
    except (SchemaError, ModelError, EvaluationError, MetricInputError) as exc:
        fail(str(exc))
    print_evaluation(result.evaluation, console)
    if result.ablations_section:
        console.print(result.ablations_section, markup=False, highlight=False)
    if out is not None:
        err.print(f"tables -> {out}")
    if markdown is not None:
        err.print(f"results page -> {markdown}")
