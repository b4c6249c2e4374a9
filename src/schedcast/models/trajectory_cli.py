"""`schedcast train trajectory`: mounted on the train app (schedcast.models.cli)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from schedcast.models.trajectory import KIND_INPUTS, TrajectoryConfig
from schedcast.terminal import err_console as err
from schedcast.terminal import fail


def train_trajectory_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the model file (NAME.json).")] = Path("schedcast-models"),
    kl_weight: Annotated[float, typer.Option("--kl-weight", help="lambda of CE + lambda * KL(state-group p̂ || q); 0 = cross-entropy only.")] = TrajectoryConfig.kl_weight,
    epochs: Annotated[int, typer.Option(help="Passes over every position of every train run.")] = TrajectoryConfig.epochs,
    window: Annotated[int, typer.Option(help="Events of context the model reads.")] = TrajectoryConfig.window,
    d_model: Annotated[int, typer.Option("--d-model", help="Width of the transformer.")] = TrajectoryConfig.d_model,
    layers: Annotated[int, typer.Option(help="Transformer blocks.")] = TrajectoryConfig.n_layers,
    threads: Annotated[int, typer.Option(help="torch threads.")] = TrajectoryConfig.threads,
    seed: Annotated[int, typer.Option(help="Seed (initialisation, shuffling, reason dropout).")] = 0,
    temperature: Annotated[float, typer.Option(help="Prediction temperature (logits / T) stored with the model.")] = TrajectoryConfig.temperature,
    ngram_order: Annotated[int, typer.Option("--ngram-order", help="Order of the kind n-gram prior added to the kind logits (0 = none).")] = TrajectoryConfig.ngram_order,
    structural_prior: Annotated[bool, typer.Option(
        "--structural-prior/--no-structural-prior",
        help="Add the structural model's log-probabilities (fitted first on the train split; out of fold while training) to the kind logits.",
    )] = TrajectoryConfig.structural_prior,
    kind_input: Annotated[str, typer.Option(
        "--kind-input", help="What the kind logits read besides the priors: kinds | transformer | both | none.",
    )] = TrajectoryConfig.kind_input,
    name: Annotated[str, typer.Option(help="Model name (file OUT/NAME.json); the default says the objective.")] = "",
) -> None:
    """Fit the trajectory model (a small causal transformer over event tokens, output over
    the (goroutine, kind) moves the scheduler allows) on every position of every train run."""
    try:
        import torch  # noqa: F401
    except ImportError:
        fail("the trajectory model needs torch: pip install 'schedcast[ml]' (torch==2.13.0, CPU)")
    from schedcast.dataset.access import DatasetView
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.base import ModelError
    from schedcast.models.trajectory import fit_trajectory

    if epochs < 1 or window < 1 or d_model < 8 or layers < 1 or threads < 1 or kl_weight < 0 or temperature <= 0 or ngram_order < 0:
        fail("--epochs, --window, --layers, --threads must be >= 1, --d-model >= 8, --kl-weight >= 0, --temperature > 0, --ngram-order >= 0")
    if d_model % 4:
        fail(f"--d-model must be a multiple of 4 (the attention heads), got {d_model}")
    if kind_input not in KIND_INPUTS:
        fail(f"--kind-input must be one of {', '.join(KIND_INPUTS)}, got {kind_input!r}")
    name = name or ("trajectory_kl" if kl_weight > 0 else "trajectory_ce")
    config = replace(
        TrajectoryConfig(), window=window, d_model=d_model, n_layers=layers, kl_weight=kl_weight, epochs=epochs, threads=threads, seed=seed,
        temperature=temperature, ngram_order=ngram_order, structural_prior=structural_prior,
        kind_input=kind_input,
    )
    try:
        model = fit_trajectory(DatasetView(dataset), config, label=name)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.json"
        model.save(path)
    except (SchemaError, ModelError, OSError) as exc:
        fail(str(exc))
    info = model.info
    last = info.epochs[-1] if info.epochs else {}
    val = f"; validation NLL {last['validation_nll']:.3f}" if "validation_nll" in last else "; no validation positions"
    err.print(
        f"{name}: {info.parameters:,} parameters fit on {info.train_positions:,} positions ({info.soft_targets:,} with a soft target) "
        f"in {info.fit_seconds:.1f} s{val} -> {path}",
        highlight=False, soft_wrap=True,
    )
