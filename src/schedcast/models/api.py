"""The train stage's API: fit predictors on a dataset's train split and save them.

Each function takes the dataset directory and the output directory and returns what it
wrote; the CLI (schedcast.models.cli) and the pipeline call these, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schedcast.dataset.access import DatasetView
from schedcast.models.base import ModelError
from schedcast.models.fitting import FitReport, StructuralOptions, fit_baselines, fit_structural, save_models
from schedcast.models.structural import StructuralPredictor


@dataclass(frozen=True)
class BaselinesResult:
    paths: list[Path]
    report: FitReport

    def summary(self, out: Path) -> str:
        r = self.report
        how = (
            f"order {r.ngram_order} picked on {r.ngram_selection_examples} out-of-fold training (3 folds by family) + validation examples "
            f"(mean NLL by order: {', '.join(f'{k}: {v:.3f}' for k, v in r.ngram_validation_nll.items())})"
            if r.ngram_validation_nll
            else f"order {r.ngram_order} (no validation examples to pick it)"
        )
        return f"{len(self.paths)} baselines fit on {r.train_examples} examples -> {out}; n-gram {how}"


def train_baselines(dataset: Path, out: Path, protocol: str = "paper") -> BaselinesResult:
    """Uniform, prior, majority, FSM-aware prior and n-gram (order picked on out-of-fold
    training examples and validation),
    saved as OUT/NAME.json."""
    if protocol not in ("paper", "all"):
        raise ModelError(f"protocol must be paper or all (got {protocol!r})")
    models, report = fit_baselines(DatasetView(dataset), protocol)
    return BaselinesResult(save_models(models, out), report)


@dataclass(frozen=True)
class StructuralResult:
    path: Path
    model: StructuralPredictor

    def summary(self) -> str:
        info, name = self.model.info, self.path.stem
        unparsed = info.programs_without_facts or {}
        return (
            f"{name}: fit on {info.train_examples} examples ({info.soft_examples} with a soft target, {info.train_rows} booster rows) "
            f"in {info.fit_seconds:.1f} s ({info.fit_cpu_seconds:.1f} s CPU; one booster on every example, {info.deals} x {info.folds} fold boosters out of fold: accuracy "
            f"{100 * info.out_of_fold_accuracy:.1f} %, NLL {info.out_of_fold_nll:.3f}); temperature {self.model.temperature:.3f} on "
            f"{info.calibration_examples} {info.calibration_source} examples "
            f"(validation NLL {info.validation_nll_before:.3f} -> {info.validation_nll_after:.3f}); "
            f"{len(unparsed)} programs without source facts ({info.without_facts} examples) -> {self.path}"
        )


def check_structural_options(options: StructuralOptions) -> None:
    if options.targets not in ("soft", "hard"):
        raise ModelError(f"--targets must be soft or hard (got {options.targets!r})")
    if options.positions_per_run < 0 or options.min_group_runs < 1 or options.max_iter < 1 or options.folds < 1 or options.rebalance < 0 or options.deals < 1:
        raise ModelError("--positions must be >= 0, --min-group-runs, --max-iter, --folds and --deals >= 1, --rebalance >= 0")


def train_structural(dataset: Path, out: Path, options: StructuralOptions = StructuralOptions()) -> StructuralResult:
    """The structural predictor (gradient boosting over history, scheduler state and
    source features), temperature on validation (the out-of-fold training
    predictions when it has none), saved as OUT/NAME.json."""
    check_structural_options(options)
    model = fit_structural(DatasetView(dataset), options)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{options.name}.json"
    model.save(path)
    return StructuralResult(path, model)


@dataclass(frozen=True)
class TrajectoryResult:
    path: Path
    summary_line: str

    def summary(self) -> str:
        return self.summary_line


def train_trajectory(dataset: Path, out: Path, *, epochs: int = 5, kl_weight: float = 1.0, seed: int = 0, name: str = "") -> TrajectoryResult:
    """The trajectory model (needs torch: schedcast[ml]) with its default architecture,
    saved as OUT/NAME.json."""
    from schedcast.models.trajectory import TrajectoryConfig, fit_trajectory  # noqa: PLC0415 - torch is optional

    name = name or ("trajectory_kl" if kl_weight > 0 else "trajectory_ce")
    model = fit_trajectory(DatasetView(dataset), TrajectoryConfig(kl_weight=kl_weight, epochs=epochs, seed=seed), label=name)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    model.save(path)
    info = model.info
    return TrajectoryResult(path, f"{name}: {info.parameters:,} parameters fit on {info.train_positions:,} positions in {info.fit_seconds:.1f} s -> {path}")
