"""Train time and prediction speed of every model, side by side, on a dataset.

For each model, side by side: the seconds `fit` takes on the train split (the
structural model's time includes its training examples' features, its boosters (the
one it predicts with and the fold boosters) and the temperature fit; the n-gram's includes picking its order on validation), and
predictions per second of `predict_proba` on the test split's paper-protocol examples
(features included), best of `--repeat` timings. Both as wall-clock time and as this
process's CPU time: on a shared machine the wall clock also counts waiting for a core.
The header says how many of the test examples read their goroutine snapshot from the
dataset (snapshots.parquet: then a structural prediction costs O(1) per example) and
how many prefix events the others would replay.

The table is every model on one core: the structural model's features are numpy on one
thread and its booster runs with one OpenMP thread (it is timed with `n_jobs = 1`).
By default the structural model predicts in one thread per core, each on a share of
the examples (the booster's predict runs without the GIL); a line under the table
gives that rate, on the machine's cores, as wall-clock predictions per second (issue 12's "on 2 cores").

The trajectory model (fit on every position of every train run, one torch
thread) also gets its rollout speed: steps per second of constrained rollouts in the
multi-step probe (`schedcast probe`: 15 steps, 3 samples, the first run of each test
program).

Usage: python benchmarks/models.py [DATASET] [--models ngram,structural]
(default schedcast-out/dataset, the main job's; every model unless --models)
Targets (issue 12): the structural model fits in < 60 s and predicts >= 10,000 examples/s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any
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
    parser.add_argument("--models", default="", help="comma-separated subset of the models (default: all)")
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
    if args.models:
        wanted = args.models.split(",")
        unknown = sorted(set(wanted) - set(fits))
        if unknown:
            raise SystemExit(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(fits)}")
        fits = {name: fit for name, fit in fits.items() if name in wanted}
    s = test.structure
    stored = int((s.stored_at >= 0).sum()) if s is not None and s.stored_at is not None else 0
    events = sum(int(run.kind.size) for run in s.runs.values()) if s is not None else 0
    print(f"{args.dataset}: {len(train)} train (paper protocol), {len(val)} validation, {len(test)} test examples "
          f"({stored} with their snapshot stored in the dataset; a replay would read {events:,} prefix events, "
          f"{events / max(len(test), 1):,.0f} per example)")
    print("the table: every model on one core (one numpy thread, the booster with one OpenMP thread)")
    print(f"{'model':<12} {'fit s':>8} {'fit CPU s':>10} {'predictions/s':>14} {'predictions/CPU s':>18}")
    for name, fit in fits.items():
        model, fit_wall, fit_cpu = timed(fit)
        if name == "structural":
            model.n_jobs = 1  # the table: one core
        best_wall = best_cpu = float("inf")
        for _ in range(max(1, args.repeat)):
            _, wall, cpu = timed(lambda: model.predict_proba(test))
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
        print(f"{name:<12} {fit_wall:>8.2f} {fit_cpu:>10.2f} {rate(len(test), best_wall):>14,.0f} {rate(len(test), best_cpu):>18,.0f}")
        if name == "structural":
            features_cpu = min(timed(lambda: model.features(test))[2] for _ in range(max(1, args.repeat)))
            print(f"{'':<12} of one call's CPU: features {features_cpu:.3f} s, the rest (booster, mask, temperature) "
                  f"{max(best_cpu - features_cpu, 0.0):.3f} s")
            model.n_jobs = None  # as it predicts by default: one thread per core
            every = min(timed(lambda: model.predict_proba(test))[1] for _ in range(max(1, args.repeat)))
            print(f"{'':<12} as it predicts by default, one thread per core ({len(os.sched_getaffinity(0))} cores): "
                  f"{rate(len(test), every):,.0f} predictions/s (wall)")
        if name == "trajectory":
            print(f"{'':<12} rollout steps/s (probe, constrained): {rollout_steps_per_second(view, model):,.0f}")
    print(f"targets (issue 12), structural: fit < {FIT_TARGET_S:.0f} s, >= {RATE_TARGET:,} predictions/s on 2 cores "
          "(the table: one core; the line under it: every core)")


FIT_TARGET_S = 60.0
RATE_TARGET = 10_000


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


if __name__ == "__main__":
    main()
