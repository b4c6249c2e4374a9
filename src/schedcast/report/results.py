"""Sections drawn from the evaluation's files (``OUT/results``): what was run, the
test set, the model table, calibration, per-kind accuracy, confusion matrices,
entropy against measured nondeterminism, per-program accuracy, McNemar tests."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from schedcast.report import figures as F
from schedcast.report.page import Section, TableData, missing, num, pct
from schedcast.trace import KIND_NAMES as KINDS
EVALUATE_HINT = "schedcast evaluate {out}/dataset {out}/models --split test --out {out}/results"


@dataclass
class Results:
    """The evaluation's files in one folder; ``metrics`` is metrics.json."""

    dir: Path
    metrics: dict[str, Any]

    @property
    def models(self) -> list[dict[str, Any]]:
        return list(self.metrics["models"])

    def file(self, name: str) -> Path:
        return self.dir / name


def load_results(out: Path) -> Results | str:
    """The evaluation's metrics.json, or why it cannot be used."""
    path = out / "results" / "metrics.json"
    if not path.is_file():
        return f"no {path.relative_to(out)}: the evaluation did not run on this folder"
    try:
        blob = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{path.relative_to(out)} cannot be read ({exc}); rerun the evaluation"
    if not isinstance(blob, dict) or not isinstance(blob.get("models"), list) or not blob["models"]:
        return f"{path.relative_to(out)} holds no model scores: not an evaluation written by schedcast"
    return Results(out / "results", blob)


def _need(results: Results, *keys: str) -> str | None:
    """Why a section cannot be drawn from this metrics.json (keys an older schedcast did not write)."""
    absent = [k for k in keys if k not in results.metrics]
    if absent:
        return f"metrics.json has no {', '.join(absent)}: it was written by an older schedcast; rerun the evaluation"
    return None


def _hint(out: Path) -> str:
    return EVALUATE_HINT.format(out=out)


# ---------------------------------------------------------------- what was run
def run_section(out: Path, results: Results) -> Section:
    m = results.metrics
    context = m.get("context") or {}
    rows = [[str(k), str(v)] for k, v in context.items()]
    s = Section("run", "What was run")
    if "main job" in context:
        s.commands.append(str(context["main job"]))
    elif "command" in context:
        s.commands.append(str(context["command"]))
    s.paragraphs.append(
        f"Evaluated: the {m.get('split', '?')} split, {m.get('protocol', '?')} protocol, {m.get('grouping', '?')} groups: "
        f"{m.get('n_examples', '?')} examples from {m.get('n_programs', '?')} programs; "
        f"95 % intervals resample programs ({m.get('n_boot', '?')} replicates)."
    )
    if rows:
        s.tables.append(TableData("As recorded in results/metrics.json", ["", "value"], rows, numeric_from=99))
    return s


# ---------------------------------------------------------------- test set
def composition_section(out: Path, results: Results, writer: F.FigureWriter) -> Section:
    title = "What the test set is"
    why = _need(results, "composition")
    if why:
        return missing("composition", title, why, _hint(out))
    comp = results.metrics["composition"]
    s = Section("composition", f"What the {comp.get('split', 'test')} set is")
    origins = ", ".join(f"{o}: {n}" for o, n in comp.get("origins", {}).items())
    s.paragraphs.append(
        f"{comp['programs']} programs ({origins}), {comp['runs']} runs, {comp['events']:,} program events; "
        f"events per run: median {comp['events_per_run_median']:.0f}, max {comp['events_per_run_max']:,}. "
        f"{comp['examples']} {comp['protocol']}-protocol examples."
    )
    left = ", ".join(f"{k} {v:,}" for k, v in comp.get("left_out", {}).items()) or "none"
    s.paragraphs.append(f"Program events left out by the dataset's rule (docs/dataset.md): {left}.")
    dominant = comp.get("dominant_programs") or []
    if dominant and comp["programs"] > 20:
        s.paragraphs.append(f"Warning: {len(dominant)} programs hold more than 5 % of the examples each: {', '.join(dominant)}.")
    s.tables.append(TableData(
        "Label shares (%)", ["split", *KINDS],
        [[comp.get("split", "test"), *(pct(comp["label_share"].get(k)) for k in KINDS)]],
    ))
    shares = comp.get("program_share") or []
    s.tables.append(TableData(
        "Every program's share of the examples and of the program events", ["program", "examples", "share of examples %", "program events", "share of events %"],
        [[r["program"], str(r["examples"]), pct(r["share"]), f"{r['events']:,}", pct(r["event_share"])] for r in shares],
        collapsed=True,
    ))
    top = shares[:30]
    if top:
        fig, ax = F.new(7.0, max(2.4, 0.22 * len(top) + 0.8))
        names = [r["program"] for r in top][::-1]
        ax.barh(names, [100 * r["share"] for r in top][::-1], color="#1f77b4", label="examples")
        ax.barh(names, [100 * r["event_share"] for r in top][::-1], color="none", edgecolor="#d62728", label="program events")
        ax.axvline(5, color="#7f7f7f", linestyle="--", linewidth=1, label="5 %")
        ax.set_xlabel("share of the split (%)")
        ax.legend(loc="lower right", frameon=False)
        rows = [{"program": r["program"], "examples": r["examples"], "share_of_examples": r["share"], "program_events": r["events"], "share_of_events": r["event_share"]} for r in top]
        s.figures.append(writer.save(fig, "composition", "Share of the examples and events per program",
                                     f"The {len(top)} largest programs of the split (of {len(shares)}).", rows))
    return s


# ---------------------------------------------------------------- model table
def models_section(out: Path, results: Results, writer: F.FigureWriter) -> Section:
    m = results.metrics
    s = Section("models", "Models")
    s.paragraphs.append(
        f"Majority class ({m.get('majority_kind', '?')}, from train): {pct(m.get('majority_accuracy'))} %. "
        "MAD is the mean absolute difference between q and the group's p̂, what the research prototype called ECE. "
        "Reference rows are defined in docs/evaluate.md."
    )
    cols = ["model", "accuracy % [95 % CI]", "acc. per program %", "NLL", "Brier", "ECE (15 bins)", "classwise ECE", "MAD", "KL(p̂‖q)", "TV"]
    rows = []
    for r in results.models:
        acc, nll = r["accuracy"], r["nll"]
        rows.append([
            r["name"], f"{pct(acc['estimate'])} [{pct(acc['low'])}, {pct(acc['high'])}]", pct(r.get("accuracy_per_program")),
            num(nll["estimate"]), num(r.get("brier")), num(r.get("ece")), num(r.get("classwise_ece")),
            num(r.get("mean_abs_diff")), num(r.get("kl")), num(r.get("tv")),
        ])
    rows.append(["majority class", pct(m.get("majority_accuracy")), *[""] * 8])
    refs = m.get("references") or []
    for ref in refs:
        rows.append([ref["name"], pct(ref["accuracy"]), *[""] * 8])
    s.tables.append(TableData(f"{m.get('n_examples')} examples, {m.get('n_programs')} programs", cols, rows))
    for ref in refs:
        extra = f" ({ref['fallback']} examples fell back to the train majority kind)" if ref.get("fallback") else ""
        s.paragraphs.append(f"{ref['name']}: {ref.get('meaning', '')}{extra}.")

    data = [{"row": r["name"], "type": "model", "accuracy": r["accuracy"]["estimate"], "ci_low": r["accuracy"]["low"], "ci_high": r["accuracy"]["high"]} for r in results.models]
    data.append({"row": "majority class", "type": "majority", "accuracy": m.get("majority_accuracy"), "ci_low": None, "ci_high": None})
    data += [{"row": ref["name"], "type": "reference", "accuracy": ref["accuracy"], "ci_low": None, "ci_high": None} for ref in refs]
    fig, ax = F.new(7.0, 0.32 * len(data) + 1.0)
    ys = list(range(len(data)))[::-1]
    for y, d in zip(ys, data):
        acc = 100 * d["accuracy"]
        if d["type"] == "model":
            ax.errorbar(acc, y, xerr=[[acc - 100 * d["ci_low"]], [100 * d["ci_high"] - acc]], fmt="o", color="#1f77b4", capsize=3)
        else:
            ax.plot(acc, y, "D" if d["type"] == "reference" else "s", color="#7f7f7f")
    ax.axvline(100 * (m.get("majority_accuracy") or 0), color="#7f7f7f", linestyle="--", linewidth=1)
    ax.set_yticks(ys, [d["row"] for d in data])
    ax.set_xlim(0, 102)
    ax.set_xlabel("accuracy on the test split (%)")
    s.figures.append(writer.save(fig, "accuracy", "Accuracy with 95 % program-bootstrap intervals",
                                 "Models (dots, intervals), the majority class (square, dashed line) and the reference rows (diamonds).", data))
    return s


# ---------------------------------------------------------------- calibration
def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _float(x: str | None) -> float:
    try:
        return float(x) if x not in (None, "") else math.nan
    except ValueError:
        return math.nan


def reliability_section(out: Path, results: Results, writer: F.FigureWriter) -> Section:
    title = "Calibration: reliability diagrams"
    path = results.file("reliability.csv")
    if not path.is_file():
        return missing("calibration", title, "results/reliability.csv is missing: it is written by `schedcast evaluate --out` since this version of schedcast", _hint(out))
    table = _read_csv(path)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in table:
        by_model.setdefault(r["model"], []).append({
            "model": r["model"], "bin": int(r["bin"]), "low": _float(r["low"]), "high": _float(r["high"]),
            "count": int(r["count"]), "mean_confidence": _float(r["mean_confidence"]), "accuracy": _float(r["accuracy"]),
        })
    if not by_model:
        return missing("calibration", title, "results/reliability.csv is empty", _hint(out))
    ece = {r["name"]: r.get("ece") for r in results.models}
    fig, axes = F.grid(len(by_model))
    rows: list[dict[str, Any]] = []
    for ax, (name, bins) in zip(axes, by_model.items()):
        n_bins = len(bins)
        width = 1.0 / n_bins
        filled = [b for b in bins if b["count"] > 0]
        ax.bar([b["low"] for b in filled], [b["accuracy"] for b in filled], width=width, align="edge", color="#1f77b4", edgecolor="white")
        ax.plot([b["mean_confidence"] for b in filled], [b["accuracy"] for b in filled], "o", color="#ff7f0e", markersize=3)
        ax.plot([0, 1], [0, 1], color="#7f7f7f", linestyle="--", linewidth=1)
        for b in filled:
            ax.text(b["low"] + width / 2, b["accuracy"] + 0.02, str(b["count"]), ha="center", va="bottom", fontsize=5.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.12)
        ax.set_title(f"{name}: ECE {num(ece.get(name))}")
        ax.set_xlabel("confidence (max q)")
        ax.set_ylabel("accuracy")
        rows += bins
    s = Section("calibration", title)
    s.paragraphs.append(
        f"Top-label reliability, {len(next(iter(by_model.values())))} equal-width confidence bins (the bins of the ECE); "
        "the number over each bar is the count of examples in the bin. A calibrated model's bars follow the diagonal."
    )
    s.figures.append(writer.save(fig, "reliability", "Reliability diagram per model", "Bars: accuracy per confidence bin; dots: the bin's mean confidence; numbers: examples per bin.", rows))
    return s


# ---------------------------------------------------------------- per kind
def per_kind_section(out: Path, results: Results, writer: F.FigureWriter) -> Section:
    title = "Accuracy per true kind"
    m = results.metrics
    why = _need(results, "train_frequency", "test_frequency")
    if why:
        return missing("per-kind", title, why, _hint(out))
    split = m.get("split", "test")
    series = [("train frequency", m["train_frequency"]), (f"{split} frequency", m["test_frequency"])]
    series += [(r["name"], r["per_kind_accuracy"]) for r in results.models]
    s = Section("per-kind", title)
    s.paragraphs.append("Recall per true kind: the share of the examples of that kind the model predicts as that kind, beside the kind's frequency in train and in the evaluated split.")
    s.tables.append(TableData("%", ["", *KINDS], [[name, *(pct(x) for x in values)] for name, values in series]))
    fig, ax = F.new(8.0, 3.6)
    width = 0.8 / len(series)
    x = np.arange(len(KINDS))
    for i, (name, values) in enumerate(series):
        v = [100 * (y if y is not None and y == y else 0.0) for y in values]
        style: dict[str, Any] = {"color": "#bbbbbb", "hatch": "//", "edgecolor": "#555555"} if i == 0 else {"color": "#dddddd", "edgecolor": "#555555"} if i == 1 else {}
        ax.bar(x - 0.4 + (i + 0.5) * width, v, width=width, label=name, **style)
    ax.set_xticks(x, KINDS)
    ax.set_ylabel("%")
    ax.legend(ncols=min(4, len(series)), fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.02))
    rows = [{"series": name, **{k: v for k, v in zip(KINDS, values)}} for name, values in series]
    s.figures.append(writer.save(fig, "per_kind", "Accuracy per kind against train and test frequency", "Hatched: train frequency; light grey: evaluated-split frequency; coloured: each model's recall.", rows))
    return s


# ---------------------------------------------------------------- confusion
def confusion_section(out: Path, results: Results, writer: F.FigureWriter) -> Section:
    title = "Confusion matrices"
    models = [r for r in results.models if r.get("confusion")]
    if not models:
        return missing("confusion", title, "metrics.json holds no confusion matrices (an older schedcast)", _hint(out))
    fig, axes = F.grid(len(models), size=(3.6, 3.4))
    rows: list[dict[str, Any]] = []
    for ax, r in zip(axes, models):
        c = np.asarray(r["confusion"], dtype=float)
        share = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(c.shape[0]):
            for j in range(c.shape[1]):
                if c[i, j]:
                    ax.text(j, i, f"{int(c[i, j])}", ha="center", va="center", fontsize=6, color="white" if share[i, j] > 0.6 else "black")
            rows.append({"model": r["name"], "true": KINDS[i], **{f"predicted_{k}": int(v) for k, v in zip(KINDS, c[i])}})
        short = [k[2:] for k in KINDS]
        ax.set_xticks(range(6), short, rotation=90, fontsize=7)
        ax.set_yticks(range(6), short, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(r["name"])
        ax.spines[:].set_visible(False)
    s = Section("confusion", title)
    s.paragraphs.append("Rows: true kind; columns: predicted kind; numbers: examples; colour: share of the row.")
    s.figures.append(writer.save(fig, "confusion", "Confusion matrix per model", "Counts of (true, predicted) kinds on the evaluated split.", rows))
    return s


# ---------------------------------------------------------------- entropy vs nondeterminism
def entropy_section(out: Path, results: Results, writer: F.FigureWriter) -> Section:
    title = "Entropy against measured nondeterminism"
    path = results.file("predictions.parquet")
    if not path.is_file():
        from schedcast.evaluate.evaluation import PREDICTIONS_KEPT_UP_TO

        n = results.metrics.get("n_examples")
        if isinstance(n, int) and n > PREDICTIONS_KEPT_UP_TO and results.file("reliability.csv").is_file():
            why = f"results/predictions.parquet was not written: the evaluation had {n:,} examples, more than the {PREDICTIONS_KEPT_UP_TO:,} whose predictions it saves"
        else:
            why = "results/predictions.parquet is missing: it is written by `schedcast evaluate --out` since this version of schedcast"
        return missing("entropy", title, why, _hint(out))
    preds = pl.read_parquet(path, columns=["model", "program", "entropy_bits", "group_entropy_bits"])
    per_program = (
        preds.group_by("model", "program")
        .agg(pl.col("entropy_bits").mean().alias("model_entropy_bits"), pl.col("group_entropy_bits").mean().alias("nondeterminism_bits"), pl.len().alias("examples"))
        .sort("model", "program")
    )
    if per_program.height == 0:
        return missing("entropy", title, "results/predictions.parquet holds no predictions", _hint(out))
    corr = {r["name"]: r.get("entropy_vs_nondeterminism") for r in results.models}
    names = [r["name"] for r in results.models if r["name"] in set(per_program["model"].to_list())]
    fig, axes = F.grid(len(names))
    for ax, name in zip(axes, names):
        mine = per_program.filter(pl.col("model") == name)
        ax.scatter(mine["nondeterminism_bits"].to_numpy(), mine["model_entropy_bits"].to_numpy(), s=12, alpha=0.7, color="#1f77b4")
        c = corr.get(name)
        ax.set_title(f"{name}: ρ = {c['rho']:.3f} (p = {c['p_value']:.2g})" if c else f"{name}: ρ undefined (constant)")
        ax.set_xlabel("program nondeterminism (bits)")
        ax.set_ylabel("model entropy (bits)")
    s = Section("entropy", title)
    s.paragraphs.append(
        "One dot per program: the program's nondeterminism measured from its runs (mean entropy of p̂ of its examples' groups) "
        "against the model's mean predictive entropy on its examples; ρ is Spearman's rank correlation from metrics.json."
    )
    s.figures.append(writer.save(fig, "entropy_vs_nondeterminism", "Model entropy against program nondeterminism",
                                 "Per program and model; the CSV has every point.", per_program.to_dicts()))
    return s


# ---------------------------------------------------------------- per program, McNemar
def per_program_section(out: Path, results: Results) -> Section:
    title = "Accuracy per program"
    why = _need(results, "per_program")
    if why:
        return missing("per-program", title, why, _hint(out))
    table = results.metrics["per_program"]
    names = ["majority class"] + [r["name"] for r in results.models]
    s = Section("per-program", title)
    s.paragraphs.append("Also in results/per_program.csv.")
    rows = [[r["program"], r.get("origin", ""), str(r.get("examples", "")), str(r.get("runs", "")), f"{r.get('events_per_run_median', 0):.0f}",
             *(pct(r.get(n)) for n in names)] for r in table]
    s.tables.append(TableData(f"{len(rows)} programs (%)", ["program", "origin", "examples", "runs", "events/run (median)", *names], rows, collapsed=True, numeric_from=2))
    pairs = results.metrics.get("mcnemar") or {}
    if pairs:
        s.tables.append(TableData(
            "Paired McNemar tests (exact; they treat examples as independent, so read the p-values as optimistic)",
            ["pair", "only first right", "only second right", "p"],
            [[k, str(v["only_a_right"]), str(v["only_b_right"]), f"{v['p_value']:.3g}"] for k, v in pairs.items()],
            collapsed=True,
        ))
    return s
