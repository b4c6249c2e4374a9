"""``schedcast trace show`` and ``export``: output, Perfetto JSON, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from schedcast.trace import read_trace
from schedcast.trace.cli import app

from .conftest import FIXTURES

runner = CliRunner()
LEAK = FIXTURES / "leak.trace"
MULTIGEN = FIXTURES / "multigen.trace"


def test_show_prints_a_timeline_per_goroutine() -> None:
    result = runner.invoke(app, ["show", str(LEAK), "--no-window"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "go 1.26 trace" in out and "harness markers found" in out
    assert "G9 main.leakySend" in out and "G10 main.leakySelect" in out
    assert "(chan send) at" in out and "leak.go:24" in out
    assert "(select) at" in out
    # System goroutines are hidden unless asked for.
    assert "runtime.gcBgMarkWorker" not in out and "schedcastHarness" not in out
    with_system = runner.invoke(app, ["show", str(LEAK), "--system", "--no-window"]).output
    assert "schedcastHarnessWatchdog" in with_system and "(system)" in with_system


def test_show_filters_goroutines_and_limits() -> None:
    result = runner.invoke(app, ["show", str(MULTIGEN), "-g", "1", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "G1 runtime.main" in result.output
    assert "\nG8 " not in result.output
    assert "more (use --limit 0)" in result.output


def test_export_perfetto(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["export", str(MULTIGEN), "--format", "perfetto", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    events = data["traceEvents"]
    trace = read_trace(MULTIGEN)
    view = trace.program_events()
    slices = [e for e in events if e["ph"] == "X"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {f"G{g}" for g in {ev.g for ev in view}} == {n.split()[0] for n in names}
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in slices)
    # One "running" slice per start of a goroutine in the view.
    running = [e for e in slices if e["cat"] == "running"]
    starts = [ev for ev in view if str(ev.to_state) == "Running" and str(ev.from_state) == "Runnable"]
    assert len(running) >= len(starts) > 0
    blocked = [e for e in slices if e["cat"] == "blocked"]
    assert {"chan send", "chan receive", "sleep"} & {e["name"] for e in blocked}
    flows = [e for e in events if e["ph"] in ("s", "f")]
    assert flows and len(flows) % 2 == 0


def test_bad_input_one_message_nonzero_exit(tmp_path: Path) -> None:
    junk = tmp_path / "junk.trace"
    junk.write_bytes(b"definitely not a trace")
    for args in (["show", str(junk)], ["export", str(junk), "-o", str(tmp_path / "x.json")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "error: cannot read trace" in result.output and str(junk) in result.output
        assert "byte offset 0" in result.output
        assert "Traceback" not in result.output
    old = tmp_path / "old.trace"
    old.write_bytes(b"go 1.21 trace\x00\x00\x00" + b"\x00" * 10)
    result = runner.invoke(app, ["show", str(old)])
    assert result.exit_code == 2 and "go 1.21" in result.output
    missing = runner.invoke(app, ["show", str(tmp_path / "nope.trace")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_truncated_trace_warns_and_shows_complete_generations(tmp_path: Path) -> None:
    cut = tmp_path / "cut.trace"
    data = MULTIGEN.read_bytes()
    cut.write_bytes(data[: len(data) - 100])
    result = runner.invoke(app, ["show", str(cut)])
    # The complete generations are shown; the exit code says the file is incomplete.
    assert result.exit_code == 1, result.output
    assert "warning:" in result.output and "truncated" in result.output and "byte offset" in result.output
    assert str(cut) in result.output
    assert "2 generation(s)" in result.output and "G1 runtime.main" in result.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.trace"
    junk.write_bytes(b"nope")
    result = runner.invoke(app, ["show", str(junk), "--debug"])
    assert result.exit_code != 0
    assert result.exception is not None and type(result.exception).__name__ == "TraceError"
