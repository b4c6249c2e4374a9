"""The select-block signature, its claim, and the comparison's building blocks, on
real runs of small programs written for it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from schedcast.collect import Limits, RunConfig
from schedcast.corpus import load_program
from schedcast.leaks import analyze_collection, find_leaks
from schedcast.leaks.compare import detect, label, precision_recall
from schedcast.leaks.signal import bootstrap_d, cohens_d, program_signal
from schedcast.leaks.sites import SourceSites
from schedcast.corpus.catalog import programs_by_origin

from .conftest import write_tree

CONFIG = RunConfig(runs=3, limits=Limits(wall_seconds=10))

# A goroutine whose first block is a select none of whose cases can ever fire.
SELECT_LEAK = """package main

import "time"

func watch(updates <-chan int, stop <-chan struct{}) {
	select {
	case <-updates:
	case <-stop:
	}
}

func main() {
	go watch(make(chan int), make(chan struct{}))
	time.Sleep(2 * time.Millisecond)
}
"""

# Four askers block in the same select; main answers two of them after they blocked.
SOME_ANSWERED = """package main

import "time"

func ask(reply <-chan int, quit <-chan struct{}) {
	select {
	case <-reply:
	case <-quit:
	}
}

func main() {
	var replies []chan int
	for i := 0; i < 4; i++ {
		r := make(chan int)
		replies = append(replies, r)
		go ask(r, nil)
	}
	time.Sleep(5 * time.Millisecond)
	replies[0] <- 1
	replies[2] <- 1
	time.Sleep(time.Millisecond)
}
"""


def test_signature_holds_for_a_select_that_can_never_fire(tmp_path: Path) -> None:
    program = load_program(write_tree(tmp_path / "sel", {"main.go": SELECT_LEAK}) / "main.go")
    report = find_leaks(program, CONFIG, out_dir=tmp_path / "runs")
    [leak] = report.leaks
    assert leak.blocked_at == "main.go:6" and leak.created_at == "main.go:13" and leak.wait == "select"
    assert leak.signature and leak.signature_runs == 3 and leak.counterexamples == 0
    assert leak.profile_runs == 3
    # Per goroutine the claim holds; program-wide GoUnblock after the block is counted, not assumed.
    assert leak.program_unblocks_after <= leak.program_events_after
    assert report.timing["collect_s"] > 0 and report.timing["analyze_s"] > 0


def test_counterexamples_are_reported_not_hidden(tmp_path: Path) -> None:
    program = load_program(write_tree(tmp_path / "ask", {"main.go": SOME_ANSWERED}) / "main.go")
    report = find_leaks(program, CONFIG, out_dir=tmp_path / "runs")
    [leak] = report.leaks
    assert leak.blocked_at == "main.go:6" and leak.created_at == "main.go:17"
    assert leak.goroutines == 2 * 3  # two askers leak per run
    assert leak.signature  # the leaked askers show it in every run...
    # ...but the answered askers first blocked in the very same select and were woken:
    # P(GoUnblock) = 0 after that select is not a property of the site.
    assert leak.counterexamples == 2 * 3
    runs = analyze_collection(tmp_path / "runs", program, CONFIG)
    assert all(not r.trace_error for r in runs)
    assert sum(f.unblocked_later for r in runs for f in r.first_selects) == 6


def test_detectors_over_the_first_k_runs(tmp_path: Path) -> None:
    program = load_program(write_tree(tmp_path / "sel", {"main.go": SELECT_LEAK}) / "main.go")
    find_leaks(program, CONFIG, out_dir=tmp_path / "runs")
    runs = analyze_collection(tmp_path / "runs", program, CONFIG)
    for k in (1, 3):
        assert detect(program, runs, k) == {"signature": True, "blocked": True, "profile": True, "signature|profile": True, "any": True}
    # Drop the leak from the last run: "every run" detectors fail at k=3, the others do not.
    runs[-1].leaked = []
    runs[-1].profile_leaked = 0
    v = detect(program, runs, 3)
    assert v == {"signature": False, "blocked": False, "profile": True, "signature|profile": True, "any": True}


def test_select_case_counts_come_from_the_source_facts() -> None:
    [program] = [p for p in programs_by_origin(["handcrafted"]) if p.id == "select_four_case_leak"]
    sites = SourceSites(program)
    assert sites.display("prog/main.go:11") == "main.go:11"
    line = next(i for i, t in enumerate(program.sources["main.go"].splitlines(), 1) if t.strip() == "select {")
    assert sites.select_cases(f"prog/main.go:{line}") == (4, False)
    assert sites.select_cases("prog/main.go:1") == (None, None)  # no select there: unknown, never guessed


def test_labels_by_construction() -> None:
    by_id = {p.id: p for p in programs_by_origin(["handcrafted"])}
    assert label(by_id["select_two_case_leak"]) is True
    assert label(by_id["mutex_abba_deadlock"]) is True
    assert label(by_id["timeout_ticker_forever_blocked"]) is True
    assert label(by_id["select_two_case_ok"]) is False
    assert label(by_id["mutex_counter_race"]) is None


def test_precision_recall_hand_computed() -> None:
    pr = precision_recall([(True, True), (True, False), (True, True), (False, True), (False, False), (False, False)])
    assert (pr["tp"], pr["fn"], pr["fp"], pr["tn"]) == (2, 1, 1, 2)
    assert pr["precision"] == 2 / 3 and pr["recall"] == 2 / 3
    assert precision_recall([(True, False)])["precision"] is None


def test_cohens_d_and_its_interval() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]
    # pooled sd = sqrt((3*var(a) + 3*var(b)) / 6) with var(a)=5/3, var(b)=20/3
    assert math.isclose(cohens_d(a, b), (2.5 - 5.0) / math.sqrt((5 / 3 + 20 / 3) / 2))
    t = stats.ttest_ind(a, b).statistic  # d = t * sqrt(1/n1 + 1/n2)
    assert math.isclose(cohens_d(a, b), t * math.sqrt(1 / 4 + 1 / 4))
    d, lo, hi = bootstrap_d(a, b, boot=2000, seed=1)
    assert lo <= d <= hi and np.isfinite(lo)
    assert math.isnan(cohens_d([1.0], b))


def test_program_signal_hand_computed() -> None:
    runs = [
        {"0.25": "GoUnblock", "0.5": "GoBlock", "0.75": "GoStart"},
        {"0.25": "GoBlock", "0.5": "GoBlock", "0.75": "GoStart"},
    ]
    p_unblock, entropy = program_signal(runs)  # type: ignore[misc]
    assert math.isclose(p_unblock, (0.5 + 0 + 0) / 3)
    assert math.isclose(entropy, (1.0 + 0 + 0) / 3)
    assert program_signal([{}]) is None


def test_depths_from_the_analysis_equal_the_window_view(tmp_path: Path) -> None:
    """The analysis collects the paper's depths in its own pass; they must equal what
    the trace's window view gives."""
    import warnings

    from schedcast.collect import RunStore
    from schedcast.leaks.signal import next_kinds_at_depths
    from schedcast.trace import read_trace

    program = load_program(write_tree(tmp_path / "ask", {"main.go": SOME_ANSWERED}) / "main.go")
    find_leaks(program, CONFIG, out_dir=tmp_path / "runs")
    runs = {r.run_id: r for r in analyze_collection(tmp_path / "runs", program, CONFIG)}
    for row in RunStore(tmp_path / "runs").read_runs().to_pylist():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trace = read_trace(tmp_path / "runs" / row["trace_path"])
        assert runs[row["run_id"]].depth_next == next_kinds_at_depths(trace) != {}
