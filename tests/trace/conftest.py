"""Real traces for the trace tests: the Go programs in ``programs/`` built with and
without ``-race`` and run several times at GOMAXPROCS 1 and 2, once per session."""

from __future__ import annotations

import lzma
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from schedcast.toolchain import go_env, run_go
from schedcast.trace.oracle import GoEvent, parse_go_dump, run_go_parser

HERE = Path(__file__).parent
PROGRAMS_DIR = HERE / "programs"
FIXTURES = HERE / "fixtures"
PROGRAMS = sorted(p.stem for p in PROGRAMS_DIR.glob("*.go"))
RUNS_PER_PROCS = 2
PROCS = (1, 2)
# Traces where threads' next events tie on time in a frontier of more than twelve
# threads (Go's unstable sort): once ordered unlike Go. Stored xz-compressed
# (about 0.5 MB for the three; 1.3 MB raw).
TIE_TRACES = ("go1.22-p1_syscalls.p4", "go1.23fmt-p1_syscalls.p4", "go1.25-p1_syscalls.race.p4")
# cgo callbacks: goroutine IDs reused, goroutines created on threads without a P.
CGO_TRACES = ("p6_cgo.p1", "p6_cgo.p2", "cgo_callback")


def fixture_bytes(name: str) -> bytes:
    """A fixture trace's bytes, ``NAME.trace`` or ``NAME.trace.xz``."""
    plain = FIXTURES / f"{name}.trace"
    if plain.exists():
        return plain.read_bytes()
    return lzma.decompress((FIXTURES / f"{name}.trace.xz").read_bytes())


def fixture_path(name: str, tmp_dir: Path) -> Path:
    """A fixture trace as a plain file (compressed ones are unpacked into ``tmp_dir``)."""
    plain = FIXTURES / f"{name}.trace"
    if plain.exists():
        return plain
    out = tmp_dir / f"{name}.trace"
    out.write_bytes(fixture_bytes(name))
    return out


def fixture_names() -> list[str]:
    """Every fixture trace, by name."""
    return sorted({p.name.split(".trace")[0] for p in FIXTURES.glob("*.trace*")})


@dataclass(frozen=True)
class CollectedTrace:
    program: str
    race: bool
    procs: int
    run: int
    path: Path

    @property
    def id(self) -> str:
        return f"{self.program}{'-race' if self.race else ''}-p{self.procs}-r{self.run}"


def build_program(name: str, race: bool, out_dir: Path) -> Path:
    binary = out_dir / (name + (".race" if race else ""))
    args = ["build", *(["-race"] if race else []), "-o", str(binary), str(PROGRAMS_DIR / f"{name}.go")]
    proc = run_go(args, timeout=600)
    assert proc.returncode == 0, f"go build {name} failed:\n{proc.stderr}"
    return binary


def run_traced(binary: Path, trace_path: Path, procs: int) -> None:
    env = go_env()
    env.update(GOMAXPROCS=str(procs), GORACE="atexit_sleep_ms=0")
    proc = subprocess.run([str(binary), str(trace_path)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{binary.name} failed ({proc.returncode}):\n{proc.stderr}"


@pytest.fixture(scope="session")
def collected_traces(tmp_path_factory: pytest.TempPathFactory) -> list[CollectedTrace]:
    out = tmp_path_factory.mktemp("traces")
    jobs = [(name, race) for name in PROGRAMS for race in (False, True)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        binaries = dict(zip(jobs, pool.map(lambda job: build_program(job[0], job[1], out), jobs)))
    traces = []
    for (name, race), binary in binaries.items():
        for procs in PROCS:
            for run in range(RUNS_PER_PROCS):
                ct = CollectedTrace(name, race, procs, run, out / f"{name}{'-race' if race else ''}-p{procs}-r{run}.trace")
                run_traced(binary, ct.path, procs)
                traces.append(ct)
    return traces


class GoOracle:
    """Go's parsed output per trace file, computed once per session (in parallel)."""

    def __init__(self) -> None:
        self._cache: dict[Path, list[GoEvent]] = {}

    def prefetch(self, paths: list[Path]) -> None:
        todo = [p for p in paths if p not in self._cache]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for path, text in zip(todo, pool.map(run_go_parser, todo)):
                self._cache[path] = list(parse_go_dump(text))

    def events(self, path: Path) -> list[GoEvent]:
        if path not in self._cache:
            self.prefetch([path])
        return self._cache[path]


@pytest.fixture(scope="session")
def go_oracle() -> GoOracle:
    return GoOracle()
