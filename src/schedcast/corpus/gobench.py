"""Real-world kernels, source 2: a GoBench checkout (user-provided path).

Layout read (the GoBench repository; the path may be the checkout or its ``gobench``
folder):

    gobench/goker/{blocking,nonblocking}/<project>/<id>/<project><id>_test.go  (+ README.md)
    gobench/configures/goker/{blocking,nonblocking}.json   {"<project>_<id>": {"type", "subtype"}}

Each kernel becomes a test-kernel program with ``go 1.21`` semantics (GoBench's code
predates per-iteration loop variables; some of its races need the old semantics).
A kernel with a wrong layout, without a metadata entry, or that does not compile
under this toolchain is named with the reason, skipped and counted; the rest is
imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from schedcast.corpus.program import Program, ProgramError, make_program, write_program
from schedcast.terminal import track

CATEGORIES = ("blocking", "nonblocking")
GOBENCH_LANGUAGE_VERSION = "1.21"
# What counts as the bug manifesting in a run, per category.
EXPECTED = {
    "blocking": ("deadlock", "leak", "blocked"),
    "nonblocking": ("race", "panic", "fail", "crash"),
}
_PATTERN_BY_SUBTYPE = (
    ("context", "context"),
    ("condition", "cond"),
    ("waitgroup", "waitgroup"),
    ("rwr", "rwmutex"),
    ("lock", "mutex"),
    ("channel", "channel"),
    ("select", "select"),
    ("data race", "data_race"),
    ("order", "order_violation"),
    ("atomic", "atomicity_violation"),
)


@dataclass(frozen=True)
class Skipped:
    where: str
    reason: str


@dataclass
class GoBenchImport:
    root: Path
    programs: list[Program] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    written_to: Path | None = None

    def summary(self) -> str:
        by_cat: dict[str, int] = {}
        for p in self.programs:
            by_cat[p.extra["category"]] = by_cat.get(p.extra["category"], 0) + 1
        parts = ", ".join(f"{n} {c}" for c, n in sorted(by_cat.items())) or "none"
        return f"{len(self.programs)} kernels imported ({parts}), {len(self.skipped)} skipped"


def find_gobench_root(path: Path) -> Path:
    """The ``gobench`` folder inside `path` (or `path` itself); ProgramError if the layout is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise ProgramError(f"{path}: no such directory (expected a GoBench checkout)")
    for candidate in (path / "gobench", path):
        if (candidate / "goker").is_dir():
            return candidate
    raise ProgramError(
        f"{path}: not a GoBench checkout: expected gobench/goker/{{blocking,nonblocking}}/<project>/<id>/*_test.go "
        "and gobench/configures/goker/{blocking,nonblocking}.json"
    )


def _load_config(root: Path, category: str, skipped: list[Skipped]) -> dict[str, dict[str, str]]:
    path = root / "configures" / "goker" / f"{category}.json"
    if not path.is_file():
        skipped.append(Skipped(str(path), "metadata file missing: every kernel of this category lacks type/subtype"))
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        skipped.append(Skipped(str(path), f"unreadable metadata file: {exc}"))
        return {}
    if not isinstance(data, dict):
        skipped.append(Skipped(str(path), "metadata file is not a JSON object"))
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def _readme_description(directory: Path) -> str:
    readme = directory / "README.md"
    if not readme.is_file():
        return ""
    paragraphs = [p.strip() for p in readme.read_text(errors="replace").split("\n\n")]
    for p in paragraphs:
        if p and not p.startswith(("#", "|", "[", "```", "!")):
            return " ".join(p.split())[:300]
    return ""


def _pattern(subtype: str) -> str:
    s = subtype.lower()
    for needle, pattern in _PATTERN_BY_SUBTYPE:
        if needle in s:
            return pattern
    return "mixed" if s else ""


def _kernel(directory: Path, category: str, project: str, bug_id: str, meta: dict[str, str]) -> Program:
    sources = {p.name: p.read_text(errors="replace") for p in sorted(directory.glob("*.go"))}
    if not any(n.endswith("_test.go") for n in sources):
        raise ProgramError(f"{directory}: no *_test.go file")
    bug_type, subtype = str(meta.get("type", "")), str(meta.get("subtype", ""))
    return make_program(
        f"gobench_{project}_{bug_id}",
        sources,
        str(directory),
        language_version=GOBENCH_LANGUAGE_VERSION,
        pattern=_pattern(subtype),
        expected=EXPECTED[category],
        description=_readme_description(directory) or f"GoBench {category} kernel {project}#{bug_id} ({bug_type} / {subtype}).",
        origin="gobench",
        extra={
            "project": project,
            "bug_id": bug_id,
            "category": category,
            "type": bug_type,
            "subtype": subtype,
            "source": f"gobench/goker/{category}/{project}/{bug_id}",
        },
    )


BuildCheck = Callable[[Program], str]
"""Compiles a program; returns why it does not compile, or "" (schedcast.collect.build.compile_error)."""


def _check_builds(programs: list[Program], check: BuildCheck, workers: int | None) -> tuple[list[Program], list[Skipped]]:
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        errors = list(track(pool.map(check, programs), "import-gobench", len(programs), "builds"))
    kept = [p for p, e in zip(programs, errors) if not e]
    skipped = [Skipped(p.extra["source"], e) for p, e in zip(programs, errors) if e]
    return kept, skipped


def import_gobench(
    path: Path,
    out_dir: Path | None = None,
    *,
    check_build: BuildCheck | None = None,
    workers: int | None = None,
) -> GoBenchImport:
    """Import every GoKer kernel of a GoBench checkout; write them under `out_dir` if given.

    With `check_build` (schedcast.collect.build.compile_error: a race build, the same
    binary a collection will use, so the build cache is warm afterwards) every kernel is
    compiled and those that fail are skipped, with the compiler's first lines."""
    root = find_gobench_root(path)
    result = GoBenchImport(root=root)
    candidates: list[Program] = []
    for category in CATEGORIES:
        cat_dir = root / "goker" / category
        if not cat_dir.is_dir():
            result.skipped.append(Skipped(str(cat_dir), "category folder missing"))
            continue
        config = _load_config(root, category, result.skipped)
        for project_dir in sorted(p for p in cat_dir.iterdir() if p.is_dir()):
            for bug_dir in sorted(p for p in project_dir.iterdir() if p.is_dir()):
                project, bug_id = project_dir.name, bug_dir.name
                key = f"{project}_{bug_id}"
                if key not in config:
                    result.skipped.append(Skipped(str(bug_dir), f"no metadata entry {key!r} in configures/goker/{category}.json"))
                    continue
                try:
                    candidates.append(_kernel(bug_dir, category, project, bug_id, config[key]))
                except (ProgramError, OSError) as exc:
                    result.skipped.append(Skipped(str(bug_dir), str(exc).removeprefix(f"{bug_dir}: ")))
            stray = sorted(p.name for p in project_dir.iterdir() if p.is_file() and p.suffix == ".go")
            if stray:
                result.skipped.append(Skipped(str(project_dir), f"Go files outside a <project>/<id>/ folder: {stray}"))
    if check_build is not None and candidates:
        candidates, failed = _check_builds(candidates, check_build, workers)
        result.skipped += failed
    result.programs = candidates
    if out_dir is not None:
        out_dir = Path(out_dir)
        for p in candidates:
            write_program(replace(p), out_dir / p.id)
        result.written_to = out_dir
    return result
