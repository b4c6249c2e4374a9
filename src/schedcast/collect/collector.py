"""Collect traced runs of many programs: build once, run N times each, store."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from schedcast.collect.build import Build, BuildError, build
from schedcast.collect.executor import Executor, LocalExecutor
from schedcast.collect.runner import RunConfig, RunTask, execute_run, execute_run_remote, run_id, store_result
from schedcast.collect.sandbox import probe_isolation, reap_stale, unstage_all
from schedcast.collect.store import RunStore
from schedcast.corpus.program import Program
from schedcast.terminal import Steps


@dataclass
class CollectSummary:
    programs: int
    planned_runs: int
    already_done: int
    executed: int
    outcomes: Counter[str] = field(default_factory=Counter)
    build_errors: dict[str, str] = field(default_factory=dict)
    builds_cached: int = 0
    elapsed_s: float = 0.0
    sandbox: str = ""  # the containment that applied (Isolation.summary)
    warnings: list[str] = field(default_factory=list)  # where it is weaker than the full sandbox


def _build_one(args: tuple[Program, bool, Path | None]) -> tuple[Program, Build | None, str]:
    program, race, cache_root = args
    try:
        return program, build(program, race=race, cache_root=cache_root), ""
    except BuildError as exc:
        return program, None, exc.compiler_output


def collect(
    programs: list[Program],
    out_dir: Path,
    config: RunConfig,
    executor: Executor | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    cache_root: Path | None = None,
) -> CollectSummary:
    """Run every program `config.runs` times; skip runs already in the store.
    Holds the collection's write lock throughout (StoreLocked if another process
    is writing it)."""
    started = time.monotonic()
    store = RunStore(out_dir)
    with store.lock():
        return _collect_locked(programs, store, config, executor, console, show_progress, cache_root, started)


def _collect_locked(
    programs: list[Program],
    store: RunStore,
    config: RunConfig,
    executor: Executor | None,
    console: Console | None,
    show_progress: bool,
    cache_root: Path | None,
    started: float,
) -> CollectSummary:
    reap_stale()  # cgroups, run directories and staged binaries of collections that died
    store.consolidate()  # adopt runs finished by an interrupted collection
    store.add_programs(programs)
    done = store.done_run_ids()
    executor = executor or LocalExecutor()
    console = console or Console(stderr=True)
    iso = probe_isolation()
    for warning in iso.warnings:
        console.print(f"[yellow]warning:[/] sandbox: {warning} (see `schedcast doctor`)", highlight=False, soft_wrap=True)

    todo = [
        p for p in programs if any(run_id(p, config, i) not in done for i in range(config.runs))
    ]
    summary = CollectSummary(programs=len(programs), planned_runs=len(programs) * config.runs, already_done=0, executed=0)
    summary.already_done = sum(
        1 for p in programs for i in range(config.runs) if run_id(p, config, i) in done
    )
    summary.sandbox, summary.warnings = iso.summary, list(iso.warnings)

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[outcomes]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show_progress or not console.is_terminal,  # piped: plain `progress` lines instead
        transient=False,
    )
    piped = show_progress and not console.is_terminal
    try:
        _run_all(programs, todo, done, config, store, executor, progress, summary, cache_root, piped)
    finally:
        # Also on Ctrl-C or an error: what finished is in runs.parquet.
        store.consolidate()
        unstage_all()
        summary.elapsed_s = time.monotonic() - started
    return summary


def _run_all(
    programs: list[Program],
    todo: list[Program],
    done: set[str],
    config: RunConfig,
    store: RunStore,
    executor: Executor,
    progress: Progress,
    summary: CollectSummary,
    cache_root: Path | None,
    piped: bool = False,
) -> None:
    with progress:
        builds: dict[str, tuple[Build | None, str]] = {}
        t_build = progress.add_task("build", total=len(todo), outcomes="")
        lines = Steps("collect-build", len(todo), "programs", show=piped).__enter__()
        for program, b, err in executor.imap_unordered(_build_one, [(p, config.race, cache_root) for p in todo]):
            lines.advance()
            builds[program.source_hash] = (b, err)
            if b is not None and b.cached:
                summary.builds_cached += 1
            if b is None:
                summary.build_errors[program.id] = err
            progress.advance(t_build)

        tasks = [
            RunTask(p, builds[p.source_hash][0], builds[p.source_hash][1], config, i, store.root, cache_root)
            for p in todo
            for i in range(config.runs)
            if run_id(p, config, i) not in done
        ]
        lines.__exit__(None, None, None)
        t_run = progress.add_task(f"runs ({len(todo)} programs)", total=len(tasks), outcomes="")
        lines = Steps("collect", len(tasks), "runs", show=piped).__enter__()
        if getattr(executor, "remote", False):
            # Runs elsewhere come back as record + trace bytes; this process stays the
            # store's only writer. A run whose worker died is run again by the
            # scheduler and arrives once.
            records = (store_result(store, r) for r in executor.imap_unordered(execute_run_remote, tasks))
        else:
            records = executor.imap_unordered(execute_run, tasks)
        for record in records:
            lines.advance()
            summary.executed += 1
            summary.outcomes.update(record["outcomes"])
            progress.update(
                t_run,
                advance=1,
                outcomes=" ".join(f"{k}={v}" for k, v in sorted(summary.outcomes.items())),
            )
        lines.__exit__(None, None, None)
