"""The run store: atomic records, exact resume after kill -9, schema checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from schedcast.collect.store import RunStore, StoreError

from .conftest import write_program

SLOW_OK = """package main

import (
	"fmt"
	"time"
)

func main() {
	done := make(chan int)
	go func() {
		time.Sleep(150 * time.Millisecond)
		done <- 1
	}()
	fmt.Println(<-done)
}
"""


def _collect_cmd(programs: list[Path], out: Path, runs: int) -> list[str]:
    return [
        sys.executable, "-m", "schedcast.cli", "collect", *map(str, programs),
        "--out", str(out), "--runs", str(runs), "--workers", "2", "--no-race",
    ]


def test_kill_9_then_rerun_gives_every_run_exactly_once(tmp_path: Path) -> None:
    programs = [write_program(tmp_path / f"p{i}", SLOW_OK.replace("150", str(150 + i))) for i in range(2)]
    out = tmp_path / "out"
    runs = 10
    cmd = _collect_cmd(programs, out, runs)
    # Warm the build cache so the kill lands in the middle of the runs.
    subprocess.run(cmd[:-5] + ["--runs", "1", "--out", str(tmp_path / "warm"), "--no-race"], check=True, capture_output=True)

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pending = out / "pending"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if pending.is_dir() and len(list(pending.glob("*.json"))) >= 5:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(RunStore(out).done_run_ids())
    assert 5 <= done_before < 2 * runs, "the kill should land mid-collection"

    second = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"{2 * runs - done_before} runs executed, {done_before} already stored" in second.stderr

    table = pq.read_table(out / "runs.parquet")
    keys = Counter(zip(table.column("program_id").to_pylist(), table.column("run_index").to_pylist()))
    assert len(keys) == 2 * runs and set(keys.values()) == {1}
    assert set(table.column("run_id").to_pylist()) == RunStore(out).done_run_ids()
    for path in table.column("trace_path").to_pylist():
        assert (out / path).is_file()
    assert list(pending.glob("*.json")) == []

    # A third run of the same command has nothing left to do.
    third = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"0 runs executed, {2 * runs} already stored" in third.stderr


def test_consolidation_tolerates_duplicate_records(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    record = {"run_id": "r1", "program_id": "p", "run_index": 0, "outcomes": ["ok"], "finished_at": "2026-01-01T00:00:00+00:00"}
    store.add_run(record)
    assert store.consolidate() == 1
    store.add_run(record)  # e.g. a kill between writing runs.parquet and deleting pending/
    assert store.consolidate() == 1
    assert store.read_runs().column("run_id").to_pylist() == ["r1"]


def test_traces_are_content_addressed(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "store")
    a = tmp_path / "a.trace"
    a.write_bytes(b"go 1.26 trace\x00\x00\x00payload")
    digest, rel, size = store.put_trace(a)
    assert rel == f"traces/{digest[:2]}/{digest}.trace" and size == a.stat().st_size
    assert store.put_trace(a)[1] == rel  # idempotent
    assert (tmp_path / "store" / rel).read_bytes() == a.read_bytes()


def test_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot write to the collection directory"):
        RunStore(blocker / "sub")


def test_incompatible_schema_version_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa

    store = RunStore(tmp_path)
    pq.write_table(pa.table({"run_id": ["x"]}).replace_schema_metadata({b"schedcast.schema_version": b"999"}), store.runs_path)
    with pytest.raises(StoreError, match="schema version 999"):
        store.read_runs()


def test_ctrl_c_stops_cleanly_and_keeps_finished_runs(tmp_path: Path) -> None:
    program = write_program(tmp_path / "p", SLOW_OK)
    out = tmp_path / "out"
    cmd = _collect_cmd([program], out, 20)
    subprocess.run(cmd[:-5] + ["--runs", "1", "--out", str(tmp_path / "warm"), "--no-race"], check=True, capture_output=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "pending").glob("*.json"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    stored = RunStore(out).read_runs().num_rows  # consolidated on the way out
    assert 3 <= stored < 20
    assert list((out / "pending").glob("*.json")) == []


def test_programs_table_from_before_a_column_was_added_still_extends(tmp_path: Path) -> None:
    import pyarrow as pa

    from schedcast.collect.store import PROGRAM_SCHEMA
    from schedcast.corpus import load_program

    store = RunStore(tmp_path)
    old_fields = [f for f in PROGRAM_SCHEMA if f.name not in ("extra", "wall_timeout_s")]
    old = pa.table({f.name: pa.array([], type=f.type) for f in old_fields})
    pq.write_table(old, store.programs_path)
    program = load_program(write_program(tmp_path / "p", SLOW_OK, toml="timeout = 2.5\n"))
    store.add_programs([program])
    [row] = store.read_programs().to_pylist()
    assert row["program_id"] == "p" and row["wall_timeout_s"] == 2.5 and row["extra"] == "{}"


def test_a_second_writer_fails_with_one_clear_line(tmp_path: Path) -> None:
    program = write_program(tmp_path / "p", SLOW_OK)
    out = tmp_path / "out"
    with RunStore(out).lock():
        second = subprocess.run(_collect_cmd([program], out, 2), capture_output=True, text=True)
    assert second.returncode == 1
    assert f"{out}: another collection is writing here (pid {os.getpid()})" in second.stderr
    assert "Traceback" not in second.stderr
    assert not (out / "runs.parquet").exists()


def test_two_collectors_at_once_give_every_run_once_and_no_orphans(tmp_path: Path) -> None:
    program = write_program(tmp_path / "p", SLOW_OK)
    out = tmp_path / "out"
    cmd = _collect_cmd([program], out, 8)
    subprocess.run(cmd[:-5] + ["--runs", "1", "--out", str(tmp_path / "warm"), "--no-race"], check=True, capture_output=True)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    assert any("another collection is writing here" in err for _, err in results)
    table = RunStore(out).read_runs()
    assert table.num_rows == 8 and len(set(table.column("run_id").to_pylist())) == 8
    stored = {str(p.relative_to(out)) for p in (out / "traces").rglob("*.trace")}
    assert stored == set(table.column("trace_path").to_pylist())  # no orphan trace


def test_consolidation_while_a_writer_holds_the_lock_loses_nothing(tmp_path: Path) -> None:
    writer, reader = RunStore(tmp_path), RunStore(tmp_path)
    with writer.lock():
        for i in range(3):
            writer.add_run({"run_id": f"r{i}", "program_id": "p", "run_index": i, "outcomes": ["ok"], "finished_at": "2026-01-01T00:00:00+00:00"})
        writer.consolidate()
        writer.add_run({"run_id": "r3", "program_id": "p", "run_index": 3, "outcomes": ["ok"], "finished_at": "2026-01-01T00:00:00+00:00"})
        assert reader.consolidate() == 3  # it reads, it does not merge
        assert (tmp_path / "pending" / "r3.json").exists()
    assert reader.consolidate() == 4
    assert sorted(reader.read_runs().column("run_id").to_pylist()) == ["r0", "r1", "r2", "r3"]


def test_temporary_files_of_a_dead_writer_are_removed(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    (tmp_path / "traces" / "ab").mkdir()
    leftovers = [tmp_path / ".runs.parquet.x1", tmp_path / "pending" / ".r9.json.x2", tmp_path / "traces" / ".incoming.x3", tmp_path / "traces" / "ab" / ".abc.123"]
    for p in leftovers:
        p.write_bytes(b"partial")
    with store.lock():
        pass
    assert [p for p in leftovers if p.exists()] == []


def test_a_failed_trace_copy_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno as errno_module

    store = RunStore(tmp_path / "store")
    trace = tmp_path / "t.trace"
    trace.write_bytes(b"go 1.27 trace\x00" + b"x" * 5000)

    def full_disk(fd: int) -> None:
        raise OSError(errno_module.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        store.store_trace(trace)
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "store" / "traces").rglob("*")] == []


def test_stale_run_directories_and_cgroups_of_a_killed_collection_are_removed(tmp_path: Path) -> None:
    from schedcast.collect.sandbox import _sandbox_root, probe_cgroups, reap_stale

    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = child.pid  # exited and reaped
    stale_run = _sandbox_root() / "runs" / f"{dead_pid}-deadbeef"
    (stale_run / "work").mkdir(parents=True)
    (stale_run / "trace").write_bytes(b"x")
    cgroups = [d / f"{dead_pid}-deadbeef" for d in probe_cgroups().dirs]
    for d in cgroups:
        d.mkdir()
    removed = reap_stale()
    assert str(stale_run) in removed and not stale_run.exists()
    assert [d for d in cgroups if d.exists()] == []
