"""Static concurrency facts from a program's Go source, read with Go's own parser.

A small Go program (``facts_go/main.go``, standard library only: go/parser, go/ast,
go/types with the "source" importer) lists, per source line, the concurrency
operations it holds and what the goroutine can do next at each of them. It is built
once with the pinned toolchain and cached under the schedcast cache directory, keyed
by (analyzer source hash, toolchain version); its answers are cached per program
source hash. It parses and type-checks untrusted source but never builds or runs
it; it still runs under a timeout, a memory limit and an input size cap, and a
program whose source cannot be analysed gets an error record (``parse_errors``)
instead of an exception, so every consumer works without source facts too.

Sites are named the way the trace names user frames (``snapshot.user_site``):
collect builds every program as module ``prog`` with ``-trimpath``, so a call on
line 12 of ``main.go`` is ``prog/main.go:12``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from schedcast.toolchain import ToolchainError, cache_dir, find_toolchain, go_env, go_tool

if TYPE_CHECKING:
    from schedcast.corpus.program import Program

# The fixed vocabulary of operation names (the analyzer emits nothing else).
OPS: tuple[str, ...] = (
    "go",  # go statement; detail["func"]: the function it starts
    "send",  # c <- v
    "recv",  # <-c anywhere, and `for v := range c` (detail["range"])
    "select",  # detail: cases, default, case_kinds ("send"/"recv"), case_lines; timer_ns: the shortest `<-time.After(d)` case of a constant d
    "close",
    "mutex_lock",  # sync.Mutex / sync.Locker Lock (TryLock: detail["try"])
    "mutex_unlock",
    "rwmutex_rlock",
    "rwmutex_runlock",
    "rwmutex_lock",
    "rwmutex_unlock",
    "wg_add",
    "wg_done",
    "wg_wait",
    "wg_go",  # Go 1.25's WaitGroup.Go
    "cond_wait",
    "cond_signal",
    "cond_broadcast",
    "once_do",
    "ctx_with_cancel",  # context.WithCancel/WithTimeout/WithDeadline(+Cause); detail["ns"]: a WithTimeout's constant duration
    "ctx_done",  # ctx.Done()
    "ctx_cancel",  # calling a context.CancelFunc
    "sleep",  # time.Sleep; detail["ns"]: its duration when the argument is a constant
    "timer",  # time.After, NewTimer, Tick, NewTicker, AfterFunc (detail["call"]; detail["ns"] as for sleep)
    "gosched",
    "gc",
    "return",  # a return statement
    "func_end",  # the closing brace of a function
    "func_start",  # the func line: what a goroutine can do first when it enters the function (its trace site then)
)
# In next_ops: the function returns with no operation in between. An empty next_ops
# means nothing follows in this function (a return or a function's end with no
# deferred operation left, or a loop that never exits).
NEXT_RETURN = "return"
# collect builds every program as this module with -trimpath (collect/build.py).
MODULE_PATH = "prog"

MAX_SOURCE_BYTES = 1 << 20  # per program, all files together
ANALYZER_MEMORY_BYTES = 4 << 30  # address-space limit of the analyzer process
ANALYZER_TIMEOUT_S = 60.0  # per batch, plus ANALYZER_TIMEOUT_PER_PROGRAM_S per program
ANALYZER_TIMEOUT_PER_PROGRAM_S = 5.0
BATCH_SIZE = 64  # programs per analyzer process (they share the type-checked standard library)
BATCH_BYTES = 16 << 20  # source bytes per analyzer process (its stdin takes at most 256 MiB)
_ANALYZER_SOURCE = "main.go"


class FactsError(RuntimeError):
    """The analyzer could not be built or run (a toolchain problem, not a program's)."""


class FactsTimeout(FactsError):
    """The analyzer ran past its time limit."""


@dataclass(frozen=True)
class SiteFact:
    file: str  # as user_site() reports it: "prog/main.go"
    line: int
    op: str  # one of OPS
    func: str  # enclosing function ("worker", "(*T).Run", closures "main.func1")
    detail: dict[str, object]  # e.g. {"cases": 2, "default": False, "case_kinds": ["recv", "recv"]}
    next_ops: tuple[str, ...]  # sorted; NEXT_RETURN when the function may return next

    @property
    def site(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ProgramFacts:
    sites: tuple[SiteFact, ...]
    parse_errors: tuple[str, ...]  # empty when everything parsed and type-checked
    typed: bool

    def at(self, site: str) -> tuple[SiteFact, ...]:
        """Facts at ``file:line`` exactly as ``user_site()`` returns it (() when none)."""
        return self._index().get(site, ())

    def counts(self) -> dict[str, int]:
        """Operations per kind in the program (every kind of OPS, zero included)."""
        found = Counter(s.op for s in self.sites)
        return {op: found.get(op, 0) for op in OPS}

    def _index(self) -> dict[str, tuple[SiteFact, ...]]:
        index = self.__dict__.get("_by_site")
        if index is None:
            grouped: dict[str, list[SiteFact]] = {}
            for s in self.sites:
                grouped.setdefault(s.site, []).append(s)
            index = {k: tuple(v) for k, v in grouped.items()}
            object.__setattr__(self, "_by_site", index)  # a cache, not part of the value
        return index

    def to_json(self) -> dict[str, object]:
        return {
            "typed": self.typed,
            "parse_errors": list(self.parse_errors),
            "sites": [
                {"file": s.file, "line": s.line, "op": s.op, "func": s.func, "detail": s.detail, "next_ops": list(s.next_ops)}
                for s in self.sites
            ],
        }


def _error_facts(message: str) -> ProgramFacts:
    return ProgramFacts(sites=(), parse_errors=(message,), typed=False)


# ---- the analyzer binary ------------------------------------------------------------


def _analyzer_text() -> bytes:
    return (resources.files("schedcast.corpus") / "facts_go" / _ANALYZER_SOURCE).read_bytes()


def analyzer_key() -> str:
    """Hash of (analyzer source, toolchain version): the analyzer's and the answers' cache key."""
    h = hashlib.sha256(_analyzer_text())
    h.update(b"\0" + find_toolchain().version.encode())
    return h.hexdigest()[:24]


def analyzer_binary() -> Path:
    """The built analyzer, compiled with the pinned toolchain on first use."""
    try:
        return go_tool("facts", _analyzer_text())
    except ToolchainError as exc:
        raise FactsError(str(exc)) from exc


def _run_analyzer(requests: list[dict[str, object]]) -> list[dict[str, object]]:
    """Analyse a batch in one process; raises FactsError when the process fails."""
    binary = analyzer_binary()
    tc = find_toolchain()
    env = go_env(tc)
    env.update(CGO_ENABLED="0", GOMAXPROCS="2")
    payload = json.dumps({"max_bytes": MAX_SOURCE_BYTES, "programs": requests}).encode()
    timeout = ANALYZER_TIMEOUT_S + ANALYZER_TIMEOUT_PER_PROGRAM_S * len(requests)
    try:
        proc = subprocess.run(
            # The analyzer limits its own address space before it reads anything.
            [str(binary), "-max-memory", str(ANALYZER_MEMORY_BYTES)],
            input=payload, env=env, capture_output=True, timeout=timeout, cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired as exc:
        raise FactsTimeout(f"source-facts analyzer took longer than {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise FactsError(f"source-facts analyzer failed: {_failure(proc.returncode, proc.stderr)}")
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise FactsError(f"source-facts analyzer wrote bad JSON: {exc}") from exc
    if not isinstance(out, list) or len(out) != len(requests):
        raise FactsError("source-facts analyzer answered for the wrong number of programs")
    return out


def _failure(returncode: int, stderr: bytes) -> str:
    """The one line that says why the analyzer stopped (Go's fatal error, not its stack)."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal error:", "panic:", "facts:", "runtime:")):
            return line
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return lines[-1] if lines else f"exit status {returncode}"


def _facts_from_record(record: Mapping[str, object]) -> ProgramFacts:
    sites = []
    for s in record.get("sites") or []:  # type: ignore[union-attr]
        op = str(s["op"])
        if op not in OPS:
            raise FactsError(f"source-facts analyzer reported an unknown operation {op!r}")
        sites.append(
            SiteFact(
                file=f"{MODULE_PATH}/{s['file']}",
                line=int(s["line"]),
                op=op,
                func=str(s["func"]),
                detail=dict(s.get("detail") or {}),
                next_ops=tuple(s.get("next") or ()),
            )
        )
    return ProgramFacts(
        sites=tuple(sites),
        parse_errors=tuple(str(e) for e in record.get("errors") or ()),  # type: ignore[union-attr]
        typed=bool(record.get("typed")),
    )


# ---- cached entry points ------------------------------------------------------------------

_memory: dict[str, ProgramFacts] = {}


def _source_key(files: Mapping[str, str | bytes], go_version: str, analyzer: str) -> str:
    h = hashlib.sha256(f"{analyzer}\0{go_version}\0".encode())
    for name in sorted(files):
        text = files[name]
        h.update(name.encode() + b"\0" + (text.encode() if isinstance(text, str) else text) + b"\0")
    return h.hexdigest()


def _decode(files: Mapping[str, str | bytes]) -> dict[str, str] | str:
    out: dict[str, str] = {}
    for name, text in files.items():
        if "/" in name or "\\" in name or not name.endswith(".go"):
            return f"{name}: not a Go file name (want e.g. main.go)"
        try:
            out[name] = text.decode() if isinstance(text, bytes) else text
        except UnicodeDecodeError as exc:
            return f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
    return out


def facts_for_sources(
    sources: Iterable[tuple[Mapping[str, str | bytes], str]], *, use_cache: bool = True
) -> list[ProgramFacts]:
    """Facts for many (files, go_version) pairs, analysed together (one analyzer process
    per BATCH_SIZE programs not yet cached). Never raises for a program's content."""
    items = list(sources)
    results: list[ProgramFacts | None] = [None] * len(items)
    try:
        analyzer = analyzer_key()
    except ToolchainError as exc:
        return [_error_facts(f"source facts unavailable: {exc}") for _ in items]
    cache = cache_dir() / "facts" / analyzer
    todo: list[tuple[int, str, dict[str, object]]] = []
    for i, (files, go_version) in enumerate(items):
        size = sum(len(t) for t in files.values())
        if size > MAX_SOURCE_BYTES:
            results[i] = _error_facts(f"source too large: {size} bytes (limit {MAX_SOURCE_BYTES})")
            continue
        if not files:
            results[i] = _error_facts("no Go files")
            continue
        decoded = _decode(files)
        if isinstance(decoded, str):
            results[i] = _error_facts(decoded)
            continue
        key = _source_key(files, go_version, analyzer)
        if use_cache and key in _memory:
            results[i] = _memory[key]
            continue
        path = cache / f"{key}.json"
        if use_cache and path.is_file():
            try:
                results[i] = _memory[key] = _facts_from_record(json.loads(path.read_text()))
                continue
            except (OSError, ValueError, KeyError, TypeError, FactsError):
                pass  # a damaged cache entry: analyse again
        request = {"id": str(i), "go_version": go_version, "files": decoded}
        todo.append((i, key, request))
    if todo:
        try:
            analyzer_binary()  # built once here, so a build failure is not retried per batch
        except (FactsError, ToolchainError, OSError) as exc:
            for i, _, _ in todo:
                results[i] = _error_facts(f"source facts unavailable: {exc}")
            todo = []
    pending = list(_batches(todo))
    while pending:
        batch = pending.pop()
        try:
            records = _run_analyzer([r for _, _, r in batch])
        except FactsTimeout as exc:
            for i, _, _ in batch:  # not cached: the failure may be transient
                results[i] = _error_facts(str(exc))
            continue
        except (FactsError, ToolchainError, OSError) as exc:
            if len(batch) > 1 and not isinstance(exc, ToolchainError):
                # One program may have brought the process down (memory): halve the batch
                # so the others still get their facts.
                pending += [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                continue
            for i, _, _ in batch:
                results[i] = _error_facts(str(exc))
            continue
        for (i, key, _), record in zip(batch, records):
            try:
                facts = _facts_from_record(record)
            except (FactsError, KeyError, TypeError, ValueError) as exc:
                results[i] = _error_facts(f"source-facts analyzer: bad record ({exc})")
                continue
            results[i] = _memory[key] = facts
            _store(cache, key, record)
    return [r if r is not None else _error_facts("not analysed") for r in results]


def _store(cache: Path, key: str, record: Mapping[str, object]) -> None:
    """Write one answer to the disk cache (atomically); an unwritable cache only costs time."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(cache / f"{key}.json")
    except OSError:
        pass


def _batches(todo: list[tuple[int, str, dict[str, object]]]) -> Iterable[list[tuple[int, str, dict[str, object]]]]:
    batch: list[tuple[int, str, dict[str, object]]] = []
    size = 0
    for item in todo:
        n = sum(len(t) for t in item[2]["files"].values())  # type: ignore[union-attr]
        if batch and (len(batch) >= BATCH_SIZE or size + n > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        yield batch


def _go_version(language_version: str) -> str:
    return f"go{language_version}" if language_version else ""


def facts_for(programs: Iterable[Program], *, use_cache: bool = True) -> list[ProgramFacts]:
    """Facts for many programs at once (cheaper than one call each: the analyzer
    type-checks the standard library once per batch)."""
    return facts_for_sources(
        ((p.sources, _go_version(p.language_version)) for p in programs), use_cache=use_cache
    )


def program_facts(program: Program) -> ProgramFacts:
    """Facts of one program; cached per source hash (and analyzer version)."""
    return facts_for([program])[0]


def source_facts(files: dict[str, bytes]) -> ProgramFacts:
    """Facts of Go files given by name (``{"main.go": b"package main ..."}``)."""
    return facts_for_sources([(files, "")])[0]
