"""Sections read from files other stages write: leak reports, the probe's curves, and
the paper's numbers (one cited data file, nowhere else)."""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from schedcast.report import build_report
from schedcast.report.paper import paper_numbers

from .conftest import assert_figures_complete, section_text

LEAK = {
    "created_at": "main.go:12", "entry": "main.worker", "blocked_at": "main.go:15", "blocked_func": "main.worker",
    "wait": "select", "select_cases": 2, "select_default": False, "runs": 5, "of_runs": 5, "goroutines": 5, "max_per_run": 1,
    "after_program_end": 0, "signature_runs": 5, "signature": True, "counterexamples": 0, "profile": {"leaked": 5},
    "profile_runs": 5, "goleak": True, "program_unblocks_after": 0, "program_events_after": 0,
}


def test_leak_reports_become_the_leak_table(tmp_path: Path) -> None:
    leaks = tmp_path / "leaks"
    leaks.mkdir()
    (leaks / "select_leak.json").write_text(json.dumps({"program": "select_leak", "target": "x", "kind": "main", "runs": 5, "outcomes": {"leak": 5}, "leaks": [LEAK], "alive": []}))
    (leaks / "clean.json").write_text(json.dumps({"program": "clean_twin", "leaks": []}))
    (leaks / "broken.json").write_text("{not json")
    result = build_report(tmp_path, strict=True)
    assert "leaks" not in result.missing
    text = section_text(result.index, "leaks")
    assert "select_leak" in text and "main.go:12" in text and "main.go:15" in text and "select" in text
    assert "clean_twin" in text and "no leak found" in text
    assert "broken.json: cannot be read" in text


def test_no_readable_leak_report_says_why(tmp_path: Path) -> None:
    (tmp_path / "leaks").mkdir()
    (tmp_path / "leaks" / "x.json").write_text(json.dumps({"something": "else"}))
    result = build_report(tmp_path)
    assert "x.json: not a leak report" in result.missing["leaks"]


def test_probe_curves_are_drawn_from_the_probe_files(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    # The probe's own files (schedcast.probe.write_probe_outputs): survival as counts.
    with open(probe / "survival.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "mode", "survival", "rollouts"])
        for steps, n in ((0, 1), (1, 2), (2, 0), (3, 1)):
            w.writerow(["ngram", "free", steps, n])
        w.writerow(["ngram", "constrained", 15, 2])
    with open(probe / "curves.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "mode", "k", "tv", "tv_prefixes", "real_continuations", "alive"])
        for k in range(1, 4):
            w.writerow(["ngram", "free", k, 0.1 * k, 5, 20, 4])
    result = build_report(tmp_path, strict=True)
    assert "probe" not in result.missing and "table6" not in result.missing
    curve = [r for r in csv.DictReader(open(result.index.parent / "figures" / "probe_survival.csv")) if r["mode"] == "free"]
    # Share of the four free rollouts still valid after 0, 1, 2, 3 steps.
    assert [float(r["share_surviving"]) for r in curve] == [1.0, 0.75, 0.25, 0.25]
    text = section_text(result.index, "probe")
    assert "ngram (free): mean survival 1.25 steps" in text
    assert "1.25" in section_text(result.paper, "table6")
    assert_figures_complete(result.index)


def test_a_probe_file_without_its_columns_is_named(tmp_path: Path) -> None:
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "survival.csv").write_text("model,mode,steps\nngram,free,3\n")
    result = build_report(tmp_path)
    assert "lacks the columns ['rollouts', 'survival']" in result.missing["probe"]


def test_the_papers_numbers_live_in_one_cited_file(tmp_path: Path) -> None:
    numbers = paper_numbers()
    assert "arXiv:2606.17508" in numbers["citation"]
    assert [r["accuracy_pct"] for r in numbers["table3"]["rows"]] == [28.6, 35.2, 34.8, 36.2, 35.8]
    # No module or template of the report types them.
    package = resources.files("schedcast.report")
    for name in ("36.2", "35.8", "28.6", "0.205", "0.169", "0.412", "0.945", "0.773"):
        for path in Path(str(package)).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".j2", ".css"):
                assert not re.search(rf"(?<![\d.]){re.escape(name)}(?!\d)", path.read_text()), f"{name} typed in {path.name}"
    # The paper page shows them, and says what is missing on our side.
    result = build_report(tmp_path, strict=True)
    text = section_text(result.paper, "table3")
    assert "36.2" in text and "28.6" in text and "our side is missing" in text
    assert "0.205" in section_text(result.paper, "paper-calibration")
    assert "roughly one step" in section_text(result.paper, "table6")
    setup = section_text(result.paper, "setup")
    assert "Qwen2.5-Coder 7B" in setup and "runs per program" in setup


@pytest.mark.parametrize("bad", ["{", "[]", '{"models": []}'])
def test_an_unreadable_metrics_file_is_one_reason(tmp_path: Path, bad: str) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "metrics.json").write_text(bad)
    result = build_report(tmp_path)
    assert result.missing["models"].startswith("results/metrics.json")


def test_a_rebuild_drops_stale_figures_but_never_touches_a_foreign_folder(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "survival.csv").write_text("model,mode,survival,rollouts\nngram,free,2,1\nngram,free,4,1\n")
    first = build_report(tmp_path, strict=True)
    assert (first.index.parent / "figures" / "probe_survival.csv").is_file()
    (probe / "survival.csv").unlink()
    build_report(tmp_path, strict=True)
    assert not (first.index.parent / "figures" / "probe_survival.csv").exists()  # no stale figure of the earlier build
    foreign = tmp_path / "mine"
    (foreign / "figures").mkdir(parents=True)
    (foreign / "figures" / "keep.txt").write_text("a user's file")
    build_report(tmp_path, foreign)
    assert (foreign / "figures" / "keep.txt").read_text() == "a user's file"
