"""Build programs with the tracing harness around them, cached by content hash.

The cache key covers everything that changes the binary: the program's sources,
kind and language version, the toolchain version, the build flags and the harness
itself. A second build of the same program is a directory lookup.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from schedcast.corpus.program import Program, ProgramKind
from schedcast.toolchain import cache_dir, find_toolchain, go_env

_MAIN_FUNC_RE = re.compile(r"^func\s+main\s*\(\s*\)", re.MULTILINE)
BUILD_TIMEOUT_S = 600
# Bump when the build recipe (flags, go.mod, harness layout) changes: it is part of every key.
BUILD_RECIPE = "2:trimpath:module=prog"


class BuildError(RuntimeError):
    """A program did not compile; the message carries the compiler's output."""

    def __init__(self, program_id: str, message: str) -> None:
        super().__init__(f"{program_id}: build failed:\n{message}")
        self.program_id = program_id
        self.compiler_output = message


@dataclass(frozen=True)
class Build:
    program_id: str
    key: str
    binary: Path
    race: bool
    kind: ProgramKind
    toolchain_version: str
    cached: bool  # True when this call found the binary already built


def _harness_file(name: str) -> str:
    return (resources.files("schedcast.collect") / "harness" / name).read_text()


def harness_sources(program: Program) -> dict[str, str]:
    """The program's files with the harness added (and main renamed for main packages)."""
    files: dict[str, str] = {}
    core = _harness_file("core.go.tmpl").replace("__PACKAGE__", program.package)
    if program.kind is ProgramKind.MAIN:
        for name, text in program.sources.items():
            files[name] = _MAIN_FUNC_RE.sub("func schedcastUserMain()", text)
        # "00_" sorts first, so the harness's init (which starts the tracer) runs
        # before the program's own init functions.
        files["00_schedcast_harness.go"] = core
        files["zz_schedcast_main.go"] = _harness_file("main.go.tmpl")
    else:
        files.update(program.sources)
        # In a test binary the harness lives in a _test.go file of the same package
        # (for a user's module: in the tested package's directory).
        at = program.extra["package_dir"] + "/" if "package_dir" in program.extra else ""
        files[f"{at}00_schedcast_harness_test.go"] = core
        files[f"{at}zz_schedcast_testmain_test.go"] = _harness_file("testmain.go.tmpl").replace(
            "__PACKAGE__", program.package
        )
    return files


def build_key(program: Program, race: bool, toolchain_version: str) -> str:
    h = hashlib.sha256()
    h.update(program.source_hash.encode())
    h.update(f"\0{toolchain_version}\0race={race}\0{BUILD_RECIPE}\0".encode())
    for name in ("core.go.tmpl", "main.go.tmpl", "testmain.go.tmpl"):
        h.update(_harness_file(name).encode())
    return h.hexdigest()[:32]


def _clean_compiler_output(output: str, src_dir: Path) -> str:
    # Compiler messages name files in our temporary build directory; show plain names.
    return output.replace(str(src_dir) + os.sep, "").replace("./", "").strip()


def build(program: Program, race: bool = True, cache_root: Path | None = None) -> Build:
    """Compile `program` with the harness, or return the cached binary."""
    tc = find_toolchain()
    key = build_key(program, race, tc.version)
    root = (cache_root or cache_dir()) / "builds"
    final_dir = root / key
    binary = final_dir / "prog"
    if binary.is_file():
        return Build(program.id, key, binary, race, program.kind, tc.version, cached=True)

    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        src = work / "src"
        src.mkdir()
        for name, text in harness_sources(program).items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        if "go.mod" not in program.sources:  # a user's module keeps its own go.mod
            (src / "go.mod").write_text(f"module prog\n\ngo {program.language_version}\n")
        env = go_env(tc)
        if "vendor/modules.txt" in program.sources:
            env["GOFLAGS"] = "-mod=vendor"
        out = work / "prog"
        flags = ["-race"] if race else []
        if program.kind is ProgramKind.MAIN:
            cmd = [str(tc.go), "build", "-trimpath", *flags, "-o", str(out), "."]
        else:
            cmd = [str(tc.go), "test", "-c", "-trimpath", *flags, "-o", str(out), "./" + program.extra.get("package_dir", ".")]
        try:
            proc = subprocess.run(
                cmd, cwd=src, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise BuildError(program.id, f"go build took longer than {BUILD_TIMEOUT_S} s") from exc
        if proc.returncode != 0 or not out.is_file():
            raise BuildError(program.id, _clean_compiler_output(proc.stderr + proc.stdout, src))
        out.chmod(0o755)
        work.chmod(0o755)
        try:
            work.rename(final_dir)
        except OSError:
            # Another worker finished the same build first: theirs is identical.
            if not binary.is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return Build(program.id, key, binary, race, program.kind, tc.version, cached=False)
