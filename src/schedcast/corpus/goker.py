"""Real-world kernels, source 1: the GoKer kernels shipped inside the Go toolchain.

``GOROOT/src/runtime/testdata/testgoroutineleakprofile/goker/`` holds one `main`
package: ``main.go`` dispatches on ``os.Args[1]`` to functions registered with
``register("Name", fn)``, one kernel per file. We read them at run time (never copy
them into the repository) and turn each kernel into its own program: ``main.go``
plus the kernel's file, run with the kernel name as its argument. One program per
kernel keeps every program's source hash (the run store's key) distinct.

Metadata comes from the same directory's README.md (project, bug id, type and
sub-type per kernel) and from the runtime's own test, which marks each kernel
stable, flaky or excluded (``src/runtime/goroutineleakprofile_test.go``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from schedcast.corpus.program import Program, ProgramError, make_program

GOKER_SUBDIR = Path("src/runtime/testdata/testgoroutineleakprofile/goker")
RUNTIME_TEST = Path("src/runtime/goroutineleakprofile_test.go")
# A manifesting blocking bug: goroutines stuck after main returns, or everything stuck.
BLOCKING_OUTCOMES = ("leak", "deadlock", "blocked")

_REGISTER_RE = re.compile(r'^\s*register\(\s*"(\w+)"\s*,\s*(\w+)\s*\)', re.MULTILINE)
_NAME_RE = re.compile(r"^([A-Za-z]+)(\d+)$")
_README_SECTION_RE = re.compile(r"^## (\w+)/(\d+)\s*$", re.MULTILINE)
_README_ROW_RE = re.compile(r"^\|\s*\[[^\]]*\]\s*\|[^|]*\|[^|]*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*$", re.MULTILINE)
_TEST_CASE_RE = re.compile(r"^\s*(//)?\s*make(Flaky)?Test\(\s*(?:testCase\{name:\s*)?\"(\w+)\"", re.MULTILINE)


@dataclass(frozen=True)
class KernelInfo:
    type: str = ""
    subtype: str = ""
    description: str = ""


def goker_dir(goroot: Path | None = None) -> Path:
    if goroot is None:
        from schedcast.toolchain import find_toolchain

        goroot = find_toolchain().goroot
    return Path(goroot) / GOKER_SUBDIR


def split_name(name: str) -> tuple[str, str]:
    """("Cockroach1055") -> ("cockroach", "1055")."""
    m = _NAME_RE.match(name)
    if m is None:
        return name.lower(), ""
    return m.group(1).lower(), m.group(2)


def parse_readme(text: str) -> dict[str, KernelInfo]:
    """Per kernel ("cockroach1055"): type, sub-type and the first description paragraph."""
    out: dict[str, KernelInfo] = {}
    sections = list(_README_SECTION_RE.finditer(text))
    for i, m in enumerate(sections):
        body = text[m.end(): sections[i + 1].start() if i + 1 < len(sections) else len(text)]
        row = _README_ROW_RE.search(body)
        description = ""
        if "### Description" in body:
            after = body.split("### Description", 1)[1].strip()
            para = after.split("\n\n", 1)[0].strip()
            if not para.startswith("#"):
                description = " ".join(para.split())
        out[(m.group(1) + m.group(2)).lower()] = KernelInfo(
            type=row.group(1).strip() if row else "",
            subtype=row.group(2).strip() if row else "",
            description=description,
        )
    return out


def parse_runtime_test(text: str) -> dict[str, str]:
    """Kernel name -> "stable" | "flaky" | "excluded" as the runtime's own test uses it."""
    out: dict[str, str] = {}
    for m in _TEST_CASE_RE.finditer(text):
        commented, flaky, name = m.group(1), m.group(2), m.group(3)
        out[name] = "excluded" if commented else ("flaky" if flaky else "stable")
    return out


def toolchain_goker_programs(goroot: Path | None = None) -> list[Program]:
    """One program per GoKer kernel of the installed toolchain, sorted by id.

    Raises ProgramError when the toolchain ships no GoKer directory."""
    directory = goker_dir(goroot)
    main_file = directory / "main.go"
    if not main_file.is_file():
        raise ProgramError(f"{directory}: no GoKer kernels in this Go toolchain (Go >= 1.26 ships them)")
    root = directory.parents[len(GOKER_SUBDIR.parts) - 1]
    readme_file = directory / "README.md"
    infos = parse_readme(readme_file.read_text()) if readme_file.is_file() else {}
    test_file = root / RUNTIME_TEST
    go_test = parse_runtime_test(test_file.read_text()) if test_file.is_file() else {}
    main_text = main_file.read_text()
    programs = []
    for path in sorted(directory.glob("*.go")):
        if path.name == "main.go":
            continue
        text = path.read_text()
        for name, _func in _REGISTER_RE.findall(text):
            project, bug_id = split_name(name)
            # Moby25348 lives in moby25384.go and README says 25384: fall back to the file name.
            info = infos.get(name.lower()) or infos.get(path.stem.lower(), KernelInfo())
            kind = f"{info.type} / {info.subtype}" if info.type else "blocking bug"
            programs.append(
                make_program(
                    f"goker_{name.lower()}",
                    {"main.go": main_text, path.name: text},
                    str(path),
                    args=(name,),
                    pattern=_pattern(info.subtype),
                    expected=BLOCKING_OUTCOMES,
                    description=info.description or f"GoKer kernel {project}#{bug_id} ({kind}).",
                    origin="goker",
                    extra={
                        "project": project,
                        "bug_id": bug_id,
                        "kernel": name,
                        "category": "blocking",
                        "type": info.type,
                        "subtype": info.subtype,
                        "go_test": go_test.get(name, "unlisted"),
                        "source": f"GOROOT/{GOKER_SUBDIR}/{path.name}",
                        "file_bug_id": split_name(path.stem)[1],
                    },
                )
            )
    return sorted(programs, key=lambda p: p.id)


def _pattern(subtype: str) -> str:
    """A coarse concurrency pattern from GoBench's sub-type ("Channel & Context" -> "channel")."""
    s = subtype.lower()
    for needle, pattern in (
        ("context", "context"),
        ("condition", "cond"),
        ("waitgroup", "waitgroup"),
        ("rwr", "rwmutex"),
        ("ab-ba", "mutex"),
        ("double lock", "mutex"),
        ("lock", "mutex"),
        ("channel", "channel"),
    ):
        if needle in s:
            return pattern
    return "mixed" if s else ""
