"""What a leak check costs: the harness's deadlock proof must not flood the trace the
analysis then reads (docs/leaks.md, "Cost: detection vs collection")."""

from __future__ import annotations

from pathlib import Path

from schedcast.collect import Limits, RunConfig
from schedcast.corpus import load_program
from schedcast.leaks import analyze_collection, find_leaks
from schedcast.trace import read_trace
from schedcast.collect import RunStore

from .conftest import write_tree

# main and a worker wait for each other: a deadlock the harness proves with Go's
# goroutineleak profile (a full GC) while the tracer runs.
DEADLOCK = """package main

func main() {
	ping, pong := make(chan int), make(chan int)
	go func() {
		<-ping
		pong <- 1
	}()
	<-pong
	ping <- 1
}
"""


def test_deadlock_proof_adds_few_trace_events(tmp_path: Path) -> None:
    program = load_program(write_tree(tmp_path / "dl", {"main.go": DEADLOCK}) / "main.go")
    config = RunConfig(runs=3, limits=Limits(wall_seconds=10))
    report = find_leaks(program, config, out_dir=tmp_path / "runs")
    assert report.outcomes == {"deadlock": 3}
    assert {leak.blocked_at for leak in report.leaks} == {"main.go:6", "main.go:9"}
    assert all(leak.profile_runs == 3 for leak in report.leaks)  # the proof still holds
    runs = analyze_collection(tmp_path / "runs", program, config)
    # The proof's GC used to yield (GoStop/GoStart) thousands of times waiting for the
    # sweepers of the other P: ~25,000 events in a run of a dozen program events.
    assert all(r.events < 1000 for r in runs), [r.events for r in runs]
    for row in RunStore(tmp_path / "runs").read_runs().to_pylist():
        trace = read_trace(tmp_path / "runs" / row["trace_path"])
        yields = [ev for ev in trace.events if ev.wire == "GoStop" and any(f.func == "runtime.GC" for f in ev.stack)]
        assert len(yields) < 100, len(yields)
