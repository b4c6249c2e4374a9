"""Classify what happened in a run, from the harness's status file, the exit status
and the program's standard error.

Outcomes (a run can carry several, e.g. race + leak):
- ok: the program returned normally and nothing below happened.
- deadlock: every program goroutine was blocked forever (the harness proved it with
  Go's goroutineleak profile and ended the run), or Go printed "all goroutines are
  asleep".
- blocked: the wall-clock limit hit while no program goroutine was running, runnable,
  sleeping or in a system call (blocked, but not provably forever).
- timeout: the wall-clock limit hit while the program was still busy.
- leak: the program returned but goroutines it started stayed blocked forever.
- race: the race detector reported at least one data race (both stacks parsed).
- panic: a Go panic (message kept).
- fail: a test kernel returned with failing tests (non-zero code from testing).
- crash: anything else that ended the program abnormally: a fatal runtime error,
  a signal (resource limits: SIGXCPU, SIGXFSZ, SIGKILL), out of memory, os.Exit
  with a non-zero code.
- build_error: the program did not compile (recorded for each requested run).
"""

from __future__ import annotations

import json
import re
import signal as signal_module
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("ok", "deadlock", "blocked", "timeout", "leak", "race", "panic", "fail", "crash", "build_error")

_RACE_BLOCK_RE = re.compile(r"WARNING: DATA RACE\n(.*?)\n==================", re.DOTALL)
_ACCESS_RE = re.compile(
    r"^(?P<prev>Previous )?(?P<op>[Rr]ead|[Ww]rite|[Aa]tomic read|[Aa]tomic write)"
    r"(?: at (?P<addr>0x[0-9a-f]+))? by (?P<who>goroutine (?P<gid>\d+)|main goroutine):$"
)
_FRAME_FILE_RE = re.compile(r"^\s+(?P<file>\S+\.(?:go|s|c)):(?P<line>\d+)")
_PANIC_RE = re.compile(r"^panic: (.*)$", re.MULTILINE)
_FATAL_RE = re.compile(r"^fatal error: (.*)$", re.MULTILINE)
_DEADLOCK_TEXT = "all goroutines are asleep - deadlock!"
_TSAN_ERROR_RE = re.compile(r"^==\d+==ERROR: (ThreadSanitizer.*)$", re.MULTILINE)


@dataclass
class RaceAccess:
    op: str  # "read" / "write" / "atomic read" / "atomic write"
    goroutine: int | None  # None for the main goroutine when Go names it so
    frames: list[dict[str, Any]]  # [{"function", "file", "line"}], innermost first


@dataclass
class RaceReport:
    current: RaceAccess
    previous: RaceAccess | None


@dataclass
class Classification:
    outcomes: list[str]
    races: list[RaceReport] = field(default_factory=list)
    panic_message: str = ""
    crash_reason: str = ""
    leaked_goroutines: int = 0
    harness_end: str = ""  # returned | deadlock | signal | panic | "" (no status file)
    trace_complete: bool = False  # the harness stopped the tracer itself

    def races_json(self) -> str:
        return json.dumps(
            [
                {
                    "current": r.current.__dict__,
                    "previous": r.previous.__dict__ if r.previous else None,
                }
                for r in self.races
            ]
        )


def parse_race_reports(stderr: str) -> list[RaceReport]:
    reports = []
    for block in _RACE_BLOCK_RE.findall(stderr):
        accesses: list[RaceAccess] = []
        current: RaceAccess | None = None
        pending_function: str | None = None
        for line in block.splitlines():
            if not line.strip():
                current = None  # a blank line ends an access's stack
                continue
            m = _ACCESS_RE.match(line)
            if m:
                gid = m.group("gid")
                current = RaceAccess(op=m.group("op").lower(), goroutine=int(gid) if gid else None, frames=[])
                accesses.append(current)
                continue
            if current is None:
                continue
            fm = _FRAME_FILE_RE.match(line)
            if fm and pending_function is not None:
                current.frames.append({"function": pending_function, "file": fm.group("file"), "line": int(fm.group("line"))})
                pending_function = None
            elif line.startswith("  ") and not line.startswith("      "):
                pending_function = line.strip().split("(")[0] if "(" in line else line.strip()
        if accesses:
            reports.append(RaceReport(current=accesses[0], previous=accesses[1] if len(accesses) > 1 else None))
    return reports


def classify(
    *,
    status: dict[str, Any] | None,
    exit_code: int | None,
    signal: int | None,
    timed_out: bool,
    stderr: str,
    is_test: bool,
) -> Classification:
    """Outcomes of one run. `status` is the harness's JSON status (None if missing)."""
    out: list[str] = []
    c = Classification(outcomes=out)
    c.races = parse_race_reports(stderr)
    if c.races:
        out.append("race")

    end = (status or {}).get("end", "")
    c.harness_end = end
    c.trace_complete = status is not None
    goroutines = (status or {}).get("goroutines") or []

    panic_match = _PANIC_RE.search(stderr)
    fatal_match = _FATAL_RE.search(stderr)

    if end == "deadlock" or _DEADLOCK_TEXT in stderr:
        out.append("deadlock")
    elif end == "signal" and timed_out:
        out.append("blocked" if status and status.get("all_blocked") else "timeout")
    elif timed_out:
        # The harness did not answer SIGTERM in time: the program was busy.
        out.append("timeout")
    elif end == "panic" or (panic_match and end != "returned"):
        out.append("panic")
        c.panic_message = (status or {}).get("panic") or (panic_match.group(1) if panic_match else "")
    elif end == "returned":
        leaked = [g for g in goroutines if g.get("leaked")]
        c.leaked_goroutines = len(leaked)
        if leaked:
            out.append("leak")
        code = status.get("exit_code", 0) if status else 0
        if is_test and code != 0:
            out.append("fail")
    else:
        # No status file: the process died before the harness could end it.
        tsan_match = _TSAN_ERROR_RE.search(stderr)
        if fatal_match:
            c.crash_reason = "fatal error: " + fatal_match.group(1)
        elif tsan_match:
            c.crash_reason = tsan_match.group(1)  # e.g. the race runtime ran out of memory
        elif signal is not None:
            c.crash_reason = f"killed by {_signal_name(signal)}"
        elif exit_code not in (0, None):
            c.crash_reason = f"exited with code {exit_code} without returning from main (os.Exit? resource limit?)"
        if c.crash_reason:
            out.append("crash")

    if not out:
        out.append("ok")
    return c


def _signal_name(sig: int) -> str:
    try:
        return signal_module.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
