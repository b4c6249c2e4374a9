"""Where schedcast reads a trace like Go's parser, and the few places it
deliberately does not (docs/trace.md, "What is read like Go")."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import pytest

from schedcast.toolchain import go_env, run_go
from schedcast.trace import TraceError, TraceWarning, TruncatedTraceWarning, read_trace
from schedcast.trace.oracle import compare, go_transitions, parse_go_dump, run_go_parser, run_go_parser_partial
from schedcast.trace.textformat import convert, go_test_traces

from .conftest import fixture_bytes

LOG_PROGRAM = """package main

import (
	"context"
	"os"
	"runtime/trace"
)

func main() {
	f, _ := os.Create(os.Args[1])
	trace.Start(f)
	ctx := context.Background()
	trace.Log(ctx, "bytes", "caf\\xe9")
	trace.Log(ctx, "bytes", "ok \\u00e9 \\"quoted\\"\\n")
	trace.Log(ctx, "bytes", "\\xff\\xfe")
	trace.Stop()
	f.Close()
}
"""


def _older_trace() -> bytes:
    case = next(p for p in go_test_traces() if p.stem == "go122-syscall-steal-proc-simple")
    return convert(case.read_text())[0]


@pytest.mark.parametrize("which", ["go1.26", "go1.22"])
def test_appended_sessions_read_the_first_like_go(which: str, tmp_path: Path) -> None:
    # The tracer started twice writing to one file: Go prints the first trace's
    # events, then fails on the second header. We keep the same events and warn.
    first = fixture_bytes("leak") if which == "go1.26" else _older_trace()
    second = fixture_bytes("multigen")
    path = tmp_path / "appended.trace"
    path.write_bytes(first + second)
    text, go_error = run_go_parser_partial(path)
    assert go_error is not None and "expected batch event" in go_error
    with pytest.warns(TruncatedTraceWarning, match=f"another trace from byte offset {len(first)} on"):
        trace = read_trace(path)
    assert trace.truncated_at == len(first)
    go = go_transitions(text)
    matched, mismatches = compare(trace.events, go)
    assert matched == len(go) == len(trace.events) > 0, mismatches[:3]
    assert trace.total_events == len(list(parse_go_dump(text)))
    with pytest.raises(TraceError, match="another trace"):
        read_trace(path, strict=True)


@pytest.mark.parametrize("version", [22, 23, 25, 26])
def test_header_only_file(version: int, tmp_path: Path) -> None:
    # A run that died before the tracer flushed anything. Go reads the 1.26 format
    # as empty and rejects the older ones ("no frequency event found"); schedcast
    # reads every version as an empty trace with a warning (documented difference).
    path = tmp_path / "empty.trace"
    path.write_bytes(b"go 1.%d trace\x00\x00\x00" % version)
    text, go_error = run_go_parser_partial(path)
    if version >= 26:
        assert go_error is None
    else:
        assert go_error is not None and "no frequency event found" in go_error
    assert go_transitions(text) == []
    with pytest.warns(TruncatedTraceWarning, match="ends after its header"):
        trace = read_trace(path)
    assert trace.events == [] and trace.truncated_at == 16


def test_non_utf8_log_keeps_its_bytes(tmp_path: Path) -> None:
    source = tmp_path / "logs.go"
    source.write_text(LOG_PROGRAM)
    binary = tmp_path / "logs"
    built = run_go(["build", "-o", str(binary), str(source)], timeout=600)
    assert built.returncode == 0, built.stderr
    path = tmp_path / "logs.trace"
    subprocess.run([str(binary), str(path)], env=go_env(), check=True, timeout=60)
    go_logs = [e for e in parse_go_dump(run_go_parser(path)) if e.kind == "Log"]
    logs = [log for log in read_trace(path).logs if log.category == "bytes"]
    assert [log.message_bytes for log in logs] == [e.message_bytes for e in go_logs] == [
        b"caf\xe9", "ok \u00e9 \"quoted\"\n".encode(), b"\xff\xfe"
    ]
    # The text form replaces the bad bytes; valid UTF-8 needs no raw copy.
    assert [log.message for log in logs] == ["caf\ufffd", "ok \u00e9 \"quoted\"\n", "\ufffd\ufffd"]
    assert [log.raw for log in logs] == [b"caf\xe9", b"", b"\xff\xfe"]


def test_cpu_sample_with_unknown_stack_warns(tmp_path: Path) -> None:
    # Go's parser accepts a CPU sample whose stack ID is not in the stack table and
    # its trace tool then panics printing it; schedcast reads the trace and warns.
    path = tmp_path / "bad-stack.trace"
    path.write_bytes(fixture_bytes("cpu-sample-bad-stack"))
    text, go_error = run_go_parser_partial(path)
    assert go_error is not None and "expected id 79 in trace.stack table" in go_error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace = read_trace(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, TraceWarning)]
    assert len(messages) == 1 and "stack 79" in messages[0] and "CPU sample" in messages[0]
    assert not any(issubclass(w.category, TruncatedTraceWarning) for w in caught)
    assert trace.truncated_at is None and trace.warnings == [messages[0].split(": ", 1)[1]]
    assert len(trace.events) > 1000
