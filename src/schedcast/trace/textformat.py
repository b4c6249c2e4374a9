"""Go's textual trace format (``internal/trace/raw/doc.go``) to the binary wire
format, like Go's ``raw.Writer``. Go's own trace test corpus
(``GOROOT/src/internal/trace/testdata/tests``) is written in it: the tests use it to
prove the older v2 formats are read exactly like Go reads them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ..toolchain import find_toolchain
from . import wire as W

_NAMES = {spec[0]: typ for typ, spec in W.SPECS.items()}


def uvarint(x: int) -> bytes:
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def _arg_values(line: str) -> list[int]:
    return [int(tok.split("=", 1)[1]) for tok in line.split()[1:]]


def convert(text: str) -> tuple[bytes, str | None]:
    """(binary trace, expected error regex or None for SUCCESS)."""
    expect, _, trace = text.partition("-- trace --\n")
    expect_lines = expect.strip().splitlines()
    error = None
    if expect_lines[1].startswith("FAILURE"):
        error = ast.literal_eval(expect_lines[1].split(" ", 1)[1])
    lines = [line for line in trace.splitlines() if line.strip()]
    version = int(re.match(r"Trace Go1\.(\d+)", lines[0]).group(1))
    out = bytearray(f"go 1.{version} trace\x00\x00\x00".encode())
    i = 1
    while i < len(lines):
        line = lines[i]
        i += 1
        typ = _NAMES[line.split()[0]]
        values = _arg_values(line)
        out.append(typ)
        for x in values:
            out += uvarint(x)
        if typ == W.EvStack:
            for _ in range(values[1]):
                for x in (int(tok.split("=", 1)[1]) for tok in lines[i].split()):
                    out += uvarint(x)
                i += 1
        if typ in (W.EvString, W.EvExperimentalBatch):
            data = ast.literal_eval(lines[i].split("=", 1)[1].strip()).encode("latin-1")
            i += 1
            out += uvarint(len(data)) + data
    return bytes(out), error


def go_test_traces() -> list[Path]:
    return sorted((find_toolchain().goroot / "src/internal/trace/testdata/tests").glob("*.test"))
