"""Predictors behind one protocol: fit, predict_proba -> (n, 6), save / load: the
baselines and the structural predictor (docs/models.md)."""

from schedcast.models.api import BaselinesResult, StructuralResult, TrajectoryResult, train_baselines, train_structural, train_trajectory
from schedcast.models.base import KIND_NAMES, Examples, ModelError, Predictor, load_predictor
from schedcast.models.baselines import (
    BASELINES,
    FsmPriorPredictor,
    MajorityPredictor,
    NgramPredictor,
    PriorPredictor,
    UniformPredictor,
    select_ngram_order,
    select_ngram_order_cross_fitted,
)
from schedcast.models.structural import StructuralPredictor

__all__ = [
    "BASELINES",
    "BaselinesResult",
    "StructuralResult",
    "TrajectoryResult",
    "train_baselines",
    "train_structural",
    "train_trajectory",
    "KIND_NAMES",
    "Examples",
    "FsmPriorPredictor",
    "MajorityPredictor",
    "ModelError",
    "NgramPredictor",
    "Predictor",
    "PriorPredictor",
    "StructuralPredictor",
    "UniformPredictor",
    "load_predictor",
    "select_ngram_order",
    "select_ngram_order_cross_fitted",
]
