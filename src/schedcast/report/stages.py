"""Sections drawn from the other stages' files: the collection (runs.parquet,
programs.parquet), the multi-step probe (``OUT/probe/*.csv``) and the leak reports
(``OUT/leaks/*.json``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from schedcast.report import figures as F
from schedcast.report.page import Section, TableData, missing, num

PROBE_COMMAND = "schedcast probe {out}/dataset {out}/models --out {out}/probe"
LEAKS_COMMAND = "schedcast leaks PROGRAM --json > {out}/leaks/PROGRAM.json"


# ---------------------------------------------------------------- collection
def read_collection(out: Path) -> tuple[pl.DataFrame, pl.DataFrame] | str:
    """The runs and programs tables of the collection in ``out``, or why not."""
    from schedcast.collect.store import RunStore, StoreError

    if not (out / "runs.parquet").is_file():
        pending = list((out / "pending").glob("*")) if (out / "pending").is_dir() else []
        if pending:
            return f"runs.parquet is not written yet ({len(pending)} runs pending): rerun `schedcast collect --out {out}` or `schedcast runs {out}` to merge them"
        return f"no runs.parquet in {out}: the collection stage did not run here"
    try:
        store = RunStore(out, read_only=True)
        runs = pl.from_arrow(store.read_runs())
        programs = pl.from_arrow(store.read_programs())
    except StoreError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        return f"runs.parquet or programs.parquet cannot be read ({type(exc).__name__}: {exc}); the collection is damaged"
    assert isinstance(runs, pl.DataFrame) and isinstance(programs, pl.DataFrame)
    return runs, programs


def runs_section(out: Path, writer: F.FigureWriter) -> Section:
    title = "Runs: outcomes per program"
    got = read_collection(out)
    if isinstance(got, str):
        return missing("runs", title, got, f"schedcast collect --out {out}")
    runs, programs = got
    if runs.height == 0:
        return missing("runs", title, "the collection holds no runs", f"schedcast collect --out {out}")
    origin_of = dict(zip(programs["program_id"].to_list(), programs["origin"].to_list()))
    per_program: dict[str, dict[str, Any]] = {}
    for r in runs.select("program_id", "outcomes", "duration_s", "trace_bytes").iter_rows(named=True):
        p = per_program.setdefault(r["program_id"], {"runs": 0, "outcomes": Counter(), "duration_s": 0.0, "trace_bytes": 0})
        p["runs"] += 1
        p["outcomes"].update(r["outcomes"] or ["(none)"])
        p["duration_s"] += r["duration_s"] or 0.0
        p["trace_bytes"] += r["trace_bytes"] or 0
    total: Counter[str] = Counter()
    by_origin: dict[str, Counter[str]] = {}
    rows = []
    for pid in sorted(per_program):
        p = per_program[pid]
        origin = origin_of.get(pid) or "?"
        total.update(p["outcomes"])
        by_origin.setdefault(origin, Counter()).update(p["outcomes"])
        rows.append([pid, origin, str(p["runs"]), " ".join(f"{k}={v}" for k, v in sorted(p["outcomes"].items())),
                     f"{p['duration_s'] / p['runs']:.3f}", f"{p['trace_bytes'] / p['runs'] / 1024:.1f}"])
    s = Section("runs", title)
    s.paragraphs.append(
        f"{runs.height} runs of {len(per_program)} programs in {out}; outcomes over all runs (a run can have several): "
        + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + ". Also: `schedcast runs " + str(out) + "`."
    )
    s.tables.append(TableData("Per program", ["program", "origin", "runs", "outcomes", "mean s/run", "mean trace KB"], rows, collapsed=True, numeric_from=2))
    outcomes = sorted(total)
    origins = sorted(by_origin)
    fig, ax = F.new(7.0, 0.45 * len(origins) + 1.4)
    left = np.zeros(len(origins))
    cmap = F.plt.get_cmap("tab10")
    data = []
    for i, outcome in enumerate(outcomes):
        counts = np.array([by_origin[o][outcome] for o in origins], dtype=float)
        ax.barh(origins, counts, left=left, color=cmap(i % 10), label=outcome)
        left += counts
        data += [{"origin": o, "outcome": outcome, "runs": int(c)} for o, c in zip(origins, counts)]
    ax.set_xlabel("runs with the outcome")
    ax.legend(ncols=min(5, len(outcomes)), fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.02))
    s.figures.append(writer.save(fig, "outcomes", "Outcomes of the runs per program origin", "Counts of (run, outcome) pairs; the per-program table above has the detail.", data))
    return s


# ---------------------------------------------------------------- probe
def probe_availability() -> str:
    """Whether this schedcast has the multi-step probe that writes OUT/probe/."""
    import importlib.util

    if importlib.util.find_spec("schedcast.probe") is None:
        return "this schedcast has no multi-step probe yet; once it has, the command below writes them"
    return "the command below writes them"


def probe_section(out: Path, writer: F.FigureWriter) -> Section:
    """Survival and k-step fidelity curves from the files `schedcast probe --out` writes
    (schedcast.probe.write_probe_outputs): ``OUT/probe/survival.csv`` (model, mode,
    survival, rollouts: how many rollouts made exactly `survival` valid steps) and
    ``OUT/probe/curves.csv`` (model, mode, k, tv, real_continuations, ...)."""
    title = "Multi-step probe: survival and k-step fidelity"
    command = PROBE_COMMAND.format(out=out)
    survival_path, curves_path = out / "probe" / "survival.csv", out / "probe" / "curves.csv"
    if not survival_path.is_file() and not curves_path.is_file():
        return missing("probe", title, f"not run: no probe/survival.csv or probe/curves.csv in this folder ({probe_availability()})", command)
    s = Section("probe", title)
    try:
        if survival_path.is_file():
            sv = pl.read_csv(survival_path)
            need = {"model", "mode", "survival", "rollouts"}
            if not need <= set(sv.columns):
                raise ValueError(f"probe/survival.csv lacks the columns {sorted(need - set(sv.columns))}")
            keys = sv.select("model", "mode").unique().sort("model", "mode").rows()
            fig, ax = F.new(7.0, 3.4)
            rows = []
            for model, mode in keys:
                mine = sv.filter((pl.col("model") == model) & (pl.col("mode") == mode))
                steps = np.repeat(mine["survival"].to_numpy(), mine["rollouts"].to_numpy())
                if not steps.size:
                    continue
                xs = np.arange(0, int(steps.max()) + 1)
                alive = [(steps >= x).mean() for x in xs]
                ax.step(xs, alive, where="post", label=f"{model} ({mode})")
                rows += [{"model": model, "mode": mode, "steps": int(x), "share_surviving": float(a)} for x, a in zip(xs, alive)]
                s.paragraphs.append(f"{model} ({mode}): mean survival {steps.mean():.2f} steps, median {np.median(steps):.1f}, {steps.size} rollouts.")
            ax.set_xlabel("valid steps before the first violation")
            ax.set_ylabel("share of rollouts still valid")
            ax.legend(fontsize=7, frameon=False)
            s.figures.append(writer.save(fig, "probe_survival", "Survival of rollouts", "Share of rollouts whose first k steps are all valid for the scheduler FSM.", rows))
        if curves_path.is_file():
            fd = pl.read_csv(curves_path)
            need = {"model", "mode", "k", "tv", "real_continuations"}
            if not need <= set(fd.columns):
                raise ValueError(f"probe/curves.csv lacks the columns {sorted(need - set(fd.columns))}")
            fd = fd.select("model", "mode", "k", "tv", "real_continuations")
            fig, ax = F.new(7.0, 3.4)
            for model, mode in fd.select("model", "mode").unique().sort("model", "mode").rows():
                mine = fd.filter((pl.col("model") == model) & (pl.col("mode") == mode)).sort("k")
                ax.plot(mine["k"].to_numpy(), mine["tv"].to_numpy(), marker="o", markersize=3, label=f"{model} ({mode})")
            ax.set_xlabel("step k")
            ax.set_ylabel("TV to real continuations")
            ax.set_ylim(0, 1)
            ax.legend(fontsize=7, frameon=False)
            s.figures.append(writer.save(fig, "probe_fidelity", "k-step fidelity", "Total variation between the model's kind distribution at step k and the real continuations from the same state group.", fd.to_dicts()))
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        return missing("probe", title, f"the probe's files cannot be read: {exc}", command)
    return s


# ---------------------------------------------------------------- leaks
_LEAK_COLUMNS = (
    ("created_at", "created at"), ("blocked_at", "blocked at"), ("wait", "wait"), ("runs", "runs"),
    ("of_runs", "of runs"), ("signature", "select-block signature"), ("profile_runs", "goroutineleak profile runs"), ("goleak", "goleak-style check"),
)


def _leak_reports(blob: Any) -> list[dict[str, Any]]:
    if isinstance(blob, dict):
        if isinstance(blob.get("leaks"), list):
            return [blob]
        for key in ("reports", "programs"):
            if isinstance(blob.get(key), list):
                return [r for r in blob[key] if isinstance(r, dict)]
    if isinstance(blob, list):
        return [r for r in blob if isinstance(r, dict) and isinstance(r.get("leaks"), list)]
    return []


def leaks_section(out: Path) -> Section:
    title = "Goroutine leaks"
    command = LEAKS_COMMAND.format(out=out)
    files = sorted((out / "leaks").glob("*.json")) if (out / "leaks").is_dir() else []
    if not files:
        return missing("leaks", title, "no leak report: no leaks/*.json in this folder (`schedcast leaks --json` writes one per program)", command)
    rows: list[list[str]] = []
    problems: list[str] = []
    programs = 0
    for path in files:
        try:
            reports = _leak_reports(json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{path.name}: cannot be read ({exc})")
            continue
        if not reports:
            problems.append(f"{path.name}: not a leak report (no 'leaks' list)")
        for report in reports:
            programs += 1
            program = str(report.get("program") or path.stem)
            if not report["leaks"]:
                rows.append([program, "no leak found", *[""] * (len(_LEAK_COLUMNS) - 1)])
            for leak in report["leaks"]:
                if isinstance(leak, dict):
                    rows.append([program, *(_cell(leak.get(key)) for key, _ in _LEAK_COLUMNS)])
    if not rows:
        return missing("leaks", title, "no leak report could be read: " + "; ".join(problems), command)
    s = Section("leaks", title)
    s.paragraphs.append(f"{programs} leak reports from {len(files)} files in leaks/; one row per leaked goroutine (creation site, blocking site, wait).")
    s.paragraphs += [f"Skipped {p}." for p in problems]
    s.tables.append(TableData("Leaks", ["program", *(label for _, label in _LEAK_COLUMNS)], rows, numeric_from=99))
    return s


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return num(v, 2)
    return str(v)
