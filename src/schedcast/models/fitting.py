"""Fit every baseline on a dataset's train split (the n-gram's order on out-of-fold
training examples and validation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from schedcast.models.base import N_KINDS, Examples, ModelError, Predictor
from schedcast.models.baselines import (
    FsmPriorPredictor,
    MajorityPredictor,
    NgramPredictor,
    PriorPredictor,
    UniformPredictor,
    select_ngram_order_cross_fitted,
)
from schedcast.models.structural import MIN_GROUP_RUNS, StructuralPredictor

DEFAULT_NGRAM_ORDER = 3


@dataclass
class FitReport:
    train_examples: int
    validation_examples: int
    ngram_order: int
    ngram_validation_nll: dict[int, float]  # by order: mean NLL over the out-of-fold training and validation examples
    ngram_selection_examples: int = 0  # how many examples that NLL is over


def fit_baselines(view, protocol: str = "paper") -> tuple[list[Predictor], FitReport]:  # type: ignore[no-untyped-def]
    """`view` is a schedcast.dataset.access.DatasetView."""
    train, _ = view.model_examples("train", protocol)
    val, _ = view.model_examples("val", protocol)
    if len(train) == 0:
        raise ModelError("fit: the train split has no examples")
    models: list[Predictor] = [
        UniformPredictor().fit(train),
        PriorPredictor().fit(train),
        MajorityPredictor().fit(train),
        FsmPriorPredictor().fit(train),
    ]
    families = program_families(view, train.programs)
    if len(val) or np.unique(families).size > 1:
        ngram, scores = select_ngram_order_cross_fitted(train, val, families)
    else:  # one training family and no validation programs: a fixed order, said in the report
        ngram, scores = NgramPredictor(order=DEFAULT_NGRAM_ORDER).fit(train), {}
    models.append(ngram)
    return models, FitReport(len(train), len(val), ngram.order, scores, len(train) + len(val) if scores else 0)


def save_models(models: list[Predictor], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for model in models:
        path = out / f"{model.name}.json"
        model.save(path)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class StructuralOptions:
    targets: str = "soft"  # soft | hard
    source_features: bool = True
    mask: bool = True
    rebalance: float = 0.5
    positions_per_run: int = 10  # extra training positions drawn from each train run (besides the paper's)
    min_group_runs: int = MIN_GROUP_RUNS
    max_iter: int = 20  # per booster
    folds: int = 3  # cross-fitting folds by family, for the out-of-fold predictions (1: none; the temperature on validation only)
    deals: int = 2  # deals of the families into the folds (deals x folds fold boosters, besides the one the model predicts with)
    calibrate: bool = True
    seed: int = 0
    name: str = "structural"
    ngram_order: int = 0  # > 0: stack a kind n-gram of this order (out of fold while fitting) as 6 features
    workers: int | None = None  # processes fitting the boosters at once (None: one per core; the model is the same)


def state_targets(view, examples: Examples, run_keys: np.ndarray, ks: np.ndarray, min_runs: int) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    """Soft targets: the p̂ of each position's abstract-state group (groups.parquet,
    grouping "state": same program, same abstract state, over all positions of all
    runs) when that state was seen in at least `min_runs` runs; otherwise (back-off)
    the observed label. Returns the (n, 6) targets and how many were soft."""
    import polars as pl

    groups = view.groups.filter(pl.col("grouping") == "state").select("group_id", "p_hat")
    ids = groups["group_id"].to_numpy()
    p_hat = np.zeros((int(ids.max()) + 1 if ids.size else 0, N_KINDS))
    if ids.size:
        p_hat[ids] = np.array(groups["p_hat"].to_list(), dtype=np.float64)
    runs_per_group = view.state_group_runs()
    gid = view.state_group_of(run_keys, ks)
    targets = np.eye(N_KINDS)[examples.labels]
    ok = (gid >= 0) & (gid < p_hat.shape[0])
    ok[ok] &= np.array([runs_per_group.get(int(g), 0) >= min_runs for g in gid[ok]], dtype=bool)
    rows = np.flatnonzero(ok)
    soft = p_hat[gid[rows]]
    good = soft.sum(axis=1) > 0.5
    targets[rows[good]] = soft[good] / soft[good].sum(axis=1, keepdims=True)
    return targets, int(good.sum())


def structural_training_examples(view, options: StructuralOptions) -> Examples:  # type: ignore[no-untyped-def]
    """The train split's paper-protocol examples plus `positions_per_run` positions drawn
    from each train run, with soft targets (hard ones when options.targets == "hard")."""
    import polars as pl

    rows = view.examples.filter((pl.col("split") == "train") & (pl.col("protocol") == "paper") & (pl.col("label") >= 0))
    extra_keys, extra_ks = view.sample_positions("train", options.positions_per_run, options.seed)
    keys = np.concatenate([rows["run_key"].to_numpy().astype(np.int64), extra_keys])
    ks = np.concatenate([rows["k"].to_numpy().astype(np.int64), extra_ks])
    train = view.examples_at(keys, ks)
    if len(train) == 0:
        raise ModelError("fit: the train split has no examples")
    if options.targets == "soft":
        targets, _ = state_targets(view, train, keys, ks, options.min_group_runs)
        train = train.with_targets(targets)
    return train


def program_families(view, programs: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The family of each program (twins and a generator template's programs share one;
    a program without a family is its own)."""
    import polars as pl

    table = view.programs.select(pl.col("program_id").cast(pl.Utf8), pl.col("family").cast(pl.Utf8))
    family = {p: f or p for p, f in zip(table["program_id"].to_list(), table["family"].to_list())}
    return np.array([family.get(str(p), str(p)) for p in programs], dtype=object)


def fit_structural(view, options: StructuralOptions = StructuralOptions(), train: Examples | None = None) -> StructuralPredictor:  # type: ignore[no-untyped-def]
    """Fit on the train split, cross-fitted by family; calibrate the temperature on
    validation (the out-of-fold training predictions when it has none; never test)."""
    if train is None:
        train = structural_training_examples(view, options)
    elif options.targets == "hard":
        train = train.with_targets(None)
    model = StructuralPredictor(
        targets=options.targets, source_features=options.source_features, mask=options.mask,
        rebalance=options.rebalance, max_iter=options.max_iter, seed=options.seed, name=options.name, folds=options.folds,
        ngram_order=options.ngram_order, deals=options.deals, n_jobs=options.workers,
    ).fit(train, groups=program_families(view, train.programs))
    if options.calibrate:
        val, _ = view.model_examples("val", "paper")
        model.calibrate(val)
    return model
