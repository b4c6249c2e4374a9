"""Every program schedcast knows, by origin, and the filters the CLI offers.

Origins:
- ``builtin``: the capture stage's fixtures (one program per outcome class).
- ``handcrafted``: the hand-written suite shipped as package data.
- ``generated``: the seeded generator's default set (rebuilt on demand, byte-identical).
- ``goker``: the GoKer kernels shipped inside the Go toolchain (read at run time).
- ``gobench``: kernels imported from a GoBench checkout (see :mod:`schedcast.corpus.gobench`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from importlib import resources
from pathlib import Path

from schedcast.corpus.program import Program, ProgramError, builtin_programs, load_program

ORIGINS = ("builtin", "handcrafted", "generated", "goker", "gobench")


def load_program_tree(root: Path, origin: str | None = None) -> list[Program]:
    """Every program directory (one holding a program.toml) directly under `root`, sorted by name.

    `origin`, when given, replaces the origin of programs whose program.toml names none.
    """
    programs = []
    for entry in sorted(Path(root).iterdir(), key=lambda e: e.name):
        if entry.is_dir() and (entry / "program.toml").is_file():
            program = load_program(entry)
            if origin is not None and program.origin == "user":
                program = replace(program, origin=origin)
            programs.append(program)
    return programs


def handcrafted_programs() -> list[Program]:
    """The hand-crafted suite shipped as package data (``corpus/handcrafted/<name>/``)."""
    root = resources.files("schedcast.corpus") / "handcrafted"
    return load_program_tree(Path(str(root)), origin="handcrafted")


def programs_by_origin(
    origins: Iterable[str] = ("builtin", "handcrafted", "generated", "goker"),
    *,
    gobench_dirs: Iterable[Path] = (),
    generated_count: int | None = None,
    generated_seed: int | None = None,
) -> list[Program]:
    """Programs of the requested origins, in a stable order.

    ``gobench`` programs come from directories written by ``import-gobench``
    (pass them in `gobench_dirs`); the toolchain's ``goker`` kernels need the Go
    toolchain to be installed.
    """
    from schedcast.corpus import generator, goker

    wanted = list(dict.fromkeys(origins))
    unknown = [o for o in wanted if o not in ORIGINS]
    if unknown:
        raise ProgramError(f"unknown origin(s) {unknown}; choose from {list(ORIGINS)}")
    out: list[Program] = []
    for origin in wanted:
        if origin == "builtin":
            out += builtin_programs()
        elif origin == "handcrafted":
            out += handcrafted_programs()
        elif origin == "generated":
            out += generator.generate(
                count=generated_count if generated_count is not None else generator.DEFAULT_COUNT,
                seed=generated_seed if generated_seed is not None else generator.DEFAULT_SEED,
            ).programs
        elif origin == "goker":
            out += goker.toolchain_goker_programs()
        elif origin == "gobench":
            for d in gobench_dirs:
                out += load_program_tree(Path(d), origin="gobench")
    return out


def select_programs(
    programs: Iterable[Program],
    *,
    origin: Iterable[str] = (),
    pattern: Iterable[str] = (),
    outcome: Iterable[str] = (),
    ids: Iterable[str] = (),
) -> list[Program]:
    """Filter by origin, pattern, declared outcome and id (each a set of alternatives;
    an empty set keeps everything). ``outcome`` matches any of the declared outcomes."""
    origins, patterns, outcomes, wanted_ids = set(origin), set(pattern), set(outcome), set(ids)
    return [
        p
        for p in programs
        if (not origins or p.origin in origins)
        and (not patterns or p.pattern in patterns)
        and (not outcomes or outcomes.intersection(p.expected))
        and (not wanted_ids or p.id in wanted_ids)
    ]


def kernel_bug_key(origin: str, extra: dict[str, str]) -> str:
    """"<project>#<bug id>" of a real-world kernel ("" for other programs): the toolchain's
    GoKer kernels and GoBench's are the same bugs under two origins."""
    if origin not in ("goker", "gobench") or not extra.get("bug_id"):
        return ""
    return f"{str(extra.get('project', '')).lower()}#{extra['bug_id']}"


def drop_duplicate_kernels(programs: list[Program]) -> tuple[list[Program], list[str]]:
    """Each bug tested once: a GoKer kernel whose bug is also present as a GoBench
    kernel is dropped (GoBench's original test wins: it is the paper's test set).
    Returns the kept programs and the ids dropped."""
    gobench = {kernel_bug_key(p.origin, p.extra) for p in programs if p.origin == "gobench"} - {""}
    dropped = [p.id for p in programs if p.origin == "goker" and kernel_bug_key(p.origin, p.extra) in gobench]
    return [p for p in programs if p.id not in set(dropped)], dropped


TEST_FORM_ORIGINS = ("builtin", "handcrafted", "generated")


def with_test_forms(programs: list[Program], origins: Iterable[str] = TEST_FORM_ORIGINS) -> tuple[list[Program], dict[str, str]]:
    """The programs plus the test-kernel form (schedcast.corpus.testform) of each
    `main` program of these origins. Returns (programs, {id: why it has no test form})."""
    from schedcast.corpus.testform import as_test_kernels

    wanted = set(origins)
    forms, failed = as_test_kernels([p for p in programs if p.origin in wanted])
    return programs + forms, failed


STRESS_FORM_ORIGINS = ("generated",)  # their state is local to main: the copies share nothing


def stress_forms(programs: list[Program], copies: int) -> tuple[list[Program], dict[str, str]]:
    """The stress form (schedcast.corpus.testform: a test kernel running `copies`
    copies of the body at once) of each generated `main` program.
    Returns (forms, {id: why it has no stress form})."""
    from schedcast.corpus.testform import as_test_kernels

    return as_test_kernels([p for p in programs if p.origin in STRESS_FORM_ORIGINS], copies)
