"""``schedcast trace``: look at a Go execution trace.

    schedcast trace show FILE                       per-goroutine timeline
    schedcast trace export FILE --format perfetto   Chrome trace-event JSON
"""

from __future__ import annotations

import sys
import warnings
from collections import defaultdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .errors import TraceError, TraceWarning
from .model import Event, Trace
from .reader import read_trace
from .snapshot import user_site

app = typer.Typer(
    help="Read Go execution traces: per-goroutine timelines and Perfetto export.",
    no_args_is_help=True,
    add_completion=False,
)

_err = Console(stderr=True, soft_wrap=True)

FileArg = Annotated[Path, typer.Argument(help="A Go execution trace (runtime/trace output).", show_default=False)]
SystemOpt = Annotated[bool, typer.Option("--system", help="Include system goroutines (runtime, tracer, harness).")]
WindowOpt = Annotated[
    bool,
    typer.Option("--window/--no-window", help="Keep only events between the harness's program markers, if any."),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the Python traceback on errors.")]


class ExportFormat(str, Enum):
    perfetto = "perfetto"


def _load(file: Path, debug: bool) -> Trace:
    """Read the trace, turning any failure into one clear message and exit code 2.
    A truncated trace is read (its complete generations) with a warning; the
    command then exits with code 1."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TraceWarning)
            trace = read_trace(file)
        for w in caught:
            _err.print(f"[yellow]warning:[/] {escape(str(w.message))}")
        return trace
    except TraceError as exc:
        if debug:
            raise
        _err.print(f"[red]error:[/] cannot read trace {escape(str(file))}: byte offset {exc.offset}: {escape(exc.message)}")
    except Exception as exc:  # noqa: BLE001 - the CLI promises one message, not a traceback
        if debug:
            raise
        _err.print(f"[red]error:[/] cannot read trace {escape(str(file))}: internal error: {escape(repr(exc))} (rerun with --debug)")
    raise typer.Exit(2)


def _ms(t: int, t0: int) -> str:
    return f"{(t - t0) / 1e6:+10.3f}ms"


def _describe(ev: Event) -> str:
    kind = str(ev.kind) if ev.kind else ev.wire
    parts = [f"{kind:<14}", f"{ev.from_state}->{ev.to_state}"]
    if ev.reason:
        parts.append(f"({ev.reason})")
    site = user_site(ev.stack) or (f"{ev.stack[0].file}:{ev.stack[0].line}" if ev.stack else "")
    if site:
        parts.append(f"at {site}")
    if ev.actor >= 0 and ev.actor != ev.g:
        parts.append(f"by G{ev.actor}")
    return " ".join(parts)


@app.command()
def show(
    file: FileArg,
    system: SystemOpt = False,
    window: WindowOpt = True,
    goroutine: Annotated[
        Optional[list[int]], typer.Option("--goroutine", "-g", help="Show only this goroutine (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Events shown per goroutine (0: all).")] = 40,
    debug: DebugOpt = False,
) -> None:
    """Print a per-goroutine timeline of a trace."""
    trace = _load(file, debug)
    out = Console(highlight=False, soft_wrap=True)
    events = trace.program_events(system=system, window=window)
    markers = "harness markers found" if trace.program_start is not None else "no harness markers"
    out.print(
        f"[bold]{escape(str(file))}[/]: go 1.{trace.version} trace, {trace.generations} generation(s), "
        f"{len(trace.events)} goroutine transitions ({len(events)} shown), GOMAXPROCS {trace.gomaxprocs}, {markers}"
    )
    by_g: dict[int, list[Event]] = defaultdict(list)
    for ev in events:
        by_g[ev.g].append(ev)
    wanted = set(goroutine or by_g)
    t0 = events[0].time if events else 0
    infos = trace.goroutines
    for g in sorted(by_g):
        if g not in wanted:
            continue
        info = infos.get(g)
        tag = " [dim](system)[/]" if info and info.system else ""
        out.print(f"\n[bold cyan]G{g}[/] {escape(info.entry if info else '')}{tag}")
        evs = by_g[g]
        shown = evs if limit <= 0 else evs[:limit]
        for ev in shown:
            out.print(f"  {_ms(ev.time, t0)}  {escape(_describe(ev))}")
        if len(shown) < len(evs):
            out.print(f"  [dim]... {len(evs) - len(shown)} more (use --limit 0)[/]")
    if trace.truncated_at is not None:
        raise typer.Exit(1)


@app.command()
def export(
    file: FileArg,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = ExportFormat.perfetto,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Output file (default: FILE with .json).")
    ] = None,
    system: SystemOpt = False,
    window: WindowOpt = True,
    debug: DebugOpt = False,
) -> None:
    """Export goroutine timelines (Chrome trace-event JSON for Perfetto / chrome://tracing)."""
    from .perfetto import write_chrome_trace

    trace = _load(file, debug)
    target = output or file.with_suffix(".json")
    try:
        write_chrome_trace(trace, str(target), trace.program_events(system=system, window=window))
    except OSError as exc:
        if debug:
            raise
        _err.print(f"[red]error:[/] cannot write {escape(str(target))}: {escape(exc.strerror or str(exc))}")
        raise typer.Exit(2) from None
    print(f"wrote {target} ({format.value}); open it at https://ui.perfetto.dev", file=sys.stdout)
    if trace.truncated_at is not None:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
