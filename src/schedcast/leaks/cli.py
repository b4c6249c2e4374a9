"""`schedcast leaks TARGET`: leaked goroutines of a Go program, package or kernel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from schedcast.leaks.detect import EXIT_BAD_INPUT, EXIT_CLEAN, EXIT_LEAK, LeaksError, find_leaks, resolve_target
from schedcast.leaks.report import Leak, LeakReport
from schedcast.terminal import console, err_console, fail


def _profile_text(leak: Leak) -> str:
    if leak.profile_runs == leak.runs:
        return f"[green]leaked[/] ({leak.profile_runs}/{leak.runs})"
    if leak.profile_runs:
        return f"[yellow]leaked in {leak.profile_runs}/{leak.runs}[/]"
    other = ", ".join(f"{k} {v}" for k, v in sorted(leak.profile.items()))
    return f"[red]not proven[/] ({other})"


def _wait_text(leak: Leak) -> str:
    if leak.wait == "select" and leak.select_cases is not None:
        return f"select, {leak.select_cases} case{'s' if leak.select_cases != 1 else ''}" + (" + default" if leak.select_default else "")
    return leak.wait


def _signature_text(leak: Leak) -> str:
    if leak.signature:
        return "[green]holds[/]" + (f" [red]({leak.counterexamples} counterexample(s))[/]" if leak.counterexamples else "")
    if leak.signature_runs:
        return f"{leak.signature_runs}/{leak.of_runs} runs"
    return "no"


def print_report(report: LeakReport) -> None:
    outcomes = " ".join(f"{k}={v}" for k, v in report.outcomes.items())
    console.print(
        f"[bold]{report.target}[/] ({report.kind}): {report.runs} runs, outcomes {outcomes}; "
        f"Go's leak profile marked leaks in {report.profile_runs}/{report.runs} runs",
        highlight=False, soft_wrap=True,
    )
    if report.leaks:
        table = Table(title=f"{len(report.leaks)} leaked goroutine site(s)", show_lines=True)
        for col in ("#", "blocked at", "wait", "created at", "runs", "goroutines", "after program end", "select signature", "Go leak profile", "goleak"):
            table.add_column(col, justify="right" if col in ("#", "runs", "goroutines") else "left")
        for i, leak in enumerate(report.leaks, 1):
            table.add_row(
                str(i),
                f"{leak.blocked_at}\n[dim]{leak.blocked_func}[/]\n{leak.blocked_line}",
                _wait_text(leak),
                f"{leak.created_at or '?'}\n[dim]{leak.entry}[/]\n{leak.created_line}",
                f"{leak.runs}/{leak.of_runs}",
                str(leak.goroutines) if leak.goroutines == leak.runs else f"{leak.goroutines} (≤{leak.max_per_run}/run)",
                f"{leak.after_program_end}/{leak.runs} runs",
                _signature_text(leak),
                _profile_text(leak),
                "yes" if leak.goleak else "no",
            )
        console.print(table)
    if report.alive:
        table = Table(title="alive but not blocked at the end (not leaks; a goleak-style check reports them if they outlive its retries)")
        for col in ("created at", "state", "at", "runs"):
            table.add_column(col)
        for a in report.alive[:20]:
            table.add_row(a.created_at or "?", a.state, a.at, f"{a.runs}/{report.runs}")
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    t = report.timing
    if t:
        console.print(f"[dim]collect {t.get('collect_s', 0):.2f} s, analysis {t.get('analyze_s', 0):.2f} s[/]", highlight=False)
    if report.leaks:
        console.print(f"[bold red]leak found[/]: {len(report.leaks)} site(s), in {report.runs_with_leaks}/{report.runs} runs", highlight=False)
    else:
        console.print(f"[bold green]no leaked goroutines[/] in {report.runs} runs", highlight=False)


def leaks_cmd(
    target: Annotated[str, typer.Argument(help="A .go file, a program directory, a corpus program id, or a package directory of your Go module.")],
    run: Annotated[Optional[str], typer.Option("--run", "-run", help="Only tests matching this regular expression (go test -run).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Traced runs.")] = 5,
    gomaxprocs: Annotated[int, typer.Option(help="GOMAXPROCS for every run.")] = 2,
    timeout: Annotated[float, typer.Option(help="Wall-clock limit per run, seconds.")] = 10.0,
    race: Annotated[bool, typer.Option("--race/--no-race", help="Build with the race detector.")] = True,
    workers: Annotated[Optional[int], typer.Option(help="Parallel runs (default: number of cores).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Keep the runs in this collection directory (reused when rerun).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run TARGET N times under the tracer and report each leaked goroutine.

    Exit status: 0 no leak, 1 leak found, 2 bad input (no such target, no Go files,
    a module that is not present locally, a test filter that matches nothing),
    3 does not compile, 4 no run produced a readable trace.
    """
    from schedcast.collect import Limits, RunConfig
    from schedcast.toolchain import ToolchainError

    if runs < 1 or gomaxprocs < 1 or timeout <= 0:
        fail("--runs and --gomaxprocs must be at least 1 and --timeout positive", code=EXIT_BAD_INPUT)
    try:
        program = resolve_target(target, run)
        config = RunConfig(runs=runs, gomaxprocs=gomaxprocs, race=race, limits=Limits(wall_seconds=timeout))
        report = find_leaks(
            program, config, out_dir=out, workers=workers, console=err_console,
            show_progress=not as_json and err_console.is_terminal, target=target,
        )
    except LeaksError as exc:
        fail(str(exc), code=exc.exit_code)
    except ToolchainError as exc:
        fail(str(exc), code=EXIT_BAD_INPUT)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), code=EXIT_BAD_INPUT)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report)
    raise typer.Exit(EXIT_LEAK if report.leak_found else EXIT_CLEAN)
