"""How soon after quiescence the harness ends a deadlocked run.

A program sleeps 300 ms, then every goroutine blocks forever (a mutex held by a
sibling, a WaitGroup nobody releases). The run's duration minus 0.3 s is the time
from quiescence to the end of the run, process start-up included.

Usage: python benchmarks/quiescence.py [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from schedcast.collect import RunConfig, RunStore, collect
from schedcast.corpus import load_program

SLEEP_S = 0.3
LATE_DEADLOCK = """package main

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="schedcast-bench-quiescence-"))
    try:
        (work / "late_deadlock").mkdir()
        (work / "late_deadlock" / "main.go").write_text(LATE_DEADLOCK)
        program = load_program(work / "late_deadlock")
        collect([program], work / "out", RunConfig(runs=args.runs), show_progress=False)
        runs = RunStore(work / "out").read_runs().to_pylist()
        durations = sorted(r["duration_s"] for r in runs)
        outcomes = {o for r in runs for o in r["outcomes"]}
        print(f"{len(runs)} runs, outcomes {sorted(outcomes)}, race build, GOMAXPROCS=2")
        print("run durations (s):", " ".join(f"{d:.3f}" for d in durations))
        after = [d - SLEEP_S for d in durations]
        print(f"quiescence -> end of run (s): median {statistics.median(after):.3f}, max {max(after):.3f} (target <= 0.5)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
