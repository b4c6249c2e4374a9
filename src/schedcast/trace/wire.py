"""Constants of the Go execution-trace wire format (v2, Go 1.22+).

Transcribed from ``GOROOT/src/internal/trace/tracev2/events.go`` of the pinned
toolchain; ``tests/trace/test_wire.py`` re-reads that file and checks that every
number and argument list here still matches it.
"""

from __future__ import annotations

# Structural events.
EvNone = 0
EvEventBatch = 1
EvStacks = 2
EvStack = 3
EvStrings = 4
EvString = 5
EvCPUSamples = 6
EvCPUSample = 7
EvFrequency = 8
# Procs.
EvProcsChange = 9
EvProcStart = 10
EvProcStop = 11
EvProcSteal = 12
EvProcStatus = 13
# Goroutines.
EvGoCreate = 14
EvGoCreateSyscall = 15
EvGoStart = 16
EvGoDestroy = 17
EvGoDestroySyscall = 18
EvGoStop = 19
EvGoBlock = 20
EvGoUnblock = 21
EvGoSyscallBegin = 22
EvGoSyscallEnd = 23
EvGoSyscallEndBlocked = 24
EvGoStatus = 25
# STW.
EvSTWBegin = 26
EvSTWEnd = 27
# GC.
EvGCActive = 28
EvGCBegin = 29
EvGCEnd = 30
EvGCSweepActive = 31
EvGCSweepBegin = 32
EvGCSweepEnd = 33
EvGCMarkAssistActive = 34
EvGCMarkAssistBegin = 35
EvGCMarkAssistEnd = 36
EvHeapAlloc = 37
EvHeapGoal = 38
# Annotations.
EvGoLabel = 39
EvUserTaskBegin = 40
EvUserTaskEnd = 41
EvUserRegionBegin = 42
EvUserRegionEnd = 43
EvUserLog = 44
# Coroutines (Go 1.23).
EvGoSwitch = 45
EvGoSwitchDestroy = 46
EvGoCreateBlocked = 47
# GoStatus with a stack (Go 1.23).
EvGoStatusStack = 48
# Experimental batch (Go 1.23).
EvExperimentalBatch = 49
# Sync batch (Go 1.25).
EvSync = 50
EvClockSnapshot = 51
# In-band end of generation (Go 1.26).
EvEndOfGeneration = 52
NumEvents = 53

# Experimental events (AllocFree experiment).
MaxEvent = 127
EvSpan = 128
EvSpanAlloc = 129
EvSpanFree = 130
EvHeapObject = 131
EvHeapObjectAlloc = 132
EvHeapObjectFree = 133
EvGoroutineStack = 134
EvGoroutineStackAlloc = 135
EvGoroutineStackFree = 136
MaxExperimentalEvent = 137

# Spec of every event: (name, argument names, timed?, stack arg indices, string arg
# indices). Indices count the timestamp delta as argument 0, like Go's spec.
SPECS: dict[int, tuple[str, tuple[str, ...], bool, tuple[int, ...], tuple[int, ...]]] = {
    EvEventBatch: ("EventBatch", ("gen", "m", "time", "size"), False, (), ()),
    EvStacks: ("Stacks", (), False, (), ()),
    EvStack: ("Stack", ("id", "nframes"), False, (), ()),
    EvStrings: ("Strings", (), False, (), ()),
    EvString: ("String", ("id",), False, (), ()),
    EvCPUSamples: ("CPUSamples", (), False, (), ()),
    EvCPUSample: ("CPUSample", ("time", "m", "p", "g", "stack"), False, (4,), ()),
    EvFrequency: ("Frequency", ("freq",), False, (), ()),
    EvExperimentalBatch: ("ExperimentalBatch", ("exp", "gen", "m", "time"), False, (), ()),
    EvSync: ("Sync", (), False, (), ()),
    EvEndOfGeneration: ("EndOfGeneration", (), False, (), ()),
    EvProcsChange: ("ProcsChange", ("dt", "procs_value", "stack"), True, (2,), ()),
    EvProcStart: ("ProcStart", ("dt", "p", "p_seq"), True, (), ()),
    EvProcStop: ("ProcStop", ("dt",), True, (), ()),
    EvProcSteal: ("ProcSteal", ("dt", "p", "p_seq", "m"), True, (), ()),
    EvProcStatus: ("ProcStatus", ("dt", "p", "pstatus"), True, (), ()),
    EvGoCreate: ("GoCreate", ("dt", "new_g", "new_stack", "stack"), True, (3, 2), ()),
    EvGoCreateSyscall: ("GoCreateSyscall", ("dt", "new_g"), True, (), ()),
    EvGoStart: ("GoStart", ("dt", "g", "g_seq"), True, (), ()),
    EvGoDestroy: ("GoDestroy", ("dt",), True, (), ()),
    EvGoDestroySyscall: ("GoDestroySyscall", ("dt",), True, (), ()),
    EvGoStop: ("GoStop", ("dt", "reason_string", "stack"), True, (2,), (1,)),
    EvGoBlock: ("GoBlock", ("dt", "reason_string", "stack"), True, (2,), (1,)),
    EvGoUnblock: ("GoUnblock", ("dt", "g", "g_seq", "stack"), True, (3,), ()),
    EvGoSyscallBegin: ("GoSyscallBegin", ("dt", "p_seq", "stack"), True, (2,), ()),
    EvGoSyscallEnd: ("GoSyscallEnd", ("dt",), True, (), ()),
    EvGoSyscallEndBlocked: ("GoSyscallEndBlocked", ("dt",), True, (), ()),
    EvGoStatus: ("GoStatus", ("dt", "g", "m", "gstatus"), True, (), ()),
    EvSTWBegin: ("STWBegin", ("dt", "kind_string", "stack"), True, (2,), (1,)),
    EvSTWEnd: ("STWEnd", ("dt",), True, (), ()),
    EvGCActive: ("GCActive", ("dt", "gc_seq"), True, (), ()),
    EvGCBegin: ("GCBegin", ("dt", "gc_seq", "stack"), True, (2,), ()),
    EvGCEnd: ("GCEnd", ("dt", "gc_seq"), True, (), ()),
    EvGCSweepActive: ("GCSweepActive", ("dt", "p"), True, (), ()),
    EvGCSweepBegin: ("GCSweepBegin", ("dt", "stack"), True, (1,), ()),
    EvGCSweepEnd: ("GCSweepEnd", ("dt", "swept_value", "reclaimed_value"), True, (), ()),
    EvGCMarkAssistActive: ("GCMarkAssistActive", ("dt", "g"), True, (), ()),
    EvGCMarkAssistBegin: ("GCMarkAssistBegin", ("dt", "stack"), True, (1,), ()),
    EvGCMarkAssistEnd: ("GCMarkAssistEnd", ("dt",), True, (), ()),
    EvHeapAlloc: ("HeapAlloc", ("dt", "heapalloc_value"), True, (), ()),
    EvHeapGoal: ("HeapGoal", ("dt", "heapgoal_value"), True, (), ()),
    EvGoLabel: ("GoLabel", ("dt", "label_string"), True, (), (1,)),
    EvUserTaskBegin: ("UserTaskBegin", ("dt", "task", "parent_task", "name_string", "stack"), True, (4,), (3,)),
    EvUserTaskEnd: ("UserTaskEnd", ("dt", "task", "stack"), True, (2,), ()),
    EvUserRegionBegin: ("UserRegionBegin", ("dt", "task", "name_string", "stack"), True, (3,), (2,)),
    EvUserRegionEnd: ("UserRegionEnd", ("dt", "task", "name_string", "stack"), True, (3,), (2,)),
    EvUserLog: ("UserLog", ("dt", "task", "key_string", "value_string", "stack"), True, (4,), (2, 3)),
    EvGoSwitch: ("GoSwitch", ("dt", "g", "g_seq"), True, (), ()),
    EvGoSwitchDestroy: ("GoSwitchDestroy", ("dt", "g", "g_seq"), True, (), ()),
    EvGoCreateBlocked: ("GoCreateBlocked", ("dt", "new_g", "new_stack", "stack"), True, (3, 2), ()),
    EvGoStatusStack: ("GoStatusStack", ("dt", "g", "m", "gstatus", "stack"), True, (4,), ()),
    EvClockSnapshot: ("ClockSnapshot", ("dt", "mono", "sec", "nsec"), True, (), ()),
    EvSpan: ("Span", ("dt", "id", "npages_value", "kindclass"), True, (), ()),
    EvSpanAlloc: ("SpanAlloc", ("dt", "id", "npages_value", "kindclass"), True, (), ()),
    EvSpanFree: ("SpanFree", ("dt", "id"), True, (), ()),
    EvHeapObject: ("HeapObject", ("dt", "id", "type"), True, (), ()),
    EvHeapObjectAlloc: ("HeapObjectAlloc", ("dt", "id", "type"), True, (), ()),
    EvHeapObjectFree: ("HeapObjectFree", ("dt", "id"), True, (), ()),
    EvGoroutineStack: ("GoroutineStack", ("dt", "id", "order"), True, (), ()),
    EvGoroutineStackAlloc: ("GoroutineStackAlloc", ("dt", "id", "order"), True, (), ()),
    EvGoroutineStackFree: ("GoroutineStackFree", ("dt", "id"), True, (), ()),
}

# Number of arguments after the timestamp delta for every timed event type, -1 for
# types that cannot appear in an event batch (indexed by the type byte).
TIMED_NARGS: list[int] = [-1] * 256
for _typ, (_name, _args, _timed, _stacks, _strings) in SPECS.items():
    if _timed:
        TIMED_NARGS[_typ] = len(_args) - 1

EVENT_NAMES: dict[int, str] = {typ: spec[0] for typ, spec in SPECS.items()}

# Goroutine statuses on the wire (tracev2.GoStatus).
GoBad, GoRunnable, GoRunning, GoSyscall, GoWaiting = 0, 1, 2, 3, 4
# Proc statuses on the wire (tracev2.ProcStatus).
ProcBad, ProcRunning, ProcIdle, ProcSyscall, ProcSyscallAbandoned = 0, 1, 2, 3, 4

# Limits the runtime guarantees; a trace declaring more is corrupt.
MAX_BATCH_SIZE = 64 << 10
MAX_FRAMES_PER_STACK = 128
MAX_EVENT_TRAILER_DATA_SIZE = 1 << 10

# Versions: Go 1.11-1.21 wrote the v1 format, Go 1.22+ the v2 format.
V1_VERSIONS = (11, 19, 21)
V2_VERSIONS = (22, 23, 25, 26)
CURRENT_VERSION = 26
HEADER_LEN = 16  # b"go 1.NN trace\x00\x00\x00"

NO_ID = -1  # NoGoroutine, NoProc, NoThread
