"""The HTML report on a small real main-job output: built by the main job, complete,
loaded in headless Chromium; and what it says when stages are missing or damaged."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.report import ReportResult, build_report, timeline
from schedcast.report.figures import FigureWriter
from schedcast.report.browser import check_pages, find_chromium
from schedcast.trace import read_trace

from .conftest import KERNELS, assert_figures_complete, page_figures, section_text

runner = CliRunner()
BUILT = ("run", "runs", "composition", "models", "calibration", "per-kind", "confusion", "entropy", "timeline", "per-program",
         "setup", "table3", "table5", "paper-calibration")
NOT_RUN_HERE = ("probe", "leaks", "table6")  # stages this output folder does not have


def test_main_job_builds_the_report_and_prints_its_path(main_job: tuple[Path, str]) -> None:
    out, printed = main_job
    index = out / "report" / "index.html"
    assert index.is_file() and (out / "report" / "paper.html").is_file()
    assert printed.rstrip().splitlines()[-1].endswith(str(index))


def test_report_is_complete_and_renders_in_chromium(built_report: ReportResult, tmp_path: Path) -> None:
    result = built_report
    assert result.seconds < 30
    assert {k for k, v in result.sections.items() if v is None} == set(BUILT)
    assert set(result.missing) == set(NOT_RUN_HERE)
    assert "not run" in result.missing["probe"] and "schedcast probe" in section_text(result.index, "probe")
    n_main = assert_figures_complete(result.index)
    n_paper = assert_figures_complete(result.paper)
    assert n_main >= 8 and n_paper >= 3
    if find_chromium() is None:
        pytest.skip("Debian's chromium is not installed and could not be (the README's test command installs it with apt-get)")
    shot = tmp_path / "screenshot.png"
    checks = check_pages([result.index, result.paper], [shot, None])
    for check in checks:
        assert not check.console_errors, check.console_errors
        assert not check.failed_requests, check.failed_requests
        assert len(check.images) == len(page_figures(Path(check.url[len("file://"):])))
        assert not check.empty_images, check.empty_images
    assert len(checks[0].images) == n_main and len(checks[1].images) == n_paper
    assert shot.is_file() and shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_or_empty_figure_data_file_is_caught(built_report: ReportResult, tmp_path: Path) -> None:
    copy = shutil.copytree(built_report.index.parent, tmp_path / "report")
    index = copy / "index.html"
    assert_figures_complete(index)
    figures = page_figures(index)
    first = copy / figures[0]["csv"]
    header = first.read_text().splitlines()[0]
    first.write_text(header + "\n")
    with pytest.raises(AssertionError, match="no data rows"):
        assert_figures_complete(index)
    first.unlink()
    with pytest.raises(AssertionError, match="is missing"):
        assert_figures_complete(index)


def test_figures_are_drawn_from_the_evaluation_files(main_job: tuple[Path, str], built_report: ReportResult) -> None:
    out, _ = main_job
    report = built_report.index.parent
    blob = json.loads((out / "results" / "metrics.json").read_text())
    # Reliability: the bins reproduce each model's ECE in metrics.json.
    bins = list(csv.DictReader(open(report / "figures" / "reliability.csv")))
    n = blob["n_examples"]
    for model in blob["models"]:
        mine = [b for b in bins if b["model"] == model["name"]]
        assert len(mine) == 15 and sum(int(b["count"]) for b in mine) == n
        ece = sum(int(b["count"]) / n * abs(float(b["accuracy"]) - float(b["mean_confidence"])) for b in mine if int(b["count"]))
        assert ece == pytest.approx(model["ece"], abs=1e-9)
    # Predictions: every model's argmax reproduces its accuracy and confusion matrix.
    preds = pl.read_parquet(out / "results" / "predictions.parquet")
    for model in blob["models"]:
        mine = preds.filter(pl.col("model") == model["name"])
        q = np.array(mine["q"].to_list())
        y = mine["label"].to_numpy()
        assert len(mine) == n
        assert (q.argmax(axis=1) == y).mean() == pytest.approx(model["accuracy"]["estimate"])
        confusion = np.zeros((6, 6), dtype=int)
        np.add.at(confusion, (y, q.argmax(axis=1)), 1)
        assert confusion.tolist() == model["confusion"]
    # Model table figure: one row per model, majority and reference row, from metrics.json.
    acc = {r["row"]: float(r["accuracy"]) for r in csv.DictReader(open(report / "figures" / "accuracy.csv"))}
    assert acc["majority class"] == pytest.approx(blob["majority_accuracy"])
    assert {m["name"] for m in blob["models"]} | {r["name"] for r in blob["references"]} | {"majority class"} == set(acc)
    # Entropy scatter: one point per (model, program).
    points = list(csv.DictReader(open(report / "figures" / "entropy_vs_nondeterminism.csv")))
    assert len(points) == len(blob["models"]) * blob["n_programs"]


def test_timeline_is_the_chosen_runs_trace(main_job: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = main_job
    runs = pl.read_parquet(out / "runs.parquet")
    run = runs.filter(pl.col("program_id") == "goker_etcd6873").row(0, named=True)
    report = out / "report-chosen"  # inside the output folder, like the default report
    section = timeline.timeline_section(out, report, FigureWriter(report), run["run_id"])
    assert section.missing is None and section.figures
    trace = read_trace(out / run["trace_path"])
    goroutines = {ev.g for ev in trace.program_events(window=False)}
    drawn = {int(r["goroutine"]) for r in csv.DictReader(open(report / "figures" / "timeline.csv")) if r["goroutine"]}
    assert drawn <= goroutines and len(drawn) == min(len(goroutines), timeline.MAX_GOROUTINES_DRAWN)
    assert min(goroutines) in drawn  # the main (test) goroutine always has a lane
    perfetto = json.loads((report / "trace" / f"{run['run_id']}.perfetto.json").read_text())
    assert {e["tid"] for e in perfetto["traceEvents"] if e.get("ph") == "X"} == goroutines
    text = " ".join(section.paragraphs + section.commands)
    assert "go tool trace" in text and "ui.perfetto.dev" in text and run["run_id"] in text
    links = dict(section.links)
    assert (report / links["raw Go trace"]).resolve() == (out / run["trace_path"]).resolve()
    assert (report / links["Perfetto / chrome://tracing file (JSON)"]).is_file()
    # The default choice: a held-out kernel's run, one that leaked if any did.
    default = timeline.choose_run(runs, pl.read_parquet(out / "programs.parquet"))
    assert isinstance(default, dict) and default["program_id"] in KERNELS
    assert "leak" in default["outcomes"] or not runs.filter(pl.col("program_id").is_in(list(KERNELS)))["outcomes"].list.contains("leak").any()
    assert timeline.choose_run(runs, runs, "no-such-run") == "no run no-such-run in this collection"


def test_missing_and_older_stages_are_named_not_tracebacks(main_job: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = main_job
    old = tmp_path / "old"
    shutil.copytree(out, old, ignore=shutil.ignore_patterns("report*"))
    # An evaluation written by an older schedcast: no composition, reliability or predictions.
    metrics = old / "results" / "metrics.json"
    blob = json.loads(metrics.read_text())
    del blob["composition"], blob["per_program"]
    metrics.write_text(json.dumps(blob))
    (old / "results" / "reliability.csv").unlink()
    (old / "results" / "predictions.parquet").unlink()
    # A damaged collection table.
    (old / "runs.parquet").write_bytes(b"PAR1 not really")
    result = runner.invoke(app, ["report", str(old)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    index = old / "report" / "index.html"
    missing = {s: section_text(index, s) for s in ("composition", "calibration", "entropy", "per-program", "runs", "timeline")}
    assert "older schedcast" in missing["composition"] and "older schedcast" in missing["per-program"]
    assert "reliability.csv is missing" in missing["calibration"] and "predictions.parquet is missing" in missing["entropy"]
    assert "cannot be read" in missing["runs"] and "cannot be read" in missing["timeline"]
    assert "Missing:" in missing["runs"]
    # The sections that still have their files are built.
    assert "Missing:" not in section_text(index, "models") and "Missing:" not in section_text(index, "confusion")
    assert_figures_complete(index)
    # No evaluation at all: every section that needs it says so; the collection's still work.
    shutil.rmtree(old / "results")
    shutil.copy(out / "runs.parquet", old / "runs.parquet")
    result = build_report(old)
    assert "no results/metrics.json" in result.missing["models"] and "runs" not in result.missing
    assert "our side is missing" in result.missing["table3"]
    # Not an output folder at all: one line, exit 1.
    gone = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert gone.exit_code == 1 and "no such output folder" in gone.output and "Traceback" not in gone.output


def test_a_large_evaluation_keeps_reliability_but_not_every_prediction(main_job: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from schedcast.evaluate import evaluation

    out, _ = main_job
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("report*", "results"))
    monkeypatch.setattr(evaluation, "PREDICTIONS_KEPT_UP_TO", 5)
    done = runner.invoke(app, ["evaluate", str(copy / "dataset"), str(copy / "models"), "--out", str(copy / "results"), "--boot", "10"])
    assert done.exit_code == 0, done.output
    assert (copy / "results" / "reliability.csv").is_file() and not (copy / "results" / "predictions.parquet").exists()
    result = build_report(copy)
    assert "calibration" not in result.missing
    n = json.loads((copy / "results" / "metrics.json").read_text())["n_examples"]
    assert result.missing["entropy"] == (
        f"results/predictions.parquet was not written: the evaluation had {n:,} examples, more than the 5 whose predictions it saves"
    )
