"""Bad input: wrong headers, unsupported versions, truncation at every offset, bit
flips, random bytes, huge declared sizes. The reader raises only TraceError (with a
byte offset), never another exception, and never hangs or balloons."""

from __future__ import annotations

import time
import tracemalloc
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedcast.trace import Trace, TraceError, TruncatedTraceWarning, read_trace
from schedcast.trace.textformat import convert, go_test_traces

from .conftest import FIXTURES

LEAK = (FIXTURES / "leak.trace").read_bytes()
MULTIGEN = (FIXTURES / "multigen.trace").read_bytes()
# A Go 1.22-format trace (Go's own GC stress test case), for the older reader path.
GO122 = convert(next(p for p in go_test_traces() if p.stem == "go122-gc-stress").read_text())[0]
SEEDS = [LEAK, MULTIGEN, GO122]
HEADER = b"go 1.26 trace\x00\x00\x00"


def uvarint(x: int) -> bytes:
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def batch(payload: bytes, *, gen: int = 1, m: int = 1, ts: int = 100, size: int | None = None) -> bytes:
    n = len(payload) if size is None else size
    return bytes([1]) + uvarint(gen) + uvarint(m) + uvarint(ts) + uvarint(n) + payload


def generation(events: bytes, *, gen: int = 1) -> bytes:
    """A complete generation: sync batch (frequency, clock), one event batch, end."""
    sync = b"\x32\x08" + uvarint(15_625_000) + b"\x33" + uvarint(1) + uvarint(5) + uvarint(6) + uvarint(7)
    return batch(sync, gen=gen, m=(1 << 64) - 1) + batch(events, gen=gen) + b"\x34"


def read_or_error(data: bytes) -> Trace | TraceError:
    """Read ``data``; any exception other than TraceError fails the test."""
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedTraceWarning)
        try:
            result: Trace | TraceError = read_trace(data)
        except TraceError as exc:
            assert 0 <= exc.offset <= len(data), (exc.offset, len(data))
            assert "byte offset" in str(exc)
            result = exc
    assert time.monotonic() - start < 10, "reader took too long"
    return result


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "not a Go execution trace"),
        (b"PK\x03\x04 a zip file", "not a Go execution trace"),
        (b"go 1.26 trac", "not a Go execution trace"),
        (b"go 1.21 trace\x00\x00\x00", "go 1.21"),
        (b"go 1.19 trace\x00\x00\x00", "v1 trace format"),
        (b"go 1.99 trace\x00\x00\x00", "go 1.99"),
        (b"go 1.24 trace\x00\x00\x00", "go 1.24"),
        (b"go 1.27 trace\x00\x00\x00", "schedcast reads go 1.22, go 1.23, go 1.25, go 1.26"),
    ],
)
def test_bad_headers_and_versions(data: bytes, needle: str) -> None:
    with pytest.raises(TraceError) as info:
        read_trace(data)
    assert needle in str(info.value)
    assert info.value.offset == 0


def test_error_names_the_file(tmp_path) -> None:
    path = tmp_path / "junk.trace"
    path.write_bytes(b"hello")
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(path) in str(info.value) and info.value.path == str(path)
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "missing.trace")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (HEADER + batch(b"", size=1 << 62), "invalid batch size"),
        (HEADER + batch(b"\x04\x05" + uvarint(1) + uvarint(1 << 40)), "invalid string size"),
        (HEADER + batch(b"\x02\x03" + uvarint(1) + uvarint(1 << 40)), "invalid stack size"),
        (HEADER + b"\x01" + b"\xff" * 11, "overflows"),
        (HEADER + batch(b"\x10\x01\x01\x01", gen=0), "generation number"),
        (HEADER + b"\x07", "expected batch"),
        (HEADER + generation(b"\x7f\x01"), "invalid event type"),
        (HEADER + generation(b"\x03\x01"), "without a timestamp"),
        (HEADER + generation(b"\x10\x01\xff"), "invalid uvarint"),
        (HEADER + generation(b"\x10\x01\x05\x01"), "no thread's next event can advance"),
        (HEADER + generation(b"\x14\x01\x00\x00"), "expected a proc"),
        (HEADER + batch(b"\x10\x01") + b"\x34", "no frequency"),
    ],
)
def test_corrupt_structures(data: bytes, needle: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TraceError) as info:
            read_trace(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert needle in str(info.value)
    assert peak < 5_000_000, "declared sizes must not drive allocation"


def test_truncation_at_every_offset() -> None:
    data = LEAK
    full = read_trace(data)
    outcomes = {"error": 0, "partial": 0, "full": 0}
    for cut in range(len(data) + 1):
        result = read_or_error(data[:cut])
        if isinstance(result, TraceError):
            outcomes["error"] += 1
        elif result.truncated_at is not None:
            outcomes["partial"] += 1
        else:
            assert result.events == full.events
            outcomes["full"] += 1
        if cut < len(HEADER):
            assert isinstance(result, TraceError)
        elif cut < len(data):
            # A one-generation trace cut anywhere keeps nothing, and says so.
            assert isinstance(result, Trace) and result.events == [] and result.truncated_at is not None
    assert outcomes == {"error": len(HEADER), "partial": len(data) - len(HEADER), "full": 1}


def test_truncation_of_multigeneration_trace_keeps_complete_generations() -> None:
    full = read_trace(MULTIGEN)
    assert full.generations == 3
    kept = set()
    for cut in range(len(HEADER), len(MULTIGEN) + 1, 97):
        result = read_or_error(MULTIGEN[:cut])
        if isinstance(result, Trace):
            kept.add(result.generations)
            # A prefix of the full trace, generation for generation.
            assert result.events == full.events[: len(result.events)]
    assert kept >= {1, 2}


bitflips = st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 7)), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), bitflips)
def test_bit_flips_raise_only_trace_errors(data: bytes, flips: list[tuple[int, int]]) -> None:
    mutated = bytearray(data)
    for pos, bit in flips:
        mutated[len(HEADER) + pos % (len(data) - len(HEADER))] ^= 1 << bit
    read_or_error(bytes(mutated))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(0, 10**9), st.binary(min_size=1, max_size=64), st.booleans())
def test_spliced_bytes_raise_only_trace_errors(data: bytes, at: int, junk: bytes, replace: bool) -> None:
    pos = len(HEADER) + at % (len(data) - len(HEADER))
    mutated = data[:pos] + junk + data[pos + (len(junk) if replace else 0) :]
    read_or_error(mutated)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_after_a_valid_header(junk: bytes) -> None:
    result = read_or_error(HEADER + junk)
    # Junk is either corrupt, or reads as batches cut short by the end of file.
    assert isinstance(result, TraceError) or (result.events == [] and result.truncated_at is not None)
