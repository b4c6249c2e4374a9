"""The program model: Go sources plus what we declare about them.

A program is either a `main` package or a test kernel (a `_test.go` file with
`TestXxx` functions, built with `go test -c`). Programs may import the standard
library only: no module proxy is reachable.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

# Programs written for Go < 1.22 rely on per-loop (not per-iteration) loop variables;
# their go.mod must say so or some of their races vanish.
DEFAULT_LANGUAGE_VERSION = "1.22"

_PACKAGE_RE = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
_MAIN_FUNC_RE = re.compile(r"^func\s+main\s*\(\s*\)", re.MULTILINE)
_TEST_FUNC_RE = re.compile(r"^func\s+Test[A-Z0-9_]\w*\s*\(\s*\w+\s+\*testing\.T\s*\)", re.MULTILINE)
_TESTMAIN_RE = re.compile(r"^func\s+TestMain\s*\(", re.MULTILINE)
_LANGUAGE_VERSION_RE = re.compile(r"^1\.\d+$")


class ProgramError(ValueError):
    """A program that schedcast cannot use, with the reason and where."""


class ProgramKind(str, enum.Enum):
    MAIN = "main"
    TEST = "test"


@dataclass(frozen=True)
class Program:
    id: str
    sources: dict[str, str]  # file name -> Go source
    kind: ProgramKind
    package: str
    language_version: str = DEFAULT_LANGUAGE_VERSION
    args: tuple[str, ...] = ()
    pattern: str = ""
    expected: tuple[str, ...] = ()  # declared outcomes, e.g. ("leak",)
    description: str = ""
    origin: str = "user"
    wall_timeout_s: float | None = None  # overrides the collection's wall-clock limit
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def source_hash(self) -> str:
        """Content hash of the sources and everything that changes the binary's behaviour."""
        h = hashlib.sha256()
        for name in sorted(self.sources):
            h.update(name.encode() + b"\0" + self.sources[name].encode() + b"\0")
        h.update(f"{self.kind.value}\0{self.language_version}\0".encode())
        return h.hexdigest()

    @property
    def label(self) -> str:
        return f"{self.id} ({self.kind.value})"


def detect_kind(sources: dict[str, str], where: str) -> tuple[ProgramKind, str]:
    """Tell a main package from a test kernel; name the problem otherwise."""
    if not sources:
        raise ProgramError(f"{where}: no .go files")
    packages: set[str] = set()
    for name, text in sources.items():
        match = _PACKAGE_RE.search(text)
        if match is None:
            raise ProgramError(f"{where}/{name}: no package clause")
        packages.add(match.group(1))
    tests = {n: t for n, t in sources.items() if n.endswith("_test.go")}
    non_tests = {n: t for n, t in sources.items() if not n.endswith("_test.go")}
    mains = [n for n, t in non_tests.items() if _MAIN_FUNC_RE.search(t)]
    if "main" in packages and len(mains) == 1 and not tests:
        if len(packages) != 1:
            raise ProgramError(f"{where}: files of several packages: {sorted(packages)}")
        return ProgramKind.MAIN, "main"
    if len(mains) > 1:
        raise ProgramError(f"{where}: func main() is defined in several files: {sorted(mains)}")
    if tests and any(_TEST_FUNC_RE.search(t) for t in tests.values()):
        if any(_TESTMAIN_RE.search(t) for t in sources.values()):
            raise ProgramError(f"{where}: the kernel defines TestMain, which schedcast's harness needs")
        pkgs = {_PACKAGE_RE.search(t).group(1).removesuffix("_test") for t in sources.values()}  # type: ignore[union-attr]
        if len(pkgs) != 1:
            raise ProgramError(f"{where}: files of several packages: {sorted(pkgs)}")
        # External test packages (package foo_test) are not supported: one package only.
        test_pkgs = {_PACKAGE_RE.search(t).group(1) for t in sources.values()}  # type: ignore[union-attr]
        if len(test_pkgs) != 1:
            raise ProgramError(f"{where}: external test packages ({sorted(test_pkgs)}) are not supported")
        return ProgramKind.TEST, test_pkgs.pop()
    raise ProgramError(
        f"{where}: neither a main package (package main with func main()) "
        "nor a test kernel (a _test.go file with func TestXxx(t *testing.T))"
    )


def make_program(
    program_id: str,
    sources: dict[str, str],
    where: str = "",
    *,
    language_version: str = DEFAULT_LANGUAGE_VERSION,
    **declared: object,
) -> Program:
    if not _LANGUAGE_VERSION_RE.match(language_version):
        raise ProgramError(f"{where or program_id}: bad language version {language_version!r} (want e.g. '1.21')")
    kind, package = detect_kind(sources, where or program_id)
    return Program(
        id=program_id,
        sources=dict(sources),
        kind=kind,
        package=package,
        language_version=language_version,
        **declared,  # type: ignore[arg-type]
    )


def load_program(path: Path, program_id: str | None = None) -> Program:
    """A program from a .go file or a directory of .go files (with optional program.toml)."""
    path = Path(path)
    if not path.exists():
        raise ProgramError(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix != ".go":
            raise ProgramError(f"{path}: not a .go file")
        return make_program(program_id or path.stem, {path.name: path.read_text()}, str(path))
    sources = {p.name: p.read_text() for p in sorted(path.glob("*.go"))}
    meta: dict[str, object] = {}
    meta_file = path / "program.toml"
    if meta_file.exists():
        try:
            meta = tomllib.loads(meta_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ProgramError(f"{meta_file}: {exc}") from exc
    return make_program(
        program_id or str(meta.get("id", path.name)),
        sources,
        str(path),
        language_version=str(meta.get("language_version", DEFAULT_LANGUAGE_VERSION)),
        args=tuple(str(a) for a in meta.get("args", [])),  # type: ignore[union-attr]
        pattern=str(meta.get("pattern", "")),
        expected=tuple(str(o) for o in meta.get("expected", [])),  # type: ignore[union-attr]
        description=str(meta.get("description", "")),
        origin=str(meta.get("origin", "user")),
        wall_timeout_s=float(meta["timeout"]) if "timeout" in meta else None,  # type: ignore[arg-type]
        extra=_extra_table(meta.get("extra", {}), meta_file),
    )


def _extra_table(value: object, where: Path) -> dict[str, str]:
    """The optional [extra] table of program.toml: free-form string metadata."""
    if not isinstance(value, dict):
        raise ProgramError(f"{where}: 'extra' must be a table of strings")
    return {str(k): str(v) for k, v in value.items()}


def _toml_value(value: object) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def program_toml(program: Program) -> str:
    """program.toml text that load_program reads back into the same declared metadata."""
    fields: dict[str, object] = {"id": program.id, "origin": program.origin}
    if program.pattern:
        fields["pattern"] = program.pattern
    fields["expected"] = list(program.expected)
    if program.description:
        fields["description"] = program.description
    fields["language_version"] = program.language_version
    if program.args:
        fields["args"] = list(program.args)
    if program.wall_timeout_s is not None:
        fields["timeout"] = float(program.wall_timeout_s)
    lines = [f"{k} = {_toml_value(v)}" for k, v in fields.items()]
    if program.extra:
        lines += ["", "[extra]"] + [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in sorted(program.extra.items())]
    return "\n".join(lines) + "\n"


def write_program(program: Program, directory: Path) -> Path:
    """Write a program as a directory (its .go files plus program.toml); load_program reads it back."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(program.sources.items()):
        (directory / name).write_text(text)
    (directory / "program.toml").write_text(program_toml(program))
    return directory


def builtin_programs() -> list[Program]:
    """The small built-in set shipped as package data: one program per outcome class."""
    root = resources.files("schedcast.corpus") / "builtin"
    programs = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and (entry / "program.toml").is_file():
            programs.append(load_program(Path(str(entry))))
    return programs
