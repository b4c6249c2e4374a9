"""Runs per second: schedcast's capture vs the research prototype's recipe, side by side.

Both sides run the same programs (the built-in set, minus the one that does not
compile) the same number of times with the same number of parallel workers:

(a) schedcast: cached harness builds, GORACE=atexit_sleep_ms=0, quiescence
    detection, sandboxed runs, every run stored (Parquet + content-addressed trace).
    Measured twice: with the prototype's 5 s wall-clock limit for every program, and
    with schedcast's defaults (programs declare a shorter limit when they never end).
(b) the prototype's recipe: a fresh `go build -race` per program, a plain tracing
    wrapper (trace.Start / trace.Stop around main), the race runtime's default 1 s
    exit sleep, runs in parallel, a 5 s timeout, no quiescence detection.

Then what containment costs per run: the same cached binary (a program that
returns at once) run alternately with the full sandbox (bubblewrap namespaces,
private mounts, cgroup, nobody) and bare (resource limits only, same user, same
directories and descriptors), one run at a time, same number of runs each side.

Usage: python benchmarks/collect.py [--runs 5] [--workers 2] [--containment-runs 40] [--only-containment]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from schedcast.collect import LocalExecutor, RunConfig, build, collect
from schedcast.collect.sandbox import Isolation, Limits, cleanup, probe_isolation, run_sandboxed, stage_binary, unstage_all
from schedcast.corpus import ProgramKind, builtin_programs
from schedcast.corpus.program import Program
from schedcast.toolchain import find_toolchain, go_env

PROTOTYPE_TIMEOUT_S = 5.0

PROTOTYPE_WRAPPER = """package main

import (
	"os"
	"runtime/trace"
)

func main() {
	f, _ := os.Create("trace.out")
	trace.Start(f)
	prototypeUserMain()
	trace.Stop()
	f.Close()
}
"""


def prototype_build(program: Program, work: Path) -> Path:
    src = work / program.id
    src.mkdir(parents=True)
    for name, text in program.sources.items():
        if program.kind is ProgramKind.MAIN:
            text = re.sub(r"^func\s+main\s*\(\s*\)", "func prototypeUserMain()", text, flags=re.MULTILINE)
        (src / name).write_text(text)
    if program.kind is ProgramKind.MAIN:
        (src / "zz_wrapper.go").write_text(PROTOTYPE_WRAPPER)
    (src / "go.mod").write_text(f"module prog\n\ngo {program.language_version}\n")
    tc = find_toolchain()
    binary = src / "bin"
    verb = ["build"] if program.kind is ProgramKind.MAIN else ["test", "-c"]
    subprocess.run([str(tc.go), *verb, "-race", "-o", str(binary), "."], cwd=src, env=go_env(tc), check=True, capture_output=True)
    return binary


def prototype_run(binary: Path, program: Program, run_dir: Path) -> str:
    run_dir.mkdir(parents=True)
    args = [str(binary), *program.args]
    if program.kind is ProgramKind.TEST:
        args += ["-test.trace=trace.out"]
    env = {"PATH": os.environ.get("PATH", ""), "GOMAXPROCS": "2"}
    try:
        proc = subprocess.run(args, cwd=run_dir, env=env, capture_output=True, timeout=PROTOTYPE_TIMEOUT_S)
        return "ok" if proc.returncode == 0 else "error"
    except subprocess.TimeoutExpired:
        return "timeout"


def run_prototype(programs: list[Program], runs: int, workers: int) -> tuple[float, Counter[str]]:
    work = Path(tempfile.mkdtemp(prefix="schedcast-prototype-"))
    start = time.monotonic()
    results: Counter[str] = Counter()
    try:
        with ThreadPoolExecutor(workers) as pool:
            binaries = dict(zip([p.id for p in programs], pool.map(lambda p: prototype_build(p, work / "build"), programs)))
            jobs = [(p, i) for p in programs for i in range(runs)]
            for outcome in pool.map(lambda job: prototype_run(binaries[job[0].id], job[0], work / "runs" / f"{job[0].id}-{job[1]}"), jobs):
                results[outcome] += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return time.monotonic() - start, results


def run_schedcast(programs: list[Program], runs: int, workers: int, limits: Limits) -> tuple[float, Counter[str]]:
    out = Path(tempfile.mkdtemp(prefix="schedcast-bench-"))
    try:
        start = time.monotonic()
        summary = collect(programs, out, RunConfig(runs=runs, limits=limits), executor=LocalExecutor(workers), show_progress=False)
        return time.monotonic() - start, summary.outcomes
    finally:
        shutil.rmtree(out, ignore_errors=True)


def containment_cost(runs: int) -> None:
    """Per-run wall time of one short run, full sandbox vs bare, alternating."""
    import statistics

    from schedcast.corpus import load_program

    work = Path(tempfile.mkdtemp(prefix="schedcast-containment-"))
    try:
        (work / "quick").mkdir()
        (work / "quick" / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("done") }\n')
        program = load_program(work / "quick")
        b = build(program, race=True)
        binary = stage_binary(b.binary, b.key)
        full = probe_isolation()
        bare = Isolation(False, False, False, False, (), False, "", "", ())
        env = {"GOMAXPROCS": "2", "GORACE": "atexit_sleep_ms=0 halt_on_error=0 exitcode=66"}
        limits = Limits(wall_seconds=10.0)
        times: dict[str, list[float]] = {"full": [], "bare": []}
        for i in range(2 * runs + 2):
            name = "full" if i % 2 == 0 else "bare"
            t = time.monotonic()
            result = run_sandboxed(binary, [], env, limits, True, full if name == "full" else bare)
            cleanup(result)
            if i >= 2:  # the first pair warms the page cache for both sides
                times[name].append(time.monotonic() - t)
        print(f"\ncontainment cost per run ({runs} runs each side, alternating, one at a time, race build, cached binary):")
        print(f"  full sandbox ({full.summary}): mean {statistics.mean(times['full']) * 1000:.1f} ms, "
              f"median {statistics.median(times['full']) * 1000:.1f} ms, min {min(times['full']) * 1000:.1f} ms")
        print(f"  bare (rlimits only, same user):  mean {statistics.mean(times['bare']) * 1000:.1f} ms, "
              f"median {statistics.median(times['bare']) * 1000:.1f} ms, min {min(times['bare']) * 1000:.1f} ms")
        print(f"  containment costs {(statistics.median(times['full']) - statistics.median(times['bare'])) * 1000:+.1f} ms per run (median difference)")
    finally:
        unstage_all()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per program (the prototype used 5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--containment-runs", type=int, default=40, help="runs per side for the containment cost")
    parser.add_argument("--only-containment", action="store_true", help="measure only the containment cost")
    args = parser.parse_args()
    if args.only_containment:
        containment_cost(args.containment_runs)
        return

    programs = [p for p in builtin_programs() if "build_error" not in p.expected]
    same_timeout = [replace(p, wall_timeout_s=None) for p in programs]
    for p in programs:  # warm schedcast's build cache: a second build costs nothing
        build(p, race=True)
    n = len(programs) * args.runs
    print(f"{len(programs)} programs x {args.runs} runs = {n} runs per side, {args.workers} workers, "
          f"{find_toolchain().version}, python {sys.version.split()[0]}\n")

    rows = []
    t, outcomes = run_prototype(programs, args.runs, args.workers)
    rows.append(("prototype recipe (fresh race build, 1 s exit sleep, 5 s timeout)", t, outcomes))
    t, outcomes = run_schedcast(same_timeout, args.runs, args.workers, Limits(wall_seconds=PROTOTYPE_TIMEOUT_S))
    rows.append(("schedcast, same 5 s limit for every program", t, outcomes))
    t, outcomes = run_schedcast(programs, args.runs, args.workers, Limits(wall_seconds=PROTOTYPE_TIMEOUT_S))
    rows.append(("schedcast, programs' declared limits", t, outcomes))

    base = n / rows[0][1]
    print(f"{'side':<68} {'wall s':>8} {'runs/s':>8} {'x proto':>8}")
    for name, t, outcomes in rows:
        print(f"{name:<68} {t:8.2f} {n / t:8.2f} {n / t / base:8.1f}")
        print(f"{'':<4}outcomes: {dict(sorted(outcomes.items()))}")

    # Where the time goes: the programs that end by themselves vs those only a deadline stops.
    finishing = [p for p in same_timeout if p.id not in ("timeout_spin", "blocked_global_chan")]
    t_proto, _ = run_prototype(finishing, args.runs, args.workers)
    t_sched, _ = run_schedcast(finishing, args.runs, args.workers, Limits(wall_seconds=PROTOTYPE_TIMEOUT_S))
    m = len(finishing) * args.runs
    print(f"\nprograms that end by themselves or deadlock ({len(finishing)}): prototype {m / t_proto:.2f} runs/s, "
          f"schedcast {m / t_sched:.2f} runs/s, ratio {t_proto / t_sched:.1f}x")
    containment_cost(args.containment_runs)


if __name__ == "__main__":
    main()
