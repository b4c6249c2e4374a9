"""The command line: the main flows and one clear message per bad input."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.collect import store as store_module
from schedcast.collect.store import RunStore
from schedcast.toolchain import find_toolchain

from .conftest import write_program

runner = CliRunner()
OK = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("ok") }\n'


def test_doctor_reports_toolchain_and_isolation() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert find_toolchain().version in result.output
    assert "network isolation" in result.output


def test_collect_then_runs_summary(tmp_path: Path) -> None:
    prog = write_program(tmp_path / "hello", OK)
    out = tmp_path / "out"
    result = runner.invoke(app, ["collect", str(prog), "--out", str(out), "--runs", "3", "--no-race"])
    assert result.exit_code == 0, result.output
    summary = runner.invoke(app, ["runs", str(out), "--json"])
    assert summary.exit_code == 0
    [row] = json.loads(summary.stdout)
    assert row["program"] == "hello" and row["runs"] == 3 and row["outcomes"] == {"ok": 3}


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d: ["collect", str(d / "missing.go"), "--out", str(d / "o")], "no such file"),
        (lambda d: ["collect", str(write_program(d / "lib", "package lib\n")), "--out", str(d / "o")], "neither a main package"),
        (lambda d: ["runs", str(d / "nothing-here")], "no such collection directory"),
        (lambda d: ["collect", "--runs", "0", "--out", str(d / "o")], "--runs must be at least 1"),
    ],
)
def test_bad_input_gives_one_clear_message(tmp_path: Path, make_args, message: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, make_args(tmp_path))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_unwritable_output_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    prog = write_program(tmp_path / "hello", OK)
    result = runner.invoke(app, ["collect", str(prog), "--out", str(tmp_path / "file" / "out"), "--no-race"])
    assert result.exit_code == 1
    assert "cannot write to the collection directory" in result.output


def test_compile_error_is_reported_and_recorded(tmp_path: Path) -> None:
    bad = write_program(tmp_path / "bad", "package main\n\nfunc main() { undefined() }\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["collect", str(bad), "--out", str(out), "--runs", "2", "--no-race"])
    assert result.exit_code == 0, result.output
    assert "build error" in result.output and "undefined" in result.output
    rows = RunStore(out).read_runs().to_pylist()
    assert [r["outcomes"] for r in rows] == [["build_error"], ["build_error"]]
    assert "undefined: undefined" in rows[0]["build_error"]


def test_missing_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDCAST_GOROOT", str(tmp_path / "nowhere"))
    find_toolchain.cache_clear()
    try:
        result = runner.invoke(app, ["collect", str(write_program(tmp_path / "p", OK)), "--out", str(tmp_path / "o")])
    finally:
        monkeypatch.delenv("SCHEDCAST_GOROOT")
        find_toolchain.cache_clear()
    assert result.exit_code == 1
    assert "Go toolchain not usable" in result.output and "pip install" in result.output


def test_full_disk_keeps_what_was_collected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prog = write_program(tmp_path / "hello", OK)
    out = tmp_path / "out"
    real_write = store_module._atomic_write_bytes
    calls = {"n": 0}

    def flaky_write(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(store_module, "_atomic_write_bytes", flaky_write)
    result = runner.invoke(app, ["collect", str(prog), "--out", str(out), "--runs", "6", "--no-race", "--workers", "1"])
    assert result.exit_code == 1
    assert "disk full" in result.output and "rerun to resume" in result.output
    monkeypatch.setattr(store_module, "_atomic_write_bytes", real_write)
    assert len(RunStore(out).done_run_ids()) == 2  # the two recorded runs survive
    again = runner.invoke(app, ["collect", str(prog), "--out", str(out), "--runs", "6", "--no-race"])
    assert again.exit_code == 0 and "4 runs executed, 2 already stored" in again.output
