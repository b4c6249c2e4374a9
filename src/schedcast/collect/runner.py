"""One traced run of a built program: sandbox, classify, store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from schedcast.collect.build import Build
from schedcast.collect.outcome import classify
from schedcast.collect.sandbox import Limits, cleanup, read_capped, run_sandboxed, stage_binary
from schedcast.collect.store import RunStore
from schedcast.corpus.program import Program, ProgramKind

STDERR_PARSE_BYTES = 4 << 20  # race reports and panics are read from this much stderr


@dataclass(frozen=True)
class RunConfig:
    runs: int = 20
    gomaxprocs: int = 2
    race: bool = True
    seed: int = 0
    limits: Limits = Limits()

    @property
    def config_id(self) -> str:
        """Identifies runs that are interchangeable (same settings): part of every run_id."""
        blob = json.dumps(
            {"gomaxprocs": self.gomaxprocs, "race": self.race, "seed": self.seed, "limits": asdict(self.limits)},
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
    }


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run once, store the trace and the record; returns the record."""
    store = RunStore(task.store_root)
    record = _base_record(task)
    if task.build is None:
        record.update(outcomes=["build_error"], build_error=task.build_error, duration_s=0.0)
        record["finished_at"] = datetime.now(timezone.utc).isoformat()
        store.add_run(record)
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
        "GORACE": "atexit_sleep_ms=0 halt_on_error=0",  # the race runtime sleeps 1 s at exit by default
        "SCHEDCAST_TRACE": "trace.out",
        "SCHEDCAST_STATUS": "schedcast-status.json",
        "SCHEDCAST_SEED": str(record["seed"]),
    }
    result = run_sandboxed(binary, args, env, limits, cfg.race)
    try:
        status = None
        status_path = result.workdir / "schedcast-status.json"
        if status_path.is_file():
            try:
                status = json.loads(status_path.read_text())
            except (OSError, json.JSONDecodeError):
                status = None
        stderr_full, _ = read_capped(result.stderr_path, STDERR_PARSE_BYTES)
        c = classify(
            status=status,
            exit_code=result.exit_code,
            signal=result.signal,
            timed_out=result.timed_out,
            stderr=stderr_full,
            is_test=task.program.kind is ProgramKind.TEST,
        )
        trace_file = result.workdir / "trace.out"
        if trace_file.is_file() and trace_file.stat().st_size > 0:
            sha, rel, size = store.put_trace(trace_file)
            record.update(trace_sha256=sha, trace_path=rel, trace_bytes=size)
        else:
            record.update(trace_sha256=None, trace_path=None, trace_bytes=0)
        stdout, stdout_bytes = read_capped(result.stdout_path, limits.output_keep_bytes)
        stderr, stderr_bytes = read_capped(result.stderr_path, limits.output_keep_bytes)
        record.update(
            outcomes=c.outcomes,
            duration_s=result.duration_s,
            exit_code=result.exit_code,
            signal=result.signal,
            timed_out=result.timed_out,
            harness_end=c.harness_end,
            trace_complete=c.trace_complete,
            race_reports=c.races_json(),
            leaked_goroutines=c.leaked_goroutines,
            goroutines_at_end=json.dumps((status or {}).get("goroutines") or []),
            panic_message=c.panic_message,
            crash_reason=c.crash_reason,
            stdout=stdout,
            stderr=stderr,
            stdout_bytes=stdout_bytes,
            stderr_bytes=stderr_bytes,
        )
    finally:
        cleanup(result)
    record["finished_at"] = datetime.now(timezone.utc).isoformat()
    store.add_run(record)
    return record
