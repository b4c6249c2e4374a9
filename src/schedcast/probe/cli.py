"""`schedcast probe DATASET MODELS...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from schedcast.terminal import console, fail
from schedcast.terminal import err_console as err


def model_files(paths: list[Path]) -> list[Path]:
    from schedcast.models.base import ModelError
    from schedcast.models.base import model_files as find

    try:
        return find(paths)
    except ModelError as exc:
        fail(str(exc))


def probe_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    models: Annotated[list[Path], typer.Argument(help="Model files, or directories of model files.")],
    split: Annotated[str, typer.Option(help="The held-out split whose runs give the prefixes.")] = "test",
    horizon: Annotated[int, typer.Option("--horizon", "-H", help="Steps per rollout (1-50).")] = 15,
    samples: Annotated[int, typer.Option("--samples", "-S", help="Rollouts per prefix.")] = 3,
    mode: Annotated[Optional[list[str]], typer.Option(help="free | constrained (repeatable; default both).")] = None,
    runs_per_program: Annotated[int, typer.Option(help="Prefixes from the first N runs of each program (0 = every run).")] = 3,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write summary.csv, curves.csv, survival.csv, entropy_by_class.csv, probe.json here.")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Also write the results page's probe section (Markdown) here.")] = None,
) -> None:
    """Roll every model forward from real prefixes of held-out runs (the paper
    protocol's 25/50/75 % positions), feeding its own moves back: survival, per-step
    kind distribution and entropy, k-step fidelity against real continuations."""
    from schedcast.dataset.access import DatasetView
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.base import ModelError, load_predictor
    from schedcast.probe.api import write_probe_outputs
    from schedcast.probe.probe import ProbeError, probe, results_markdown, summary_rows, tv_difference_rows

    files = model_files(models)
    try:
        predictors = [load_predictor(f) for f in files]
        view = DatasetView(dataset)
        result = probe(
            predictors, view, split, horizon, samples, tuple(mode or ("free", "constrained")),
            None if runs_per_program == 0 else runs_per_program, seed,
        )
    except (SchemaError, ModelError, ProbeError) as exc:
        fail(str(exc))
    summary = summary_rows(result)
    table = Table(
        title=f"coherence probe: {result.prefixes} prefixes ({result.programs} programs, {result.runs} {split} runs) x {samples} samples, {horizon} steps"
    )
    for col in ("model", "mode", "survival mean", "median", "full H", "mean TV k=1..H", "TV k=1", "entropy bits", "steps/s", "goroutine rule"):
        table.add_column(col, justify="left" if col in ("model", "mode", "goroutine rule") else "right")
    for r in summary:
        table.add_row(
            r["model"], r["mode"], f"{r['survival_mean']:.2f}", f"{r['survival_median']:.0f}", f"{100 * r['full_horizon_share']:.1f} %",
            f"{r['mean_tv']:.3f}", f"{r['tv_step1']:.3f}", f"{r['mean_step_entropy_bits']:.3f}", f"{r['steps_per_second']:.0f}",
            "predict_moves" if r["goroutine_rule"] == "predict_moves" else "kind-only rule (below)",
        )
    table.add_section()
    table.add_row("real continuations", f"{samples} samples", "", "", "", f"{np.nanmean(result.real_tv):.3f}", f"{result.real_tv[0]:.3f}", "", "", "sampling-noise floor")
    console.print(table)
    rules: dict[str, list[str]] = {}
    for r in summary:
        if r["mode"] == summary[0]["mode"]:
            rules.setdefault(r["goroutine_rule"], []).append(r["model"])
    for rule, names in rules.items():
        err.print(f"goroutine choice of {', '.join(names)}: {rule}", highlight=False, soft_wrap=True)
    for r in summary:
        if r["violations"]:
            err.print(f"{r['model']} ({r['mode']}) first violations: {r['violations']}", highlight=False, soft_wrap=True)
        if r["fallback_steps"] or r["ended_no_move"]:
            err.print(
                f"{r['model']} ({r['mode']}): {r['fallback_steps']} constrained steps with no mass on an allowed move "
                f"(uniform over allowed moves instead); {r['ended_no_move']} rollouts ended with no allowed move",
                highlight=False, soft_wrap=True,
            )
    for d in tv_difference_rows(result):
        err.print(
            f"mean TV {d['model_a']} − {d['model_b']} ({d['mode']}): {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] "
            "(paired program bootstrap, 95 %)",
            highlight=False, soft_wrap=True,
        )
    err.print(
        f"{result.inconsistent_prefixes} of {result.prefixes} prefixes replay with events the rules refuse from the six-kind "
        "state (system calls and left-out runtime events are not in the sequence); their rollouts start from the replayed state",
        highlight=False, soft_wrap=True,
    )
    import shlex

    args = ["schedcast", "probe", str(dataset), *map(str, models), "--split", split, "--horizon", str(horizon), "--samples", str(samples)]
    args += [a for m in mode or [] for a in ("--mode", m)] + ["--runs-per-program", str(runs_per_program), "--seed", str(seed)]
    command = " ".join(shlex.quote(a) for a in args)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(results_markdown(result, command))
        err.print(f"results section -> {markdown}")
    if out is not None:
        meta = {"dataset": str(dataset), "models": [str(f) for f in files], "modes": list(mode or ("free", "constrained")), "runs_per_program": runs_per_program, "seed": seed}
        write_probe_outputs(result, out, command, meta)
        err.print(f"tables -> {out}")
