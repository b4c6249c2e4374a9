"""Find leaked goroutines in a Go target: resolve it, collect N traced runs, analyse.

TARGET is a `.go` file, a program directory, a corpus program id (built-in,
hand-crafted, generated, GoKer kernel), or a package directory of a user's own Go
module (tests chosen with `run`). Collection goes through `schedcast.collect`
(build cache, sandbox, harness, run store); the analysis reads every run's whole
trace (`schedcast.leaks.analysis`).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from schedcast.collect import LocalExecutor, RunConfig, RunStore, collect
from schedcast.corpus.module import find_module_root, load_module_package
from schedcast.corpus.program import Program, ProgramError, ProgramKind, load_program
from schedcast.leaks.analysis import RunLeaks, analyze_run
from schedcast.leaks.report import LeakReport, aggregate

# Exit statuses of `schedcast leaks` (docs/leaks.md).
EXIT_CLEAN = 0
EXIT_LEAK = 1
EXIT_BAD_INPUT = 2  # no such target, no Go files, missing modules, no test matched, bad options
EXIT_BUILD = 3  # the program or its tests do not compile
EXIT_NO_DATA = 4  # no run produced a readable trace


class LeaksError(RuntimeError):
    """A target schedcast leaks cannot analyse; one line, and the exit status to use."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _corpus_program(name: str) -> Program | None:
    from schedcast.corpus.catalog import programs_by_origin

    wanted = name.lower()
    for origins in (("builtin", "handcrafted"), ("goker",), ("generated",)):
        try:
            programs = programs_by_origin(origins)
        except Exception:  # noqa: BLE001 - e.g. no toolchain kernels: keep looking elsewhere
            continue
        for p in programs:
            if p.id == name or p.id.lower() == wanted or p.extra.get("kernel", "").lower() == wanted:
                return p
    return None


def resolve_target(target: str, run: str | None = None) -> Program:
    """The program TARGET names (see the module docstring); LeaksError if none."""
    path = Path(target)
    try:
        if path.exists():
            if path.is_dir() and not (path / "program.toml").is_file() and find_module_root(path) is not None:
                program = load_module_package(path, run)
            else:
                program = load_program(path)
        else:
            found = _corpus_program(target)
            if found is None:
                raise LeaksError(f"{target}: no such file, directory or corpus program (see `schedcast corpus list`)")
            program = found
    except ProgramError as exc:
        raise LeaksError(str(exc).splitlines()[0]) from exc
    if run:
        if program.kind is not ProgramKind.TEST:
            raise LeaksError(f"{target}: --run selects tests, but this is a main package")
        if not any(a.startswith("-test.run=") for a in program.args):
            program = replace(program, args=(*program.args, f"-test.run={run}"))
    return program


def _runs_of(store: RunStore, program: Program, config: RunConfig) -> list[dict[str, object]]:
    table = store.read_runs()
    rows = [
        r for r in table.to_pylist()
        if r["program_id"] == program.id and r["source_hash"] == program.source_hash
        and r["config_id"] == config.config_id and r["run_index"] < config.runs
    ]
    return sorted(rows, key=lambda r: r["run_index"])


def warm_up() -> None:
    """The trace module's one-time scan of the standard library's directories (what
    tells user frames apart); done before forking analysis workers so they share it."""
    from schedcast.trace.model import Frame
    from schedcast.trace.snapshot import is_user_frame

    is_user_frame(Frame("runtime.gopark", "runtime/proc.go", 1))


def _analyze_row(args: tuple[Path, dict[str, object]]) -> RunLeaks:
    return analyze_run(*args)


def analyze_collection(collection: Path, program: Program, config: RunConfig, workers: int | None = None) -> list[RunLeaks]:
    """Analyse the stored runs of `program` under `config` in a collection directory,
    on `workers` processes (default: one per core, like collection; forked, so they
    start with everything already imported)."""
    rows = _runs_of(RunStore(collection), program, config)
    workers = workers or os.cpu_count() or 1
    warm_up()
    if workers < 2 or len(rows) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [analyze_run(collection, row) for row in rows]
    with ProcessPoolExecutor(max_workers=min(workers, len(rows)), mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_analyze_row, [(collection, row) for row in rows]))


def find_leaks(
    program: Program,
    config: RunConfig,
    *,
    out_dir: Path | None = None,
    workers: int | None = None,
    console: Console | None = None,
    show_progress: bool = False,
    target: str = "",
) -> LeakReport:
    """Collect `config.runs` traced runs of `program` and report its leaked goroutines.

    Runs go to `out_dir` (kept; rerunning reuses its stored runs) or to a temporary
    directory removed afterwards. Raises LeaksError for a build failure, a test
    filter that matches nothing, or runs without a readable trace.
    """
    tmp = None
    if out_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="schedcast-leaks-"))
        out_dir = tmp
    # The trace module's one-time scan of the standard library overlaps the runs
    # (they wait on subprocesses); any of it left is charged to the analysis.
    warming = threading.Thread(target=warm_up, daemon=True)
    warming.start()
    try:
        t0 = time.monotonic()
        summary = collect(
            [program], out_dir, config, executor=LocalExecutor(workers),
            console=console or Console(stderr=True), show_progress=show_progress,
        )
        t_collect = time.monotonic() - t0
        if program.id in summary.build_errors:
            message = summary.build_errors[program.id].strip()
            first = next((ln.strip() for ln in message.splitlines() if ln.strip() and not ln.startswith("#")), message)
            raise LeaksError(f"{program.id}: does not compile: {first}", EXIT_BUILD)
        t1 = time.monotonic()
        warming.join()
        runs = analyze_collection(out_dir, program, config, workers)
        t_analyze = time.monotonic() - t1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if runs and all(r.no_tests_ran for r in runs):
        pattern = next((a.removeprefix("-test.run=") for a in program.args if a.startswith("-test.run=")), "")
        raise LeaksError(f"{program.id}: no test matches -run {pattern!r}" if pattern else f"{program.id}: no tests to run")
    if not runs or all(r.trace_error for r in runs):
        reason = runs[0].trace_error if runs else "no runs stored"
        raise LeaksError(f"{program.id}: no run produced a readable trace ({reason})", EXIT_NO_DATA)
    report = aggregate(program, runs, target=target)
    report.timing = {
        "collect_s": round(t_collect, 3),
        "analyze_s": round(t_analyze, 3),
        "runs_executed": float(summary.executed),
    }
    return report
