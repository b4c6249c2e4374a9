"""How much the structural model's figures on the kernels move with its seed.

The seed draws the extra training positions (`--positions` per train run) and deals the
training families into the cross-fitting folds; nothing else. For each seed this trains
the model exactly as `schedcast train structural DATASET` does (the same options,
temperature on validation) and prints, side by side: fit seconds, the out-of-fold
training accuracy and NLL and the validation NLL (the figures a choice may be made on),
then the test split's paper-protocol accuracy, NLL, top-label ECE (15 bins) with its
sampling floor (95th percentile of a perfectly calibrated model with the same
confidences) and its program-bootstrap 95 % interval (1,000 replicates), and the recall
of every kind; then the mean and standard deviation over
the seeds. Nothing is chosen after seeing the test figures: every seed asked for is
printed.

Where calibration comes from: beside the validation temperature (T, the model's), the
temperature the out-of-fold training predictions ask for (T OOF: held-out families of
the training programs; also split into the stress forms, 16 copies at once like the
kernels, and the main forms) and the kernels' ECE with no temperature (ECE T=1) and with
T OOF (docs/models.md, "Calibration does not transfer to the kernels").

Usage: python benchmarks/structural_seeds.py DATASET [--seeds 0,1,2] [--max-iter 20] ...
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from schedcast.dataset.access import DatasetView
from schedcast.evaluate.metrics import accuracy, ece, ece_by_program, ece_floor, per_kind_accuracy
from schedcast.models.fitting import StructuralOptions, fit_structural, structural_training_examples
from schedcast.models.structural import apply_mask, fit_temperature, scale_temperature
from schedcast.trace import KIND_NAMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated model seeds")
    parser.add_argument("--max-iter", type=int, default=StructuralOptions.max_iter)
    parser.add_argument("--folds", type=int, default=StructuralOptions.folds)
    parser.add_argument("--deals", type=int, default=StructuralOptions.deals)
    parser.add_argument("--positions", type=int, default=StructuralOptions.positions_per_run)
    parser.add_argument("--rebalance", type=float, default=StructuralOptions.rebalance)
    parser.add_argument("--targets", choices=("soft", "hard"), default=StructuralOptions.targets)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    view = DatasetView(args.dataset)
    test, _ = view.model_examples("test")
    labels = test.labels
    print(f"{args.dataset}: {len(test)} test examples (paper protocol); options: max_iter {args.max_iter}, "
          f"folds {args.folds}, deals {args.deals}, positions {args.positions}, rebalance {args.rebalance}, targets {args.targets}")
    columns = ["fit s", "OOF acc %", "OOF NLL", "val NLL", "T", "acc %", "NLL", "ECE", "ECE floor 95%", "ECE prog low", "ECE prog high", "T OOF", "T OOF stress", "T OOF main", "ECE T=1", "ECE T OOF", "ECE T OOF stress"]
    columns += [f"{k} %" for k in KIND_NAMES]
    print(" | ".join(["seed", *columns]))
    rows = []
    for seed in seeds:
        started = time.monotonic()
        options = StructuralOptions(
            seed=seed, max_iter=args.max_iter, folds=args.folds, deals=args.deals, positions_per_run=args.positions, rebalance=args.rebalance,
            targets=args.targets,
        )
        train = structural_training_examples(view, options)
        model = fit_structural(view, options, train=train)
        seconds = time.monotonic() - started
        p = model.predict_proba(test)
        raw = model.predict_proba(test, calibrated=False, mask=False)
        held = model.out_of_fold_predictions()
        t_oof = fit_temperature(*held) if held is not None else float("nan")
        stress = np.array([".stress" in str(q) for q in np.asarray(train.programs)[train.labels >= 0]])
        t_parts = [
            fit_temperature(held[0][part], held[1][part]) if held is not None and part.any() else float("nan")
            for part in (stress, ~stress)
        ]
        at_oof = apply_mask(scale_temperature(raw, t_oof), test.allowed) if held is not None else None
        nll = float(-np.mean(np.log(np.clip(p[np.arange(labels.size), labels], 1e-12, None))))
        by_program = ece_by_program(p, labels, test.programs.astype(str))
        info = model.info
        row = [
            seconds, 100 * info.out_of_fold_accuracy, info.out_of_fold_nll, info.validation_nll_after, model.temperature,
            100 * accuracy(p, labels), nll, ece(p, labels), ece_floor(p).q95, by_program.low, by_program.high,
            t_oof, *t_parts, ece(model.predict_proba(test, calibrated=False), labels), ece(at_oof, labels) if at_oof is not None else float("nan"),
            ece(apply_mask(scale_temperature(raw, t_parts[0]), test.allowed), labels) if np.isfinite(t_parts[0]) else float("nan"),
            *(100 * per_kind_accuracy(p, labels)),
        ]
        rows.append(row)
        print(" | ".join([str(seed), *_formatted(row)]), flush=True)
    if len(rows) > 1:
        table = np.array(rows, dtype=np.float64)
        print(" | ".join(["mean", *_formatted(np.nanmean(table, axis=0).tolist())]))
        print(" | ".join(["sd", *_formatted(np.nanstd(table, axis=0, ddof=1).tolist())]))


def _formatted(row: list[float]) -> list[str]:
    digits = [1, 1, 3, 3, 3, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3] + [1] * len(KIND_NAMES)
    return [f"{v:.{d}f}" for v, d in zip(row, digits)]


if __name__ == "__main__":
    main()
