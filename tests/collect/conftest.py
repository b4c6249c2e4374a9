"""Helpers for the capture tests (the shared collection fixture is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BUILTIN_RUNS

__all__ = ["BUILTIN_RUNS", "write_program"]


def write_program(directory: Path, source: str, name: str = "main.go", toml: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(source)
    if toml:
        (directory / "program.toml").write_text(toml)
    return directory
