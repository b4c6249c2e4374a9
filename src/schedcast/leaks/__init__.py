"""Goroutine leaks: each leaked goroutine of a Go target from the whole trace of N
runs, the select-block signature, what Go's goroutineleak profile said, and the
measured comparison of leak detectors (docs/leaks.md)."""

from schedcast.leaks.analysis import GoroutineEnd, RunLeaks, analyze_run, analyze_trace
from schedcast.leaks.detect import (
    EXIT_BAD_INPUT,
    EXIT_BUILD,
    EXIT_CLEAN,
    EXIT_LEAK,
    EXIT_NO_DATA,
    LeaksError,
    analyze_collection,
    find_leaks,
    resolve_target,
)
from schedcast.leaks.report import Alive, Leak, LeakReport, aggregate

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUILD",
    "EXIT_CLEAN",
    "EXIT_LEAK",
    "EXIT_NO_DATA",
    "Alive",
    "GoroutineEnd",
    "Leak",
    "LeakReport",
    "LeaksError",
    "RunLeaks",
    "aggregate",
    "analyze_collection",
    "analyze_run",
    "analyze_trace",
    "find_leaks",
    "resolve_target",
]
