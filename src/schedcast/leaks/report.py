"""Leaked goroutines across runs: one entry per (creation site, blocking site, wait).

Goroutine ids change from run to run; a leak is identified by where its goroutine
was created, where it is blocked and on what. For each such leak the report says in
how many runs it leaked, whether the select-block signature held (its goroutines'
first block is the select they end in, never unblocked after it, in every run),
what Go's goroutineleak profile said in those runs, and whether a goleak-style
end-of-test check would report it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from schedcast.corpus.program import Program
from schedcast.leaks.analysis import PROFILE_LEAKED, PROFILE_NONE, PROFILE_NOT_LISTED, PROFILE_NOT_PROVEN, GoroutineEnd, RunLeaks
from schedcast.leaks.sites import SourceSites


@dataclass
class Leak:
    created_at: str  # display form: file:line relative to the program (module) root
    entry: str
    blocked_at: str
    blocked_func: str
    wait: str  # sync.Mutex.Lock, select, chan send, ...
    select_cases: int | None  # for a select: its case count (from the program's source facts)
    select_default: bool | None
    runs: int  # runs it leaked in
    of_runs: int  # runs analysed
    goroutines: int  # goroutines over all runs
    max_per_run: int
    after_program_end: int  # runs in which it blocked only after the program's end
    signature_runs: int  # runs in which its goroutines showed the select-block signature
    signature: bool  # the signature held in every run
    counterexamples: int  # goroutines of its creation site that first blocked in that select and were unblocked later
    profile: dict[str, int]  # profile verdict -> runs (a run counts under its strongest verdict)
    profile_runs: int  # runs in which the profile marked it leaked
    goleak: bool  # a goleak-style end-of-test check would report it
    program_unblocks_after: int  # GoUnblock of any program goroutine after the select block (signature runs)
    program_events_after: int
    created_line: str = ""  # the source text of those lines
    blocked_line: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.created_at, self.entry, self.blocked_at, self.wait)


@dataclass
class Alive:
    """Goroutines still alive but not blocked at the end (sleeping, runnable, running)."""

    created_at: str
    entry: str
    state: str
    at: str
    runs: int
    goleak: bool = True  # goleak reports any goroutine that outlives its retries


@dataclass
class LeakReport:
    program: str
    target: str
    kind: str
    runs: int
    outcomes: dict[str, int]
    leaks: list[Leak]
    alive: list[Alive]
    runs_with_leaks: int
    profile_runs: int  # runs in which the profile marked any goroutine leaked
    unreadable_runs: int
    timing: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def leak_found(self) -> bool:
        return bool(self.leaks)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


_PROFILE_ORDER = (PROFILE_LEAKED, PROFILE_NOT_PROVEN, PROFILE_NOT_LISTED, PROFILE_NONE)


def _strongest(verdicts: set[str]) -> str:
    for v in _PROFILE_ORDER:
        if v in verdicts:
            return v
    return PROFILE_NONE


def aggregate(program: Program, runs: list[RunLeaks], target: str = "", sites: SourceSites | None = None) -> LeakReport:
    """Group each run's leaked goroutines across runs (see the module docstring)."""
    sites = sites or SourceSites(program)
    usable = [r for r in runs if not r.trace_error]
    per_key: dict[tuple[str, str, str, str], dict[int, list[GoroutineEnd]]] = {}
    for r in usable:
        for g in r.leaked:
            key = (g.created_at, g.entry, g.blocked_at, g.wait)
            per_key.setdefault(key, {}).setdefault(r.run_index, []).append(g)
    # Goroutines whose first block was a given select and that were unblocked later.
    unblocked_later: Counter[tuple[str, str]] = Counter()
    for r in usable:
        for f in r.first_selects:
            unblocked_later[(f.created_at, f.site)] += f.unblocked_later

    leaks: list[Leak] = []
    for key, by_run in per_key.items():
        created_at, entry, blocked_at, wait = key
        gs = [g for lst in by_run.values() for g in lst]
        sig_runs = sum(1 for lst in by_run.values() if any(g.select_signature for g in lst))
        verdicts = Counter(_strongest({g.profile for g in lst}) for lst in by_run.values())
        cases, default = sites.select_cases(blocked_at) if wait == "select" else (None, None)
        sig_gs = [g for g in gs if g.select_signature]
        leaks.append(
            Leak(
                created_at=sites.display(created_at),
                entry=entry,
                blocked_at=sites.display(blocked_at),
                blocked_func=gs[0].blocked_func,
                wait=wait,
                select_cases=cases,
                select_default=default,
                runs=len(by_run),
                of_runs=len(usable),
                goroutines=len(gs),
                max_per_run=max(len(lst) for lst in by_run.values()),
                after_program_end=sum(1 for lst in by_run.values() if any(g.blocked_after_end for g in lst)),
                signature_runs=sig_runs,
                signature=bool(usable) and sig_runs == len(usable),
                counterexamples=unblocked_later[(created_at, blocked_at)] if sig_runs else 0,
                profile=dict(verdicts),
                profile_runs=verdicts.get(PROFILE_LEAKED, 0),
                goleak=True,
                program_unblocks_after=sum(g.program_unblocks_after for g in sig_gs),
                program_events_after=sum(g.program_events_after for g in sig_gs),
                created_line=sites.line_text(created_at),
                blocked_line=sites.line_text(blocked_at),
            )
        )
    leaks.sort(key=lambda l: (-l.runs, -l.goroutines, l.blocked_at, l.created_at))

    alive_runs: dict[tuple[str, str, str, str], set[int]] = {}
    for r in usable:
        for g in r.alive:
            alive_runs.setdefault((g.created_at, g.entry, g.state, g.blocked_at), set()).add(r.run_index)
    alive = [
        Alive(sites.display(c), e, s, sites.display(a), len(rs))
        for (c, e, s, a), rs in sorted(alive_runs.items(), key=lambda kv: -len(kv[1]))
    ]
    outcomes: Counter[str] = Counter(o for r in runs for o in r.outcomes)
    notes = []
    if len(usable) < len(runs):
        notes.append(f"{len(runs) - len(usable)} run(s) had no readable trace: " + "; ".join(sorted({r.trace_error for r in runs if r.trace_error}))[:300])
    return LeakReport(
        program=program.id,
        target=target or program.id,
        kind=program.kind.value,
        runs=len(runs),
        outcomes=dict(sorted(outcomes.items())),
        leaks=leaks,
        alive=alive,
        runs_with_leaks=sum(1 for r in usable if r.leaked),
        profile_runs=sum(1 for r in usable if r.profile_leaked),
        unreadable_runs=len(runs) - len(usable),
        notes=notes,
    )
