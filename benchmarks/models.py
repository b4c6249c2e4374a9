"""Train time and prediction speed of every model, side by side, on a dataset.

For each model: the seconds `fit` takes on the train split (the structural model's
time includes reading its training examples' features and the temperature fit on
validation; the n-gram's includes picking its order on validation), and predictions
per second of `predict_proba` on the test split's paper-protocol examples (features
included), best of `--repeat` timings.

The trajectory model (fit on every position of every train run, one torch
thread) also gets its rollout speed: steps per second of constrained rollouts in the
multi-step probe (`schedcast probe`: 15 steps, 3 samples, the first run of each test
program).

Usage: python benchmarks/models.py [DATASET]   (default schedcast-out/dataset, the main job's)
Targets (issue 12): the structural model fits in < 60 s and predicts >= 10,000 examples/s on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from schedcast.dataset.access import DatasetView
from schedcast.models.baselines import FsmPriorPredictor, MajorityPredictor, PriorPredictor, UniformPredictor, select_ngram_order
from schedcast.models.fitting import StructuralOptions, fit_structural


def fit_trajectory_model(view: DatasetView):  # type: ignore[no-untyped-def]
    from schedcast.models.trajectory import TrajectoryConfig, fit_trajectory

    return fit_trajectory(view, TrajectoryConfig(), label="trajectory_kl")


def rollout_steps_per_second(view: DatasetView, model) -> float:  # type: ignore[no-untyped-def]
    from schedcast.probe.probe import probe

    result = probe([model], view, "test", 15, 3, ("constrained",), runs_per_program=1)
    return result.results[0].steps_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, nargs="?", default=Path("schedcast-out/dataset"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    view = DatasetView(args.dataset)
    train, _ = view.model_examples("train")
    val, _ = view.model_examples("val")
    test, _ = view.model_examples("test")
    fits = {
        "uniform": lambda: UniformPredictor().fit(train),
        "prior": lambda: PriorPredictor().fit(train),
        "majority": lambda: MajorityPredictor().fit(train),
        "fsm_prior": lambda: FsmPriorPredictor().fit(train),
        "ngram": lambda: select_ngram_order(train, val)[0],
        "structural": lambda: fit_structural(view, StructuralOptions()),
        "trajectory": lambda: fit_trajectory_model(view),
    }
    print(f"{args.dataset}: {len(train)} train (paper protocol), {len(val)} validation, {len(test)} test examples")
    print(f"{'model':<12} {'fit s':>8} {'predictions/s':>14}")
    for name, fit in fits.items():
        started = time.perf_counter()
        model = fit()
        fit_s = time.perf_counter() - started
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            started = time.perf_counter()
            model.predict_proba(test)
            best = min(best, time.perf_counter() - started)
        rate = len(test) / best if best > 0 else float("inf")
        print(f"{name:<12} {fit_s:>8.2f} {rate:>14,.0f}")
        if name == "trajectory":
            print(f"{'':<12} rollout steps/s (probe, constrained): {rollout_steps_per_second(view, model):,.0f}")


if __name__ == "__main__":
    main()
