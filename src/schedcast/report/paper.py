"""The "Reproduce the paper" page: the paper's Tables 3, 5 and 6 and its calibration
numbers, each beside ours on our data, with what differs in the setup.

The paper's numbers live in one cited data file, ``paper_numbers.json`` beside this
module; nothing else in the package types them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from schedcast.report import figures as F
from schedcast.report.page import Section, TableData, missing, num, pct
from schedcast.report.results import KINDS, Results
from schedcast.report.stages import PROBE_COMMAND, probe_availability


@lru_cache(maxsize=1)
def paper_numbers() -> dict[str, Any]:
    """The paper's numbers (paper_numbers.json), with its citation."""
    return json.loads(resources.files("schedcast.report").joinpath("paper_numbers.json").read_text())


def _paper_pct(x: float | None) -> str:
    return "not in the text" if x is None else f"{x:g}"


def _context(results: Results) -> dict[str, Any]:
    return dict(results.metrics.get("context") or {})


def setup_section(out: Path, results: Results | str) -> Section:
    paper = paper_numbers()
    p = paper["setup"]
    s = Section("setup", "What differs in the setup")
    s.paragraphs.append(f"Paper: {paper['citation']}, {paper['url']}. {paper['note']}")
    if isinstance(results, str):
        s.paragraphs.append(f"Our side is missing: {results}.")
        ours: dict[str, str] = {}
    else:
        m, ctx = results.metrics, _context(results)
        comp = m.get("composition") or {}
        origins = ", ".join(f"{o}: {n}" for o, n in (comp.get("origins") or {}).items()) or ", ".join(m.get("origins") or [])
        ours = {
            "model": "the models in the results folder: " + ", ".join(r["name"] for r in results.models)
            + " (baselines have no parameters beyond counts; no language model unless one is listed)",
            "programs": str(ctx.get("programs (origin, split, count)") or ctx.get("corpus") or "see the run section"),
            "runs per program": str(ctx.get("runs per program") or ctx.get("collection") or "not recorded"),
            "trace format": f"binary Go runtime traces (v2 format) written by {_toolchains(out)}, read by schedcast.trace; "
            "the program's events only, with the runtime's work on its behalf left out (docs/dataset.md)",
            "test kernels": f"{m.get('n_programs', '?')} programs ({origins}); the toolchain's GoKer kernels are stress versions of GoBench bugs, "
            "their window ends at the kernel's goroutine-leak profile call",
            "train examples": _train_examples(out, str(m.get("protocol", "paper"))),
            "test examples": f"{m.get('n_examples', '?')} ({m.get('protocol', '?')} protocol: 25/50/75 % depths of each run)",
        }
    rows = [
        ["model", p["model"], ours.get("model", "")],
        ["programs", p["programs"], ours.get("programs", "")],
        ["runs per program", str(p["runs_per_program"]), ours.get("runs per program", "")],
        ["trace format", p["trace_format"], ours.get("trace format", "")],
        ["test kernels", p["test_kernels"], ours.get("test kernels", "")],
        ["train examples", str(p["train_examples"]), ours.get("train examples", "")],
        ["test examples", f"{p['test_examples']} ({p['depths']})", ours.get("test examples", "")],
    ]
    s.tables.append(TableData("Setup", ["", "paper", "here"], rows, numeric_from=99))
    return s


def _toolchains(out: Path) -> str:
    """The Go versions that wrote the collection's traces (runs.parquet)."""
    path = out / "runs.parquet"
    try:
        versions = sorted(v for v in pl.read_parquet(path, columns=["toolchain"])["toolchain"].unique().to_list() if v)
    except (OSError, pl.exceptions.PolarsError):
        return "the collection's Go toolchain (runs.parquet unreadable)"
    return ", ".join(versions) or "the collection's Go toolchain (not recorded)"


def _train_examples(out: Path, protocol: str) -> str:
    """Train examples with a next event, from the dataset's examples.parquet."""
    path = out / "dataset" / "examples.parquet"
    try:
        ex = pl.scan_parquet(path).filter((pl.col("split") == "train") & (pl.col("protocol") == protocol) & (pl.col("label") >= 0))
        n = ex.select(pl.len()).collect().item()
    except (OSError, pl.exceptions.PolarsError):
        return "unknown (no readable dataset/examples.parquet)"
    return f"{n} ({protocol} protocol)"


def table3_section(out: Path, results: Results | str, writer: F.FigureWriter) -> Section:
    t3 = paper_numbers()["table3"]
    title = "Table 3: next-event accuracy on the held-out kernels"
    paper_rows = [[r["model"], f"{r['accuracy_pct']:g}"] for r in t3["rows"]]
    if isinstance(results, str):
        s = missing("table3", title, f"our side is missing: {results}")
        s.tables.append(TableData(f"Paper ({t3['where']}; {t3['examples']} examples)", ["model", "accuracy %"], paper_rows))
        return s
    m = results.metrics
    ours = [[r["name"], f"{pct(r['accuracy']['estimate'])} [{pct(r['accuracy']['low'])}, {pct(r['accuracy']['high'])}]"] for r in results.models]
    ours.append(["majority class", pct(m.get("majority_accuracy"))])
    ours += [[ref["name"], pct(ref["accuracy"])] for ref in m.get("references") or []]
    s = Section("table3", title)
    s.paragraphs.append(
        f"Paper: {t3['examples']} examples of 66 kernels, no interval, no majority-class row (the design brief measured the prototype's majority class at "
        f"{paper_numbers()['not_from_the_paper']['prototype_majority_class_pct']:g} %). Here: {m.get('n_examples')} examples of {m.get('n_programs')} programs, "
        "95 % intervals that resample programs. The test sets differ (see the setup table): compare each side with its own majority class."
    )
    s.tables.append(TableData(f"Paper ({t3['where']})", ["model", "accuracy %"], paper_rows))
    s.tables.append(TableData("Here (results/metrics.json)", ["model", "accuracy % [95 % CI]"], ours))
    data = [{"source": "paper", "row": r["model"], "accuracy": r["accuracy_pct"] / 100, "ci_low": None, "ci_high": None} for r in t3["rows"]]
    data += [{"source": "here", "row": r["name"], "accuracy": r["accuracy"]["estimate"], "ci_low": r["accuracy"]["low"], "ci_high": r["accuracy"]["high"]} for r in results.models]
    data.append({"source": "here", "row": "majority class", "accuracy": m.get("majority_accuracy"), "ci_low": None, "ci_high": None})
    fig, ax = F.new(7.0, 0.3 * len(data) + 1.0)
    ys = list(range(len(data)))[::-1]
    for y, d in zip(ys, data):
        color = "#ff7f0e" if d["source"] == "paper" else "#1f77b4"
        ax.barh(y, 100 * d["accuracy"], color=color)
        if d["ci_low"] is not None:
            ax.errorbar(100 * d["accuracy"], y, xerr=[[100 * (d["accuracy"] - d["ci_low"])], [100 * (d["ci_high"] - d["accuracy"])]], fmt="none", color="black", capsize=2)
    ax.set_yticks(ys, [f"{d['row']} ({d['source']})" for d in data], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    s.figures.append(writer.save(fig, "paper_table3", "Table 3 beside ours", "Orange: the paper's rows (its test set); blue: ours (our test set), with 95 % program-bootstrap intervals.", data))
    return s


def table5_section(out: Path, results: Results | str, writer: F.FigureWriter) -> Section:
    t5 = paper_numbers()["table5"]
    title = "Table 5: accuracy per event kind, with train and test frequency"
    paper_rows = [[k, _paper_pct(v["accuracy_pct"]), _paper_pct(v["train_frequency_pct"]), _paper_pct(v["test_frequency_pct"])] for k, v in t5["kinds"].items()]
    head = ["kind", "accuracy %", "train frequency %", "test frequency %"]
    if isinstance(results, str) or "train_frequency" not in results.metrics:
        why = results if isinstance(results, str) else "metrics.json has no kind frequencies (an older schedcast)"
        s = missing("table5", title, f"our side is missing: {why}")
        s.tables.append(TableData(f"Paper, the KL model ({t5['where']})", head, paper_rows))
        return s
    m = results.metrics
    best = max(results.models, key=lambda r: r["accuracy"]["estimate"])
    ours = [[k, pct(best["per_kind_accuracy"][i]), pct(m["train_frequency"][i]), pct(m["test_frequency"][i])] for i, k in enumerate(KINDS)]
    s = Section("table5", title)
    s.paragraphs.append(
        f"Paper: its KL fine-tuned 7B model. Here: our most accurate model, {best['name']} (every model is in the per-kind section of the report). "
        "Cells the paper's text does not state are marked; the test frequencies differ because the test sets and the event rules differ."
    )
    s.tables.append(TableData(f"Paper, the KL model ({t5['where']})", head, paper_rows))
    s.tables.append(TableData(f"Here, {best['name']}", head, ours))
    data = []
    for i, k in enumerate(KINDS):
        pk = t5["kinds"][k]
        data.append({"kind": k, "paper_accuracy": _frac(pk["accuracy_pct"]), "paper_train_frequency": _frac(pk["train_frequency_pct"]),
                     "paper_test_frequency": _frac(pk["test_frequency_pct"]), "model_here": best["name"], "accuracy_here": best["per_kind_accuracy"][i],
                     "train_frequency_here": m["train_frequency"][i], "test_frequency_here": m["test_frequency"][i]})
    fig, ax = F.new(8.0, 3.4)
    x = np.arange(len(KINDS))
    series = [("paper_accuracy", "paper accuracy", "#ff7f0e"), ("accuracy_here", f"{best['name']} accuracy (here)", "#1f77b4"),
              ("paper_test_frequency", "paper test frequency", "#fdd0a2"), ("test_frequency_here", "test frequency (here)", "#c6dbef")]
    w = 0.2
    for j, (key, label, color) in enumerate(series):
        vals = [d[key] for d in data]
        ax.bar(x - 0.4 + (j + 0.5) * w, [100 * v if v is not None and v == v else 0 for v in vals], width=w, color=color, label=label)
    ax.set_xticks(x, KINDS)
    ax.set_ylabel("%")
    ax.legend(fontsize=7, ncols=2, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.02))
    s.figures.append(writer.save(fig, "paper_table5", "Table 5 beside ours", "A missing paper bar is a value its text does not state (see the CSV: empty cell).", data))
    return s


def _frac(x: float | None) -> float | None:
    return None if x is None else x / 100


def table6_section(out: Path, writer: F.FigureWriter) -> Section:
    t6 = paper_numbers()["table6"]
    title = "Table 6: multi-step coherence probe"
    paper_rows = [
        ["programs", str(t6["programs"])], ["steps", str(t6["steps"])], ["samples per program", str(t6["samples_per_program"])],
        ["mean survival", t6["mean_survival_words"]],
        ["entropy, leak programs (bits)", f"{t6['entropy_bits_leak_programs']:g}"], ["entropy, race programs (bits)", f"{t6['entropy_bits_race_programs']:g}"],
    ]
    path = out / "probe" / "survival.csv"
    command = PROBE_COMMAND.format(out=out)
    if not path.is_file():
        s = missing("table6", title, f"our side: not run (no probe/survival.csv in this folder; {probe_availability()})", command)
        s.tables.append(TableData(f"Paper ({t6['where']})", ["", "value"], paper_rows, numeric_from=99))
        return s
    try:
        sv = pl.read_csv(path)  # model, mode, survival, rollouts (schedcast.probe.write_probe_outputs)
        per_model = (
            sv.group_by(pl.format("{} ({})", "model", "mode").alias("model"))
            .agg(
                ((pl.col("survival") * pl.col("rollouts")).sum() / pl.col("rollouts").sum()).alias("mean"),
                pl.col("rollouts").sum().alias("rollouts"),
            )
            .sort("model")
        )
    except (OSError, pl.exceptions.PolarsError) as exc:
        s = missing("table6", title, f"our side: probe/survival.csv cannot be read ({exc})", command)
        s.tables.append(TableData(f"Paper ({t6['where']})", ["", "value"], paper_rows, numeric_from=99))
        return s
    s = Section("table6", title)
    s.tables.append(TableData(f"Paper ({t6['where']})", ["", "value"], paper_rows, numeric_from=99))
    s.tables.append(TableData("Here (probe/survival.csv)", ["model", "mean survival (steps)", "rollouts"], [[r[0], num(r[1], 2), str(r[2])] for r in per_model.rows()]))
    data = [{"source": "paper", "model": "KL 7B", "mean_survival_steps": t6["mean_survival_steps"]}]
    data += [{"source": "here", "model": r[0], "mean_survival_steps": r[1]} for r in per_model.rows()]
    fig, ax = F.new(6.0, 0.3 * len(data) + 1.0)
    ax.barh([f"{d['model']} ({d['source']})" for d in data][::-1], [d["mean_survival_steps"] for d in data][::-1],
            color=["#ff7f0e" if d["source"] == "paper" else "#1f77b4" for d in data][::-1])
    ax.set_xlabel("mean survival (valid steps before the first violation)")
    s.figures.append(writer.save(fig, "paper_table6", "Mean survival beside the paper's", "The paper states its mean survival only as roughly one step.", data))
    return s


def calibration_section(out: Path, results: Results | str, writer: F.FigureWriter, reliability_figure: Any | None) -> Section:
    c = paper_numbers()["calibration"]
    title = "Calibration: ECE and entropy against nondeterminism"
    paper_rows = [
        ["ECE, point prediction", num(c["ece_point_prediction"])],
        ["ECE, distribution", num(c["ece_distribution"])],
        ["Spearman ρ, entropy vs nondeterminism", f"{c['spearman_rho']:g} (p = {c['spearman_p']:g})"],
    ]
    if isinstance(results, str):
        s = missing("paper-calibration", title, f"our side is missing: {results}")
        s.tables.append(TableData(f"Paper ({c['where']})", ["", "value"], paper_rows))
        return s
    s = Section("paper-calibration", title)
    s.paragraphs.append(
        f"Paper: {c['ece_words']}. Its calibration figure is an image; the text gives only these values. "
        f"The design brief found that the research prototype's 'ECE' was {paper_numbers()['not_from_the_paper']['prototype_ece_was']}: "
        "so each of our models shows both our binned ECE (15 equal-width bins, docs/evaluate.md) and that mean absolute difference (MAD)."
    )
    rows, data = [], [
        {"source": "paper", "row": "point prediction", "ece": c["ece_point_prediction"], "mad": None, "spearman_rho": None},
        {"source": "paper", "row": "distribution", "ece": c["ece_distribution"], "mad": None, "spearman_rho": c["spearman_rho"]},
    ]
    for r in results.models:
        corr = r.get("entropy_vs_nondeterminism")
        rows.append([r["name"], num(r.get("ece")), num(r.get("mean_abs_diff")), f"{corr['rho']:.3f} (p = {corr['p_value']:.2g})" if corr else "undefined (constant entropy)"])
        data.append({"source": "here", "row": r["name"], "ece": r.get("ece"), "mad": r.get("mean_abs_diff"), "spearman_rho": corr["rho"] if corr else None})
    s.tables.append(TableData(f"Paper ({c['where']})", ["", "value"], paper_rows))
    s.tables.append(TableData("Here (results/metrics.json)", ["model", "ECE (15 bins)", "MAD", "Spearman ρ"], rows))
    fig, ax = F.new(7.0, 0.3 * len(data) + 1.0)
    ys = list(range(len(data)))[::-1]
    ax.barh([y + 0.18 for y in ys], [d["ece"] or 0 for d in data], height=0.36, color=["#ff7f0e" if d["source"] == "paper" else "#1f77b4" for d in data], label="ECE")
    ax.barh([y - 0.18 for y in ys], [d["mad"] or 0 for d in data], height=0.36, color="#9ecae1", label="MAD (the prototype's 'ECE')")
    ax.set_yticks(ys, [f"{d['row']} ({d['source']})" for d in data], fontsize=7)
    ax.set_xlabel("calibration error")
    ax.legend(fontsize=7, frameon=False)
    s.figures.append(writer.save(fig, "paper_calibration", "ECE beside the paper's", "Orange: the paper's ECE values; dark blue: our ECE; light blue: our MAD.", data))
    if reliability_figure is not None:
        s.figures.append(reliability_figure)
    return s
