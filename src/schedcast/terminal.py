"""The consoles every command prints to, the one way commands fail, and the
progress every long stage shows."""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# Piped output (logs, CI) gets a wide fixed width instead of rich's 80 columns, so
# tables keep their numbers whole.
_PIPED_WIDTH = 160
console = Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPED_WIDTH)


_debug = {"on": False}


def set_debug(on: bool) -> None:
    """`schedcast --debug`: errors show their traceback (every sub-command)."""
    _debug["on"] = on


def debug_enabled() -> bool:
    return _debug["on"]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear error line and exit with `code`. With --debug, the traceback
    of the exception being handled (if any) comes first."""
    if _debug["on"] and sys.exc_info()[1] is not None:
        traceback.print_exc()
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run_app(app: typer.Typer) -> None:
    """Run the command line: an error no command expected is one line (its type
    and message) unless --debug, which shows the whole traceback."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if _debug["on"]:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        err_console.print(
            f"[bold red]error:[/] internal error: {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        sys.exit(1)


# ---------------------------------------------------------------- progress
PIPED_INTERVAL_S = 5.0  # piped output: at most one progress line per stage this often (plus the last)

T = TypeVar("T")


class Steps:
    """Progress of one stage: a rich bar with ETA on a terminal; when stderr is not
    a terminal, plain lines `progress STAGE DONE/TOTAL UNIT ELAPSEDs` (at most one
    every PIPED_INTERVAL_S seconds, and one at the end)."""

    def __init__(self, stage: str, total: int | None, unit: str, show: bool = True, console: Console | None = None) -> None:
        self.stage, self.total, self.unit = stage, total, unit
        self.done = 0
        self._console = console or err_console
        self._show = show
        self._started = time.monotonic()
        self._last_line = -math.inf
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if show and self._console.is_terminal:
            self._bar = Progress(
                TextColumn(f"[bold]{stage}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self._console,
            )  # fmt: skip
            self._task = self._bar.add_task(stage, total=total)

    def __enter__(self) -> Steps:
        if self._bar is not None:
            self._bar.start()
        elif self._show:
            self._line()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._show and exc[0] is None:
            self._line()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done)
        elif self._show and time.monotonic() - self._last_line >= PIPED_INTERVAL_S:
            self._line()

    def _line(self) -> None:
        self._last_line = time.monotonic()
        total = "?" if self.total is None else str(self.total)
        print(f"progress {self.stage} {self.done}/{total} {self.unit} {self._last_line - self._started:.1f}s", file=self._console.file, flush=True)


def progress(stage: str, total: int | None, unit: str, show: bool = True) -> Steps:
    """`with progress("dataset", len(runs), "runs") as steps: ... steps.advance()`."""
    return Steps(stage, total, unit, show)


def track(items: Iterable[T], stage: str, total: int | None, unit: str, show: bool = True) -> Iterator[T]:
    """Iterate `items`, showing the stage's progress (see Steps)."""
    with Steps(stage, total, unit, show) as steps:
        for item in items:
            yield item
            steps.advance()
