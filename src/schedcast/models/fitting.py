"""Fit every baseline on a dataset's train split (the n-gram's order on validation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schedcast.models.base import ModelError, Predictor
from schedcast.models.baselines import (
    FsmPriorPredictor,
    MajorityPredictor,
    NgramPredictor,
    PriorPredictor,
    UniformPredictor,
    select_ngram_order,
)

DEFAULT_NGRAM_ORDER = 3


@dataclass
class FitReport:
    train_examples: int
    validation_examples: int
    ngram_order: int
    ngram_validation_nll: dict[int, float]


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
    if len(val):
        ngram, scores = select_ngram_order(train, val)
    else:  # no validation programs: a fixed order, said in the report
        ngram, scores = NgramPredictor(order=DEFAULT_NGRAM_ORDER).fit(train), {}
    models.append(ngram)
    return models, FitReport(len(train), len(val), ngram.order, scores)


def save_models(models: list[Predictor], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for model in models:
        path = out / f"{model.name}.json"
        model.save(path)
        paths.append(path)
    return paths
