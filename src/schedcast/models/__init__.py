"""Predictors behind one protocol: fit, predict_proba -> (n, 6), save / load."""

from schedcast.models.base import KIND_NAMES, Examples, ModelError, Predictor, load_predictor
from schedcast.models.baselines import (
    BASELINES,
    FsmPriorPredictor,
    MajorityPredictor,
    NgramPredictor,
    PriorPredictor,
    UniformPredictor,
    select_ngram_order,
)

__all__ = [
    "BASELINES",
    "KIND_NAMES",
    "Examples",
    "FsmPriorPredictor",
    "MajorityPredictor",
    "ModelError",
    "NgramPredictor",
    "Predictor",
    "PriorPredictor",
    "UniformPredictor",
    "load_predictor",
    "select_ngram_order",
]
