"""Fuzz schedcast's trace reader with mutated traces and print the outcome counts.

    .venv/bin/python benchmarks/fuzz_reader.py [--cases 10000] [--seed 1] [--check-paths] [TRACE ...]

Seeds are the small committed fixtures (tests/trace/fixtures/*.trace, Go 1.26
format), Go's own trace test corpus converted to binary (Go 1.22/1.23/1.25 formats,
from the pinned GOROOT) and any traces given. Each case applies one mutation (bit flips, byte overwrite,
truncation, splice of random bytes, deleted or duplicated chunk, a huge uvarint,
random bytes after a header, a random header). The reader must either read the
trace or raise TraceError carrying a byte offset within the file; any other
exception is a crash and makes the script exit 1. The slowest case and the peak
memory are printed too (a hang or an allocation driven by a declared size would
show there). With --check-paths every case is read a second time through the
faithful handlers only (``read_trace(..., fast=False)``): both reads must give the
same events, logs, counts and warnings, or the same error; a difference counts as
a crash.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

from schedcast.trace import TraceError, TraceWarning, read_trace

ROOT = Path(__file__).resolve().parent.parent
HEADER_LEN = 16


def _uvarint(x: int) -> bytes:
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def mutate(data: bytes, rnd: random.Random) -> tuple[str, bytes]:
    body = max(1, len(data) - HEADER_LEN)

    def pos() -> int:
        return HEADER_LEN + rnd.randrange(body)

    kind = rnd.choice(
        ["bitflip", "bitflips", "overwrite", "truncate", "splice", "delete", "duplicate", "huge", "junk", "header"]
    )
    buf = bytearray(data)
    if kind == "bitflip":
        p = pos()
        buf[p] ^= 1 << rnd.randrange(8)
    elif kind == "bitflips":
        for _ in range(rnd.randint(2, 16)):
            p = pos()
            buf[p] ^= 1 << rnd.randrange(8)
    elif kind == "overwrite":
        p = pos()
        for i in range(p, min(len(buf), p + rnd.randint(1, 8))):
            buf[i] = rnd.randrange(256)
    elif kind == "truncate":
        return kind, data[: rnd.randrange(len(data) + 1)]
    elif kind == "splice":
        p = pos()
        return kind, data[:p] + rnd.randbytes(rnd.randint(1, 64)) + data[p:]
    elif kind == "delete":
        p = pos()
        return kind, data[:p] + data[p + rnd.randint(1, 64) :]
    elif kind == "duplicate":
        p = pos()
        return kind, data[:p] + data[p : p + rnd.randint(1, 256)] + data[p:]
    elif kind == "huge":
        p = pos()
        return kind, data[:p] + _uvarint(rnd.choice([1 << 20, 1 << 32, 1 << 40, (1 << 63) - 1, (1 << 64) - 1])) + data[p + 1 :]
    elif kind == "junk":
        return kind, data[:HEADER_LEN] + rnd.randbytes(rnd.randint(0, 4096))
    else:  # header
        p = rnd.randrange(HEADER_LEN)
        buf[p] = rnd.randrange(256)
    return kind, bytes(buf)


def _result(data: bytes, fast: bool) -> tuple:
    try:
        t = read_trace(data, fast=fast)
    except TraceError as exc:
        return ("error", exc.offset, exc.message)
    return (t.events, t.logs, t.total_events, t.gomaxprocs, t.warnings, t.truncated_at)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("traces", nargs="*", type=Path)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check-paths", action="store_true", help="compare the fast path with the faithful one")
    args = parser.parse_args()
    from schedcast.trace.textformat import convert, go_test_traces

    seeds = sorted((ROOT / "tests/trace/fixtures").glob("*.trace")) + list(args.traces)
    corpus = [p.read_bytes() for p in seeds]
    for case in go_test_traces():
        data, expected_error = convert(case.read_text())
        if expected_error is None:
            seeds.append(case)
            corpus.append(data)
    rnd = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    by_kind: Counter[tuple[str, str]] = Counter()
    crashes: list[str] = []
    slowest = (0.0, "")
    warnings.simplefilter("ignore", TraceWarning)
    started = time.perf_counter()
    for case in range(args.cases):
        data = corpus[case % len(corpus)]
        kind, mutated = mutate(data, rnd)
        t0 = time.perf_counter()
        try:
            trace = read_trace(mutated)
            outcome = "partial (truncated warning)" if trace.truncated_at is not None else "read"
        except TraceError as exc:
            outcome = "TraceError"
            if not 0 <= exc.offset <= len(mutated):
                outcome = "crash"
                crashes.append(f"case {case} ({kind}): offset {exc.offset} outside the file ({len(mutated)} bytes)")
        except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
            outcome = "crash"
            crashes.append(f"case {case} ({kind}):\n{traceback.format_exc()}")
        took = time.perf_counter() - t0
        if args.check_paths and outcome != "crash":
            fast, faithful = _result(mutated, True), _result(mutated, False)
            if fast != faithful:
                outcome = "crash"
                crashes.append(f"case {case} ({kind}): the fast and faithful paths differ")
        if took > slowest[0]:
            slowest = (took, f"case {case} ({kind}, {len(mutated)} bytes)")
        outcomes[outcome] += 1
        by_kind[(kind, outcome)] += 1
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    checked = " (fast and faithful paths compared)" if args.check_paths else ""
    print(f"fuzzed {args.cases} cases from {len(seeds)} seed trace(s) in {elapsed:.1f}s (seed {args.seed}){checked}")
    for outcome in ("read", "partial (truncated warning)", "TraceError", "crash"):
        print(f"  {outcome:30s} {outcomes[outcome]:7d}")
    print("by mutation:")
    for kind in sorted({k for k, _ in by_kind}):
        row = ", ".join(f"{o}={n}" for (k, o), n in sorted(by_kind.items()) if k == kind)
        print(f"  {kind:10s} {row}")
    print(f"slowest case: {slowest[0] * 1000:.1f} ms ({slowest[1]}); peak RSS {peak_mb:.0f} MB")
    for crash in crashes[:5]:
        print(crash, file=sys.stderr)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
