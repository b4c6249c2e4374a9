"""Hostile programs stay contained: processes, memory, CPU, output, network, files."""

from __future__ import annotations

from tests.collect.processes import processes_with

import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from schedcast.collect import Limits, RunConfig, collect, probe_isolation
from schedcast.collect.store import RunStore
from schedcast.corpus import load_program

from .conftest import write_program


def _run_one(tmp_path: Path, name: str, source: str, limits: Limits, race: bool = False, args: tuple[str, ...] = ()) -> dict:
    program = replace(load_program(write_program(tmp_path / name, source)), args=args)
    out = tmp_path / f"{name}-out"
    collect([program], out, RunConfig(runs=1, race=race, limits=limits), show_progress=False)
    [record] = RunStore(out).read_runs().to_pylist()
    return record


FORK_BOMB = """package main

import (
	"fmt"
	"os/exec"
)

func main() {
	started := 0
	for i := 0; i < 5000; i++ {
		if err := exec.Command("/bin/sleep", "61.4159").Start(); err != nil {
			fmt.Println("start failed after", started, "processes:", err)
			break
		}
		started++
	}
	select {}
}
"""


def test_fork_bomb_is_capped_and_leaves_nothing_behind(tmp_path: Path) -> None:
    limits = Limits(wall_seconds=2.0, processes=64)
    record = _run_one(tmp_path, "fork_bomb", FORK_BOMB, limits)
    if probe_isolation().drop_to_nobody:
        # RLIMIT_NPROC binds only unprivileged users: as 'nobody' the cap holds.
        assert "start failed after" in record["stdout"], record["stdout"]
    time.sleep(0.2)
    assert processes_with("61.4159") == []
    # Either the program waits in select{} (deadlock) or the cap also stopped the Go
    # runtime from creating a thread (crash): both are contained.
    assert record["outcomes"] in (["deadlock"], ["crash"]), record


MEMORY_HOG = """package main

import "fmt"

func main() {
	var keep [][]byte
	for i := 1; ; i++ {
		b := make([]byte, 32<<20)
		for j := range b {
			b[j] = byte(j)
		}
		keep = append(keep, b)
		fmt.Println("allocated MB:", i*32)
	}
}
"""


@pytest.mark.parametrize("race", [False, True], ids=["plain", "race"])
def test_memory_hog_is_stopped_at_the_limit(tmp_path: Path, race: bool) -> None:
    limits = Limits(wall_seconds=20.0, memory_bytes=256 << 20)
    record = _run_one(tmp_path, "memory_hog", MEMORY_HOG, limits, race=race)
    assert record["outcomes"] == ["crash"], record
    assert not record["timed_out"]
    last = [line for line in record["stdout"].splitlines() if line.startswith("allocated")][-1]
    # Race builds: the limit counts shadow memory, scaled by race_memory_factor.
    assert int(last.split()[-1]) <= 256 * (1.25 if race else 1)
    assert "memory" in record["crash_reason"] or "allocate" in record["crash_reason"], record["crash_reason"]


INFINITE_LOOP = """package main

func main() {
	n := 0
	for {
		n++
	}
}
"""


def test_infinite_loop_is_stopped_at_the_deadline_with_a_complete_trace(tmp_path: Path) -> None:
    record = _run_one(tmp_path, "spin", INFINITE_LOOP, Limits(wall_seconds=1.0))
    assert record["outcomes"] == ["timeout"]
    assert record["trace_complete"] and record["trace_bytes"] > 0
    assert record["duration_s"] < 1.0 + 0.5


def test_cpu_time_limit_kills_a_busy_program(tmp_path: Path) -> None:
    record = _run_one(tmp_path, "cpu", INFINITE_LOOP, Limits(wall_seconds=30.0, cpu_seconds=1))
    assert record["outcomes"] == ["crash"], record
    assert not record["timed_out"] and record["duration_s"] < 30  # the CPU limit, not the wall clock, ended it


ENDLESS_OUTPUT = """package main

import (
	"fmt"
	"os"
)

func main() {
	line := "the quick brown fox jumps over the lazy dog, again and again and again\\n"
	for {
		if _, err := fmt.Print(line); err != nil {
			fmt.Fprintln(os.Stderr, "write failed:", err)
			os.Exit(7)
		}
	}
}
"""


def test_endless_output_is_capped(tmp_path: Path) -> None:
    limits = Limits(wall_seconds=5.0, file_bytes=1 << 20, output_keep_bytes=4096)
    record = _run_one(tmp_path, "chatter", ENDLESS_OUTPUT, limits)
    assert record["stdout_bytes"] <= 1 << 20
    assert len(record["stdout"].encode()) <= 4096 + 100  # head + tail + the cut marker
    assert "bytes cut by schedcast" in record["stdout"]
    assert record["outcomes"] == ["crash"]


CONNECT = """package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	conn, err := net.DialTimeout("tcp", os.Args[1], time.Second)
	if err != nil {
		fmt.Println("dial failed:", err)
		return
	}
	conn.Write([]byte("escaped"))
	conn.Close()
	fmt.Println("connected")
}
"""


def test_no_network(tmp_path: Path) -> None:
    iso = probe_isolation()
    if not iso.network_namespace:
        assert any("network" in note for note in iso.notes)  # doctor says so
        return
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    accepted: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn.recv(100))
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        host, port = server.getsockname()
        record = _run_one(tmp_path, "connect", CONNECT, Limits(wall_seconds=5.0), args=(f"{host}:{port}",))
    finally:
        stop.set()
        thread.join()
        server.close()
    assert "dial failed" in record["stdout"], record["stdout"]
    assert accepted == []


WRITE_OUTSIDE = """package main

import (
	"fmt"
	"os"
)

func main() {
	for _, path := range os.Args[1:] {
		err := os.WriteFile(path, []byte("escaped"), 0o644)
		fmt.Println(path, "->", err)
	}
	fmt.Println(os.WriteFile("inside.txt", []byte("fine"), 0o644))
}
"""


def test_writes_outside_the_working_directory_fail(tmp_path: Path) -> None:
    iso = probe_isolation()
    if not iso.drop_to_nobody:
        assert any("current user" in note or "root" in note for note in iso.notes)
        return
    target_dir = tmp_path / "victim"
    target_dir.mkdir()
    targets = [str(target_dir / "absolute.txt"), "../escape.txt", str(Path.home() / "schedcast-escape.txt")]
    record = _run_one(tmp_path, "writer", WRITE_OUTSIDE, Limits(wall_seconds=5.0), args=tuple(targets))
    assert record["outcomes"] == ["ok"]
    assert not (target_dir / "absolute.txt").exists()
    assert not (Path.home() / "schedcast-escape.txt").exists()
    lines = record["stdout"].splitlines()
    # Hidden (no such file), read-only or not permitted: never written.
    assert len(lines) == 4 and all(line.split(" -> ")[1] != "<nil>" for line in lines[:3]), record["stdout"]
    assert all(any(e in line for e in ("permission denied", "no such file", "read-only file system")) for line in lines[:3])
    assert lines[3] == "<nil>"  # its own directory is writable


def test_staged_binaries_are_removed_after_a_collection(tmp_path: Path) -> None:
    from schedcast.collect.sandbox import _sandbox_root

    record = _run_one(tmp_path, "hello", 'package main\n\nfunc main() {}\n', Limits(wall_seconds=5.0))
    assert record["outcomes"] == ["ok"]
    assert not (_sandbox_root() / "bin" / str(os.getpid())).exists()
