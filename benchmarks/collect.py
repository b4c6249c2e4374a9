"""Runs per second: schedcast's capture vs the research prototype's recipe, side by side.

Both sides run the same programs, every one of a corpus (no subset), the same
number of times, with the same number of parallel workers and the same 5 s
wall-clock limit for every program:

(a) schedcast: harness builds (cached by content), GORACE=atexit_sleep_ms=0,
    quiescence detection, sandboxed runs, every run stored (Parquet +
    content-addressed trace).
(b) the prototype's recipe: a `go build -race` per program, a plain tracing
    wrapper (trace.Start / trace.Stop around main), the race runtime's default 1 s
    exit sleep, runs in parallel, a 5 s timeout, no quiescence detection.

Corpora: the built-in + hand-crafted programs (what `schedcast collect` runs by
default plus the hand-crafted set), and separately the toolchain's GoKer kernels.
Each side is measured cold (its own empty cache directory: Go's build cache and
schedcast's compiled programs both empty, so the race-built standard library is
compiled again) and then warm (the same cache again: schedcast finds its binaries,
the prototype recipe still runs `go build`, which finds Go's cached packages and
links). Build time and run time are printed separately.

Then a scaling figure (warm, first corpus): runs/s of schedcast's collection with
1 and 2 local workers and with a dask LocalCluster of 2 worker processes (cluster
start-up printed apart). Then what containment costs per run: the same cached
binary (a program that returns at once) run alternately with the full sandbox
(bubblewrap namespaces, private mounts, cgroup, nobody) and bare (resource limits
only, same user, same directories and descriptors), one run at a time.

Usage: python benchmarks/collect.py [--runs 5] [--workers 2] [--corpus main,goker]
           [--containment-runs 40] [--only-containment] [--no-scaling]
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

from schedcast.collect import DaskExecutor, Executor, LocalExecutor, RunConfig, build, collect
from schedcast.collect.sandbox import Isolation, Limits, cleanup, probe_isolation, run_sandboxed, stage_binary, unstage_all
from schedcast.corpus import ProgramKind
from schedcast.corpus.catalog import programs_by_origin
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


def prototype_build(program: Program, work: Path) -> Path | None:
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
    proc = subprocess.run([str(tc.go), *verb, "-race", "-o", str(binary), "."], cwd=src, env=go_env(tc), capture_output=True)
    return binary if proc.returncode == 0 else None


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


def run_prototype(programs: list[Program], runs: int, workers: int) -> tuple[float, float, Counter[str]]:
    """(build seconds, run seconds, outcomes) of the prototype recipe."""
    work = Path(tempfile.mkdtemp(prefix="schedcast-prototype-"))
    results: Counter[str] = Counter()
    try:
        with ThreadPoolExecutor(workers) as pool:
            start = time.monotonic()
            binaries = dict(zip([p.id for p in programs], pool.map(lambda p: prototype_build(p, work / "build"), programs)))
            t_build = time.monotonic() - start
            results["build_error"] = runs * sum(1 for b in binaries.values() if b is None)
            jobs = [(p, i) for p in programs for i in range(runs) if binaries[p.id] is not None]
            start = time.monotonic()
            for outcome in pool.map(lambda job: prototype_run(binaries[job[0].id], job[0], work / "runs" / f"{job[0].id}-{job[1]}"), jobs):  # type: ignore[arg-type]
                results[outcome] += 1
            t_run = time.monotonic() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return t_build, t_run, +results


def _build_quiet(p: Program) -> bool:
    try:
        build(p, race=True)
        return True
    except Exception:  # noqa: BLE001 - a build error is an outcome here
        return False


def run_schedcast(programs: list[Program], runs: int, executor: Executor, limits: Limits) -> tuple[float, float, Counter[str]]:
    """(build seconds, collection seconds after the builds, outcomes) of schedcast."""
    out = Path(tempfile.mkdtemp(prefix="schedcast-bench-"))
    try:
        start = time.monotonic()
        if not executor.remote:  # a cluster's workers build for themselves: counted in the collection
            list(executor.imap_unordered(_build_quiet, programs))
        t_build = time.monotonic() - start
        start = time.monotonic()
        summary = collect(programs, out, RunConfig(runs=runs, limits=limits), executor=executor, show_progress=False)
        return t_build, time.monotonic() - start, summary.outcomes
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


CORPORA = {"main": ("builtin", "handcrafted"), "goker": ("goker",)}


def _fresh_cache() -> Path:
    """An empty cache directory for schedcast and Go (SCHEDCAST_CACHE holds both)."""
    path = Path(tempfile.mkdtemp(prefix="schedcast-bench-cache-"))
    os.environ["SCHEDCAST_CACHE"] = str(path)
    return path


def compare(name: str, programs: list[Program], runs: int, workers: int, states: tuple[str, ...] = ("cold", "warm")) -> list[Program]:
    programs = [replace(p, wall_timeout_s=None) for p in programs]  # the same 5 s limit for every program
    limits = Limits(wall_seconds=PROTOTYPE_TIMEOUT_S)
    n = len(programs) * runs
    print(f"\n== corpus {name}: {len(programs)} programs x {runs} runs = {n} runs per side, {workers} workers, "
          f"same {PROTOTYPE_TIMEOUT_S:.0f} s limit for every program")
    rows = []
    caches = []
    for side in ("prototype", "schedcast"):
        if "cold" in states:
            caches.append(_fresh_cache())
        for state in states:
            if side == "prototype":
                t_build, t_run, outcomes = run_prototype(programs, runs, workers)
            else:
                t_build, t_run, outcomes = run_schedcast(programs, runs, LocalExecutor(workers), limits)
            rows.append((side, state, t_build, t_run, outcomes))
            print(f"   measured {side} {state}: {t_build + t_run:.1f} s", flush=True)
    print(f"{'side':<10} {'cache':<5} {'build s':>8} {'run s':>8} {'total s':>8} {'runs/s':>7} {'x prototype':>11}  outcomes")
    proto = {state: t_b + t_r for side, state, t_b, t_r, _ in rows if side == "prototype"}
    for side, state, t_b, t_r, outcomes in rows:
        total = t_b + t_r
        print(f"{side:<10} {state:<5} {t_b:8.1f} {t_r:8.1f} {total:8.1f} {n / total:7.2f} {proto[state] / total:11.2f}  {dict(sorted(outcomes.items()))}")
    for c in caches:
        shutil.rmtree(c, ignore_errors=True)
    return programs


def scaling(programs: list[Program], runs: int) -> None:
    """Warm collection runs/s with 1 and 2 local workers and a 2-process dask LocalCluster
    (schedcast's build cache as it is, filled first)."""
    limits = Limits(wall_seconds=PROTOTYPE_TIMEOUT_S)
    for p in programs:
        _build_quiet(p)
    n = len(programs) * runs
    print(f"\n== scaling (warm build cache, {len(programs)} programs x {runs} runs = {n} runs, collection time only)")
    for label, make in (
        ("local, 1 worker", lambda: LocalExecutor(1)),
        ("local, 2 workers", lambda: LocalExecutor(2)),
        ("dask LocalCluster, 2 worker processes", lambda: DaskExecutor(None, 2)),
    ):
        start = time.monotonic()
        ex = make()
        t_start = time.monotonic() - start
        try:
            _, t, outcomes = run_schedcast(programs, runs, ex, limits)
        finally:
            ex.close()
        extra = f" (cluster start {t_start:.1f} s, not counted)" if isinstance(ex, DaskExecutor) else ""
        print(f"{label:<40} {t:7.1f} s {n / t:7.2f} runs/s{extra}  {dict(sorted(outcomes.items()))}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per program (the prototype used 5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--corpus", default="main,goker", help=f"comma-separated, from {', '.join(CORPORA)}")
    parser.add_argument("--containment-runs", type=int, default=40, help="runs per side for the containment cost")
    parser.add_argument("--only-containment", action="store_true", help="measure only the containment cost")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling figure")
    parser.add_argument("--only-scaling", action="store_true", help="measure only the scaling figure")
    parser.add_argument("--warm-only", action="store_true", help="compare warm only (both sides use the current cache)")
    args = parser.parse_args()
    if args.only_containment:
        containment_cost(args.containment_runs)
        return
    load = os.getloadavg()
    print(f"{find_toolchain().version}, python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    first: list[Program] = []
    for name in args.corpus.split(","):
        programs = [replace(p, wall_timeout_s=None) for p in programs_by_origin(list(CORPORA[name]))]
        if not args.only_scaling:
            compare(name, programs, args.runs, args.workers, ("warm",) if args.warm_only else ("cold", "warm"))
        first = first or programs
    if not args.no_scaling:
        scaling(first, args.runs)
    if args.only_scaling:
        return
    cache = _fresh_cache()
    containment_cost(args.containment_runs)
    shutil.rmtree(cache, ignore_errors=True)
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
