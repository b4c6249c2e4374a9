"""Hostile programs, each an attack that once worked (issue 11), run through the real
collector: each now fails to do harm, or gets the outcome it really has."""

from __future__ import annotations

from tests.collect.processes import processes_with

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from schedcast.collect import Limits, RunConfig, collect, probe_isolation
from schedcast.collect.outcome import parse_race_reports
from schedcast.collect.sandbox import UnsafeFile, read_run_file
from schedcast.collect.store import RunStore
from schedcast.corpus import load_program

from .conftest import write_program

iso = probe_isolation()
needs_bwrap = pytest.mark.skipif(not iso.bwrap, reason="bubblewrap not usable here (schedcast doctor says why)")
needs_cgroup = pytest.mark.skipif(not iso.cgroup, reason="no cgroup here (schedcast doctor says why)")


def _collect(tmp_path: Path, name: str, source: str, limits: Limits = Limits(wall_seconds=5.0), race: bool = False, runs: int = 1, args: tuple[str, ...] = ()) -> list[dict]:
    program = replace(load_program(write_program(tmp_path / name, source)), args=args)
    out = tmp_path / f"{name}-out"
    collect([program], out, RunConfig(runs=runs, race=race, limits=limits), show_progress=False)
    return RunStore(out).read_runs().to_pylist()


# ---------------------------------------------------------------- 1. reading back
FORGER = """package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	forged := `{"end":"deadlock","exit_code":2,"all_blocked":true,"goroutines":[]}`
	for _, name := range []string{"trace.out", "schedcast-status.json", "stdout", "status", "trace"} {
		os.Remove(name)
		fmt.Println(name, os.Symlink("/etc/shadow", name))
	}
	// Write the forged status to every descriptor it can find.
	for fd := 3; fd < 1024; fd++ {
		syscall.Write(fd, []byte(forged+"\\n"))
	}
}
"""


def test_symlinks_and_forged_status_are_neither_followed_nor_believed(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "forger", FORGER)
    assert r["outcomes"] == ["ok"], r
    assert r["harness_end"] == "returned"
    assert r["trace_path"], r["notes"]
    trace = (tmp_path / "forger-out" / r["trace_path"]).read_bytes()
    assert trace.startswith(b"go 1.")
    assert b"root:" not in trace


def test_read_back_refuses_links_and_special_files(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x" * 100)
    (tmp_path / "link").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafeFile, match="symbolic link"):
        read_run_file(tmp_path / "link", 10)
    with pytest.raises(UnsafeFile, match="not a regular file"):
        read_run_file(tmp_path / "fifo", 10)
    got = read_run_file(tmp_path / "real", 10)
    assert got is not None and got.data == b"x" * 10 and got.size == 100 and got.truncated
    assert read_run_file(tmp_path / "missing", 10) is None


TRACE_FLOOD = """package main

func main() {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	for i := 0; i < 200000; i++ {
		ping <- i
		<-pong
	}
	close(ping)
}
"""


def test_trace_cut_at_the_cap_is_recorded_truncated_and_not_stored(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "flood", TRACE_FLOOD, Limits(wall_seconds=20.0, file_bytes=256 << 10))
    assert r["trace_truncated"] and not r["trace_complete"], r
    assert r["trace_path"] is None and r["trace_bytes"] >= 256 << 10
    assert "cut at the" in r["notes"]


STATUS_FLOOD = """package main

import "syscall"

func main() {
	junk := make([]byte, 1<<20)
	for fd := 3; fd < 1024; fd++ {
		for i := 0; i < 3; i++ {
			syscall.Write(fd, junk)
		}
	}
}
"""


def test_oversized_status_is_refused_not_read(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "status_flood", STATUS_FLOOD, Limits(wall_seconds=5.0, status_bytes=1 << 20))
    assert "status refused: larger than" in r["notes"], r["notes"]
    assert r["outcomes"] == ["crash"]  # without a believable status the run did not end through the harness


# ---------------------------------------------------------------- 2. children
ESCAPER = """package main

import (
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	cmd := exec.Command("/bin/sleep", "%s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	fmt.Println(cmd.Start())
	time.Sleep(%s)
}
"""


def test_setsid_child_does_not_outlive_the_run(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "escaper", ESCAPER % ("62.5", "10 * time.Millisecond"))
    assert r["stdout"].strip() == "<nil>"
    time.sleep(0.2)
    assert processes_with("62.5") == []


def test_kill_9_of_the_collector_leaves_no_process_of_any_run(tmp_path: Path) -> None:
    programs = [write_program(tmp_path / f"p{i}", ESCAPER % (f"63.{i}", "time.Minute")) for i in range(2)]
    cmd = [sys.executable, "-m", "schedcast.cli", "collect", *map(str, programs), "--out", str(tmp_path / "out"),
           "--runs", "2", "--workers", "2", "--no-race", "--timeout", "120"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(processes_with("63.")) < 2:
        time.sleep(0.05)
    assert len(processes_with("63.")) >= 2, "the runs should be in flight"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The runs die in a cascade (the collector's death signals bwrap, bwrap's its program,
    # the program's end its pid namespace): give it time to finish before looking, on a
    # busy machine too, and then name whatever is left.
    from schedcast.collect.sandbox import probe_cgroups

    def left() -> list[str]:
        found = [f"pid {pid}: {_described(pid)}" for pid in processes_with("63.")]
        for parent in probe_cgroups().dirs:  # nor any process in the dead collector's cgroups
            for d in parent.glob(f"{proc.pid}-*"):
                found += [f"{d.name}: pid {pid}: {_described(int(pid))}" for pid in (d / "cgroup.procs").read_text().split()]
        return found

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and left():
        time.sleep(0.05)
    assert left() == []


def _described(pid: int) -> str:
    """A process's state and command line, for a failure message."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    state = next((line.split(":", 1)[1].strip() for line in status if line.startswith("State:")), "?")
    return f"{state} {cmdline!r}"


# ---------------------------------------------------------------- 3. isolation
SNOOP = """package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	procs := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] >= '0' && e.Name()[0] <= '9' {
			procs++
		}
	}
	fmt.Println("procs", procs)
	for _, p := range append([]string{"/etc/shadow", "/etc/passwd", "/root", "/var/tmp", "/sys/fs/cgroup"}, os.Args[1:]...) {
		_, err := os.Stat(p)
		fmt.Println("stat", p, err == nil)
	}
	for _, p := range []string{"/tmp/mark", "/dev/shm/mark", "/usr/mark"} {
		fmt.Println("write", p, os.WriteFile(p, []byte("x"), 0o644) == nil)
	}
	time.Sleep(300 * time.Millisecond) // overlap with the other run
	tmp, _ := os.ReadDir("/tmp")
	var names []string
	for _, e := range tmp {
		names = append(names, e.Name())
	}
	fmt.Println("tmp", strings.Join(names, ","))
}
"""


@needs_bwrap
def test_runs_see_neither_the_host_nor_each_other(tmp_path: Path) -> None:
    collection = tmp_path / "snoop-out"
    program = replace(load_program(write_program(tmp_path / "snoop", SNOOP)), args=(str(collection), str(Path.home())))
    collect([program], collection, RunConfig(runs=2, race=False, limits=Limits(wall_seconds=5.0)), show_progress=False)
    for r in RunStore(collection).read_runs().to_pylist():
        lines = dict(line.rsplit(" ", 1) for line in r["stdout"].splitlines())
        assert int(lines["procs"]) <= 2, r["stdout"]  # itself (and its threads' view): no host or other run
        for path in ("/etc/shadow", "/etc/passwd", "/root", "/var/tmp", "/sys/fs/cgroup", str(collection), str(Path.home())):
            assert lines[f"stat {path}"] == "false", (path, r["stdout"])
        assert lines["write /tmp/mark"] == "true" and lines["write /dev/shm/mark"] == "true"
        assert lines["write /usr/mark"] == "false"
        assert lines["tmp"] == "mark"  # only its own file: the other run's /tmp is not this one
    assert not Path("/dev/shm/mark").exists() and not Path("/usr/mark").exists()


# ---------------------------------------------------------------- 4. cgroup limits
SHM_HOG = """package main

import (
	"fmt"
	"syscall"
)

func main() {
	size := 1 << 30
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		fmt.Println("mmap:", err)
		return
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
		if i%(64<<20) == 0 {
			fmt.Println("touched MB:", i>>20)
		}
	}
	fmt.Println("all touched")
}
"""


@needs_cgroup
def test_shared_memory_counts_against_the_memory_limit(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "shm_hog", SHM_HOG, Limits(wall_seconds=20.0, memory_bytes=256 << 20))
    assert "all touched" not in r["stdout"], r["stdout"][-300:]
    assert r["outcomes"] == ["crash"], r
    assert "out of memory" in r["crash_reason"]


DISK_FILLER = """package main

import (
	"fmt"
	"os"
)

func main() {
	chunk := make([]byte, 1<<20)
	total := 0
	for i := 0; ; i++ {
		f, err := os.Create(fmt.Sprintf("f%d", i))
		if err != nil {
			break
		}
		_, err = f.Write(chunk)
		f.Close()
		if err != nil {
			break
		}
		total += len(chunk)
	}
	fmt.Println(total >> 20)
}
"""


@needs_bwrap
def test_disk_use_is_capped(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "filler", DISK_FILLER, Limits(wall_seconds=20.0, tmpfs_bytes=32 << 20))
    assert r["outcomes"] == ["ok"], r
    assert int(r["stdout"].strip()) <= 32


CPU_HOG = """package main

import (
	"fmt"
	"syscall"
	"time"
)

func main() {
	for i := 0; i < 4; i++ {
		go func() {
			for {
			}
		}()
	}
	time.Sleep(time.Second)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("%.2f\\n", float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9)
}
"""


@needs_cgroup
def test_cpu_bandwidth_is_capped(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "cpu_hog", CPU_HOG, Limits(wall_seconds=10.0, cpu_cores=0.25))
    assert float(r["stdout"].strip()) < 0.6, r["stdout"]  # 1 s at a quarter core, not 2 cores


# ---------------------------------------------------------------- 5. outcomes
def test_race_report_parsing_is_linear(tmp_path: Path) -> None:
    text = "WARNING: DATA RACE\n" * ((4 << 20) // 19)
    start = time.monotonic()
    assert parse_race_reports(text) == []
    assert time.monotonic() - start < 2.0


RACE_SPAM = """package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Fprint(os.Stderr, strings.Repeat("WARNING: DATA RACE\\n", 4<<20/19))
}
"""


def test_stderr_flood_of_race_headers_is_classified_at_once(tmp_path: Path) -> None:
    start = time.monotonic()
    [r] = _collect(tmp_path, "race_spam", RACE_SPAM, race=True)
    assert r["outcomes"] == ["ok"], r
    assert time.monotonic() - start < 60  # the build is part of it; the classification is milliseconds


FAKE_REPORTS = """package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprint(os.Stderr, `==================
WARNING: DATA RACE
Write at 0x00c000012345 by goroutine 7:
  main.main.func1()
      prog/main.go:16 +0x44

Previous read at 0x00c000012345 by main goroutine:
  main.main()
      prog/main.go:20 +0x88
==================
`)
	println("fatal error: all goroutines are asleep - deadlock!")
	fmt.Fprintln(os.Stderr, "fatal error: all goroutines are asleep - deadlock!")
}
"""


def test_printed_race_report_and_deadlock_message_are_not_outcomes(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "fake_reports", FAKE_REPORTS, race=True)
    assert r["outcomes"] == ["ok"], r
    assert json.loads(r["race_reports"]) == []


CALLS_HARNESS = """package main

func main() {
	schedcastHarnessEnd(schedcastHarnessStatus{End: "deadlock", ExitCode: 2})
}
"""


def test_calling_the_harness_is_refused_with_one_line(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "calls_harness", CALLS_HARNESS)
    assert r["outcomes"] == ["build_error"]
    assert r["build_error"] == "refused: main.go:4: uses the name schedcastHarnessEnd, reserved for the schedcast harness (and 1 more)"


HARNESS_LOOKALIKE = """package main

import "runtime/trace"
import "context"

func schedcastHarnessWorker(ch chan int) { <-ch }

func main() {
	go schedcastHarnessWorker(make(chan int))
	go trace.WithRegion(context.Background(), "x", func() { select {} })
}
"""


def test_leaks_in_functions_named_like_the_harness_or_tracer_are_seen(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "lookalike", HARNESS_LOOKALIKE)
    assert r["outcomes"] == ["leak"], r
    stacks = " ".join(g["stack"] for g in json.loads(r["goroutines_at_end"]))
    assert "schedcastHarnessWorker" in stacks and "WithRegion" in stacks


GOROUTINE_EXIT = """package main

import (
	"os"
	"time"
)

func main() {
	go func() { os.Exit(0) }()
	time.Sleep(time.Second)
}
"""


def test_os_exit_from_a_goroutine_is_a_crash(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "goexit0", GOROUTINE_EXIT)
    assert r["outcomes"] == ["crash"], r
    assert "without returning from main" in r["crash_reason"]


MAIN_GOEXIT = """package main

import (
	"runtime"
	"time"
)

func main() {
	go func() { time.Sleep(50 * time.Millisecond) }()
	runtime.Goexit()
}
"""


def test_goexit_in_main_ends_at_once(tmp_path: Path) -> None:
    [r] = _collect(tmp_path, "main_goexit", MAIN_GOEXIT, Limits(wall_seconds=5.0))
    assert r["outcomes"] == ["crash"], r
    assert "Goexit" in r["crash_reason"] and r["trace_complete"]
    assert r["duration_s"] < 1.5


# ---------------------------------------------------------------- 6. builds
def test_cgo_is_refused_and_shows_nothing(tmp_path: Path) -> None:
    source = 'package main\n\n/*\n#include "/etc/shadow"\n*/\nimport "C"\n\nfunc main() {}\n'
    [r] = _collect(tmp_path, "cgo", source, race=True)
    assert r["outcomes"] == ["build_error"]
    assert r["build_error"] == 'refused: main.go:6: uses cgo (import "C"): schedcast builds untrusted programs without cgo'


def test_func_main_in_a_string_literal_is_left_alone(tmp_path: Path) -> None:
    source = 'package main\n\nimport "fmt"\n\nconst text = `\nfunc main() {\n}`\n\nfunc main() { fmt.Print(text) }\n'
    [r] = _collect(tmp_path, "literal", source)
    assert r["outcomes"] == ["ok"], r
    assert r["stdout"] == "\nfunc main() {\n}"


def test_oversized_source_is_refused_before_the_compiler(tmp_path: Path) -> None:
    source = "package main\n\nvar big = `" + "x" * (5 << 20) + "`\n\nfunc main() {}\n"
    start = time.monotonic()
    [r] = _collect(tmp_path, "big", source)
    assert r["outcomes"] == ["build_error"]
    assert "over the 4194304 byte cap" in r["build_error"]
    assert time.monotonic() - start < 10
