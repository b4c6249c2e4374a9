"""The trajectory model's training time and prediction speed, and every model's
rollout speed in the multi-step probe, on a built dataset.

- trajectory: wall and CPU time of `fit_trajectory` with the default configuration
  (every position of every train run), one-step predictions per second on the test
  split's paper examples;
- per model and probe mode: rollout steps per second (the probe's own loop: building
  the rollout examples, the model's prediction, sampling, the scheduler rules), and
  the probe's wall time;
- per model: mean k-step TV (k = 1..15) in constrained and free mode, free-mode
  survival, and one-step accuracy / NLL on the test split's paper examples.

Usage: python benchmarks/probe.py DATASET [MODELS_DIR ...] [--runs-per-program 3] [--threads 1]
The machine's load average is printed beside the figures: on a shared machine wall
time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from schedcast.dataset.access import DatasetView
from schedcast.models.base import load_predictor
from schedcast.models.trajectory import TrajectoryConfig, fit_trajectory
from schedcast.probe.probe import probe, summary_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("models", type=Path, nargs="*", help="Model files or directories to probe beside the trajectory model.")
    parser.add_argument("--runs-per-program", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=TrajectoryConfig.epochs)
    args = parser.parse_args()

    view = DatasetView(args.dataset)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    wall, cpu = time.monotonic(), time.process_time()
    model = fit_trajectory(view, TrajectoryConfig(threads=args.threads, epochs=args.epochs), label="trajectory_kl")
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    info = model.info
    print(f"trajectory_kl: {info.parameters:,} parameters, {info.train_positions:,} positions x {args.epochs} epochs: "
          f"fit {wall:.1f} s wall, {cpu:.1f} s CPU ({args.threads} torch thread(s))")
    examples, _ = view.model_examples("test")
    started = time.monotonic()
    model.predict_proba(examples)
    seconds = time.monotonic() - started
    print(f"trajectory_kl: {len(examples):,} test predictions in {seconds:.2f} s = {len(examples) / seconds:,.0f} predictions/s")

    files = []
    for path in args.models:
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    models = [load_predictor(f) for f in files] + [model]
    started = time.monotonic()
    result = probe(models, view, "test", 15, 3, runs_per_program=args.runs_per_program)
    print(f"probe: {result.prefixes} prefixes x 3 samples x 15 steps, {len(models)} models x 2 modes in {time.monotonic() - started:.1f} s")
    rows = summary_rows(result)
    print(f"{'model':<16} {'mode':<12} {'steps/s':>10}")
    for row in rows:
        print(f"{row['model']:<16} {row['mode']:<12} {row['steps_per_second']:>10,.0f}")

    # Per model: k-step fidelity and survival per mode beside the one-step figures.
    known = np.flatnonzero(examples.labels >= 0)
    examples = examples.subset(known)
    labels = examples.labels
    print(f"\n{'model':<16} {'TV constr.':>10} {'TV free':>8} {'surv. med free':>14} {'full H free':>11} {'accuracy':>9} {'NLL':>7}")
    for m in models:
        name = str(getattr(m, "display_name", None) or getattr(m, "label", None) or m.name)
        by_mode = {r["mode"]: r for r in rows if r["model"] == name}
        q = np.asarray(m.predict_proba(examples), dtype=np.float64)
        accuracy = float(np.mean(q.argmax(axis=1) == labels))
        nll = float(-np.mean(np.log(np.maximum(q[np.arange(labels.size), labels], 1e-12))))
        free, con = by_mode.get("free", {}), by_mode.get("constrained", {})
        print(f"{name:<16} {con.get('mean_tv', float('nan')):>10.3f} {free.get('mean_tv', float('nan')):>8.3f} "
              f"{free.get('survival_median', float('nan')):>14.0f} {100 * free.get('full_horizon_share', float('nan')):>10.1f}% "
              f"{100 * accuracy:>8.1f}% {nll:>7.3f}")
    print(f"real continuations, 3 samples (noise floor): mean TV {np.nanmean(result.real_tv):.3f}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
