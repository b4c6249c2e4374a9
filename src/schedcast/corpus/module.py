"""A package of a user's own Go module, loaded as a test program.

`load_module_package(dir)` turns a package directory inside a module (a directory
with a `go.mod`, or below one) into a :class:`Program` of kind TEST whose sources
are the module's files that the package's tests need, by path relative to the
module root (`go.mod`, `go.sum`, the package's files, the module's other packages
it imports, and `vendor/` when the module vendors). The Go toolchain itself says
which packages those are (`go list -deps -test`): nothing is parsed here, and
nothing is fetched (`GOPROXY=off`; `-mod=vendor` when the module has a vendor
directory). The module's own module path and `go` version are kept, so its stack
frames read `<module path>/<package dir>/<file>.go:<line>`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from schedcast.corpus.program import Program, ProgramError, ProgramKind
from schedcast.toolchain import find_toolchain, go_env

GO_LIST_TIMEOUT_S = 300
MAX_FILES = 5000
MAX_BYTES = 64 << 20
# Files a package build may need besides Go sources.
_PACKAGE_FILE_SUFFIXES = (".go", ".s", ".h")

EXTRA_MODULE_PATH = "module_path"
EXTRA_PACKAGE_DIR = "package_dir"
EXTRA_MODULE_ROOT = "module_root"


def find_module_root(path: Path) -> Path | None:
    """The directory of the nearest `go.mod` at or above `path` (None if there is none)."""
    path = Path(path).resolve()
    for d in [path, *path.parents]:
        if (d / "go.mod").is_file():
            return d
    return None


def _go_list(module_root: Path, package: str, vendor: bool) -> list[dict[str, object]]:
    tc = find_toolchain()
    env = go_env(tc)
    env["GOFLAGS"] = "-mod=vendor" if vendor else "-mod=mod"
    fields = "ImportPath,Dir,Name,Standard,ForTest,Module,Error,DepsErrors,GoFiles,TestGoFiles,XTestGoFiles"
    try:
        proc = subprocess.run(
            [str(tc.go), "list", "-e", "-deps", "-test", f"-json={fields}", package],
            cwd=module_root, env=env, capture_output=True, text=True, timeout=GO_LIST_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProgramError(f"{module_root}: go list took longer than {GO_LIST_TIMEOUT_S} s") from exc
    if proc.returncode != 0 and not proc.stdout.strip():
        raise ProgramError(f"{module_root}: {_first_line(proc.stderr) or 'go list failed'}")
    decoder = json.JSONDecoder()
    text, pos, out = proc.stdout, 0, []
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)
    return out


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _error_text(pkg: dict[str, object]) -> str:
    err = pkg.get("Error")
    if isinstance(err, dict) and err.get("Err"):
        return str(err["Err"]).strip()
    for dep_err in pkg.get("DepsErrors") or []:  # type: ignore[union-attr]
        if isinstance(dep_err, dict) and dep_err.get("Err"):
            return str(dep_err["Err"]).strip()
    return ""


def _module_info(module_root: Path) -> tuple[str, str]:
    tc = find_toolchain()
    env = go_env(tc)
    env["GOFLAGS"] = "-mod=mod"
    proc = subprocess.run(
        [str(tc.go), "mod", "edit", "-json"], cwd=module_root, env=env, capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise ProgramError(f"{module_root / 'go.mod'}: {_first_line(proc.stderr) or 'unreadable go.mod'}")
    data = json.loads(proc.stdout)
    path = str((data.get("Module") or {}).get("Path") or "")
    if not path:
        raise ProgramError(f"{module_root / 'go.mod'}: no module path")
    return path, str(data.get("Go") or "")


def load_module_package(directory: Path, run: str | None = None) -> Program:
    """The tests of the package in `directory` (inside a Go module) as a TEST program.

    `run` becomes `-test.run=RUN`. Raises ProgramError with one clear line when the
    directory has no Go files, the package has no tests, a dependency is a module
    that is not present locally, or the package defines TestMain (the harness needs it).
    """
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise ProgramError(f"{directory}: not a directory")
    root = find_module_root(directory)
    if root is None:
        raise ProgramError(f"{directory}: no go.mod here or in any parent directory")
    if not any(directory.glob("*.go")):
        raise ProgramError(f"{directory}: no .go files")
    module_path, go_version = _module_info(root)
    vendor = (root / "vendor" / "modules.txt").is_file()
    rel_dir = directory.relative_to(root).as_posix()
    package = "./" + rel_dir if rel_dir != "." else "."
    listed = _go_list(root, package, vendor)

    target = next(
        (p for p in listed if not p.get("ForTest") and Path(str(p.get("Dir", ""))).resolve() == directory
         and not str(p.get("ImportPath", "")).endswith((".test", "_test"))),
        None,
    )
    if target is None:
        raise ProgramError(f"{directory}: go list did not report this package")
    for p in listed:
        err = p.get("Error")
        if isinstance(err, dict) and err.get("Err"):
            text, where = str(err["Err"]).strip().splitlines()[0], str(err.get("Pos") or "")
            if "GOPROXY=off" in text or "cannot find module" in text or "no required module" in text:
                raise ProgramError(
                    f"{directory}: needs package {p.get('ImportPath')}{f' ({where})' if where else ''} from a module "
                    "that is not present locally; nothing is fetched (vendor it with `go mod vendor`)"
                )
            raise ProgramError(f"{directory}: {p.get('ImportPath')}: {text}{f' ({where})' if where else ''}")
    problems = [e for p in listed if (e := _error_text(p))]
    if problems:
        raise ProgramError(f"{directory}: {problems[0].splitlines()[0]}")
    if not (target.get("TestGoFiles") or target.get("XTestGoFiles")):
        raise ProgramError(f"{directory}: package {target.get('ImportPath')} has no _test.go files")

    # The module's own (non-standard) package directories the tests need, and vendor/.
    dirs: set[Path] = set()
    for p in listed:
        if p.get("Standard"):
            continue
        d = Path(str(p.get("Dir", ""))).resolve()
        if d == root or root in d.parents:
            dirs.add(d)
    sources: dict[str, str] = {}
    total = 0

    def add(path: Path) -> None:
        nonlocal total
        rel = path.relative_to(root).as_posix()
        if rel in sources:
            return
        text = path.read_text(errors="replace")
        total += len(text)
        if len(sources) >= MAX_FILES or total > MAX_BYTES:
            raise ProgramError(f"{root}: the module is too large for schedcast (over {MAX_FILES} files or {MAX_BYTES >> 20} MiB)")
        sources[rel] = text

    add(root / "go.mod")
    for extra in ("go.sum", "vendor/modules.txt"):
        if (root / extra).is_file():
            add(root / extra)
    for d in sorted(dirs):
        for f in sorted(d.iterdir()):
            if f.is_file() and f.name.endswith(_PACKAGE_FILE_SUFFIXES):
                add(f)
    test_sources = {n: t for n, t in sources.items() if n.endswith("_test.go") and Path(n).parent.as_posix() == rel_dir}
    if any("func TestMain(" in t for t in test_sources.values()):
        raise ProgramError(f"{directory}: the package defines TestMain, which schedcast's harness needs")

    name = str(target.get("Name") or "")
    import_path = str(target.get("ImportPath") or module_path)
    return Program(
        id=import_path,
        sources=sources,
        kind=ProgramKind.TEST,
        package=name,
        language_version=go_version or "1.22",
        args=(f"-test.run={run}",) if run else (),
        origin="user",
        description=f"tests of {import_path} ({root})",
        extra={EXTRA_MODULE_PATH: module_path, EXTRA_PACKAGE_DIR: rel_dir, EXTRA_MODULE_ROOT: str(root)},
    )


def is_module_program(program: Program) -> bool:
    return "go.mod" in program.sources
