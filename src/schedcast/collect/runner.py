"""One traced run of a built program: sandbox, classify, store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from schedcast.collect.build import Build, BuildError, build
from schedcast.collect.outcome import classify
from schedcast.collect.sandbox import (
    Limits,
    SandboxResult,
    UnsafeFile,
    cleanup,
    read_capped,
    read_run_file,
    run_sandboxed,
    stage_binary,
)
from schedcast.collect.store import RunStore, StoredTrace
from schedcast.corpus.program import Program, ProgramKind

STDERR_PARSE_BYTES = 4 << 20  # race reports and panics are read from this much stderr (head + tail)


_FIRST_LIMITS = frozenset(
    ("wall_seconds", "cpu_seconds", "memory_bytes", "race_memory_factor", "processes", "file_bytes", "open_files", "output_keep_bytes", "term_grace_seconds")
)


@dataclass(frozen=True)
class RunConfig:
    runs: int = 20
    gomaxprocs: int = 2
    race: bool = True
    seed: int = 0
    limits: Limits = Limits()

    @property
    def config_id(self) -> str:
        """Identifies runs that are interchangeable (same settings): part of every run_id.
        Limits added later count only when they differ from their default, so
        existing collections keep their run ids."""
        default = asdict(Limits())
        limits = {k: v for k, v in asdict(self.limits).items() if k in _FIRST_LIMITS or v != default[k]}
        blob = json.dumps(
            {"gomaxprocs": self.gomaxprocs, "race": self.race, "seed": self.seed, "limits": limits},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_seed(base_seed: int, program: Program, run_index: int) -> int:
    digest = hashlib.sha256(f"{base_seed}:{program.id}:{program.source_hash}:{run_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def run_id(program: Program, config: RunConfig, run_index: int) -> str:
    # Two programs may share sources and differ in arguments (e.g. GoKer kernels
    # registered in one file): the id and the arguments are part of a run's identity.
    key = json.dumps([program.id, program.source_hash, list(program.args), config.config_id, run_index])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class RunTask:
    program: Program
    build: Build | None  # None when the build failed
    build_error: str
    config: RunConfig
    run_index: int
    store_root: Path
    cache_root: Path | None = None  # build cache (runs on another machine rebuild into it; None: that machine's default)


@dataclass(frozen=True)
class RunResult:
    """A run done on another machine: its record and its trace's bytes, for the
    client (the only writer of the store) to store."""

    record: dict[str, Any]
    trace: bytes


def _base_record(task: RunTask) -> dict[str, Any]:
    p, cfg = task.program, task.config
    return {
        "run_id": run_id(p, cfg, task.run_index),
        "program_id": p.id,
        "source_hash": p.source_hash,
        "build_key": task.build.key if task.build else "",
        "kind": p.kind.value,
        "config_id": cfg.config_id,
        "run_index": task.run_index,
        "seed": run_seed(cfg.seed, p, task.run_index),
        "gomaxprocs": cfg.gomaxprocs,
        "race_build": cfg.race,
        "toolchain": task.build.toolchain_version if task.build else "",
        "wall_timeout_s": task.program.wall_timeout_s or cfg.limits.wall_seconds,
        "race_reports": "[]",
        "goroutines_at_end": "[]",
        "panic_message": "",
        "crash_reason": "",
        "build_error": "",
        "stdout": "",
        "stderr": "",
        "stdout_bytes": 0,
        "stderr_bytes": 0,
        "leaked_goroutines": 0,
        "trace_complete": False,
        "timed_out": False,
        "harness_end": "",
        "trace_truncated": False,
        "sandbox": "",
        "notes": "",
    }


TraceSink = Callable[[Path, int], "StoredTrace | None"]


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run once in this process, store the trace and the record; returns the record."""
    store = RunStore(task.store_root)
    record = perform_run(task, lambda path, cap: store.store_trace(path, max_bytes=cap))
    store.add_run(record)
    return record


def execute_run_remote(task: RunTask) -> RunResult:
    """Run once on whatever machine this is called (a dask worker): build the program
    from the sources the task carries (cached on this machine), run it, and return
    the record with the trace's bytes. Writes nothing to the store."""
    if task.build is not None:
        try:
            task = replace(task, build=build(task.program, race=task.config.race, cache_root=task.cache_root))
        except BuildError as exc:  # built on the client's side but not here (another toolchain?)
            task = replace(task, build=None, build_error=exc.compiler_output)
    held: list[bytes] = []

    def keep(path: Path, cap: int) -> StoredTrace | None:
        got = read_run_file(path, cap)
        if got is None:
            return None
        if got.size >= cap:
            return StoredTrace("", "", got.size, True)
        held.append(got.data)
        digest = hashlib.sha256(got.data).hexdigest()
        rel = f"traces/{digest[:2]}/{digest}.trace" if got.data else ""
        return StoredTrace(digest if got.data else "", rel, got.size, False)

    record = perform_run(task, keep)
    return RunResult(record, held[0] if held else b"")


def store_result(store: RunStore, result: RunResult) -> dict[str, Any]:
    """Store a remote run on the client: the trace first, then the record (atomic
    writes both), so a record never names a missing trace."""
    record = dict(result.record)
    if record.get("trace_path"):
        stored = store.put_trace_bytes(result.trace)
        if stored.sha256 != record["trace_sha256"]:
            raise ValueError(f"run {record['run_id']}: the trace's bytes do not match its digest")
        record["trace_path"] = stored.rel
    store.add_run(record)
    return record


def perform_run(task: RunTask, store_trace: TraceSink) -> dict[str, Any]:
    """Run once; `store_trace(path, cap)` keeps the trace. Returns the record."""
    record = _base_record(task)
    if task.build is None:
        record.update(outcomes=["build_error"], build_error=task.build_error, duration_s=0.0)
        record["finished_at"] = datetime.now(timezone.utc).isoformat()
        return record

    cfg = task.config
    limits = cfg.limits
    if task.program.wall_timeout_s is not None:
        limits = replace(limits, wall_seconds=task.program.wall_timeout_s)
    record["wall_timeout_s"] = limits.wall_seconds
    binary = stage_binary(task.build.binary, task.build.key)
    args = list(task.program.args)
    if task.program.kind is ProgramKind.TEST:
        # The harness enforces the deadline; testing's own alarm would keep the
        # runtime alive and panic without our status file.
        args = ["-test.timeout=0", "-test.count=1", *args]
    env = {
        "GOMAXPROCS": str(cfg.gomaxprocs),
        # The race runtime sleeps 1 s at exit by default; exitcode 66 is the race
        # evidence the classifier trusts (the harness itself always exits 0).
        "GORACE": "atexit_sleep_ms=0 halt_on_error=0 exitcode=66",
        "SCHEDCAST_SEED": str(record["seed"]),
    }
    result = run_sandboxed(binary, args, env, limits, cfg.race)
    notes: list[str] = []
    try:
        status = _verified_status(result, limits, notes)
        stderr_full, _ = read_capped(result.stderr_path, STDERR_PARSE_BYTES)
        c = classify(
            status=status,
            exit_code=result.exit_code,
            signal=result.signal,
            timed_out=result.timed_out,
            stderr=stderr_full,
            is_test=task.program.kind is ProgramKind.TEST,
            race_build=cfg.race,
            oom_killed=result.oom_killed,
        )
        record.update(trace_sha256=None, trace_path=None, trace_bytes=0)
        trace_complete = c.trace_complete
        try:
            stored = store_trace(result.trace_path, limits.file_bytes)
        except UnsafeFile as exc:
            notes.append(f"trace refused: {exc}")
            stored = None
        if stored is not None and stored.truncated:
            # Cut at the file-size cap: recorded, not stored; later stages skip it.
            trace_complete = False
            record.update(trace_truncated=True, trace_bytes=stored.size)
            notes.append(f"trace cut at the {limits.file_bytes} byte cap: not stored")
        elif stored is not None and stored.size > 0:
            record.update(trace_sha256=stored.sha256, trace_path=stored.rel, trace_bytes=stored.size)
        stdout, stdout_bytes = read_capped(result.stdout_path, limits.output_keep_bytes)
        stderr, stderr_bytes = read_capped(result.stderr_path, limits.output_keep_bytes)
        exit_code = result.exit_code
        if status is not None and isinstance(status.get("exit_code"), int):
            exit_code = status["exit_code"]  # the program's own code (the harness exits 0 or, on a race, 66)
        record.update(
            outcomes=c.outcomes,
            duration_s=result.duration_s,
            exit_code=exit_code,
            signal=result.signal,
            timed_out=result.timed_out,
            harness_end=c.harness_end,
            trace_complete=trace_complete,
            race_reports=c.races_json(),
            leaked_goroutines=c.leaked_goroutines,
            goroutines_at_end=json.dumps((status or {}).get("goroutines") or []),
            panic_message=c.panic_message,
            crash_reason=c.crash_reason,
            stdout=stdout,
            stderr=stderr,
            stdout_bytes=stdout_bytes,
            stderr_bytes=stderr_bytes,
            sandbox=result.sandbox,
            notes="; ".join(notes),
        )
    finally:
        cleanup(result)
    record["finished_at"] = datetime.now(timezone.utc).isoformat()
    return record


def _verified_status(result: SandboxResult, limits: Limits, notes: list[str]) -> dict[str, Any] | None:
    """The harness's status: the one line of the status file that carries this run's
    token. Anything else in the file (a program can write to the descriptor) is
    ignored; a file over the cap, or not a regular file, is refused."""
    try:
        got = read_run_file(result.status_path, limits.status_bytes)
    except UnsafeFile as exc:
        notes.append(f"status refused: {exc}")
        return None
    if got is None or not got.data:
        return None
    if got.truncated:
        notes.append(f"status refused: larger than {limits.status_bytes} bytes")
        return None
    marker = f'"token":"{result.token}"'.encode()
    at = got.data.rfind(marker)
    if at < 0:
        notes.append("status without this run's token ignored")
        return None
    start = got.data.rfind(b"\n", 0, at) + 1
    stop = got.data.find(b"\n", at)
    try:
        status = json.loads(got.data[start : stop if stop >= 0 else len(got.data)])
    except (ValueError, UnicodeDecodeError):
        notes.append("status with this run's token is not valid JSON")
        return None
    if not isinstance(status, dict) or status.get("token") != result.token:
        notes.append("status without this run's token ignored")
        return None
    return status
