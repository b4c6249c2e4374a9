"""Go execution traces: a pure-Python reader verified against Go's own parser, the
goroutine-transition event model, goroutine snapshots and a scheduler FSM.

See docs/trace.md.
"""

from .errors import TraceError, TraceWarning, TruncatedTraceWarning
from .model import (
    KIND_NAMES,
    KINDS,
    N_KINDS,
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
from .fsm import FSM, FSMViolation
from .reader import read_trace
from .snapshot import GoroutineState, Snapshot, Status, snapshot_at, snapshots

__all__ = [
    "FSM",
    "KIND_NAMES",
    "KINDS",
    "N_KINDS",
    "Event",
    "FSMViolation",
    "Frame",
    "GoState",
    "GoroutineInfo",
    "GoroutineState",
    "Kind",
    "Snapshot",
    "Stack",
    "Status",
    "Trace",
    "TraceError",
    "TraceWarning",
    "TruncatedTraceWarning",
    "UserLog",
    "is_system_entry",
    "read_trace",
    "snapshot_at",
    "snapshots",
]
