"""Time to generate and compile the default generated set, cold and cached.

    .venv/bin/python benchmarks/corpus.py [--count 200] [--seed 0] [--workers N] [--cold-gocache]

"cold" builds into an empty binary cache (the Go build cache keeps the compiled
standard library unless --cold-gocache points every cache at an empty folder, which
adds the one-off race build of the standard library, ~60 s on 2 cores); "cached"
repeats the same builds, which are then directory lookups.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cold-gocache", action="store_true", help="also start from an empty Go build cache")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="schedcast-bench-") as tmp:
        if args.cold_gocache:
            os.environ["SCHEDCAST_CACHE"] = tmp  # read by schedcast.toolchain at every call
        from schedcast.collect.build import BuildError, build
        from schedcast.corpus.generator import generate

        t0 = time.perf_counter()
        g = generate(args.count, args.seed)
        t_generate = time.perf_counter() - t0
        again = generate(args.count, args.seed)
        identical = [p.sources for p in again.programs] == [p.sources for p in g.programs]

        cache_root = Path(tmp) / "bench-builds"

        def compile_all() -> tuple[float, int]:
            def one(p) -> bool:  # type: ignore[no-untyped-def]
                try:
                    build(p, race=True, cache_root=cache_root)
                    return True
                except BuildError as exc:
                    print(f"build error {p.id}: {exc.compiler_output[:200]}", file=sys.stderr)
                    return False

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                ok = sum(pool.map(one, g.programs))
            return time.perf_counter() - start, ok

        t_cold, ok_cold = compile_all()
        t_cached, ok_cached = compile_all()

    n = len(g.programs)
    print(f"programs            {n} (seed {args.seed}, {len(g.duplicates)} near-duplicates dropped, byte-identical rerun: {identical})")
    print(f"generate            {t_generate * 1000:.1f} ms")
    print(f"compile cold        {t_cold:.1f} s ({t_cold / max(n, 1):.2f} s/program, {args.workers} workers, race build, {ok_cold}/{n} ok"
          f"{', empty Go build cache' if args.cold_gocache else ', Go std-lib cache warm'})")
    print(f"compile cached      {t_cached:.2f} s ({t_cached / max(n, 1) * 1000:.1f} ms/program, {ok_cached}/{n} ok)")
    return 0 if ok_cold == ok_cached == n else 1


if __name__ == "__main__":
    sys.exit(main())
