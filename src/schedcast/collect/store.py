"""The run store: one Parquet table of runs, one of programs, raw traces by content.

Layout of a collection directory:

    runs.parquet            every finished run (schema RUN_SCHEMA)
    programs.parquet        the programs collected (sources included)
    pending/<run_id>.json   runs finished since the last consolidation
    traces/<ab>/<sha256>.trace   raw traces, named by the SHA-256 of their bytes

Every write is atomic (write to a temporary file, fsync, then rename). A worker
writes a run's trace first and its record second, so a record never names a
missing trace. Consolidation merges pending records into runs.parquet
(deduplicated by run_id) before deleting them, so `kill -9` at any point loses at
most the runs in flight, and rerunning the same collection performs exactly the
missing runs.

One writer per collection: `collect` holds an exclusive lock (`DIR/.lock`, flock)
for its whole run; a second `collect` into the same directory fails at once with
one line naming the holder. Consolidation runs only under the lock (a reader that
finds the directory locked reads what is already consolidated), so two
consolidations never interleave. Taking the lock removes temporary files that a
killed writer left behind.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schedcast.corpus.program import Program

SCHEMA_VERSION = 1

RUN_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("program_id", pa.string()),
        ("source_hash", pa.string()),
        ("build_key", pa.string()),
        ("kind", pa.string()),
        ("config_id", pa.string()),
        ("run_index", pa.int32()),
        ("seed", pa.int64()),
        ("gomaxprocs", pa.int16()),
        ("race_build", pa.bool_()),
        ("toolchain", pa.string()),
        ("wall_timeout_s", pa.float64()),
        ("outcomes", pa.list_(pa.string())),
        ("duration_s", pa.float64()),
        ("exit_code", pa.int32()),
        ("signal", pa.int32()),
        ("timed_out", pa.bool_()),
        ("harness_end", pa.string()),
        ("trace_complete", pa.bool_()),
        ("trace_sha256", pa.string()),
        ("trace_path", pa.string()),  # relative to the collection directory
        ("trace_bytes", pa.int64()),
        ("race_reports", pa.string()),  # JSON list of {current, previous} accesses
        ("leaked_goroutines", pa.int32()),
        ("goroutines_at_end", pa.string()),  # JSON from the harness status
        ("panic_message", pa.string()),
        ("crash_reason", pa.string()),
        ("build_error", pa.string()),
        ("stdout", pa.string()),  # head and tail, capped
        ("stderr", pa.string()),
        ("stdout_bytes", pa.int64()),
        ("stderr_bytes", pa.int64()),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("trace_truncated", pa.bool_()),  # the trace hit the file-size cap: recorded, not stored
        ("sandbox", pa.string()),  # the containment that applied (e.g. bwrap+cgroup-v1+nobody)
        ("notes", pa.string()),  # what the collector refused or ignored (forged status, unsafe files)
    ],
    metadata={b"schedcast.schema_version": str(SCHEMA_VERSION).encode()},
)

PROGRAM_SCHEMA = pa.schema(
    [
        ("program_id", pa.string()),
        ("source_hash", pa.string()),
        ("kind", pa.string()),
        ("package", pa.string()),
        ("language_version", pa.string()),
        ("args", pa.list_(pa.string())),
        ("origin", pa.string()),
        ("pattern", pa.string()),
        ("expected", pa.list_(pa.string())),
        ("description", pa.string()),
        ("sources", pa.string()),  # JSON {file name: source}
        ("extra", pa.string()),  # JSON of Program.extra (e.g. generator template, seed, imitated program)
        ("wall_timeout_s", pa.float64()),  # the program's own wall-clock limit, if it declares one
    ],
    metadata={b"schedcast.schema_version": str(SCHEMA_VERSION).encode()},
)


class StoreError(RuntimeError):
    """The collection directory cannot be used; the message says where and why."""


class StoreLocked(StoreError):
    """Another process is writing this collection."""


@dataclass(frozen=True)
class StoredTrace:
    sha256: str
    rel: str  # relative to the collection directory ("" when not stored)
    size: int  # bytes of the run's trace file
    truncated: bool  # larger than the cap: not stored


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a collection is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_table(path: Path, table: pa.Table) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        """``read_only=True`` opens an existing collection without writing to it (a
        read-only directory can still be read; pending runs are not merged)."""
        self.root = Path(root)
        self._lock_fd: int | None = None
        self.read_only = read_only
        if read_only:
            if not self.root.is_dir():
                raise StoreError(f"{self.root}: no such collection directory")
            return
        try:
            for sub in ("pending", "traces"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StoreError(f"cannot write to the collection directory {self.root}: {exc.strerror or exc}") from exc

    @property
    def runs_path(self) -> Path:
        return self.root / "runs.parquet"

    @property
    def programs_path(self) -> Path:
        return self.root / "programs.parquet"

    # -- lock ---------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the collection's write lock; a second writer gets StoreLocked at once."""
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreLocked(
                    f"{self.root}: another collection is writing here (pid {holder}); wait for it to finish or use another --out"
                ) from exc
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        try:
            self._remove_temporaries()
            yield
        finally:
            self._lock_fd = None
            os.close(fd)  # releases the lock

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def _remove_temporaries(self) -> None:
        """Temporary files of writers that died (only called under the lock)."""
        traces = self.root / "traces"
        for d in [self.root, self.root / "pending", traces, *(p for p in traces.iterdir() if p.is_dir() and not p.is_symlink())]:
            for p in d.iterdir():
                if p.name.startswith(".") and p.name != ".lock" and p.is_file() and not p.is_symlink():
                    p.unlink(missing_ok=True)

    # -- traces -------------------------------------------------------------
    def put_trace(self, path: Path) -> tuple[str, str, int]:
        """Store a trace file by content: (sha256, relative path, bytes)."""
        stored = self.store_trace(path)
        if stored is None:
            raise FileNotFoundError(errno.ENOENT, "no such trace file", str(path))
        return stored.sha256, stored.rel, stored.size

    def store_trace(self, path: Path, max_bytes: int | None = None) -> StoredTrace | None:
        """Copy a run's trace into content-addressed storage in one pass (hash while
        copying). The file is opened without following links and must be a regular
        file; one larger than `max_bytes` is not stored (truncated=True). None when
        the file does not exist. A failed copy leaves no temporary file."""
        from schedcast.collect.sandbox import open_run_file

        src = open_run_file(path)
        if src is None:
            return None
        try:
            st = os.fstat(src)
            if max_bytes is not None and st.st_size >= max_bytes:
                return StoredTrace("", "", st.st_size, True)
            if st.st_size == 0:
                return StoredTrace("", "", 0, False)
            staging = self.root / "traces"
            fd, tmp = tempfile.mkstemp(prefix=".incoming.", dir=staging)
            try:
                h = hashlib.sha256()
                size = 0
                with os.fdopen(fd, "wb") as out:
                    while True:
                        chunk = os.read(src, 1 << 20)
                        if not chunk:
                            break
                        size += len(chunk)
                        if max_bytes is not None and size >= max_bytes:
                            Path(tmp).unlink(missing_ok=True)
                            return StoredTrace("", "", size, True)
                        h.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                digest = h.hexdigest()
                rel = Path("traces") / digest[:2] / f"{digest}.trace"
                dest = self.root / rel
                dest.parent.mkdir(exist_ok=True)
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return StoredTrace(digest, str(rel), size, False)
        finally:
            os.close(src)

    def put_trace_bytes(self, data: bytes) -> StoredTrace:
        """Store a trace that arrived as bytes (a run on another machine), by content,
        with one atomic write; an empty trace is not stored."""
        if not data:
            return StoredTrace("", "", 0, False)
        digest = hashlib.sha256(data).hexdigest()
        rel = Path("traces") / digest[:2] / f"{digest}.trace"
        dest = self.root / rel
        if not dest.is_file():
            dest.parent.mkdir(exist_ok=True)
            _atomic_write_bytes(dest, data)
        return StoredTrace(digest, str(rel), len(data), False)

    # -- runs ---------------------------------------------------------------
    def add_run(self, record: dict[str, Any]) -> None:
        """Durably record one finished run (atomic; consolidated later)."""
        data = json.dumps(record, default=str).encode()
        _atomic_write_bytes(self.root / "pending" / f"{record['run_id']}.json", data)

    def _pending(self) -> list[Path]:
        return sorted((self.root / "pending").glob("*.json"))

    def done_run_ids(self) -> set[str]:
        done = {p.stem for p in self._pending()}
        if self.runs_path.exists():
            done |= set(pq.read_table(self.runs_path, columns=["run_id"]).column("run_id").to_pylist())
        return done

    def consolidate(self) -> int:
        """Merge pending records into runs.parquet; returns the number of runs stored.
        Runs under the write lock; when another process holds it, nothing is merged
        (that writer consolidates) and the stored count is returned."""
        if self.read_only:
            raise StoreError(f"{self.root}: opened read-only, cannot merge pending runs")
        if not self.locked:
            try:
                with self.lock():
                    return self._consolidate()
            except StoreLocked:
                return self.read_runs().num_rows if self.runs_path.exists() else 0
        return self._consolidate()

    def _consolidate(self) -> int:
        pending = self._pending()
        rows: list[dict[str, Any]] = []
        for p in pending:
            try:
                rows.append(json.loads(p.read_text()))
            except (OSError, json.JSONDecodeError):
                continue  # a torn write cannot happen (atomic rename); skip a foreign file
        existing = self.read_runs() if self.runs_path.exists() else RUN_SCHEMA.empty_table()
        if not rows:
            return existing.num_rows
        new = pa.Table.from_pylist([_coerce(r) for r in rows], schema=RUN_SCHEMA)
        seen = set(existing.column("run_id").to_pylist())
        keep = [i for i, rid in enumerate(new.column("run_id").to_pylist()) if rid not in seen and not seen.add(rid)]  # type: ignore[func-returns-value]
        table = pa.concat_tables([existing, new.take(keep)]) if keep else existing
        table = table.sort_by([("program_id", "ascending"), ("config_id", "ascending"), ("run_index", "ascending")])
        _atomic_write_table(self.runs_path, table)
        for p in pending:
            p.unlink(missing_ok=True)
        return table.num_rows

    def read_runs(self) -> pa.Table:
        """The runs table; files written before a column existed get it filled with
        nulls (columns are only ever added within a schema version)."""
        if not self.runs_path.exists():
            return RUN_SCHEMA.empty_table()
        table = pq.read_table(self.runs_path)
        version = (table.schema.metadata or {}).get(b"schedcast.schema_version", b"?").decode()
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{self.runs_path}: run table schema version {version}, this schedcast reads {SCHEMA_VERSION}")
        missing = [f for f in RUN_SCHEMA if f.name not in table.column_names]
        if missing:
            for f in missing:
                table = table.append_column(f, pa.nulls(table.num_rows, f.type))
            table = table.select(RUN_SCHEMA.names).cast(RUN_SCHEMA)
        return table

    # -- programs -----------------------------------------------------------
    def read_programs(self) -> pa.Table:
        """The programs table; files written before a column existed get it filled
        with nulls (columns are only ever added within a schema version)."""
        if not self.programs_path.exists():
            return PROGRAM_SCHEMA.empty_table()
        table = pq.read_table(self.programs_path)
        for field in PROGRAM_SCHEMA:
            if field.name not in table.column_names:
                table = table.append_column(field, pa.nulls(table.num_rows, field.type))
        return table.select(PROGRAM_SCHEMA.names).cast(PROGRAM_SCHEMA)

    def add_programs(self, programs: list[Program]) -> None:
        existing = self.read_programs()
        have = set(zip(existing.column("program_id").to_pylist(), existing.column("source_hash").to_pylist()))
        rows = [
            {
                "program_id": p.id,
                "source_hash": p.source_hash,
                "kind": p.kind.value,
                "package": p.package,
                "language_version": p.language_version,
                "args": list(p.args),
                "origin": p.origin,
                "pattern": p.pattern,
                "expected": list(p.expected),
                "description": p.description,
                "sources": json.dumps(p.sources, sort_keys=True),
                "extra": json.dumps(p.extra, sort_keys=True, default=str),
                "wall_timeout_s": p.wall_timeout_s,
            }
            for p in programs
            if (p.id, p.source_hash) not in have
        ]
        if rows:
            table = pa.concat_tables([existing, pa.Table.from_pylist(rows, schema=PROGRAM_SCHEMA)])
            _atomic_write_table(self.programs_path, table)


def _coerce(record: dict[str, Any]) -> dict[str, Any]:
    # JSON turned the timestamp into a string; pyarrow wants a datetime.
    from datetime import datetime

    r = dict(record)
    if isinstance(r.get("finished_at"), str):
        r["finished_at"] = datetime.fromisoformat(r["finished_at"])
    return r
