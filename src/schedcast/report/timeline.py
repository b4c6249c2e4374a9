"""The goroutine timeline of one run, read from its trace with schedcast.trace: which
goroutine was running, runnable, blocked (and on what) when; with the run's trace
exported for Perfetto and the command for `go tool trace`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import polars as pl

from schedcast.report import figures as F
from schedcast.report.page import Section, missing

# Reading a trace is pure Python: keep the report fast by choosing, by default, a run
# whose trace is at most this large (a chosen --run may be larger).
DEFAULT_MAX_TRACE_BYTES = 256 * 1024
PREFERRED_TRACE_BYTES = 16 * 1024  # among equals, the trace closest to this size: readable, not trivial
MAX_GOROUTINES_DRAWN = 40
RASTERIZE_ABOVE = 2000  # slices
_PREFERENCE = ("leak", "deadlock", "race", "panic")


def choose_run(runs: pl.DataFrame, programs: pl.DataFrame, run_id: str | None = None) -> dict[str, Any] | str:
    """The run to draw: ``run_id`` if given; otherwise a held-out real-world kernel's run
    (origin goker or gobench) that leaked, else deadlocked, else any, with a complete
    stored trace of at most DEFAULT_MAX_TRACE_BYTES; among those, the trace closest to
    PREFERRED_TRACE_BYTES."""
    stored = runs.filter(pl.col("trace_path").is_not_null() & (pl.col("trace_path") != ""))
    if run_id is not None:
        mine = stored.filter(pl.col("run_id") == run_id)
        if mine.height == 0:
            known = runs.filter(pl.col("run_id") == run_id).height
            return f"run {run_id} has no stored trace" if known else f"no run {run_id} in this collection"
        return mine.row(0, named=True)
    origin = dict(zip(programs["program_id"].to_list(), programs["origin"].to_list()))
    candidates = stored.filter(pl.col("trace_complete").fill_null(False) & (pl.col("trace_bytes") <= DEFAULT_MAX_TRACE_BYTES))
    if candidates.height == 0:
        return f"no run with a complete stored trace of at most {DEFAULT_MAX_TRACE_BYTES // 1024} KiB (choose one with --run RUN_ID)"

    def rank(r: dict[str, Any]) -> tuple[int, int, int, str]:
        outcomes = r["outcomes"] or []
        kind = next((i for i, o in enumerate(_PREFERENCE) if o in outcomes), len(_PREFERENCE))
        real = 0 if origin.get(r["program_id"]) in ("goker", "gobench") else 1
        return (real, kind, abs(int(r["trace_bytes"] or 0) - PREFERRED_TRACE_BYTES), r["run_id"])

    return min(candidates.iter_rows(named=True), key=rank)


def _goroutines_to_draw(slices: list[dict[str, Any]], goroutines: list[int]) -> list[int]:
    """At most MAX_GOROUTINES_DRAWN lanes: the lowest id (the main or test goroutine),
    then goroutines whose last state is blocked (leaked or deadlocked), then those with
    the most state changes; shown in id order."""
    if len(goroutines) <= MAX_GOROUTINES_DRAWN:
        return goroutines
    last: dict[int, tuple[float, str]] = {}
    changes: dict[int, int] = {}
    for e in slices:
        g = e["tid"]
        changes[g] = changes.get(g, 0) + 1
        if g not in last or e["ts"] >= last[g][0]:
            last[g] = (e["ts"], e["cat"])
    rank = sorted(goroutines, key=lambda g: (g != goroutines[0], last[g][1] != "blocked", -changes[g], g))
    return sorted(rank[:MAX_GOROUTINES_DRAWN])


def timeline_section(out: Path, report_dir: Path, writer: F.FigureWriter, run_id: str | None = None) -> Section:
    from schedcast.report.stages import read_collection
    from schedcast.trace import TraceError, read_trace
    from schedcast.trace.perfetto import to_chrome_trace

    title = "Goroutine timeline of one run"
    got = read_collection(out)
    if isinstance(got, str):
        return missing("timeline", title, got, f"schedcast collect --out {out}")
    runs, programs = got
    run = choose_run(runs, programs, run_id)
    if isinstance(run, str):
        return missing("timeline", title, run, f"schedcast report {out} --run RUN_ID")
    trace_file = out / run["trace_path"]
    if not trace_file.is_file():
        return missing("timeline", title, f"the trace of run {run['run_id']} ({run['trace_path']}) is not in the collection", f"schedcast collect --out {out}")
    try:
        trace = read_trace(trace_file)
    except TraceError as exc:
        return missing("timeline", title, f"the trace of run {run['run_id']} cannot be read: {exc}", f"schedcast trace show {trace_file}")
    # The whole run, not only the program window: leaked goroutines often block after it.
    events = trace.program_events(window=False)
    if not events:
        return missing("timeline", title, f"run {run['run_id']} has no program events in its trace", f"schedcast trace show {trace_file} --no-window")
    chrome = to_chrome_trace(trace, events)
    trace_dir = report_dir / "trace"
    trace_dir.mkdir(parents=True, exist_ok=True)
    perfetto = trace_dir / f"{run['run_id']}.perfetto.json"
    perfetto.write_text(json.dumps(chrome))

    slices = [e for e in chrome["traceEvents"] if e.get("ph") == "X"]
    names = {e["tid"]: e["args"]["name"] for e in chrome["traceEvents"] if e.get("ph") == "M" and e.get("name") == "thread_name"}
    goroutines = sorted({e["tid"] for e in slices})
    shown = _goroutines_to_draw(slices, goroutines)
    rows = [
        {"goroutine": e["tid"], "name": names.get(e["tid"], f"G{e['tid']}"), "state": e["cat"], "what": e["name"],
         "start_us": e["ts"], "end_us": e["ts"] + e["dur"], "at": e["args"].get("at", "")}
        for e in slices if e["tid"] in shown
    ]
    t0 = events[0].time
    end_us = (events[-1].time - t0) / 1000.0
    fig, ax = F.new(9.0, 0.28 * len(shown) + 1.3)
    lane = {g: i for i, g in enumerate(reversed(shown))}
    spans: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for r in rows:
        spans.setdefault((r["goroutine"], r["state"]), []).append((r["start_us"], max(r["end_us"] - r["start_us"], end_us / 2000)))
    # Thousands of sub-pixel slices (a spinning goroutine) are drawn as an image inside
    # the SVG: the same picture, without one SVG path per slice.
    raster = len(rows) > RASTERIZE_ABOVE
    for (g, state), bars in spans.items():
        ax.broken_barh(bars, (lane[g] - 0.35, 0.7), color=F.STATE_COLORS[state], rasterized=raster)
    for state, color in F.STATE_COLORS.items():
        ax.plot([], [], color=color, linewidth=6, label=state)
    markers = []
    for log in trace.logs:
        if log.category == "schedcast" and events[0].time <= log.time <= events[-1].time:
            x = (log.time - t0) / 1000.0
            ax.axvline(x, color="#555555", linestyle=":", linewidth=1)
            ax.text(x, len(shown) - 0.4, log.message, fontsize=7, rotation=90, va="top", ha="right")
            markers.append({"goroutine": "", "name": "marker", "state": "marker", "what": log.message, "start_us": x, "end_us": x, "at": ""})
    ax.set_yticks([lane[g] for g in shown], [names.get(g, f"G{g}")[:48] for g in shown], fontsize=7)
    ax.set_xlabel("time since the first program event (µs)")
    ax.set_xlim(0, end_us * 1.01 or 1)
    ax.legend(ncols=4, fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.02))
    program = run["program_id"]
    fig_ref = writer.save(
        fig, "timeline", f"Goroutines of {program}, run {run['run_index']}",
        f"Run {run['run_id']} ({', '.join(run['outcomes'] or []) or 'no outcome'}): one lane per program goroutine, "
        "coloured by state; dotted lines: the harness's program-start / program-end markers.",
        rows + markers,
    )
    s = Section("timeline", title)
    hidden = len(goroutines) - len(shown)
    s.paragraphs.append(
        f"{program}, run {run['run_index']} (run id {run['run_id']}, outcomes: {', '.join(run['outcomes'] or []) or 'none'}): "
        f"{len(events)} program transitions of {len(goroutines)} goroutines over {end_us:,.0f} µs, the whole run "
        "(goroutines that leak often start and block after the program window)."
        + (f" {len(shown)} of them are drawn (the main goroutine, those blocked at the end, then the busiest); the Perfetto file has all." if hidden > 0 else "")
    )
    s.paragraphs.append(
        "To explore it: open https://ui.perfetto.dev and load the Perfetto file below (“Open trace file”; the trace stays on your machine), "
        "or run Go's own viewer on the raw trace with the command below."
    )
    rel_trace = Path("..") / run["trace_path"] if report_dir.parent == out else trace_file.resolve()
    s.links += [("Perfetto / chrome://tracing file (JSON)", perfetto.relative_to(report_dir).as_posix()), ("raw Go trace", rel_trace.as_posix())]
    s.commands += [
        f"schedcast trace export {shlex.quote(str(trace_file))} --format perfetto --no-window -o {shlex.quote(str(perfetto))}",
        f"go tool trace {shlex.quote(str(trace_file))}",
        f"schedcast trace show {shlex.quote(str(trace_file))} --no-window",
    ]
    s.figures.append(fig_ref)
    return s
