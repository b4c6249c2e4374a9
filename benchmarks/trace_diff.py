"""Differential check of schedcast's trace reader against Go's own parser over a
whole directory of collected traces; prints the match rate (target: 100 %).

    .venv/bin/python benchmarks/trace_diff.py DIR [--pattern '**/*.trace'] [-v]

For every trace, the goroutine transitions schedcast reads are compared event for
event with those ``go tool trace -d=parsed`` prints: goroutine, from, to, reason,
top frame of the transitioning goroutine's stack, time, acting goroutine, P, M and
the top frame of the acting stack; an event matches when every field does. A trace
cut short (a run that was killed) is compared on what both parsers yield before
they stop. Exit status 1 unless everything matches.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from schedcast.trace import TraceError, TruncatedTraceWarning, read_trace
from schedcast.trace.oracle import compare, go_transitions, parse_go_dump, run_go_parser_partial


def check(path: Path) -> dict:
    text, go_error = run_go_parser_partial(path)
    go_events = list(parse_go_dump(text))
    go = go_transitions(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedTraceWarning)
        try:
            trace = read_trace(path)
            ours, our_error, total = trace.events, None, trace.total_events
        except TraceError as exc:
            ours, our_error, total = [], str(exc), 0
    matched, mismatches = compare(ours, go)
    return {
        "path": path,
        "go": len(go),
        "ours": len(ours),
        "matched": matched,
        "mismatches": mismatches,
        "go_error": go_error,
        "our_error": our_error,
        "total_ok": go_error is not None or total == len(go_events),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--pattern", default="**/*.trace", help="glob for trace files (default: %(default)s)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    paths = sorted(p for p in args.directory.glob(args.pattern) if p.is_file())
    if not paths:
        print(f"no traces matching {args.pattern!r} under {args.directory}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(check, paths))
    go_total = sum(r["go"] for r in results)
    matched = sum(r["matched"] for r in results)
    bad = [r for r in results if r["matched"] != r["go"] or r["ours"] != r["go"] or not r["total_ok"]]
    partial = [r for r in results if r["go_error"] is not None]
    for r in results:
        if args.verbose or r in bad:
            status = "ok" if r not in bad else "MISMATCH"
            print(f"{status:8s} {r['path']}: {r['matched']}/{r['go']} transitions match (ours {r['ours']})"
                  + (f"; Go stopped: {r['go_error'][:80]}" if r["go_error"] else ""))
            for mm in r["mismatches"][:3]:
                print(f"         event {mm.index} {mm.field}: ours={mm.ours!r} go={mm.go!r}")
            if r["our_error"] and r in bad:
                print(f"         schedcast: {r['our_error']}")
    rate = 100.0 * matched / go_total if go_total else 100.0
    print(
        f"{len(results)} traces ({len(partial)} cut short), {go_total} goroutine transitions: "
        f"{matched} match event for event = {rate:.3f} %; {len(bad)} trace(s) differ "
        f"[{time.perf_counter() - started:.1f}s]"
    )
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
