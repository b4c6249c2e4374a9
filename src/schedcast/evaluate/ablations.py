"""Ablations of the structural predictor, for the results page.

Given the saved structural model, retrains the variants that differ from it in one
choice (hard-label targets; no source features) on the same training examples and
scores on the evaluated split: every variant, the model without the FSM mask, and
the model before temperature scaling. Also: per-kind recall, the reliability-diagram
data (15 equal-width confidence bins), permutation feature importances on the
validation split (top 20), and the paired program-bootstrap interval of the accuracy
difference to the n-gram. Nothing is tuned here: the test split is only scored.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from schedcast.dataset.access import DatasetView
from schedcast.evaluate import metrics as m
from schedcast.models.base import KIND_NAMES, Predictor
from schedcast.models.fitting import StructuralOptions, fit_structural, structural_training_examples
from schedcast.models.structural import StructuralPredictor

TARGET_LABEL = {"hard": "hard-label (CE) targets", "soft": "soft (state-group p̂) targets"}


def _scores(q: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    return {
        "accuracy": m.accuracy(q, labels),
        "nll": m.nll(q, labels),
        "ece": m.ece(q, labels),
        "recall": [float(x) for x in m.per_kind_accuracy(q, labels)],
    }


def reliability(q: np.ndarray, labels: np.ndarray, n_bins: int = m.ECE_BINS) -> list[dict[str, float]]:
    """Per non-empty confidence bin: its range, examples, mean confidence, accuracy."""
    conf = q.max(axis=1)
    hit = (q.argmax(axis=1) == labels).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            out.append({"low": b / n_bins, "high": (b + 1) / n_bins, "n": int(mask.sum()),
                        "confidence": float(conf[mask].mean()), "accuracy": float(hit[mask].mean())})
    return out


def structural_ablations(
    view: DatasetView, model: StructuralPredictor, others: list[Predictor], split: str = "test", n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    examples, _ = view.model_examples(split, "paper")
    labels = examples.labels
    options = StructuralOptions(
        targets=model.targets, source_features=model.source_features, mask=model.mask, rebalance=model.rebalance,
        max_iter=model.max_iter, folds=model.folds, deals=model.deals, seed=model.seed, name=model.name,
    )
    train = structural_training_examples(view, replace(options, targets="soft"))
    rows: list[dict[str, Any]] = []
    q = model.predict_proba(examples)
    raw = model.predict_proba(examples, calibrated=False)
    rows.append({"variant": f"{model.name} (as saved: {model.targets} targets, source, FSM mask, calibrated)", **_scores(q, labels)})
    rows.append({"variant": "before calibration (T = 1)", **_scores(raw, labels)})
    by_targets = {model.targets: (rows[0], rows[1], model.info)}
    rows.append({"variant": "without the FSM mask", **_scores(model.predict_proba(examples, mask=False), labels)})
    other_targets = "hard" if model.targets == "soft" else "soft"
    variants = {
        TARGET_LABEL[other_targets]: replace(options, targets=other_targets, name="ablation"),
        "without source features": replace(options, source_features=False, name="ablation"),
    }
    for label, opts in variants.items():
        variant = fit_structural(view, opts, train=train if opts.targets == "soft" else train.with_targets(None))
        rows.append({"variant": label, **_scores(variant.predict_proba(examples), labels)})
        rows.append({"variant": f"{label}, before calibration", **_scores(variant.predict_proba(examples, calibrated=False), labels)})
        if opts.targets != model.targets:
            by_targets[opts.targets] = (rows[-2], rows[-1], variant.info)
    versus = []
    hit = (q.argmax(axis=1) == labels).astype(np.float64)
    for other in others:
        if other.name == model.name:
            continue
        other_hit = (other.predict_proba(examples).argmax(axis=1) == labels).astype(np.float64)
        diff = m.paired_difference(hit, other_hit, examples.programs, n_boot, seed)
        versus.append({"other": other.name, "difference": diff.estimate, "low": diff.low, "high": diff.high})
    val, _ = view.model_examples("val", "paper")
    importances = model.feature_importances(val) if len(val) else []
    return {
        "split": split,
        "examples": len(examples),
        "temperature": model.temperature,
        "info": model.info.__dict__,
        "label_share": [float(x) for x in np.bincount(labels, minlength=len(KIND_NAMES)) / max(labels.size, 1)],
        "variants": rows,
        "soft_vs_hard": {
            t: {
                "accuracy": after["accuracy"], "nll": after["nll"], "ece_before_calibration": before["ece"], "nll_before_calibration": before["nll"],
                "out_of_fold_accuracy": info.out_of_fold_accuracy, "out_of_fold_nll": info.out_of_fold_nll,
            }
            for t, (after, before, info) in by_targets.items()
        },
        "versus": versus,
        "reliability_after": reliability(q, labels),
        "reliability_before": reliability(raw, labels),
        "importances": [{"feature": f, "loglik_drop": v} for f, v in importances],
        "n_boot": n_boot,
    }


def ablations_markdown(ab: dict[str, Any]) -> str:
    kinds = " / ".join(KIND_NAMES)
    lines = [
        "## The structural predictor: ablations",
        "",
        f"{ab['examples']} {ab['split']} examples (paper protocol). Each variant differs from the saved model in one choice "
        "and is trained on the same examples; temperatures are fitted on validation (out-of-fold training predictions when there is none), never on these examples. "
        f"Saved model: temperature {ab['temperature']:.3f}, {ab['info'].get('train_examples')} training examples "
        f"({ab['info'].get('soft_examples')} with a soft target), "
        f"one booster on every training example ({ab['info'].get('deals', 1)} x {ab['info'].get('folds', 1)} fold boosters for the out-of-fold predictions), "
        # A model the pipeline trained has its fit time moved to timings.json (0 in the file).
        + (f"fit in {ab['info']['fit_seconds']:.1f} s, " if ab["info"].get("fit_seconds") else "fit time in the pipeline's timings.json, ")
        + f"{len(ab['info'].get('programs_without_facts') or {})} training programs without source facts.",
        "",
        f"| variant | accuracy % | NLL | ECE (15 bins) | recall % {kinds} |",
        "|---|---:|---:|---:|---|",
    ]
    for r in ab["variants"]:
        recall = " / ".join(f"{100 * x:.0f}" for x in r["recall"])
        lines.append(f"| {r['variant']} | {100 * r['accuracy']:.1f} | {r['nll']:.3f} | {r['ece']:.3f} | {recall} |")
    sh = ab.get("soft_vs_hard", {})
    if "soft" in sh and "hard" in sh:
        soft, hard = sh["soft"], sh["hard"]
        as_accurate = soft["accuracy"] >= hard["accuracy"]
        better_calibrated = soft["ece_before_calibration"] < hard["ece_before_calibration"]
        lines += [
            "",
            f"Soft vs hard targets: accuracy {100 * soft['accuracy']:.1f} % vs {100 * hard['accuracy']:.1f} %; before temperature "
            f"scaling ECE {soft['ece_before_calibration']:.3f} vs {hard['ece_before_calibration']:.3f} and NLL "
            f"{soft['nll_before_calibration']:.3f} vs {hard['nll_before_calibration']:.3f}. Soft targets are "
            + ("" if as_accurate else "**not** ") + "at least as accurate and "
            + ("" if better_calibrated else "**not** ") + "better calibrated before temperature scaling here."
            + (
                f" On the training families each fold booster did not see (out of fold, T = 1): accuracy {100 * soft['out_of_fold_accuracy']:.1f} % vs "
                f"{100 * hard['out_of_fold_accuracy']:.1f} %, NLL {soft['out_of_fold_nll']:.3f} vs {hard['out_of_fold_nll']:.3f}."
                if soft["out_of_fold_accuracy"] == soft["out_of_fold_accuracy"] and hard["out_of_fold_accuracy"] == hard["out_of_fold_accuracy"]
                else ""
            ),
        ]
    lines += ["", "Share of each kind in the labels (%): " + ", ".join(f"{k} {100 * s:.1f}" for k, s in zip(KIND_NAMES, ab["label_share"])), ""]
    if ab["versus"]:
        lines += [f"Accuracy difference, structural minus each model, paired program bootstrap ({ab['n_boot']} replicates), points [95 % CI]:", ""]
        for v in ab["versus"]:
            lines.append(f"- vs {v['other']}: {100 * v['difference']:+.1f} [{100 * v['low']:+.1f}, {100 * v['high']:+.1f}]")
        lines.append("")
    lines += ["### Reliability diagram data (top label, after / before calibration)", "", "| confidence bin | n | mean confidence | accuracy | n (before) | mean confidence (before) | accuracy (before) |", "|---|---:|---:|---:|---:|---:|---:|"]
    before = {(b["low"], b["high"]): b for b in ab["reliability_before"]}
    after = {(b["low"], b["high"]): b for b in ab["reliability_after"]}
    for key in sorted(set(before) | set(after)):
        a, b = after.get(key), before.get(key)
        cells = [f"{a['n']} | {a['confidence']:.3f} | {a['accuracy']:.3f}" if a else " | | ", f"{b['n']} | {b['confidence']:.3f} | {b['accuracy']:.3f}" if b else " | | "]
        lines.append(f"| [{key[0]:.2f}, {key[1]:.2f}) | {cells[0]} | {cells[1]} |")
    if ab["importances"]:
        lines += ["", "### What the model uses: permutation importance on validation (top 20)", "",
                  "Mean drop in log-likelihood (nats per example) when one feature is shuffled.", "", "| feature | drop |", "|---|---:|"]
        lines += [f"| `{i['feature']}` | {i['loglik_drop']:.4f} |" for i in ab["importances"]]
    return "\n".join(lines) + "\n"
