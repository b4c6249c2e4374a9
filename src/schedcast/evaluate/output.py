"""Write an evaluation as rich tables, CSV, JSON and a Markdown results page."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from schedcast.evaluate import metrics as m
from schedcast.evaluate.evaluation import Evaluation
from schedcast.models.base import KIND_NAMES


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def main_rows(ev: Evaluation) -> list[dict[str, Any]]:
    rows = []
    for s in ev.models:
        rows.append(
            {
                "model": s.name,
                "accuracy": s.accuracy.estimate,
                "accuracy_ci_low": s.accuracy.low,
                "accuracy_ci_high": s.accuracy.high,
                "accuracy_per_program": s.accuracy_per_program,
                "nll": s.nll.estimate,
                "nll_ci_low": s.nll.low,
                "nll_ci_high": s.nll.high,
                "brier": s.brier,
                "ece_15_bins": s.ece,
                "ece_floor_mean": s.ece_floor.mean if s.ece_floor else None,
                "ece_floor_95": s.ece_floor.q95 if s.ece_floor else None,
                "ece_ci_low": s.ece_interval.low if s.ece_interval else None,
                "ece_ci_high": s.ece_interval.high if s.ece_interval else None,
                "classwise_ece": s.classwise_ece,
                "mean_abs_diff_prototype_ece": s.mean_abs_diff,
                "kl_phat_q": s.kl,
                "total_variation": s.tv,
                "spearman_entropy_nondeterminism": s.entropy_vs_nondeterminism.rho if s.entropy_vs_nondeterminism else None,
                "spearman_p": s.entropy_vs_nondeterminism.p_value if s.entropy_vs_nondeterminism else None,
            }
        )
    return rows


def ece_floor_line(ev: Evaluation) -> str:
    """One line: each model's ECE against the ECE a perfectly calibrated model with its
    confidences would score on these examples (metrics.ece_floor)."""
    parts = [
        f"{s.name} {s.ece:.3f} vs {s.ece_floor.mean:.3f} (95 %: {s.ece_floor.q95:.3f})"
        + (f", program bootstrap [{s.ece_interval.low:.3f}, {s.ece_interval.high:.3f}]" if s.ece_interval else "")
        for s in ev.models if s.ece_floor
    ]
    if not parts:
        return ""
    return (
        f"ECE against its sampling floor on these {ev.n_examples} examples (a perfectly calibrated model with the same "
        "confidences, 200 draws: mean, 95th percentile), and the 95 % interval of the ECE when the programs are "
        "resampled (their examples are not independent, so the figure moves more than the floor says): " + "; ".join(parts)
    )


def print_evaluation(ev: Evaluation, console: Console) -> None:
    t = Table(
        title=f"{ev.split} split ({', '.join(ev.origins)}), {ev.protocol} protocol, {ev.grouping} groups: "
        f"{ev.n_examples} examples from {ev.n_programs} programs",
        caption=f"majority class ({ev.majority_kind}) {_pct(ev.majority_accuracy)} %; "
        f"95 % intervals resample programs ({ev.n_boot} replicates); reference rows: docs/evaluate.md",
    )
    for col in ("model", "acc % [95 % CI]", "acc/prog %", "NLL", "Brier", "ECE", "cw-ECE", "MAD*", "KL", "TV"):
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for s in ev.models:
        t.add_row(
            s.name,
            f"{_pct(s.accuracy.estimate)} [{_pct(s.accuracy.low)}, {_pct(s.accuracy.high)}]",
            _pct(s.accuracy_per_program),
            f"{s.nll.estimate:.3f}",
            f"{s.brier:.3f}",
            f"{s.ece:.3f}",
            f"{s.classwise_ece:.3f}",
            f"{s.mean_abs_diff:.3f}",
            f"{s.kl:.3f}",
            f"{s.tv:.3f}",
        )
    t.add_section()
    t.add_row("majority class", _pct(ev.majority_accuracy), "", "", "", "", "", "", "", "")
    for r in ev.references:
        t.add_row(r.name, _pct(r.accuracy), "", "", "", "", "", "", "", "")
    console.print(t)
    comp = ev.composition
    console.print(
        f"{ev.split}: {comp['programs']} programs, {comp['runs']} runs, events per run median {comp['events_per_run_median']:.0f}, "
        f"max {comp['events_per_run_max']}; program events left out: "
        + (", ".join(f"{k} {v:,}" for k, v in comp["left_out"].items()) or "none"),
        highlight=False,
    )
    if len(ev.per_origin) > 1:
        o = Table(title="accuracy per origin (%)")
        o.add_column("origin")
        o.add_column("examples", justify="right")
        o.add_column("programs", justify="right")
        names = ["majority class"] + [s.name for s in ev.models]
        for name in names:
            o.add_column(name, justify="right")
        for row in ev.per_origin:
            o.add_row(row["origin"], str(row["examples"]), str(row["programs"]), *(_pct(row[n]) for n in names))
        console.print(o)
    for d in ev.differences:
        console.print(
            f"accuracy {d['model']} − {d['reference']}: {100 * d['difference']:+.1f} points "
            f"[{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] (paired program bootstrap, 95 %)",
            highlight=False,
        )
    console.print("* MAD: mean absolute difference between q and p̂, what the research prototype called ECE.", highlight=False)
    if floors := ece_floor_line(ev):
        console.print(floors, highlight=False)
    k = Table(title="accuracy per true kind (%)")
    k.add_column("model")
    for name in KIND_NAMES:
        k.add_column(name, justify="right")
    k.add_row("train freq", *(_pct(x) for x in ev.train_frequency))
    k.add_row(f"{ev.split} freq", *(_pct(x) for x in ev.test_frequency))
    k.add_section()
    for s in ev.models:
        k.add_row(s.name, *(_pct(x) for x in s.per_kind_accuracy))
    console.print(k)


def write_evaluation(ev: Evaluation, out: Path, context: dict[str, Any] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = main_rows(ev)
    with open(out / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(out / "per_kind.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", *KIND_NAMES])
        w.writerow(["train_frequency", *ev.train_frequency])
        w.writerow([f"{ev.split}_frequency", *ev.test_frequency])
        for s in ev.models:
            w.writerow([s.name, *s.per_kind_accuracy])
    names = ["majority class"] + [s.name for s in ev.models]
    for filename, table in (("per_program.csv", ev.per_program), ("per_origin.csv", ev.per_origin)):
        with open(out / filename, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[k for k in table[0] if k not in names] + names)
            w.writeheader()
            w.writerows(table)
    for s in ev.models:
        with open(out / f"confusion_{s.name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["true \\ predicted", *KIND_NAMES])
            for name, row in zip(KIND_NAMES, s.confusion):
                w.writerow([name, *row])
    blob = ev.to_json()
    blob["context"] = context or {}
    (out / "metrics.json").write_text(json.dumps(blob, indent=2, default=float))
    write_predictions(ev, out)


def write_predictions(ev: Evaluation, out: Path) -> None:
    """What the HTML report draws and metrics.json does not hold: `reliability.csv`, per
    model the 15 equal-width confidence bins of the top-label ECE (count, mean
    confidence, accuracy; empty bins have count 0), and `predictions.parquet`, every
    model's prediction per example (model, program, origin, run_key, run_id, k,
    depth_pct, label, q[6], entropy_bits, group_entropy_bits) when the evaluation kept
    them (at most evaluation.PREDICTIONS_KEPT_UP_TO examples)."""
    reliability = [{"model": s.name, **b} for s in ev.models for b in s.reliability]
    if reliability:
        with open(out / "reliability.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(reliability[0]))
            w.writeheader()
            w.writerows(reliability)
    rows = ev.example_rows
    if rows is None or not ev.models or any(s.probs is None for s in ev.models):
        return
    frames = [
        rows.with_columns(
            pl.lit(s.name).alias("model"),
            pl.Series("q", s.probs).cast(pl.Array(pl.Float32, len(KIND_NAMES))),
            pl.Series("entropy_bits", m.entropy_bits(np.asarray(s.probs, dtype=np.float64))),
        )
        for s in ev.models
        if s.probs is not None
    ]
    columns = ["model", *rows.columns[:-1], "q", "entropy_bits", rows.columns[-1]]
    pl.concat(frames).select(columns).write_parquet(out / "predictions.parquet", compression="zstd")


def results_markdown(ev: Evaluation, context: dict[str, Any]) -> str:
    reproduce = [str(context["main job"])] if "main job" in context else []
    reproduce.append(str(context.get("command", "")))
    lines = [
        "# Results",
        "",
        "Generated by a command; do not edit by hand. Rerun it to reproduce"
        + (" (the main job runs every stage; its last step is the evaluation below):" if "main job" in context else ":"),
        "",
        "```bash",
        *reproduce,
        "```",
        "",
        "## What was run",
        "",
    ]
    for key, value in context.items():
        if key not in ("command", "main job"):
            lines.append(f"- {key}: {value}")
    comp = ev.composition
    lines += [
        "",
        f"## What the {ev.split} set is",
        "",
        f"{comp['programs']} programs ({', '.join(f'{o}: {n}' for o, n in comp['origins'].items())}), {comp['runs']} runs, "
        f"{comp['events']:,} program events; events per run: median {comp['events_per_run_median']:.0f}, max {comp['events_per_run_max']:,}. "
        f"{comp['examples']} {comp['protocol']}-protocol examples.",
        "",
        "Program events left out by the rule in docs/dataset.md (runtime work on a program goroutine's behalf, events after a "
        "kernel's goroutine-leak profile call, the testing framework's goroutine): "
        + (", ".join(f"{k} {v:,}" for k, v in comp["left_out"].items()) or "none") + ".",
        "",
        "| label share | " + " | ".join(KIND_NAMES) + " |",
        "|---|" + "---:|" * 6,
        f"| {ev.split} | " + " | ".join(_pct(comp["label_share"][k]) for k in KIND_NAMES) + " |",
        "",
        "Largest contributors (share of the examples and of the program events):",
        "",
        "| program | examples | share of examples % | program events | share of events % |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in comp["program_share"][:5]:
        lines.append(f"| {row['program']} | {row['examples']} | {_pct(row['share'])} | {row['events']:,} | {_pct(row['event_share'])} |")
    if comp["dominant_programs"] and comp["programs"] > 20:
        lines += ["", f"**Warning:** {len(comp['dominant_programs'])} programs hold more than 5 % of the examples each."]
    lines += [
        "",
        f"## Next-event prediction on the {ev.split} split ({ev.protocol} protocol, {ev.grouping} groups)",
        "",
        f"{ev.n_examples} examples from {ev.n_programs} programs. 95 % intervals resample programs ({ev.n_boot} replicates). "
        f"Majority class ({ev.majority_kind}, from train): **{_pct(ev.majority_accuracy)} %**.",
        "",
        "| model | accuracy % [95 % CI] | acc. per program % | NLL | Brier | ECE (15 bins) | classwise ECE | MAD (prototype's 'ECE') | KL(p̂‖q) | TV |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in ev.models:
        lines.append(
            f"| {s.name} | {_pct(s.accuracy.estimate)} [{_pct(s.accuracy.low)}, {_pct(s.accuracy.high)}] | {_pct(s.accuracy_per_program)} | "
            f"{s.nll.estimate:.3f} | {s.brier:.3f} | {s.ece:.3f} | {s.classwise_ece:.3f} | {s.mean_abs_diff:.3f} | {s.kl:.3f} | {s.tv:.3f} |"
        )
    lines.append(f"| majority class | {_pct(ev.majority_accuracy)} | | | | | | | | |")
    for r in ev.references:
        lines.append(f"| {r.name} | {_pct(r.accuracy)} | | | | | | | | |")
    if floors := ece_floor_line(ev):
        lines += ["", floors + "."]
    lines += [
        "",
        "Reference rows (defined in docs/evaluate.md; computed on exactly these examples):",
        "",
    ]
    for r in ev.references:
        extra = f" ({r.fallback} examples had no other run in their group and fall back to the train majority kind)" if r.fallback else ""
        lines.append(f"- **{r.name}**: {r.meaning}{extra}.")
    if len(ev.per_origin) > 1:
        names = ["majority class"] + [s.name for s in ev.models]
        lines += ["", "### Accuracy per origin (%)", "", "| origin | examples | programs | " + " | ".join(names) + " |", "|---|---:|---:|" + "---:|" * len(names)]
        for row in ev.per_origin:
            lines.append(f"| {row['origin']} | {row['examples']} | {row['programs']} | " + " | ".join(_pct(row[n]) for n in names) + " |")
    lines += ["", "### Accuracy per true kind (%)", "", "| | " + " | ".join(KIND_NAMES) + " |", "|---|" + "---:|" * 6]
    lines.append("| train frequency | " + " | ".join(_pct(x) for x in ev.train_frequency) + " |")
    lines.append(f"| {ev.split} frequency | " + " | ".join(_pct(x) for x in ev.test_frequency) + " |")
    for s in ev.models:
        lines.append(f"| {s.name} | " + " | ".join(_pct(x) for x in s.per_kind_accuracy) + " |")
    if ev.differences:
        lines += [
            "",
            f"### Accuracy difference to {ev.differences[0]['reference']}",
            "",
            f"Each model's accuracy minus {ev.differences[0]['reference']}'s on the same examples, in points; 95 % interval "
            f"from a paired program bootstrap ({ev.n_boot} replicates: each replicate resamples programs once and scores both models on it).",
            "",
            "| model | difference [95 % CI] |",
            "|---|---|",
        ]
        for d in ev.differences:
            lines.append(f"| {d['model']} | {100 * d['difference']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] |")
    lines += ["", "### Entropy vs measured nondeterminism (Spearman, per program)", ""]
    for s in ev.models:
        c = s.entropy_vs_nondeterminism
        lines.append(f"- {s.name}: " + (f"ρ = {c.rho:.3f}, p = {c.p_value:.3g}, {c.n} programs" if c else "undefined (constant entropy)"))
    lines += [
        "",
        "### Paired McNemar tests",
        "",
        "Exact tests on the examples both models scored. They treat examples as independent; examples of one "
        "program are not, so read these p-values as optimistic and the program-bootstrap intervals above as the primary evidence.",
        "",
        "| pair | only first right | only second right | p |",
        "|---|---:|---:|---:|",
    ]
    for pair, t in ev.mcnemar.items():
        lines.append(f"| {pair} | {t['only_a_right']} | {t['only_b_right']} | {t['p_value']:.3g} |")
    names = ["majority class"] + [s.name for s in ev.models]
    lines += [
        "",
        "### Accuracy per program (%)",
        "",
        "Also in per_program.csv beside metrics.csv.",
        "",
        "| program | origin | examples | runs | events/run (median) | " + " | ".join(names) + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(names),
    ]
    for row in ev.per_program:
        lines.append(
            f"| {row['program']} | {row['origin']} | {row['examples']} | {row['runs']} | {row['events_per_run_median']:.0f} | "
            + " | ".join(_pct(row[n]) for n in names) + " |"
        )
    return "\n".join(lines) + "\n"
