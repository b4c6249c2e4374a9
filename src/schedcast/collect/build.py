"""Build programs with the tracing harness around them, cached by content hash.

The cache key covers everything that changes the binary: the program's sources,
kind and language version, the toolchain version, the build flags and the harness
itself. A second build of the same program is a directory lookup.

Untrusted sources are checked with Go's own parser (a small Go tool, `srcinfo`,
built once per toolchain and cached) before the harness is added: cgo is refused
(`import "C"`; non-race builds also get CGO_ENABLED=0, race builds need cgo only
for the race runtime), so is any use of a name the harness declares; `func main()`
is renamed at the exact position the parser reports. Sources over
MAX_SOURCE_BYTES are refused. The toolchain runs sandboxed (`run_build_sandboxed`:
no network, only /usr, GOROOT, the cache and the build directory visible, a
cgroup capping memory, processes and CPU, a wall-clock limit).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from schedcast.collect.sandbox import BuildLimits, run_build_sandboxed
from schedcast.corpus.program import Program, ProgramKind
from schedcast.toolchain import ToolchainError, cache_dir, find_toolchain, go_env, go_tool

BUILD_TIMEOUT_S = 600
MAX_SOURCE_BYTES = 4 << 20  # all of a program's files together
# Bump when the build recipe (flags, go.mod, harness layout) changes: it is part of every key.
BUILD_RECIPE = "3:trimpath:module=prog:cgo-refused:srcinfo"
USER_MAIN = "schedcastUserMain"


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


def _harness_files(program: Program) -> dict[str, str]:
    core = _harness_file("core.go.tmpl").replace("__PACKAGE__", program.package)
    if program.kind is ProgramKind.MAIN:
        # "00_" sorts first, so the harness's variables (which start the tracer)
        # are initialised before the program's own.
        return {"00_schedcast_harness.go": core, "zz_schedcast_main.go": _harness_file("main.go.tmpl")}
    # In a test binary the harness lives in a _test.go file of the same package
    # (for a user's module: in the tested package's directory).
    at = program.extra["package_dir"] + "/" if "package_dir" in program.extra else ""
    return {
        f"{at}00_schedcast_harness_test.go": core,
        f"{at}zz_schedcast_testmain_test.go": _harness_file("testmain.go.tmpl").replace("__PACKAGE__", program.package),
    }


def rename_main(text: str, offsets: list[int]) -> str:
    """Rename `func main` at the byte offsets Go's parser reported."""
    data = text.encode()
    for off in sorted(offsets, reverse=True):
        if data[off : off + 4] != b"main":
            raise ValueError(f"no 'main' at byte {off}")
        data = data[:off] + USER_MAIN.encode() + data[off + 4 :]
    return data.decode()


def _srcinfo_tool() -> Path:
    """The source checker, built once per toolchain and cached."""
    try:
        return go_tool("srcinfo", _harness_file("srcinfo.go.tmpl").encode())
    except ToolchainError as exc:
        raise RuntimeError(f"cannot build schedcast's source checker: {exc}") from exc


def check_sources(program: Program, src: Path, user_files: list[str], harness: list[str]) -> dict[str, list[int]]:
    """Run the source checker on the files written in `src`: the offsets of
    `func main` per file, or BuildError naming the first refusal."""
    proc = subprocess.run(
        [str(_srcinfo_tool()), "-harness", ",".join(harness), *user_files],
        cwd=src, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BuildError(program.id, f"source check failed: {proc.stderr.strip()[:500]}")
    report = json.loads(proc.stdout)
    refusals = report.get("refusals") or []
    if refusals:
        r = refusals[0]
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        raise BuildError(program.id, f"refused: {r['file']}:{r['line']}: {r['reason']}{more}")
    return {k: v for k, v in (report.get("main_offsets") or {}).items() if v}


def harness_sources(program: Program) -> dict[str, str]:
    """The program's files with the harness added (and main renamed for main
    packages), checked by Go's parser; BuildError when refused."""
    work = Path(tempfile.mkdtemp(prefix="schedcast-srcinfo-"))
    try:
        return _prepare_sources(program, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _prepare_sources(program: Program, src: Path) -> dict[str, str]:
    total = sum(len(t.encode()) for t in program.sources.values())
    if total > MAX_SOURCE_BYTES:
        raise BuildError(program.id, f"refused: its sources are {total} bytes, over the {MAX_SOURCE_BYTES} byte cap")
    harness = _harness_files(program)
    for name, text in {**program.sources, **harness}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    go_files = sorted(name for name in program.sources if name.endswith(".go"))  # not go.mod, vendor/modules.txt
    offsets = check_sources(program, src, go_files, sorted(harness))
    files: dict[str, str] = {}
    for name, text in program.sources.items():
        files[name] = rename_main(text, offsets[name]) if program.kind is ProgramKind.MAIN and name in offsets else text
    files.update(harness)
    return files


def build_key(program: Program, race: bool, toolchain_version: str) -> str:
    h = hashlib.sha256()
    h.update(program.source_hash.encode())
    h.update(f"\0{toolchain_version}\0race={race}\0{BUILD_RECIPE}\0".encode())
    for name in ("core.go.tmpl", "main.go.tmpl", "testmain.go.tmpl", "srcinfo.go.tmpl"):
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
        files = _prepare_sources(program, src)
        for name, text in files.items():
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
        # Untrusted code never gets cgo; the race runtime needs it (user cgo is
        # refused by the source check above).
        env["CGO_ENABLED"] = "1" if race else "0"
        try:
            proc = run_build_sandboxed(
                cmd, src, env, writable=[cache_dir()] if root.is_relative_to(cache_dir()) else [cache_dir(), root],
                readable=[tc.goroot], limits=BuildLimits(wall_seconds=BUILD_TIMEOUT_S),
            )  # fmt: skip
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


def compile_error(program: Program, race: bool = True) -> str:
    """Why `program` does not compile (the compiler's first lines), or "" when it builds
    (the build is cached, so a collection reuses it)."""
    try:
        build(program, race=race)
        return ""
    except BuildError as exc:
        lines = [ln for ln in exc.compiler_output.splitlines() if ln.strip()]
        return "does not compile under this toolchain: " + " | ".join(lines[:3])
