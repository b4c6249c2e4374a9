"""The consoles every command prints to, and the one way commands fail."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

# Piped output (logs, CI) gets a wide fixed width instead of rich's 80 columns, so
# tables keep their numbers whole.
_PIPED_WIDTH = 160
console = Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPED_WIDTH)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear error line (no traceback) and exit with `code`."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
