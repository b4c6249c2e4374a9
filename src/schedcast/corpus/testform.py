"""Programs in test-kernel form: the shape real-world kernels come in.

Real-world kernels are Go tests (``TestXxx`` in a ``_test.go``, built with ``go test
-c``). `as_test_kernels(programs)` turns each ``main`` program into one: a small Go tool
(``testform_go/main.go``, standard library only) renames ``func main`` with go/ast
(the source is re-printed by go/format) and adds ``program_test.go`` with a
``TestProgram`` that calls the renamed body. The tool is built once with the pinned
toolchain and cached like the source-facts analyzer. Test programs are left out
(they already are kernels); a program the tool cannot convert is left out with its
reason.

The test form keeps the program's id with a ``.test`` suffix, its origin, pattern
and declared outcomes, and names the main form as its twin (``extra["twin"]``), so
both forms always fall on the same side of every split.

The *stress form* (`as_test_kernels(programs, copies=N)`, id suffix ``.stressN``) is
the same test kernel, but its ``TestProgram`` runs N copies of the body in goroutines
at once and waits for them: the shape of the leak-profile kernels (a loop that starts
the buggy code in many goroutines, each starting its own). Each copy is started by a
goroutine that starts it and returns, as a kernel's function starts its code with
``go func() { ... }()`` and returns: a goroutine that spawns and then ends, which the
``main`` programs never show. It only suits programs whose state is local to ``main``
(the generated ones), since the copies share the package's variables.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

from schedcast.corpus.program import Program, ProgramError, ProgramKind, make_program
from schedcast.toolchain import ToolchainError, go_env, go_tool

SUFFIX = ".test"
STRESS_SUFFIX = ".stress"
_SOURCE = "main.go"
TIMEOUT_S = 120.0


def _tool_text() -> bytes:
    return (resources.files("schedcast.corpus") / "testform_go" / _SOURCE).read_bytes()


def tool_binary() -> Path:
    """The converter, compiled with the pinned toolchain on first use (cached by its
    source hash and the toolchain version)."""
    try:
        return go_tool("testform", _tool_text())
    except ToolchainError as exc:
        raise ProgramError(str(exc)) from exc


def convert_sources(items: list[tuple[str, dict[str, str]]], copies: int = 1) -> list[dict[str, str] | str]:
    """(id, files) of main programs -> the test form's files, or why it failed; with
    copies > 1, the test runs that many copies of the body at once."""
    if not items:
        return []
    if copies < 1:
        raise ProgramError(f"copies must be at least 1 (got {copies})")
    binary = tool_binary()
    payload = json.dumps([{"id": pid, "files": files, "copies": copies} for pid, files in items]).encode()
    env = go_env()
    env["GOMAXPROCS"] = "2"
    try:
        proc = subprocess.run([str(binary)], input=payload, capture_output=True, timeout=TIMEOUT_S, env=env, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired as exc:
        raise ProgramError(f"the test-form converter took longer than {TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        raise ProgramError(f"the test-form converter failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    answers = json.loads(proc.stdout)
    return [a["files"] if "files" in a else str(a.get("error", "not converted")) for a in answers]


def as_test_kernels(programs: list[Program], copies: int = 1) -> tuple[list[Program], dict[str, str]]:
    """The test-kernel form of every main program (copies > 1: the stress form);
    returns (forms, {id: why not converted})."""
    mains = [p for p in programs if p.kind == ProgramKind.MAIN]
    answers = convert_sources([(p.id, p.sources) for p in mains], copies)
    suffix, form_name = (SUFFIX, "test") if copies == 1 else (f"{STRESS_SUFFIX}{copies}", "stress")
    shape = "test-kernel form" if copies == 1 else f"stress form: {copies} copies at once"
    forms: list[Program] = []
    failed: dict[str, str] = {}
    for p, answer in zip(mains, answers):
        if isinstance(answer, str):
            failed[p.id] = answer
            continue
        try:
            form = make_program(
                p.id + suffix, answer, language_version=p.language_version, pattern=p.pattern, expected=p.expected,
                description=f"{p.description} ({shape})".strip(), origin=p.origin, wall_timeout_s=p.wall_timeout_s,
                extra={**p.extra, "twin": p.id, "form": form_name, **({"copies": str(copies)} if copies > 1 else {})},
            )
        except ProgramError as exc:
            failed[p.id] = str(exc)
            continue
        if p.args:
            form = replace(form, args=p.args)
        forms.append(form)
    return forms, failed
