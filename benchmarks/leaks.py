"""Leak detectors compared: select-block signature, blocked-at-end, Go's goroutineleak
profile, and their combination, on labelled programs (docs/leaks.md).

    python benchmarks/leaks.py [--out DIR] [--runs 20] [--origin handcrafted --origin generated --origin goker]
                               [--limit N] [--program ID ...] [--workers 2] [--markdown FILE]

For each labelled program (a blocking bug by construction, or declared clean; see
schedcast.leaks.compare) it collects `--runs` traced runs into DIR/runs/<program>/
(timed), analyses every run's whole trace (timed, in a separate process per program),
and prints, per origin and for k = 1, 5 and `--runs` runs: TP/FP/FN/TN, precision and
recall of each detector; the programs where detectors disagree and why; a check of the
signature's claim on every program it flags; time per program (collect vs detect);
and the paper's anomaly-signal replication (Cohen's d, bootstrap CI).

Resumable: rerun the same command and it continues where it stopped (stored runs and
analyses are reused; a program's collection time is measured when it is collected).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from schedcast.collect import Limits, LocalExecutor, RunConfig, collect
from schedcast.corpus.catalog import programs_by_origin
from schedcast.corpus.program import Program
from schedcast.leaks.analysis import RunLeaks
from schedcast.leaks.detect import analyze_collection, warm_up
from schedcast.leaks.compare import DETECTOR_TITLES, DETECTORS, detect, label, precision_recall
from schedcast.leaks.report import aggregate
from schedcast.leaks.signal import bootstrap_d, program_signal
from schedcast.toolchain import cache_dir

ORIGINS = ("handcrafted", "generated", "goker")


def _key(p: Program) -> str:
    return f"{p.id}-{p.source_hash[:12]}"


def analyze_program(store_dir: Path, program: Program, config: RunConfig, workers: int) -> dict[str, object]:
    """Detect leaks in every stored run of one program, exactly as `schedcast leaks`
    does (analyze_collection on `workers` forked processes); timed."""
    t0 = time.monotonic()
    runs = analyze_collection(store_dir, program, config, workers)
    return {"runs": [r.to_json() for r in runs], "depths": [r.depth_next for r in runs if not r.trace_error],
            "analyze_s": time.monotonic() - t0}


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=cache_dir() / "bench" / "leaks")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--origin", action="append", choices=ORIGINS)
    ap.add_argument("--limit", type=int, default=None, help="at most N labelled programs per origin (a subset)")
    ap.add_argument("--program", action="append", default=[], help="only these program ids")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    ap.add_argument("--boot", type=int, default=10000)
    args = ap.parse_args(argv)
    origins = args.origin or list(ORIGINS)
    config = RunConfig(runs=args.runs, limits=Limits(wall_seconds=args.timeout))
    out: Path = args.out
    (out / "analysis").mkdir(parents=True, exist_ok=True)
    timing_path = out / "collect-timing.json"
    timing: dict[str, float] = json.loads(timing_path.read_text()) if timing_path.exists() else {}

    programs: list[tuple[str, Program, bool]] = []
    for origin in origins:
        picked = [(origin, p, y) for p in programs_by_origin([origin]) if (y := label(p)) is not None
                  and (not args.program or p.id in args.program)]
        programs += picked[: args.limit] if args.limit else picked
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"{len(programs)} labelled programs ({', '.join(origins)}), {args.runs} runs each -> {out}")

    # 1. collect, one store per program, timed
    started = time.monotonic()
    for i, (origin, p, _) in enumerate(programs, 1):
        store_dir = out / "runs" / _key(p)
        if _key(p) in timing:
            continue
        t0 = time.monotonic()
        s = collect([p], store_dir, config, executor=LocalExecutor(args.workers), show_progress=False)
        timing[_key(p)] = time.monotonic() - t0
        timing_path.write_text(json.dumps(timing, indent=1))
        log(f"[{i}/{len(programs)}] collected {p.id}: {dict(s.outcomes)} in {timing[_key(p)]:.1f} s")
    # 2. detect, one program at a time on --workers processes (as the CLI does), timed
    warm_up()  # a one-time cost per process, not any one program's
    todo = [p for _, p, _ in programs if not (out / "analysis" / f"{_key(p)}.json").exists()]
    for n, p in enumerate(todo, 1):
        result = analyze_program(out / "runs" / _key(p), p, config, args.workers)
        (out / "analysis" / f"{_key(p)}.json").write_text(json.dumps(result))
        log(f"[{n}/{len(todo)}] analysed {p.id} in {result['analyze_s']:.2f} s")
    log(f"collection and analysis done in {time.monotonic() - started:.0f} s")

    # 3. the tables
    data: dict[str, dict[str, object]] = {}
    for _, p, _ in programs:
        data[_key(p)] = json.loads((out / "analysis" / f"{_key(p)}.json").read_text())
    lines: list[str] = []
    emit = lines.append
    ks = sorted({1, 5, args.runs} & set(range(1, args.runs + 1)))
    emit(f"Command: `python benchmarks/leaks.py --runs {args.runs}" + "".join(f" --origin {o}" for o in origins)
         + (f" --limit {args.limit}" if args.limit else "") + "`; race build, GOMAXPROCS=2, "
         f"wall limit {args.timeout:g} s per run.\n")
    verdicts: dict[str, dict[int, dict[str, bool]]] = {}
    runs_of: dict[str, list[RunLeaks]] = {}
    for _, p, _ in programs:
        runs = [RunLeaks.from_json(r) for r in data[_key(p)]["runs"]]  # type: ignore[union-attr]
        runs_of[_key(p)] = runs
        verdicts[_key(p)] = {k: detect(p, runs, k) for k in ks}

    emit("| origin | detector | runs | TP | FP | FN | TN | precision | recall |")
    emit("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for origin in origins:
        subset = [(p, y) for o, p, y in programs if o == origin]
        pos, neg = sum(1 for _, y in subset if y), sum(1 for _, y in subset if not y)
        for det in DETECTORS:
            for k in ks:
                pr = precision_recall([(y, verdicts[_key(p)][k][det]) for p, y in subset])
                emit(f"| {origin} ({pos}+/{neg}−) | {DETECTOR_TITLES[det]} | {k} | {pr['tp']} | {pr['fp']} | {pr['fn']} | {pr['tn']} "
                     f"| {_fmt(pr['precision'])} | {_fmt(pr['recall'])} |")
    emit("")

    # disagreements at k = runs
    kmax = ks[-1]
    emit(f"Programs where (a), (b) and (c) disagree ({kmax} runs): label, verdicts a/b/c, outcomes, leaked waits and the profile's verdict")
    emit("")
    emit("| program | label | a | b | c | outcomes | leaks (wait @ site: runs, profile-leaked runs) |")
    emit("|---|---|---|---|---|---|---|")
    for origin, p, y in programs:
        v = verdicts[_key(p)][kmax]
        if len({v["signature"], v["blocked"], v["profile"]}) == 1:
            continue
        runs = runs_of[_key(p)]
        rep = aggregate(p, runs)
        outcomes = " ".join(f"{o}={c}" for o, c in sorted(Counter(o for r in runs for o in r.outcomes).items()))
        leaks = "; ".join(f"{l.wait} @ {l.blocked_at}: {l.runs}, {l.profile_runs}" for l in rep.leaks[:3]) or "–"
        yn = lambda b: "yes" if b else "no"  # noqa: E731
        emit(f"| {p.id} | {'bug' if y else 'clean'} | {yn(v['signature'])} | {yn(v['blocked'])} | {yn(v['profile'])} | {outcomes} | {leaks} |")
    emit("")

    # the signature's claim on every program it flags
    emit(f"Signature claim (P(GoUnblock) = 0 for the goroutine after its select block), every program (a) flags at {kmax} runs:")
    emit("")
    emit("| program | label | select site | leaked goroutines | counterexamples (first blocked there, unblocked later) | share of GoUnblock among all program events after the block |")
    emit("|---|---|---|---:|---:|---|")
    flagged = 0
    counter_total = 0
    for origin, p, y in programs:
        if not verdicts[_key(p)][kmax]["signature"]:
            continue
        flagged += 1
        rep = aggregate(p, runs_of[_key(p)])
        for l in rep.leaks:
            if l.signature:
                counter_total += l.counterexamples
                share = f"{100 * l.program_unblocks_after / l.program_events_after:.1f} %" if l.program_events_after else "no events after"
                emit(f"| {p.id} | {'bug' if y else 'clean'} | {l.blocked_at} | {l.goroutines} | {l.counterexamples} | {share} |")
    emit("")
    emit(f"{flagged} program(s) flagged; counterexamples to the per-goroutine claim: {counter_total}.")
    emit("")

    # time per program
    emit("Time per program (s): collecting its runs vs detecting leaks in them (reading every whole trace)")
    emit("")
    emit("| origin | programs | collect median | collect mean | detect median | detect mean | detect/collect (median) | programs where detect > collect |")
    emit("|---|---:|---:|---:|---:|---:|---:|---:|")
    for origin in origins:
        keys = [_key(p) for o, p, _ in programs if o == origin]
        col = [timing[k] for k in keys if k in timing]
        det = [float(data[k]["analyze_s"]) for k in keys]  # type: ignore[arg-type]
        ratios = [float(data[k]["analyze_s"]) / timing[k] for k in keys if k in timing and timing[k] > 0]  # type: ignore[arg-type]
        over = sum(1 for k in keys if k in timing and float(data[k]["analyze_s"]) > timing[k])  # type: ignore[arg-type]
        if not keys:
            continue
        emit(f"| {origin} | {len(keys)} | {_fmt(statistics.median(col) if col else None)} | {_fmt(statistics.mean(col) if col else None)} "
             f"| {_fmt(statistics.median(det))} | {_fmt(statistics.mean(det))} | {_fmt(statistics.median(ratios) if ratios else None)} | {over} |")
    emit("")
    # the programs where detection took longer, and what their traces hold
    emit("Programs where detecting took longer than collecting, and the five with the highest detect/collect ratio: "
         "trace events per run (all, and the program's), outcomes")
    emit("")
    emit("| program | collect s | detect s | events/run | program events/run | outcomes |")
    emit("|---|---:|---:|---:|---:|---|")
    ratio = {_key(p): float(data[_key(p)]["analyze_s"]) / timing[_key(p)]  # type: ignore[arg-type]
             for _, p, _ in programs if timing.get(_key(p), 0) > 0}
    closest = set(sorted(ratio, key=lambda k: -ratio[k])[:5])
    for _, p, _ in programs:
        k = _key(p)
        if k not in ratio or (ratio[k] <= 1 and k not in closest):
            continue
        runs = runs_of[k]
        n = max(1, len(runs))
        outcomes = " ".join(f"{o}={c}" for o, c in sorted(Counter(o for r in runs for o in r.outcomes).items()))
        emit(f"| {p.id} | {timing[k]:.1f} | {float(data[k]['analyze_s']):.1f} | {sum(r.events for r in runs) / n:,.0f} "  # type: ignore[arg-type]
             f"| {sum(r.program_events for r in runs) / n:,.0f} | {outcomes} |")
    emit("")

    # the paper's anomaly signal
    emit("Anomaly signal (paper §8): mean over depths 25/50/75 % of P(GoUnblock) and of next-event entropy, buggy vs clean; Cohen's d (buggy − clean), 95 % bootstrap CI over programs")
    emit("")
    emit("| set | buggy n | clean n | signal | buggy mean | clean mean | Cohen's d | 95 % CI |")
    emit("|---|---:|---:|---|---:|---:|---:|---|")
    by_id = {p.id: (o, p, y) for o, p, y in programs}
    sets: list[tuple[str, list[Program], list[Program]]] = []
    twins_bug = [p for o, p, y in programs if o == "handcrafted" and y and p.extra.get("twin") in by_id]
    twins_ok = [by_id[p.extra["twin"]][1] for p in twins_bug]
    if twins_bug:
        sets.append(("hand-crafted twins", twins_bug, twins_ok))
    gen_bug = [p for o, p, y in programs if o == "generated" and y]
    gen_ok = [p for o, p, y in programs if o == "generated" and not y]
    if gen_bug and gen_ok:
        sets.append(("generated", gen_bug, gen_ok))
    all_bug = [p for o, p, y in programs if o != "goker" and y]
    all_ok = [p for o, p, y in programs if o != "goker" and not y]
    if all_bug and all_ok:
        sets.append(("hand-crafted + generated", all_bug, all_ok))
    for name, bug, ok in sets:
        sig_b = [s for p in bug if (s := program_signal(data[_key(p)]["depths"]))]  # type: ignore[arg-type]
        sig_o = [s for p in ok if (s := program_signal(data[_key(p)]["depths"]))]  # type: ignore[arg-type]
        for i, title in ((0, "P(GoUnblock)"), (1, "entropy (bits)")):
            a, b = [s[i] for s in sig_b], [s[i] for s in sig_o]
            d, lo, hi = bootstrap_d(a, b, boot=args.boot, seed=0)
            emit(f"| {name} | {len(a)} | {len(b)} | {title} | {statistics.mean(a):.3f} | {statistics.mean(b):.3f} | {d:.2f} | [{lo:.2f}, {hi:.2f}] |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
