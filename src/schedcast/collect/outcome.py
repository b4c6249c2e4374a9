"""Classify what happened in a run, from channels the program cannot forge.

Evidence, most trusted first:
- the kernel: the exit status or signal, whether the wall-clock limit hit, whether
  the run's cgroup killed it for memory;
- the harness's status, read from a descriptor the collector owns and accepted only
  when it carries the one-time token the harness received on a pipe before any
  program code ran (a forged or replaced status has no token and is ignored);
- the race runtime's exit code: the harness always ends with exit code 0 (the
  program's own code is in the status), and the race runtime turns that into 66
  when it found a data race. Race reports are parsed from stderr only when that
  exit code and a verified status confirm them;
- stderr text, only to describe a crash the kernel already saw (its fatal error,
  a panic of another goroutine), never to decide that something happened.

Outcomes (a run can carry several, e.g. race + leak):
- ok: the program returned normally and nothing below happened.
- deadlock: every program goroutine was blocked forever (the harness proved it
  with Go's goroutineleak profile and ended the run).
- blocked: the wall-clock limit hit while no program goroutine was running,
  runnable, sleeping or in a system call (blocked, but not provably forever).
- timeout: the wall-clock limit hit while the program was still busy.
- leak: the program returned but goroutines it started stayed blocked forever.
- race: the race detector found at least one data race (both stacks parsed).
- panic: a Go panic (message kept).
- fail: a test kernel returned with failing tests (non-zero code from testing).
- crash: anything else that ended the program abnormally: a fatal runtime error,
  a signal (resource limits: SIGXCPU, SIGXFSZ, SIGKILL), out of memory, os.Exit
  (with any code: the program did not return from main), main calling
  runtime.Goexit with no goroutine left.
- build_error: the program did not compile or was refused (recorded for each
  requested run).

Parsing is linear in the text and capped: at most MAX_RACE_REPORTS reports, lines
longer than MAX_LINE characters are skipped.
"""

from __future__ import annotations

import json
import re
import signal as signal_module
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("ok", "deadlock", "blocked", "timeout", "leak", "race", "panic", "fail", "crash", "build_error")

_ACCESS_RE = re.compile(
    r"^(?P<prev>Previous )?(?P<op>[Rr]ead|[Ww]rite|[Aa]tomic read|[Aa]tomic write)"
    r"(?: at (?P<addr>0x[0-9a-f]+))? by (?P<who>goroutine (?P<gid>\d+)|main goroutine):$"
)
_FRAME_FILE_RE = re.compile(r"^\s+(?P<file>\S+\.(?:go|s|c)):(?P<line>\d+)")
RACE_EXIT_CODE = 66  # GORACE exitcode (the race runtime's default)
MAX_RACE_REPORTS = 100
MAX_LINE = 4096
_RACE_START = "WARNING: DATA RACE"
_RACE_END = "=================="


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
    """Race reports in the race runtime's format: one pass over the lines, capped."""
    reports: list[RaceReport] = []
    accesses: list[RaceAccess] | None = None  # inside a report
    current: RaceAccess | None = None
    pending_function: str | None = None
    for line in stderr.splitlines():
        if len(line) > MAX_LINE:
            continue
        if accesses is None:
            if line == _RACE_START:
                accesses, current, pending_function = [], None, None
            continue
        if line == _RACE_END:
            if accesses:
                reports.append(RaceReport(current=accesses[0], previous=accesses[1] if len(accesses) > 1 else None))
                if len(reports) >= MAX_RACE_REPORTS:
                    break
            accesses = None
            continue
        if not line.strip():
            current = None  # a blank line ends an access's stack
            continue
        m = _ACCESS_RE.match(line)
        if m:
            gid = m.group("gid")
            current = RaceAccess(op=m.group("op").lower(), goroutine=int(gid) if gid else None, frames=[])
            if len(accesses) < 2:
                accesses.append(current)
            continue
        if current is None or len(current.frames) >= 64:
            continue
        fm = _FRAME_FILE_RE.match(line)
        if fm and pending_function is not None:
            current.frames.append({"function": pending_function, "file": fm.group("file"), "line": int(fm.group("line"))})
            pending_function = None
        elif line.startswith("  ") and not line.startswith("      "):
            pending_function = line.strip().split("(")[0] if "(" in line else line.strip()
    return reports


def _first_line(stderr: str, prefix: str) -> str | None:
    """The rest of the first line starting with `prefix` (linear, no regex)."""
    at = 0 if stderr.startswith(prefix) else stderr.find("\n" + prefix)
    if at < 0:
        return None
    start = at + (0 if at == 0 and stderr.startswith(prefix) else 1) + len(prefix)
    stop = stderr.find("\n", start)
    return stderr[start : stop if stop >= 0 else len(stderr)][:MAX_LINE]


def classify(
    *,
    status: dict[str, Any] | None,
    exit_code: int | None,
    signal: int | None,
    timed_out: bool,
    stderr: str,
    is_test: bool,
    race_build: bool = False,
    oom_killed: bool = False,
) -> Classification:
    """Outcomes of one run. `status` is the harness's status, already verified (its
    token matched), or None; `exit_code` and `signal` are what the kernel reported;
    `oom_killed` says the run's cgroup killed it for memory."""
    out: list[str] = []
    c = Classification(outcomes=out)
    if race_build and exit_code == RACE_EXIT_CODE and status is not None:
        # The harness exited 0 and the race runtime's exit handler turned it into
        # 66. (Without a status, 66 may be the race runtime dying, e.g. out of memory.)
        c.races = parse_race_reports(stderr)
        out.append("race")

    end = str((status or {}).get("end", ""))
    c.harness_end = end
    c.trace_complete = status is not None
    goroutines = (status or {}).get("goroutines") or []

    if status is not None:
        if end == "deadlock":
            out.append("deadlock")
        elif end == "signal" and timed_out:
            out.append("blocked" if status.get("all_blocked") else "timeout")
        elif end == "signal":
            c.crash_reason = "terminated by SIGTERM/SIGINT sent from inside the sandbox"
            out.append("crash")
        elif end == "panic":
            out.append("panic")
            c.panic_message = str(status.get("panic") or "")[:MAX_LINE]
        elif end == "goexit":
            c.crash_reason = "fatal error: no goroutines (main called runtime.Goexit) - deadlock!"
            out.append("crash")
        elif end == "returned":
            leaked = [g for g in goroutines if isinstance(g, dict) and g.get("leaked")]
            c.leaked_goroutines = int(status.get("leaked_total", len(leaked)) or 0)
            if c.leaked_goroutines:
                out.append("leak")
            code = status.get("exit_code", 0)
            if is_test and code != 0:
                out.append("fail")
        else:
            c.crash_reason = f"unknown harness end {end[:40]!r}"
            out.append("crash")
    elif oom_killed:
        c.crash_reason = "out of memory: killed by the kernel at the run's memory limit (cgroup)"
        out.append("crash")
    elif timed_out:
        # The harness did not answer SIGTERM in time: the program was busy.
        out.append("timeout")
    else:
        # No status: the process ended before the harness could end it.
        fatal = _first_line(stderr, "fatal error: ")
        panic = _first_line(stderr, "panic: ")
        at = stderr.find("ERROR: ThreadSanitizer")
        tsan = stderr[at + len("ERROR: ") :].split("\n", 1)[0][:MAX_LINE] if at >= 0 else None
        if panic is not None and exit_code == 2 and fatal is None:
            # Another goroutine panicked: Go printed the panic and exited with 2.
            out.append("panic")
            c.panic_message = panic
        else:
            if fatal is not None:
                c.crash_reason = "fatal error: " + fatal
            elif tsan is not None:
                c.crash_reason = tsan  # e.g. the race runtime ran out of memory
            elif signal is not None:
                c.crash_reason = f"killed by {_signal_name(signal)}"
            elif exit_code == 0:
                c.crash_reason = "exited with code 0 without returning from main (os.Exit)"
            else:
                c.crash_reason = f"exited with code {exit_code} without returning from main (os.Exit? resource limit?)"
            out.append("crash")

    if not out:
        out.append("ok")
    return c


def _signal_name(sig: int) -> str:
    try:
        return signal_module.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
