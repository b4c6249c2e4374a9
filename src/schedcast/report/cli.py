"""`schedcast report DIR`: the HTML report of an output folder."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from schedcast.terminal import console, fail
from schedcast.terminal import err_console as err


def report_cmd(
    out: Annotated[Path, typer.Argument(help="Output folder of the main job (`schedcast pipeline --out DIR`).")] = Path("schedcast-out"),
    to: Annotated[Optional[Path], typer.Option("--to", help="Report folder (default: DIR/report).")] = None,
    run: Annotated[Optional[str], typer.Option("--run", help="Run id whose goroutine timeline to draw (default: a held-out kernel's leaking run).")] = None,
) -> None:
    """Build a static HTML report (opens from disk, no network): runs, test set, models,
    calibration, per-kind accuracy, confusion, entropy, probe, leaks, a goroutine
    timeline, and a "Reproduce the paper" page. Missing stages are named, with why."""
    from schedcast.report import ReportError, build_report

    args = ["schedcast", "report", str(out)] + (["--to", str(to)] if to else []) + (["--run", run] if run else [])
    try:
        result = build_report(out, to, run_id=run, command=" ".join(shlex.quote(a) for a in args))
    except ReportError as exc:
        fail(str(exc))
    for section, why in result.missing.items():
        err.print(f"[yellow]section {section} missing:[/] {why}", highlight=False, soft_wrap=True)
    n_figures = len([p for p in result.figures if p.suffix == ".csv"])
    err.print(f"{n_figures} figures, {len(result.sections) - len(result.missing)} of {len(result.sections)} sections, {result.seconds:.1f} s", highlight=False)
    console.print(f"report -> {result.index}", highlight=False, soft_wrap=True)
