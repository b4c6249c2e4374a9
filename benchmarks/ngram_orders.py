"""The n-gram's accuracy and NLL on a split for every order 1-6 (default: the test split).

An in-sample diagnostic of how much the baseline depends on its order: the main job
picks the order out of fold on the training programs and validation (docs/evaluate.md),
never on the split printed here.

Usage: python benchmarks/ngram_orders.py [DATASET] [--split test]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from schedcast.dataset.access import DatasetView
from schedcast.models.baselines import NgramPredictor
from schedcast.models.scoring import nll


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path, nargs="?", default=Path("schedcast-out/dataset"))
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    view = DatasetView(args.dataset)
    train, _ = view.model_examples("train", "paper")
    target, _ = view.model_examples(args.split, "paper")
    print(f"{args.dataset}: {len(train)} train, {len(target)} {args.split} examples (paper protocol)")
    print(f"{'order':>5} {'accuracy %':>11} {'NLL':>7}")
    for order in range(1, 7):
        probs = NgramPredictor(order=order, alpha=1.0).fit(train).predict_proba(target)
        print(f"{order:>5} {100 * np.mean(probs.argmax(axis=1) == target.labels):>11.1f} {nll(probs, target.labels):>7.3f}")


if __name__ == "__main__":
    main()
