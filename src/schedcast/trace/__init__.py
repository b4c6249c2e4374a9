"""Go execution traces: a pure-Python reader verified against Go's own parser, the
goroutine-transition event model, goroutine snapshots and a scheduler FSM.

See docs/trace.md.
"""

from .errors import TraceError, TruncatedTraceWarning
from .model import (
    KINDS,
    Event,
    Frame,
    GoroutineInfo,
    GoState,
    Kind,
    Stack,
    Trace,
    UserLog,
    is_system_entry,
)
from .reader import read_trace

__all__ = [
    "KINDS",
    "Event",
    "Frame",
    "GoState",
    "GoroutineInfo",
    "Kind",
    "Stack",
    "Trace",
    "TraceError",
    "TruncatedTraceWarning",
    "UserLog",
    "is_system_entry",
    "read_trace",
]
