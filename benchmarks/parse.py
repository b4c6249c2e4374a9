"""Trace parsing speed: schedcast's pure-Python reader against Go's text dump path.

    .venv/bin/python benchmarks/parse.py [--trace FILE] [--min-events 500000] [--rounds 3]

Without --trace it builds a small Go program (16 channel ping-pong pairs and 8
goroutines contending on a mutex, GOMAXPROCS=2), runs it until its trace holds at
least --min-events events, and caches the trace under the schedcast cache
directory. Then, in fresh child processes (so that peak memory is per parser):

* schedcast: ``read_trace(FILE)``, every event ordered and every goroutine
  transition materialised as an Event;
* Go: ``go tool trace -d=parsed FILE`` (the tool binary itself, no ``go`` wrapper),
  its whole dump read into Python and its events counted.

Both count the same events (every event Go's reader returns, Sync included). It
prints events/s for both (median of the rounds), their ratio (required >= 1, goal
>= 3) and the peak resident memory of each parser, and the CPU time of each
(user + sys of the parser's processes, Go's threads included): on a shared, loaded
machine wall time also measures how long each process waited for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_PROGRAM = r"""
package main

import (
	"os"
	"runtime/trace"
	"strconv"
	"sync"
	"time"
)

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	ms, _ := strconv.Atoi(os.Args[2])
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	stop := time.Now().Add(time.Duration(ms) * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		a, b := make(chan int), make(chan int)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				a <- 1
				<-b
			}
			close(a)
		}()
		go func() {
			defer wg.Done()
			for range a {
				b <- 1
			}
		}()
	}
	var mu sync.Mutex
	n := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				mu.Lock()
				n++
				mu.Unlock()
				if n%64 == 0 {
					time.Sleep(10 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	trace.Stop()
	f.Close()
}
"""


def _count_events(path: Path) -> int:
    from schedcast.trace import read_trace

    return read_trace(path).total_events


def make_trace(min_events: int) -> Path:
    from schedcast.toolchain import cache_dir, go_env, run_go

    out = cache_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"parse-{min_events}.trace"
    if path.exists() and _count_events(path) >= min_events:
        return path
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "bench.go"
        src.write_text(BENCH_PROGRAM)
        binary = Path(tmp) / "bench"
        proc = run_go(["build", "-o", str(binary), str(src)])
        if proc.returncode != 0:
            sys.exit(f"cannot build the benchmark program:\n{proc.stderr}")
        env = go_env()
        env["GOMAXPROCS"] = "2"
        duration_ms = 60
        for _ in range(8):
            subprocess.run([str(binary), str(path), str(duration_ms)], env=env, check=True, timeout=300)
            events = _count_events(path)
            if events >= min_events:
                return path
            duration_ms = int(duration_ms * 1.5 * min_events / max(events, 1)) + 10
    sys.exit(f"could not produce a trace of {min_events} events")


def go_trace_tool() -> str:
    """Path of the compiled ``go tool trace`` binary (built on first use)."""
    from schedcast.toolchain import run_go

    run_go(["tool", "trace", "-h"], timeout=600)  # compiles the tool once (~12 s)
    proc = run_go(["tool", "-n", "trace"])
    path = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else ""
    if not path or not os.path.exists(path):
        sys.exit(f"cannot locate the go tool trace binary: {proc.stderr}")
    return path


# ----------------------------------------------------------------- child side
def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def child_schedcast(path: str) -> dict:
    from schedcast.trace import read_trace

    t0, c0 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    trace = read_trace(path)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu(resource.RUSAGE_SELF) - c0,
        "events": trace.total_events,
        "transitions": len(trace.events),
        "generations": trace.generations,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_go(path: str, tool: str) -> dict:
    t0, c0 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    proc = subprocess.run([tool, "-d=parsed", path], capture_output=True, check=True)
    dump = proc.stdout
    events = dump.count(b"\nM=") + dump.startswith(b"M=")
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        # Go's process (all its threads) plus this process reading the dump.
        "cpu_seconds": _cpu(resource.RUSAGE_CHILDREN) + _cpu(resource.RUSAGE_SELF) - c0,
        "events": events,
        "dump_mb": len(dump) / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "python_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, help="benchmark this trace instead of the generated one")
    parser.add_argument("--min-events", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, *rest = args.child
        result = child_schedcast(path) if mode == "schedcast" else child_go(path, rest[0])
        print(json.dumps(result))
        return 0

    path = args.trace or make_trace(args.min_events)
    tool = go_trace_tool()
    ours, go = [], []
    for _ in range(args.rounds):  # alternate, so that machine noise hits both
        ours.append(run_child("schedcast", str(path)))
        go.append(run_child("go", str(path), tool))
    if ours[0]["events"] != go[0]["events"]:
        print(f"warning: event counts differ: schedcast {ours[0]['events']}, Go {go[0]['events']}", file=sys.stderr)
    events = ours[0]["events"]
    our_s = statistics.median(r["seconds"] for r in ours)
    go_s = statistics.median(r["seconds"] for r in go)
    our_rate, go_rate = events / our_s, events / go_s
    print(f"trace: {path} ({path.stat().st_size / 1e6:.1f} MB, {events} events, "
          f"{ours[0]['transitions']} goroutine transitions, {ours[0]['generations']} generation(s))")
    print(f"rounds: {args.rounds}, median time (best)")
    print(f"  schedcast read_trace (pure Python)  {our_s:7.3f} s ({min(r['seconds'] for r in ours):.3f})  "
          f"{our_rate:12,.0f} events/s   peak RSS {max(r['peak_rss_mb'] for r in ours):7.1f} MB")
    print(f"  go tool trace -d=parsed -> Python   {go_s:7.3f} s ({min(r['seconds'] for r in go):.3f})  "
          f"{go_rate:12,.0f} events/s   peak RSS {max(r['peak_rss_mb'] for r in go):7.1f} MB (Go) + "
          f"{max(r['python_rss_mb'] for r in go):.1f} MB (Python holding the {go[0]['dump_mb']:.0f} MB dump)")
    our_cpu = statistics.median(r["cpu_seconds"] for r in ours)
    go_cpu = statistics.median(r["cpu_seconds"] for r in go)
    print(f"  CPU time (user+sys, median): schedcast {our_cpu:.3f} s, Go path {go_cpu:.3f} s "
          f"(ratio {go_cpu / our_cpu:.2f}x; on a loaded machine wall time also measures the wait for a core)")
    ratio = our_rate / go_rate
    verdict = "goal met" if ratio >= 3 else ("required met" if ratio >= 1 else "BELOW REQUIRED")
    print(f"ratio schedcast/Go: {ratio:.2f}x (required >= 1, goal >= 3: {verdict})")
    return 0 if ratio >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
