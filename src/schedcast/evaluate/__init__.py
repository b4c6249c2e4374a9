"""Evaluation: exactly defined metrics, intervals and tests for next-event predictors;
the stage API `run_evaluation(EvaluateInputs, out, markdown) -> EvaluateResult`."""

from schedcast.evaluate.api import EvaluateInputs, EvaluateResult, run_evaluation
from schedcast.evaluate.metrics import (
    ECE_BINS,
    MetricInputError,
    accuracy,
    bootstrap_by_program,
    brier,
    classwise_ece,
    ece,
    entropy_bits,
    kl_divergence,
    majority_baseline_accuracy,
    mcnemar,
    mean_absolute_difference,
    nll,
    oracle_accuracy,
    per_kind_accuracy,
    spearman,
    total_variation,
)

__all__ = [
    "ECE_BINS",
    "EvaluateInputs",
    "EvaluateResult",
    "run_evaluation",
    "MetricInputError",
    "accuracy",
    "bootstrap_by_program",
    "brier",
    "classwise_ece",
    "ece",
    "entropy_bits",
    "kl_divergence",
    "majority_baseline_accuracy",
    "mcnemar",
    "mean_absolute_difference",
    "nll",
    "oracle_accuracy",
    "per_kind_accuracy",
    "spearman",
    "total_variation",
]
