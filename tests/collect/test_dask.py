"""The dask executor: collection on a LocalCluster of worker processes, a worker
killed mid-task, an unreachable scheduler; the ordered map other stages use."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from schedcast.collect import RunConfig, RunStore, collect, make_executor
from schedcast.collect.executor import DaskExecutor, ExecutorError, LocalExecutor, imap_ordered
from schedcast.corpus import builtin_programs
from tests.collect.conftest import write_program

SLOW_SOURCE = """package main

import (
	"fmt"
	"sync"
	"time"
)

func main() {
	var wg sync.WaitGroup
	ch := make(chan int)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); time.Sleep(300 * time.Millisecond); ch <- i }(i)
	}
	go func() { wg.Wait(); close(ch) }()
	sum := 0
	for v := range ch {
		sum += v
	}
	fmt.Println(sum)
}
"""


def _check_store(out: Path, expected_runs: int) -> list[dict]:  # type: ignore[type-arg]
    """Every run stored exactly once; every trace present with the bytes its digest names."""
    store = RunStore(out)
    runs = store.read_runs().to_pylist()
    ids = [r["run_id"] for r in runs]
    assert len(ids) == expected_runs
    assert len(set(ids)) == expected_runs
    assert not list((out / "pending").glob("*.json"))
    for r in runs:
        if r["trace_path"]:
            data = (out / r["trace_path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == r["trace_sha256"]
            assert len(data) == r["trace_bytes"]
    return runs


@pytest.mark.slow
def test_dask_local_cluster_collects_like_the_local_pool(tmp_path: Path) -> None:
    programs = [p for p in builtin_programs() if p.id in ("ok_pipeline", "race_counter", "deadlock_unpaired_recv", "build_error_type")]
    config = RunConfig(runs=2)
    with make_executor("dask", None, 2) as ex:
        assert isinstance(ex, DaskExecutor) and ex.workers == 2
        summary = collect(programs, tmp_path / "dask", config, executor=ex, show_progress=False)
    assert summary.executed == 8
    runs = _check_store(tmp_path / "dask", 8)
    local = collect(programs, tmp_path / "local", config, executor=LocalExecutor(2), show_progress=False)
    local_runs = _check_store(tmp_path / "local", 8)
    # Same run ids, same outcomes: where a run happened does not change what it is.
    assert {r["run_id"]: r["outcomes"] for r in runs} == {r["run_id"]: r["outcomes"] for r in local_runs}
    assert Counter(summary.outcomes) == Counter(local.outcomes)
    traced = [r for r in runs if "build_error" not in r["outcomes"]]
    assert traced and all(r["trace_path"] and r["trace_complete"] for r in traced)


def test_a_worker_killed_mid_task_loses_no_run(tmp_path: Path) -> None:
    """SIGKILL one of two worker processes while it runs a task: the collection
    finishes with every run stored exactly once."""
    slow = [
        _load(write_program(tmp_path / f"p{i}", SLOW_SOURCE.replace("fmt.Println(sum)", f"fmt.Println(sum + {i})")))
        for i in range(3)
    ]
    config = RunConfig(runs=6)
    killed: dict[str, object] = {}

    with make_executor("dask", None, 2) as ex:
        assert isinstance(ex, DaskExecutor)
        pids = ex.worker_pids()
        assert len(pids) == 2

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                for worker, keys in ex.client.processing().items():
                    if any(str(k).startswith("execute_run_remote") for k in keys) and worker in pids:
                        os.kill(pids[worker], signal.SIGKILL)
                        killed.update(worker=worker, keys=list(keys))
                        return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        killer.start()
        summary = collect(slow, tmp_path / "out", config, executor=ex, show_progress=False)
        killer.join(timeout=5)

    assert killed, "no worker was running a run task to kill"
    assert summary.executed == 18
    runs = _check_store(tmp_path / "out", 18)
    assert all(r["outcomes"] == ["ok"] and r["trace_complete"] for r in runs)


def _load(path: Path):  # type: ignore[no-untyped-def]
    from schedcast.corpus import load_program

    return load_program(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_is_one_clear_line() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ExecutorError, match="cannot reach the dask scheduler at tcp://127.0.0.1"):
        make_executor("dask", address, None)


def test_unreachable_scheduler_from_the_cli(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "schedcast", "collect", "--out", str(tmp_path / "c"), "--runs", "1",
         "--executor", "dask", "--scheduler", address],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot reach the dask scheduler at " + address)
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "c" / "runs.parquet").exists()


def test_executor_settings_are_checked() -> None:
    with pytest.raises(ExecutorError, match="unknown executor 'dusk'"):
        make_executor("dusk")
    with pytest.raises(ExecutorError, match="--scheduler needs --executor dask"):
        make_executor("local", "tcp://127.0.0.1:8786")


def _square(x: int) -> int:
    time.sleep(0.001 * (x % 3))
    return x * x


def test_ordered_map_keeps_order_on_every_executor() -> None:
    assert list(imap_ordered(LocalExecutor(3), _square, range(50), window=7)) == [x * x for x in range(50)]


@pytest.mark.slow
def test_ordered_map_on_a_local_cluster() -> None:
    with make_executor("dask", None, 2) as ex:
        assert list(imap_ordered(ex, _square, range(30))) == [x * x for x in range(30)]
