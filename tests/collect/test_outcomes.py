"""Every outcome class comes from a real program, run for real."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from schedcast.collect import RunConfig, collect
from schedcast.collect.store import RunStore
from schedcast.corpus import builtin_programs, load_program
from schedcast.toolchain import run_go

from .conftest import BUILTIN_RUNS, write_program


def _runs_of(table: pa.Table, program_id: str) -> list[dict]:
    return [r for r in table.to_pylist() if r["program_id"] == program_id]


@pytest.mark.parametrize("program", builtin_programs(), ids=lambda p: p.id)
def test_declared_outcome_appears(builtin_collection: tuple[Path, pa.Table], program) -> None:  # type: ignore[no-untyped-def]
    _, table = builtin_collection
    runs = _runs_of(table, program.id)
    assert len(runs) == BUILTIN_RUNS
    seen = {o for r in runs for o in r["outcomes"]}
    assert set(program.expected) <= seen, (program.id, [r["outcomes"] for r in runs], runs[0]["stderr"][-2000:])


def test_runs_are_recorded_with_their_settings(builtin_collection: tuple[Path, pa.Table]) -> None:
    out, table = builtin_collection
    rows = _runs_of(table, "ok_pipeline")
    assert [r["run_index"] for r in rows] == list(range(BUILTIN_RUNS))
    assert len({r["seed"] for r in rows}) == BUILTIN_RUNS
    for r in rows:
        assert r["gomaxprocs"] == 2 and r["race_build"] and r["toolchain"].startswith("go1.")
        assert r["trace_complete"] and r["trace_bytes"] > 0
        trace = out / r["trace_path"]
        assert trace.read_bytes()[:16].startswith(b"go 1.")
        assert "sum 55" in r["stdout"]


def test_race_report_has_both_stacks(builtin_collection: tuple[Path, pa.Table]) -> None:
    _, table = builtin_collection
    run = next(r for r in _runs_of(table, "race_counter") if "race" in r["outcomes"])
    reports = json.loads(run["race_reports"])
    assert reports
    current, previous = reports[0]["current"], reports[0]["previous"]
    assert previous is not None
    for access in (current, previous):
        assert access["op"] in {"read", "write"}
        top = access["frames"][0]
        assert (top["file"], top["line"]) == ("prog/main.go", 16)  # counter++
        assert top["function"].startswith("main.schedcastUserMain.func")


def test_leak_names_the_blocked_goroutine(builtin_collection: tuple[Path, pa.Table]) -> None:
    _, table = builtin_collection
    for r in _runs_of(table, "leak_select_two"):
        leaked = [g for g in json.loads(r["goroutines_at_end"]) if g["leaked"]]
        assert r["leaked_goroutines"] == len(leaked) == 1
        assert leaked[0]["state"] == "select"
        assert "main.worker" in leaked[0]["stack"]


def test_panic_and_crash_messages(builtin_collection: tuple[Path, pa.Table]) -> None:
    _, table = builtin_collection
    assert {r["panic_message"] for r in _runs_of(table, "panic_closed_chan")} == {"close of closed channel"}
    assert {r["crash_reason"] for r in _runs_of(table, "crash_unlock")} == {"fatal error: sync: unlock of unlocked mutex"}


def test_deadlock_and_timeout_traces_are_complete_for_go(builtin_collection: tuple[Path, pa.Table]) -> None:
    """Runs the harness ended (deadlock, SIGTERM at the deadline) leave traces Go's own parser reads."""
    out, table = builtin_collection
    for program_id in ("deadlock_unpaired_recv", "timeout_spin", "blocked_global_chan", "kernel_leak_test"):
        run = _runs_of(table, program_id)[0]
        assert run["trace_complete"]
        proc = run_go(["tool", "trace", "-d=parsed", str(out / run["trace_path"])], timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "StateTransition" in proc.stdout


def test_quiescence_ends_a_deadlocked_run_within_half_a_second(tmp_path: Path) -> None:
    source = """package main

import (
	"sync"
	"time"
)

func main() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			mu.Lock() // the second and third goroutines wait forever
		}()
	}
	wg.Wait() // Done is never called
}
"""
    program = load_program(write_program(tmp_path / "late_deadlock", source))
    collect([program], tmp_path / "out", RunConfig(runs=3), show_progress=False)
    for r in RunStore(tmp_path / "out").read_runs().to_pylist():
        assert r["outcomes"] == ["deadlock"]
        # 0.3 s of sleep, then at most 0.5 s to notice, plus process start-up.
        assert r["duration_s"] < 0.3 + 0.5 + 0.15, r["duration_s"]
        assert r["trace_complete"]


def test_failing_test_kernel_is_fail(tmp_path: Path) -> None:
    source = """package kernel

import "testing"

func TestAlwaysFails(t *testing.T) {
	done := make(chan int)
	go func() { done <- 1 }()
	if <-done != 2 {
		t.Fatal("expected 2")
	}
}
"""
    program = load_program(write_program(tmp_path / "failing", source, name="kernel_test.go"))
    collect([program], tmp_path / "out", RunConfig(runs=2, race=False), show_progress=False)
    for r in RunStore(tmp_path / "out").read_runs().to_pylist():
        assert r["outcomes"] == ["fail"]
        assert r["exit_code"] == 1 and r["trace_complete"]
        assert "expected 2" in r["stdout"] + r["stderr"]
