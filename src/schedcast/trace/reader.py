"""Pure-Python reader of Go execution traces (wire format v2).

A port of Go's ``internal/trace`` reader (``reader.go``, ``generation.go``,
``batch.go``, ``batchcursor.go``, ``order.go``) that yields goroutine state
transitions in exactly the order Go's own parser yields them:

1. Read one generation: every batch up to the EndOfGeneration marker; decode its
   string, stack, CPU-sample and sync (frequency, clock) batches.
2. Decode each thread's (M's) event batches; each M's events are in program order.
3. Merge the Ms with a min-heap on timestamps, but only *advance* an event when the
   scheduler state allows it (per-goroutine and per-P sequence numbers, GC
   sequence, statuses): that is Go's partial order, which fixes events whose
   timestamps are skewed across threads.

Everything that can go wrong raises :class:`TraceError` with a byte offset; a trace
cut short keeps its complete generations and warns (:class:`TruncatedTraceWarning`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import warnings
from collections.abc import Iterator
from typing import Callable

from . import wire as W
from ._gosort import sort_func
from .errors import TraceError, TraceWarning, TruncatedTraceWarning
from .model import Event, Frame, GoState, Stack, Trace, UserLog

NO = -1

# A stop rule (read_trace's ``stop``): called with the events ordered so far and the
# index of the first one it has not seen yet; True ends reading there.
StopRule = Callable[[list[Event], int], bool]
STOP_CHECK_EVERY = 4096  # events ordered between two calls of a stop rule
NO_TASK = (1 << 64) - 1
_U64 = 1 << 64
_I64 = 1 << 63

_HEADER_RE = re.compile(rb"go 1\.(\d{1,9}) trace\x00\x00\x00")

# Go's trace.GoState for every tracev2.GoStatus (GoBad maps to Undetermined).
_GO_STATUS_TO_STATE = (GoState.UNDETERMINED, GoState.RUNNABLE, GoState.RUNNING, GoState.SYSCALL, GoState.WAITING)
# ProcState numbers: Undetermined 0, NotExist 1, Running 2, Idle 3.
_PROC_UNDETERMINED, _PROC_NOT_EXIST, _PROC_RUNNING, _PROC_IDLE = 0, 1, 2, 3
_PROC_STATUS_TO_STATE = (_PROC_UNDETERMINED, _PROC_RUNNING, _PROC_IDLE, _PROC_RUNNING, _PROC_IDLE)

# gcState
_GC_UNDETERMINED, _GC_NOT_RUNNING, _GC_RUNNING = 0, 1, 2

# Range "begin" type for every range event (tracev2 spec StartEv).
_START_EV = {
    W.EvSTWEnd: W.EvSTWBegin,
    W.EvGCActive: W.EvGCBegin,
    W.EvGCEnd: W.EvGCBegin,
    W.EvGCSweepActive: W.EvGCSweepBegin,
    W.EvGCSweepEnd: W.EvGCSweepBegin,
    W.EvGCMarkAssistActive: W.EvGCMarkAssistBegin,
    W.EvGCMarkAssistEnd: W.EvGCMarkAssistBegin,
    W.EvUserRegionEnd: W.EvUserRegionBegin,
}

# Argument positions (0-based, after the time delta) of stack and string IDs, which
# Go validates for every event it returns.
_STACK_ARGS: list[tuple[int, ...]] = [()] * 256
_STRING_ARGS: list[tuple[int, ...]] = [()] * 256
for _t, (_n, _a, _timed, _stk, _str) in W.SPECS.items():
    if _timed:
        _STACK_ARGS[_t] = tuple(i - 1 for i in _stk)
        _STRING_ARGS[_t] = tuple(i - 1 for i in _str)

# Raw event tuples: (time, typ, a0, a1, a2, a3, offset). Queue entries add the
# context: (typ, time, m, p, g, a0, a1, a2, a3, offset).


def _signed(x: int) -> int:
    """Go's conversion of a uint64 ID to int64 (ThreadID, GoID, ProcID)."""
    return x - _U64 if x >= _I64 else x


class _Truncated(Exception):
    """The data ended before a structure was complete. ``gen`` is the generation
    of a batch whose header was read in full but whose data is cut short."""

    def __init__(self, offset: int, gen: int | None = None) -> None:
        self.offset = offset
        self.gen = gen


def _uvarint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode a uvarint at ``pos`` (Go's binary.Uvarint). Raises _Truncated if
    ``end`` comes first, TraceError on overflow."""
    x = 0
    s = 0
    start = pos
    for i in range(10):
        if pos >= end:
            raise _Truncated(start)
        b = buf[pos]
        pos += 1
        if b < 0x80:
            if i == 9 and b > 1:
                break
            return x | (b << s), pos
        x |= (b & 0x7F) << s
        s += 7
    raise TraceError("varint overflows a 64-bit integer", start)


def _batch_uvarint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """A uvarint inside a batch: running out of batch data is corruption."""
    try:
        return _uvarint(buf, pos, end)
    except _Truncated as t:
        raise TraceError(f"invalid uvarint for {what}: batch data ends", t.offset) from None


class _Generation:
    __slots__ = (
        "gen", "start", "batches", "batch_ms", "strings", "stacks", "pcs", "freq",
        "has_clock", "min_ts", "cpu_times", "cpu_stacks", "stack_table", "raw_strings",
    )

    def __init__(self, start: int) -> None:
        self.gen = 0
        self.start = start
        self.batches: dict[int, list[tuple[int, int, int]]] = {}  # m -> [(time, data start, data end)]
        self.batch_ms: list[int] = []
        self.strings: dict[int, str] = {0: ""}
        self.raw_strings: dict[int, bytes] = {}  # strings that are not valid UTF-8, as bytes
        self.stacks: dict[int, tuple[int, ...]] = {}
        self.pcs: dict[int, tuple[int, int, int]] = {}
        self.freq = 0.0
        self.has_clock = False
        self.min_ts = 0
        self.cpu_times: list[int] = []
        self.cpu_stacks: list[tuple[int, int]] = []  # (stack ID, byte offset) of every CPU sample
        self.stack_table: dict[int, Stack] = {0: ()}


class _Reader:
    """Reads one trace buffer. Ordering state lives across generations."""

    def __init__(self, buf: bytes, path: str | None) -> None:
        self.buf = buf
        self.path = path
        self.version = 0
        # Ordering state (order.go). Goroutine state: [status, seq gen, seq, ranges, regions].
        self.g_states: dict[int, list] = {}
        # Proc state: [status, seq gen, seq, ranges].
        self.p_states: dict[int, list] = {}
        # Thread state: [g, p].
        self.m_states: dict[int, list[int]] = {}
        self.active_tasks: dict[int, tuple[str, int]] = {}
        self.gc_seq = 0
        self.gc_state = _GC_UNDETERMINED
        self.initial_gen = 0
        self.queue: list[tuple] = []
        # Output.
        self.events: list[Event] = []
        self.logs: list[UserLog] = []
        self.last_ts = 0
        self.total = 0
        self.gomaxprocs = 0
        self.procs_seen = 0  # 1 + largest P ID with a status event (GOMAXPROCS fallback)
        self.appended_at: int | None = None  # where another trace session starts, if any
        self.notes: list[str] = []  # oddities Go accepts and we read, reported as TraceWarnings
        # Goroutine stacks for transitions the wire format gives no stack for.
        self.last_stack: dict[int, Stack] = {}
        self.start_stack: dict[int, Stack] = {}
        self._frames: dict[tuple, Frame] = {}
        self._stacks: dict[tuple, Stack] = {}
        # Early stop (read_trace's ``stop``): asked every STOP_CHECK_EVERY events.
        self.stop: StopRule | None = None
        self.stop_checked = 0  # events the stop rule has seen
        self.stopped = False

    def check_stop(self) -> bool:
        """Show the stop rule the events it has not seen; True (and ``stopped``) when
        it says reading can end here."""
        if self.stop is not None and self.stop(self.events, self.stop_checked):
            self.stopped = True
        self.stop_checked = len(self.events)
        return self.stopped

    # ------------------------------------------------------------------ header
    def read_header(self) -> None:
        m = _HEADER_RE.match(self.buf)
        if m is None:
            raise TraceError("not a Go execution trace (bad header; want 'go 1.N trace')", 0)
        v = int(m.group(1))
        if v in W.V1_VERSIONS:
            raise TraceError(
                f"unsupported trace version go 1.{v}: Go 1.{v} wrote the v1 trace format, "
                "which schedcast does not read (record the trace with Go >= 1.22)",
                0,
            )
        if v not in W.V2_VERSIONS:
            supported = ", ".join(f"go 1.{x}" for x in W.V2_VERSIONS)
            raise TraceError(f"unknown or unsupported trace version go 1.{v} (schedcast reads {supported})", 0)
        self.version = v

    def at_header(self, pos: int) -> bool:
        """Whether a trace header starts at ``pos``: a second tracer session
        appended to the same file (Go stops there with "expected batch event")."""
        return pos < len(self.buf) and self.buf[pos] == 0x67 and _HEADER_RE.match(self.buf, pos) is not None

    # -------------------------------------------------------------- generation
    def _read_batch(self, pos: int) -> tuple[int, int, int, int, int, int, int, int]:
        """Read one batch header at ``pos`` (readBatch): (type, experiment, gen, m,
        time, data start, data end, next pos). An EndOfGeneration byte reads as a
        batch of type EvEndOfGeneration and generation 0. Raises _Truncated(pos)
        if the file ends inside the batch."""
        buf = self.buf
        n = len(buf)
        bstart = pos
        b = buf[pos]
        pos += 1
        if b == W.EvEndOfGeneration:
            return b, 0, 0, NO, 0, pos, pos, pos
        if b != W.EvEventBatch and b != W.EvExperimentalBatch:
            raise TraceError(f"expected batch event, got event {b}", bstart)
        exp = 0
        try:
            if b == W.EvExperimentalBatch:
                if pos >= n:
                    raise _Truncated(bstart)
                exp = buf[pos]
                pos += 1
            gen, pos = _uvarint(buf, pos, n)
            m, pos = _uvarint(buf, pos, n)
            ts, pos = _uvarint(buf, pos, n)
            size, pos = _uvarint(buf, pos, n)
        except _Truncated:
            raise _Truncated(bstart) from None
        if size > W.MAX_BATCH_SIZE:
            raise TraceError(f"invalid batch size {size}, maximum is {W.MAX_BATCH_SIZE}", bstart)
        if pos + size > n:
            raise _Truncated(bstart, gen)
        return b, exp, gen, m, ts, pos, pos + size, pos + size

    def _process_batch(self, g: _Generation, exp: int, m: int, ts: int, dstart: int, dend: int) -> None:
        """File a batch into its generation (processBatch)."""
        buf = self.buf
        if g.min_ts == 0 or ts < g.min_ts:
            g.min_ts = ts
        if exp != 0:
            return  # experimental data (e.g. alloc/free): not needed here
        first = buf[dstart] if dend > dstart else -1
        if first == W.EvStrings:
            self._add_strings(g, dstart, dend)
        elif first == W.EvStacks:
            self._add_stacks(g, dstart, dend)
        elif first == W.EvCPUSamples:
            self._add_cpu_samples(g, dstart, dend)
        elif (first == W.EvSync and self.version >= 25) or (first == W.EvFrequency and self.version < 25):
            self._set_sync(g, dstart, dend, ts)
        elif first == W.EvEndOfGeneration:
            raise TraceError("unexpected end-of-generation batch in a go 1.%d trace" % self.version, dstart)
        else:
            mid = _signed(m)
            lst = g.batches.get(mid)
            if lst is None:
                g.batch_ms.append(mid)
                g.batches[mid] = lst = []
            lst.append((ts, dstart, dend))

    def _finish_generation(self, g: _Generation) -> None:
        if g.freq == 0:
            raise TraceError("no frequency event found in generation", g.start)
        if self.version >= 25 and not g.has_clock:
            raise TraceError("no clock snapshot event found in generation", g.start)
        self._resolve_stacks(g)
        # Go's parser accepts a CPU sample whose stack is not in the table (its trace
        # tool then panics printing it). Samples are only counted here: say so.
        missing = [(sid, at) for sid, at in g.cpu_stacks if sid not in g.stack_table]
        if missing:
            sid, at = missing[0]
            self.notes.append(
                f"{len(missing)} CPU sample(s) of generation {g.gen} name a stack missing from its stack "
                f"table (first: stack {sid}, byte offset {at}); they are counted, with no stack "
                "(Go's trace tool panics on them)"
            )

    def read_generation(self, pos: int) -> tuple[_Generation | None, int]:
        """Read the Go 1.26+ generation starting at ``pos``, up to its
        EndOfGeneration marker (readGeneration). Returns (None, pos) at a clean end
        of file; raises _Truncated if the file ends inside the generation."""
        buf = self.buf
        n = len(buf)
        g = _Generation(pos)
        nbatches = 0
        while True:
            if pos >= n:
                if nbatches == 0:
                    return None, pos
                raise _Truncated(g.start)
            bstart = pos
            try:
                b, exp, gen, m, ts, dstart, dend, pos = self._read_batch(pos)
            except _Truncated:
                raise _Truncated(g.start) from None
            nbatches += 1
            if g.gen == 0:
                g.gen = gen
            if b == W.EvEndOfGeneration or (exp == 0 and dend > dstart and buf[dstart] == W.EvEndOfGeneration):
                break
            if gen == 0:
                raise TraceError("invalid generation number 0", bstart)
            if gen != g.gen:
                raise TraceError(
                    "broken trace: missing end-of-generation event, or generations are interleaved", bstart
                )
            self._process_batch(g, exp, m, ts, dstart, dend)
        self._finish_generation(g)
        return g, pos

    def read_generation_spill(
        self, pos: int, spill: tuple | None
    ) -> tuple[_Generation, int, tuple | None, Exception | None]:
        """Read a Go 1.22-1.25 generation (readGenerationWithSpill). Those traces
        have no end-of-generation marker: a generation ends at the first batch of
        the next one (the "spill", returned for the next call) or at end of file.
        An error reading a batch after the generation has started is returned,
        not raised: Go orders what it has, then reports it."""
        buf = self.buf
        n = len(buf)
        g = _Generation(pos if spill is None else spill[0])
        if spill is not None:
            _, gen, exp, m, ts, dstart, dend = spill
            g.gen = gen
            g.min_ts = ts
            self._process_batch(g, exp, m, ts, dstart, dend)
        spill = None
        spill_err: Exception | None = None
        while pos < n:
            bstart = pos
            if g.gen != 0 and self.at_header(pos):
                self.appended_at = pos  # another trace session: this one ends here
                break
            try:
                b, exp, gen, m, ts, dstart, dend, pos = self._read_batch(pos)
            except (TraceError, _Truncated) as exc:
                if g.gen != 0:
                    spill_err = exc
                    break
                raise
            if gen == 0:
                raise TraceError("invalid generation number 0", bstart)
            if g.gen == 0:
                g.gen = gen
            if gen == g.gen + 1:
                spill = (bstart, gen, exp, m, ts, dstart, dend)
                break
            if gen != g.gen:
                raise TraceError("generations out of order", bstart)
            self._process_batch(g, exp, m, ts, dstart, dend)
        if isinstance(spill_err, _Truncated) and spill_err.gen == g.gen + 1:
            # The cut batch is the next generation's first: this one is complete.
            self._finish_generation(g)
            return g, pos, None, spill_err
        if not isinstance(spill_err, _Truncated):
            self._finish_generation(g)  # a cut-short generation is the caller's to try
        return g, pos, spill, spill_err

    def _add_strings(self, g: _Generation, pos: int, end: int) -> None:
        buf = self.buf
        strings = g.strings
        pos += 1  # EvStrings
        while pos < end:
            at = pos
            if buf[pos] != W.EvString:
                raise TraceError(f"expected string event, got {buf[pos]}", at)
            pos += 1
            sid, pos = _batch_uvarint(buf, pos, end, "string ID")
            length, pos = _batch_uvarint(buf, pos, end, "string length")
            if length > W.MAX_EVENT_TRAILER_DATA_SIZE:
                raise TraceError(f"invalid string size {length}, maximum is {W.MAX_EVENT_TRAILER_DATA_SIZE}", at)
            if pos + length > end:
                raise TraceError(f"failed to read full string: wanted {length} bytes", at)
            if sid in strings:
                raise TraceError(f"multiple strings with the same ID {sid}", at)
            data = buf[pos : pos + length]
            try:
                strings[sid] = data.decode("utf-8")
            except UnicodeDecodeError:
                strings[sid] = data.decode("utf-8", "replace")
                g.raw_strings[sid] = data
            pos += length

    def _add_stacks(self, g: _Generation, pos: int, end: int) -> None:
        buf = self.buf
        stacks, pcs = g.stacks, g.pcs
        pos += 1  # EvStacks
        while pos < end:
            at = pos
            if buf[pos] != W.EvStack:
                raise TraceError(f"expected stack event, got {buf[pos]}", at)
            pos += 1
            sid, pos = _batch_uvarint(buf, pos, end, "stack ID")
            nframes, pos = _batch_uvarint(buf, pos, end, "stack size")
            if nframes > W.MAX_FRAMES_PER_STACK:
                raise TraceError(f"invalid stack size {nframes}, maximum is {W.MAX_FRAMES_PER_STACK}", at)
            frames = []
            for _ in range(nframes):
                pc, pos = _batch_uvarint(buf, pos, end, "frame PC")
                func_id, pos = _batch_uvarint(buf, pos, end, "frame function")
                file_id, pos = _batch_uvarint(buf, pos, end, "frame file")
                line, pos = _batch_uvarint(buf, pos, end, "frame line")
                frames.append(pc)
                if pc not in pcs:
                    pcs[pc] = (func_id, file_id, line, at)
            if sid == 0 or sid in stacks:
                raise TraceError(f"multiple stacks with the same ID {sid}", at)
            stacks[sid] = (at, *frames)

    def _add_cpu_samples(self, g: _Generation, pos: int, end: int) -> None:
        buf = self.buf
        pos += 1  # EvCPUSamples
        while pos < end:
            at = pos
            if buf[pos] != W.EvCPUSample:
                raise TraceError(f"expected CPU sample event, got {buf[pos]}", at)
            pos += 1
            ts, pos = _batch_uvarint(buf, pos, end, "CPU sample time")
            for what in ("CPU sample M", "CPU sample P", "CPU sample G"):
                _, pos = _batch_uvarint(buf, pos, end, what)
            stack_id, pos = _batch_uvarint(buf, pos, end, "CPU sample stack")
            g.cpu_times.append(ts)
            g.cpu_stacks.append((stack_id, at))

    def _set_sync(self, g: _Generation, pos: int, end: int, batch_ts: int) -> None:
        buf = self.buf
        if self.version >= 25:
            pos += 1  # EvSync; older traces have a lone Frequency batch
        last_ts = batch_ts
        while pos < end:
            at = pos
            et = buf[pos]
            pos += 1
            if et == W.EvFrequency:
                if g.freq != 0:
                    raise TraceError("found multiple frequency events", at)
                f, pos = _batch_uvarint(buf, pos, end, "frequency")
                if f == 0:
                    raise TraceError("invalid trace clock frequency 0", at)
                g.freq = 1.0 / (f / 1e9)  # nanoseconds per timestamp unit, like Go
            elif et == W.EvClockSnapshot and self.version >= 25:
                if g.has_clock:
                    raise TraceError("found multiple clock snapshot events", at)
                g.has_clock = True
                dt, pos = _batch_uvarint(buf, pos, end, "clock snapshot time")
                last_ts += dt
                for what in ("clock snapshot mono", "clock snapshot sec", "clock snapshot nsec"):
                    _, pos = _batch_uvarint(buf, pos, end, what)
            else:
                raise TraceError(f"expected frequency or clock snapshot event, got {et}", at)

    def _resolve_stacks(self, g: _Generation) -> None:
        """Validate stacks against PCs and strings (validateStackStrings) and turn
        them into interned tuples of Frames."""
        strings, pcs = g.strings, g.pcs
        frames_cache, stacks_cache = self._frames, self._stacks
        table = g.stack_table
        for sid, (at, *pc_list) in g.stacks.items():
            frames = []
            for pc in pc_list:
                info = pcs.get(pc)
                if info is None:
                    raise TraceError(f"found unknown pc {pc:#x} for stack {sid}", at)
                func_id, file_id, line, _ = info
                func = strings.get(func_id)
                if func is None:
                    raise TraceError(f"found invalid func string ID {func_id} for stack {sid}", at)
                file = strings.get(file_id)
                if file is None:
                    raise TraceError(f"found invalid file string ID {file_id} for stack {sid}", at)
                key = (func, file, line, pc)
                fr = frames_cache.get(key)
                if fr is None:
                    fr = frames_cache[key] = Frame(func, file, line, pc)
                frames.append(fr)
            tup = tuple(frames)
            table[sid] = stacks_cache.setdefault(tup, tup)

    # ------------------------------------------------------------ batch decode
    def decode_batch(self, g: _Generation, batch: tuple[int, int, int]) -> list[tuple]:
        """Decode every event of one batch (batchCursor.nextEvent) into
        (time, type, a0, a1, a2, a3, offset) tuples.

        This loop touches every byte of the trace, so it is unrolled by argument
        count and decodes uvarints of up to three bytes inline (longer ones, and all
        errors, go through ``_uvarint``). Reads may run past ``end`` into the next
        batch; the ``pos > end`` check after each event turns that into an error.
        """
        buf = self.buf
        freq = g.freq
        nargs_of = W.TIMED_NARGS
        uv = _uvarint
        out: list[tuple] = []
        append = out.append
        batch_ts, pos, end = batch
        last = int(freq * batch_ts)
        start = pos
        try:
            while pos < end:
                start = pos
                typ = buf[pos]
                pos += 1
                na = nargs_of[typ]
                x = buf[pos]
                pos += 1
                if x >= 0x80:
                    y = buf[pos]
                    if y < 0x80:
                        x = (x & 0x7F) | (y << 7)
                        pos += 1
                    else:
                        z = buf[pos + 1]
                        if z < 0x80:
                            x = (x & 0x7F) | ((y & 0x7F) << 7) | (z << 14)
                            pos += 2
                        else:
                            x, pos = uv(buf, pos - 1, end)
                # Go: freq.mul(tsdiff) + lastTs, truncating the product.
                last = int(freq * x) + last
                if na == 0:
                    a0 = a1 = a2 = a3 = 0
                elif na < 0:
                    if typ in W.SPECS:
                        raise TraceError(f"found event without a timestamp: type={typ}", start)
                    raise TraceError(f"found invalid event type: {typ}", start)
                else:
                    a0 = buf[pos]
                    pos += 1
                    if a0 >= 0x80:
                        y = buf[pos]
                        if y < 0x80:
                            a0 = (a0 & 0x7F) | (y << 7)
                            pos += 1
                        else:
                            z = buf[pos + 1]
                            if z < 0x80:
                                a0 = (a0 & 0x7F) | ((y & 0x7F) << 7) | (z << 14)
                                pos += 2
                            else:
                                a0, pos = uv(buf, pos - 1, end)
                    a1 = a2 = a3 = 0
                    if na > 1:
                        a1 = buf[pos]
                        pos += 1
                        if a1 >= 0x80:
                            y = buf[pos]
                            if y < 0x80:
                                a1 = (a1 & 0x7F) | (y << 7)
                                pos += 1
                            else:
                                z = buf[pos + 1]
                                if z < 0x80:
                                    a1 = (a1 & 0x7F) | ((y & 0x7F) << 7) | (z << 14)
                                    pos += 2
                                else:
                                    a1, pos = uv(buf, pos - 1, end)
                        if na > 2:
                            a2 = buf[pos]
                            pos += 1
                            if a2 >= 0x80:
                                y = buf[pos]
                                if y < 0x80:
                                    a2 = (a2 & 0x7F) | (y << 7)
                                    pos += 1
                                else:
                                    z = buf[pos + 1]
                                    if z < 0x80:
                                        a2 = (a2 & 0x7F) | ((y & 0x7F) << 7) | (z << 14)
                                        pos += 2
                                    else:
                                        a2, pos = uv(buf, pos - 1, end)
                            if na > 3:
                                a3 = buf[pos]
                                pos += 1
                                if a3 >= 0x80:
                                    y = buf[pos]
                                    if y < 0x80:
                                        a3 = (a3 & 0x7F) | (y << 7)
                                        pos += 1
                                    else:
                                        z = buf[pos + 1]
                                        if z < 0x80:
                                            a3 = (a3 & 0x7F) | ((y & 0x7F) << 7) | (z << 14)
                                            pos += 2
                                        else:
                                            a3, pos = uv(buf, pos - 1, end)
                if pos > end:
                    raise _Truncated(start)
                append((last, typ, a0, a1, a2, a3, start))
        except (IndexError, _Truncated):
            raise TraceError("found invalid uvarint: event data runs past the end of its batch", start) from None
        return out

    # ---------------------------------------------------------------- ordering
    def order_generation(self, g: _Generation) -> None:
        """Merge the Ms of one generation in Go's order, emitting events.

        The fast path handles the common, valid case of the frequent event types
        inline (with the same state updates as the handlers below) and keeps
        advancing the head thread while Go's heap would keep it on top; anything
        else goes through the faithful handlers (``_advance``), which also produce
        every error.
        """
        gen = g.gen
        self._emit_sync(int(g.freq * g.min_ts))
        # batchMs order and heapInsert, exactly like installGen.
        frontier: list[list] = []
        # A cursor is [time of its next event, m, decoded batch, index, batches,
        # next batch]: one batch is decoded at a time, which bounds memory.
        for m in g.batch_ms:
            c = [0, m, [], 0, g.batches[m], 0]
            if self._next_batch(g, c):
                _heap_insert(frontier, c)
        if frontier and self.initial_gen == 0:
            self.initial_gen = gen
        samples = sorted(int(g.freq * t) for t in g.cpu_times)
        nsamples = len(samples)
        si = 0
        inf = float("inf")

        # Hot locals.
        g_states, m_states, p_states = self.g_states, self.m_states, self.p_states
        strings, stack_table = g.strings, g.stack_table
        last_stack, start_stack = self.last_stack, self.start_stack
        ev_append = self.events.append
        tnew = tuple.__new__
        EventT = Event
        slow = self._slow
        S_RUNNABLE, S_RUNNING, S_WAITING, S_SYSCALL, S_NOT_EXIST = (
            GoState.RUNNABLE, GoState.RUNNING, GoState.WAITING, GoState.SYSCALL, GoState.NOT_EXIST,
        )
        GO_RUNNABLE, GO_RUNNING, GO_SYSCALL, GO_WAITING = W.GoRunnable, W.GoRunning, W.GoSyscall, W.GoWaiting
        P_RUNNING, P_IDLE, P_SYSCALL = W.ProcRunning, W.ProcIdle, W.ProcSyscall
        EV_START, EV_BLOCK, EV_UNBLOCK, EV_STOP = W.EvGoStart, W.EvGoBlock, W.EvGoUnblock, W.EvGoStop
        EV_CREATE, EV_DESTROY, EV_HEAPALLOC, EV_HEAPGOAL = W.EvGoCreate, W.EvGoDestroy, W.EvHeapAlloc, W.EvHeapGoal
        EV_SYS_BEGIN, EV_SYS_END, EV_PSTART, EV_PSTOP = (
            W.EvGoSyscallBegin, W.EvGoSyscallEnd, W.EvProcStart, W.EvProcStop,
        )
        last_ts = self.last_ts
        total = self.total
        events = self.events
        next_check = self.stop_checked + STOP_CHECK_EVERY if self.stop is not None else -1

        while frontier or si < nsamples:
            if next_check >= 0 and len(events) >= next_check:
                self.last_ts, self.total = last_ts, total
                if self.check_stop():
                    return
                next_check = len(events) + STOP_CHECK_EVERY
            if si < nsamples and (not frontier or samples[si] < frontier[0][0]):
                t = samples[si]
                si += 1
                last_ts = t if t > last_ts else last_ts + 1
                total += 1
                continue
            c = frontier[0]
            m = c[1]
            evs = c[2]
            i = c[3]
            n = len(evs)
            nf = len(frontier)
            bound = frontier[1][0] if nf > 1 else inf
            if nf > 2 and frontier[2][0] < bound:
                bound = frontier[2][0]
            if si < nsamples and samples[si] < bound:
                bound = samples[si]
            ms = m_states.get(m)
            if ms is None and m != NO:
                ms = m_states[m] = [NO, NO]
            advanced = True
            while True:
                ev = evs[i]
                t, typ, a0, a1, a2, a3, off = ev
                if ms is None:
                    self.last_ts, self.total = last_ts, total
                    advanced = slow(ev, m, gen, g)
                    last_ts, total = self.last_ts, self.total
                elif typ == EV_START:
                    s = g_states.get(a0)
                    cg, cp = ms
                    if s is not None and s[0] == GO_RUNNABLE and s[1] == gen and a1 == s[2] + 1 and cp != NO and cg == NO and a0 < _I64:
                        s[0] = GO_RUNNING
                        s[2] = a1
                        ms[0] = a0
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                        ev_append(tnew(EventT, (last_ts, a0, NO, cp, m, S_RUNNABLE, S_RUNNING, "", last_stack.get(a0, ()), (), "GoStart")))
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_BLOCK or typ == EV_STOP:
                    cg, cp = ms
                    s = g_states.get(cg)
                    reason = strings.get(a0)
                    stack = stack_table.get(a1)
                    if s is not None and s[0] == GO_RUNNING and cp != NO and reason is not None and stack is not None:
                        ms[0] = NO
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                        last_stack[cg] = stack
                        if typ == EV_BLOCK:
                            s[0] = GO_WAITING
                            ev_append(tnew(EventT, (last_ts, cg, cg, cp, m, S_RUNNING, S_WAITING, reason, stack, stack, "GoBlock")))
                        else:
                            s[0] = GO_RUNNABLE
                            ev_append(tnew(EventT, (last_ts, cg, cg, cp, m, S_RUNNING, S_RUNNABLE, reason, stack, stack, "GoStop")))
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_UNBLOCK:
                    s = g_states.get(a0)
                    astack = stack_table.get(a2)
                    if s is not None and s[0] == GO_WAITING and s[1] == gen and a1 == s[2] + 1 and astack is not None:
                        s[0] = GO_RUNNABLE
                        s[2] = a1
                        cg, cp = ms
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                        ev_append(tnew(EventT, (last_ts, a0, cg, cp, m, S_WAITING, S_RUNNABLE, "", last_stack.get(a0, ()), astack, "GoUnblock")))
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_HEAPALLOC or typ == EV_HEAPGOAL:
                    if ms[1] != NO:
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_CREATE:
                    cg, cp = ms
                    s = g_states.get(cg)
                    nstack = stack_table.get(a1)
                    astack = stack_table.get(a2)
                    if (
                        cp != NO and (s is None or s[0] == GO_RUNNING) and a0 not in g_states
                        and nstack is not None and astack is not None
                    ):
                        g_states[a0] = [GO_RUNNABLE, gen, 0, [], []]
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                        last_stack[a0] = start_stack[a0] = nstack
                        ev_append(tnew(EventT, (last_ts, a0, cg, cp, m, S_NOT_EXIST, S_RUNNABLE, "", nstack, astack, "GoCreate")))
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_DESTROY:
                    cg, cp = ms
                    s = g_states.get(cg)
                    if s is not None and s[0] == GO_RUNNING and cp != NO:
                        del g_states[cg]
                        ms[0] = NO
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                        stack = start_stack.pop(cg, ())
                        prev = last_stack.pop(cg, ())
                        if not stack and prev:
                            stack = (prev[-1],)
                        ev_append(tnew(EventT, (last_ts, cg, cg, cp, m, S_RUNNING, S_NOT_EXIST, "", stack, (), "GoDestroy")))
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_SYS_BEGIN:
                    cg, cp = ms
                    s = g_states.get(cg)
                    ps = p_states.get(cp)
                    stack = stack_table.get(a1)
                    if (
                        s is not None and s[0] == GO_RUNNING and ps is not None and ps[1] == gen
                        and a0 == ps[2] + 1 and stack is not None
                    ):
                        s[0] = GO_SYSCALL
                        ps[0] = P_SYSCALL
                        ps[2] = a0
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                        last_stack[cg] = stack
                        ev_append(tnew(EventT, (last_ts, cg, cg, cp, m, S_RUNNING, S_SYSCALL, "", stack, stack, "GoSyscallBegin")))
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_SYS_END:
                    cg, cp = ms
                    s = g_states.get(cg)
                    ps = p_states.get(cp)
                    if s is not None and s[0] == GO_SYSCALL and ps is not None and ps[0] == P_SYSCALL:
                        s[0] = GO_RUNNING
                        ps[0] = P_RUNNING
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                        ev_append(tnew(EventT, (last_ts, cg, cg, cp, m, S_SYSCALL, S_RUNNING, "", last_stack.get(cg, ()), (), "GoSyscallEnd")))
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_PSTART:
                    ps = p_states.get(a0)
                    if ps is not None and ps[0] == P_IDLE and ps[1] == gen and a1 == ps[2] + 1 and ms[1] == NO and a0 < _I64:
                        ps[0] = P_RUNNING
                        ps[2] = a1
                        ms[1] = a0
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                elif typ == EV_PSTOP:
                    ps = p_states.get(ms[1])
                    if ps is not None and (ps[0] == P_RUNNING or ps[0] == P_SYSCALL):
                        ps[0] = P_IDLE
                        ms[1] = NO
                        last_ts = t if t > last_ts else last_ts + 1
                        total += 1
                    else:
                        self.last_ts, self.total = last_ts, total
                        advanced = slow(ev, m, gen, g)
                        last_ts, total = self.last_ts, self.total
                else:
                    self.last_ts, self.total = last_ts, total
                    advanced = slow(ev, m, gen, g)
                    last_ts, total = self.last_ts, self.total
                if not advanced:
                    break
                i += 1
                if i == n:
                    if not self._next_batch(g, c):
                        _heap_remove(frontier, 0)
                        break
                    evs = c[2]
                    i = 0
                    n = len(evs)
                t = evs[i][0]
                if t > bound:
                    c[0] = t
                    c[3] = i
                    _sift_down(frontier, 0)
                    break
            if advanced:
                continue
            # The head thread cannot advance: try the others in timestamp order.
            # The frontier is sorted on each cursor's next event time, so the head's
            # must be that of the event it stopped at (it may have advanced since
            # its time was last stored; a stale time breaks ties unlike Go).
            c[0] = evs[i][0]
            c[3] = i
            self.last_ts, self.total = last_ts, total
            sort_func(frontier, _cursor_time)
            for k in range(1, len(frontier)):
                c = frontier[k]
                if slow(c[2][c[3]], c[1], gen, g):
                    self._refresh(g, frontier, k)
                    break
            else:
                c = frontier[0]
                raise TraceError(
                    f"broken trace: no thread's next event can advance in generation {gen} "
                    f"(thread {c[1]} is at {W.EVENT_NAMES.get(c[2][c[3]][1], '?')})",
                    c[2][c[3]][6],
                )
            last_ts, total = self.last_ts, self.total
        self.last_ts, self.total = last_ts, total
        if self.stop is not None:
            self.check_stop()

    def order_generation_faithful(self, g: _Generation) -> None:
        """Merge the Ms of one generation exactly as Go's ``Reader.ReadEvent`` does,
        every event through the faithful handlers: the reference the fast path
        (:meth:`order_generation`) must agree with, event for event."""
        gen = g.gen
        self._emit_sync(int(g.freq * g.min_ts))
        frontier: list[list] = []
        for m in g.batch_ms:
            c = [0, m, [], 0, g.batches[m], 0]
            if self._next_batch(g, c):
                _heap_insert(frontier, c)
        if frontier and self.initial_gen == 0:
            self.initial_gen = gen
        samples = sorted(int(g.freq * t) for t in g.cpu_times)
        si = 0
        next_check = self.stop_checked + STOP_CHECK_EVERY if self.stop is not None else -1
        while frontier or si < len(samples):
            if next_check >= 0 and len(self.events) >= next_check:
                if self.check_stop():
                    return
                next_check = len(self.events) + STOP_CHECK_EVERY
            if si < len(samples) and (not frontier or samples[si] < frontier[0][0]):
                self._emit_sync(samples[si])  # a CPU sample: a time fix-up and a count
                si += 1
                continue
            c = frontier[0]
            if self._slow(c[2][c[3]], c[1], gen, g):
                self._refresh(g, frontier, 0)
                continue
            sort_func(frontier, _cursor_time)
            for k in range(1, len(frontier)):
                c = frontier[k]
                if self._slow(c[2][c[3]], c[1], gen, g):
                    self._refresh(g, frontier, k)
                    break
            else:
                c = frontier[0]
                raise TraceError(
                    f"broken trace: no thread's next event can advance in generation {gen} "
                    f"(thread {c[1]} is at {W.EVENT_NAMES.get(c[2][c[3]][1], '?')})",
                    c[2][c[3]][6],
                )
        if self.stop is not None:
            self.check_stop()

    def _slow(self, ev: tuple, m: int, gen: int, g: _Generation) -> bool:
        """Advance one event through the faithful handlers and emit what it queued."""
        if not self._advance(ev, m, gen, g):
            return False
        q = self.queue
        for raw in q:
            self._materialize(raw, g)
        q.clear()
        return True

    def _next_batch(self, g: _Generation, c: list) -> bool:
        """Load cursor ``c``'s next non-empty batch; False when it has none left."""
        batches = c[4]
        while c[5] < len(batches):
            evs = self.decode_batch(g, batches[c[5]])
            c[5] += 1
            if evs:
                c[0] = evs[0][0]
                c[2] = evs
                c[3] = 0
                return True
        return False

    def _refresh(self, g: _Generation, frontier: list[list], i: int) -> None:
        """Move cursor ``i`` past the event it just advanced (Go's tryAdvance)."""
        c = frontier[i]
        c[3] += 1
        if c[3] < len(c[2]):
            c[0] = c[2][c[3]][0]
            _heap_update(frontier, i)
        elif self._next_batch(g, c):
            _heap_update(frontier, i)
        else:
            _heap_remove(frontier, i)

    # ------------------------------------------------------------------ output
    def _fix_time(self, t: int) -> int:
        if t <= self.last_ts:
            t = self.last_ts + 1
        self.last_ts = t
        return t

    def _emit_sync(self, t: int) -> None:
        self._fix_time(t)
        self.total += 1

    def _materialize(self, raw: tuple, g: _Generation) -> None:
        typ, t, cm, cp, cg, a0, a1, a2, a3, off = raw
        # validateTableIDs
        if _STACK_ARGS[typ] or _STRING_ARGS[typ]:
            args = (a0, a1, a2, a3)
            for i in _STACK_ARGS[typ]:
                if args[i] not in g.stack_table:
                    raise TraceError(f"found invalid stack ID {args[i]} for event {W.EVENT_NAMES[typ]}", off)
            for i in _STRING_ARGS[typ]:
                if args[i] not in g.strings:
                    raise TraceError(f"found invalid string ID {args[i]} for event {W.EVENT_NAMES[typ]}", off)
        t = self._fix_time(t)
        self.total += 1
        st = g.stack_table
        S = GoState
        last_stack = self.last_stack
        reason = ""
        actor_stack: Stack = ()
        if typ == W.EvGoStart:
            gid, fr, to = a0, S.RUNNABLE, S.RUNNING
            stack = last_stack.get(gid, ())
        elif typ == W.EvGoBlock or typ == W.EvGoStop:
            gid, fr = cg, S.RUNNING
            to = S.WAITING if typ == W.EvGoBlock else S.RUNNABLE
            reason = g.strings[a0]
            stack = actor_stack = st[a1]
            last_stack[gid] = stack
        elif typ == W.EvGoUnblock or typ == W.EvGoSwitch or typ == W.EvGoSwitchDestroy:
            gid, fr, to = a0, S.WAITING, S.RUNNABLE
            stack = last_stack.get(gid, ())
            if typ == W.EvGoUnblock:
                actor_stack = st[a2]
        elif typ == W.EvGoCreate or typ == W.EvGoCreateBlocked:
            gid, fr = a0, S.NOT_EXIST
            to = S.RUNNABLE if typ == W.EvGoCreate else S.WAITING
            stack = st[a1]
            actor_stack = st[a2]
            last_stack[gid] = stack
            self.start_stack[gid] = stack
        elif typ == W.EvGoDestroy or typ == W.EvGoDestroySyscall:
            gid, to = cg, S.NOT_EXIST
            fr = S.RUNNING if typ == W.EvGoDestroy else S.SYSCALL
            stack = self.start_stack.pop(gid, ())
            last = last_stack.pop(gid, ())
            if not stack and last:
                stack = (last[-1],)
        elif typ == W.EvGoSyscallBegin:
            gid, fr, to = cg, S.RUNNING, S.SYSCALL
            stack = actor_stack = st[a1]
            last_stack[gid] = stack
        elif typ == W.EvGoSyscallEnd or typ == W.EvGoSyscallEndBlocked:
            gid, fr = cg, S.SYSCALL
            to = S.RUNNING if typ == W.EvGoSyscallEnd else S.RUNNABLE
            stack = last_stack.get(gid, ())
        elif typ == W.EvGoStatus or typ == W.EvGoStatusStack:
            gid = a0
            fr = S(a2 >> 32)
            to = _GO_STATUS_TO_STATE[a2 & 0xFFFFFFFF]
            if typ == W.EvGoStatusStack and a3:
                stack = actor_stack = st[a3]
                last_stack[gid] = stack
            else:
                stack = last_stack.get(gid, ())
        elif typ == W.EvGoCreateSyscall:
            gid, fr, to = a0, S.NOT_EXIST, S.SYSCALL
            stack = ()
        elif typ == W.EvUserLog:
            self.logs.append(
                UserLog(len(self.events), t, cg, a0, g.strings[a1], g.strings[a2], st[a3], g.raw_strings.get(a2, b""))
            )
            return
        elif typ == W.EvProcsChange:
            if a0 > self.gomaxprocs:
                self.gomaxprocs = a0
            return
        elif typ == W.EvProcStatus:
            if a0 + 1 > self.procs_seen:
                self.procs_seen = a0 + 1
            return
        else:
            return
        self.events.append(
            Event(t, gid, cg, cp, cm, fr, to, reason, stack, actor_stack, W.EVENT_NAMES[typ])
        )

    # --------------------------------------------------------------- advancing
    def _advance(self, ev: tuple, m: int, gen: int, g: _Generation) -> bool:
        """ordering.Advance: try to advance ``ev`` from thread ``m``."""
        if self.initial_gen == 0:
            self.initial_gen = gen
        if m == NO:
            ms = None
            cp = cg = NO
        else:
            ms = self.m_states.get(m)
            if ms is None:
                ms = self.m_states[m] = [NO, NO]
            cg, cp = ms
        handler = _HANDLERS.get(ev[1])
        if handler is None:
            raise TraceError(f"bad event type found while ordering: {W.EVENT_NAMES.get(ev[1], ev[1])}", ev[6])
        r = handler(self, ev, m, cp, cg, gen, g)
        if r is None:
            return False
        if ms is not None:
            ms[1], ms[0] = r
        return True

    def _push(self, ev: tuple, m: int, p: int, g: int, typ: int | None = None, args: tuple | None = None) -> None:
        t, etyp, a0, a1, a2, a3, off = ev
        if typ is not None:
            etyp = typ
        if args is not None:
            a0, a1, a2, a3 = args
        self.queue.append((etyp, t, m, p, g, a0, a1, a2, a3, off))

    def _err(self, ev: tuple, msg: str) -> TraceError:
        return TraceError(f"{W.EVENT_NAMES.get(ev[1], ev[1])}: {msg}", ev[6])

    def _validate(self, ev: tuple, m: int, p: int, g: int, reqs: tuple[int, int, int]) -> None:
        rm, rp, rg = reqs
        if rm == _MUST and m == NO:
            raise self._err(ev, "expected a thread but didn't have one")
        if rp == _MUST and p == NO:
            raise self._err(ev, "expected a proc but didn't have one")
        if rp == _MUST_NOT and p != NO:
            raise self._err(ev, "expected no proc but had one")
        if rg == _MUST and g == NO:
            raise self._err(ev, "expected a goroutine but didn't have one")
        if rg == _MUST_NOT and g != NO:
            raise self._err(ev, "expected no goroutine but had one")

    # Procs -------------------------------------------------------------------
    def _proc_status(self, ev, m, cp, cg, gen, g):
        t, typ, pid, status, a2, a3, off = ev
        if status >= 5:
            raise self._err(ev, f"invalid status for proc {pid}: {status}")
        old = _PROC_STATUS_TO_STATE[status]
        s = self.p_states.get(pid)
        if s is not None:
            if status == W.ProcSyscallAbandoned and s[0] == W.ProcSyscall:
                old = _PROC_RUNNING
                ev = (t, typ, pid, W.ProcSyscall, a2, a3, off)
            elif status == W.ProcSyscallAbandoned and s[0] == W.ProcSyscallAbandoned:
                old = _PROC_IDLE
            elif s[0] != status:
                raise self._err(ev, f"inconsistent status for proc {pid}: old {s[0]} vs. new {status}")
            s[1], s[2] = gen, 0
        else:
            self.p_states[pid] = [status, gen, 0, []]
            old = _PROC_UNDETERMINED if gen == self.initial_gen else _PROC_NOT_EXIST
        new_p = cp
        if status == W.ProcRunning or status == W.ProcSyscall:
            new_p = _signed(pid)
        emit_m, emit_p, emit_g = m, cp, cg
        if status == W.ProcSyscallAbandoned and old == _PROC_RUNNING:
            found = False
            for mid, mst in self.m_states.items():
                if mst[1] == _signed(pid):
                    emit_m, emit_p, emit_g = mid, _signed(pid), mst[0]
                    found = True
            if not found:
                raise self._err(ev, f"failed to find sched context for proc {pid} that's about to be stolen")
        self._push(ev, emit_m, emit_p, emit_g)
        return new_p, cg

    def _proc_start(self, ev, m, cp, cg, gen, g):
        pid, seq = ev[2], ev[3]
        s = self.p_states.get(pid)
        if s is None or s[0] != W.ProcIdle or not (s[1] == gen and seq == s[2] + 1) or cp != NO:
            return None
        self._validate(ev, m, cp, cg, (_MUST, _MUST_NOT, _MAY))
        s[0] = W.ProcRunning
        s[1], s[2] = gen, seq
        self._push(ev, m, cp, cg)
        return _signed(pid), cg

    def _proc_stop(self, ev, m, cp, cg, gen, g):
        s = self.p_states.get(cp)
        if s is None:
            raise self._err(ev, f"event for proc ({cp}) that doesn't exist")
        if s[0] != W.ProcRunning and s[0] != W.ProcSyscall:
            raise self._err(ev, "event for proc that's not Running or Syscall")
        self._validate(ev, m, cp, cg, (_MUST, _MUST, _MAY))
        s[0] = W.ProcIdle
        self._push(ev, m, cp, cg)
        return NO, cg

    def _proc_steal(self, ev, m, cp, cg, gen, g):
        pid, seq, mid = ev[2], ev[3], _signed(ev[4])
        s = self.p_states.get(pid)
        if (
            s is None
            or (s[0] != W.ProcSyscall and s[0] != W.ProcSyscallAbandoned)
            or not (s[1] == gen and seq == s[2] + 1)
        ):
            return None
        self._validate(ev, m, cp, cg, (_MUST, _MAY, _MAY))
        old_status = s[0]
        s[0] = W.ProcIdle
        s[1], s[2] = gen, seq
        if old_status == W.ProcSyscallAbandoned:
            self._push(ev, m, cp, cg)
            return cp, cg
        if mid == m:
            if cp != _signed(pid):
                raise self._err(ev, f"tried to self-steal proc {pid} (thread {mid}), but got proc {cp} instead")
            self._push(ev, m, cp, cg)
            return NO, cg
        ms = self.m_states.get(mid)
        if ms is None:
            raise self._err(ev, f"stole proc from non-existent thread {mid}")
        if ms[1] != _signed(pid):
            raise self._err(ev, f"tried to steal proc {pid} from thread {mid}, but got proc {ms[1]} instead")
        ms[1] = NO
        self._push(ev, m, cp, cg)
        return cp, cg

    # Goroutines --------------------------------------------------------------
    def _go_status(self, ev, m, cp, cg, gen, g):
        t, typ, gid, mid_raw, status, a3, off = ev
        mid = _signed(mid_raw)
        if status >= 5:
            raise self._err(ev, f"invalid status for goroutine {gid}: {status}")
        old = int(_GO_STATUS_TO_STATE[status])
        s = self.g_states.get(gid)
        if s is not None:
            if s[0] != status:
                raise self._err(ev, f"inconsistent status for goroutine {gid}: old {s[0]} vs. new {status}")
            s[1], s[2] = gen, 0
        elif gen == self.initial_gen:
            self.g_states[gid] = [status, gen, 0, [], []]
            old = int(GoState.UNDETERMINED)
        else:
            raise self._err(ev, f"found goroutine status for new goroutine after the first generation: id={gid}")
        packed = (old << 32) | status
        new_g = cg
        emit_m, emit_g = m, cg
        if status == W.GoRunning:
            new_g = _signed(gid)
        elif status == W.GoSyscall:
            if mid == NO:
                raise self._err(ev, f"found goroutine {gid} in syscall without a thread")
            if mid == m:
                if gen != self.initial_gen and cg != _signed(gid):
                    raise self._err(ev, f"inconsistent thread for syscalling goroutine {gid}: thread has goroutine {cg}")
                new_g = _signed(gid)
            else:
                ms = self.m_states.get(mid)
                if ms is not None:
                    if ms[0] != _signed(gid):
                        raise self._err(
                            ev, f"inconsistent thread for syscalling goroutine {gid}: thread has goroutine {ms[0]}"
                        )
                    emit_g = ms[0]
                else:
                    self.m_states[mid] = [_signed(gid), NO]
                emit_m = mid
        self._push(ev, emit_m, cp, emit_g, args=(gid, mid_raw, packed, a3))
        return cp, new_g

    def _go_create(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, (_MUST, _MUST, _MAY))
        s = self.g_states.get(cg)
        if s is not None and s[0] != W.GoRunning:
            raise self._err(ev, "event for goroutine that's not Running")
        newg = ev[2]
        if newg in self.g_states:
            raise self._err(ev, f"tried to create goroutine ({newg}) that already exists")
        status = W.GoWaiting if ev[1] == W.EvGoCreateBlocked else W.GoRunnable
        self.g_states[newg] = [status, gen, 0, [], []]
        self._push(ev, m, cp, cg)
        return cp, cg

    def _go_stop_exec(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"event for goroutine ({cg}) that doesn't exist")
        if s[0] != W.GoRunning:
            raise self._err(ev, "event for goroutine that's not Running")
        typ = ev[1]
        if typ == W.EvGoDestroy:
            del self.g_states[cg]
        elif typ == W.EvGoStop:
            s[0] = W.GoRunnable
        else:
            s[0] = W.GoWaiting
        self._push(ev, m, cp, cg)
        return cp, NO

    def _go_start(self, ev, m, cp, cg, gen, g):
        gid, seq = ev[2], ev[3]
        s = self.g_states.get(gid)
        if s is None or s[0] != W.GoRunnable or not (s[1] == gen and seq == s[2] + 1):
            return None
        self._validate(ev, m, cp, cg, (_MUST, _MUST, _MUST_NOT))
        s[0] = W.GoRunning
        s[1], s[2] = gen, seq
        self._push(ev, m, cp, cg)
        return cp, _signed(gid)

    def _go_unblock(self, ev, m, cp, cg, gen, g):
        gid, seq = ev[2], ev[3]
        s = self.g_states.get(gid)
        if s is None or s[0] != W.GoWaiting or not (s[1] == gen and seq == s[2] + 1):
            return None
        s[0] = W.GoRunnable
        s[1], s[2] = gen, seq
        self._push(ev, m, cp, cg)
        return cp, cg

    def _go_switch(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        cur = self.g_states.get(cg)
        if cur is None:
            raise self._err(ev, f"event for goroutine ({cg}) that doesn't exist")
        if cur[0] != W.GoRunning:
            raise self._err(ev, "event for goroutine that's not Running")
        nextg, seq = ev[2], ev[3]
        nxt = self.g_states.get(nextg)
        if nxt is None or nxt[0] != W.GoWaiting or not (nxt[1] == gen and seq == nxt[2] + 1):
            return None
        self._push(ev, m, cp, cg)
        if ev[1] == W.EvGoSwitch:
            cur[0] = W.GoWaiting
            self._push(ev, m, cp, cg, typ=W.EvGoBlock, args=(0, 0, 0, 0))
        else:
            del self.g_states[cg]
            self._push(ev, m, cp, cg, typ=W.EvGoDestroy, args=(0, 0, 0, 0))
        nxt[0] = W.GoRunning
        nxt[1], nxt[2] = gen, seq
        self._push(ev, m, cp, NO, typ=W.EvGoStart, args=(nextg, ev[3], 0, 0))
        return cp, _signed(nextg)

    def _go_syscall_begin(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"event for goroutine ({cg}) that doesn't exist")
        if s[0] != W.GoRunning:
            raise self._err(ev, "event for goroutine that's not Running")
        s[0] = W.GoSyscall
        ps = self.p_states.get(cp)
        if ps is None:
            raise self._err(ev, f"uninitialized proc {cp}")
        ps[0] = W.ProcSyscall
        pseq = ev[2]
        if not (ps[1] == gen and pseq == ps[2] + 1):
            raise self._err(ev, f"can't make sequence: {ps[2]} (gen={ps[1]}) -> {pseq} (gen={gen})")
        ps[1], ps[2] = gen, pseq
        self._push(ev, m, cp, cg)
        return cp, cg

    def _go_syscall_end(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"event for goroutine ({cg}) that doesn't exist")
        if s[0] != W.GoSyscall:
            raise self._err(ev, "event for goroutine that's not in a syscall")
        s[0] = W.GoRunning
        ps = self.p_states.get(cp)
        if ps is None:
            raise self._err(ev, f"uninitialized proc {cp}")
        if ps[0] != W.ProcSyscall:
            raise self._err(ev, f"expected proc {cp} in state Syscall, but got {ps[0]} instead")
        ps[0] = W.ProcRunning
        self._push(ev, m, cp, cg)
        return cp, cg

    def _go_syscall_end_blocked(self, ev, m, cp, cg, gen, g):
        if cp != NO:
            ps = self.p_states.get(cp)
            if ps is None:
                raise self._err(ev, f"uninitialized proc {cp}")
            if ps[0] == W.ProcSyscall:
                return None
        self._validate(ev, m, cp, cg, (_MUST, _MAY, _MUST))
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"event for goroutine ({cg}) that doesn't exist")
        if s[0] != W.GoSyscall:
            raise self._err(ev, "event for goroutine that's not in a syscall")
        s[0] = W.GoRunnable
        self._push(ev, m, cp, cg)
        return cp, NO

    def _go_create_syscall(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, (_MUST, _MAY, _MUST_NOT))
        newg = ev[2]
        if newg in self.g_states:
            raise self._err(ev, f"tried to create goroutine ({newg}) in syscall that already exists")
        self.g_states[newg] = [W.GoSyscall, gen, 0, [], []]
        self._push(ev, m, cp, cg)
        return cp, _signed(newg)

    def _go_destroy_syscall(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, (_MUST, _MAY, _MUST))
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"event for goroutine ({cg}) that doesn't exist")
        if s[0] != W.GoSyscall:
            raise self._err(ev, "event for goroutine that's not in a syscall")
        del self.g_states[cg]
        new_p = cp
        if cp != NO:
            ps = self.p_states.get(cp)
            if ps is None:
                raise self._err(ev, f"found invalid proc {cp}")
            if ps[0] != W.ProcSyscall:
                raise self._err(ev, f"proc {cp} in unexpected state {ps[0]}")
            ps[0] = W.ProcSyscallAbandoned
            new_p = NO
            self._push(ev, m, cp, cg, typ=W.EvProcSteal, args=(cp, 0, 0, 0))
        self._push(ev, m, cp, cg)
        return new_p, NO

    # Annotations --------------------------------------------------------------
    def _user_task_begin(self, ev, m, cp, cg, gen, g):
        tid, parent, name_id = ev[2], ev[3], ev[4]
        if tid in self.active_tasks:
            raise self._err(ev, f"task ID conflict: {tid}")
        if parent == 0:
            parent = NO_TASK
        name = g.strings.get(name_id)
        if name is None:
            raise self._err(ev, f"invalid string ID {name_id}")
        self.active_tasks[tid] = (name, parent)
        self._validate(ev, m, cp, cg, _USER_GO)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _user_task_end(self, ev, m, cp, cg, gen, g):
        self.active_tasks.pop(ev[2], None)
        self._validate(ev, m, cp, cg, _USER_GO)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _user_region(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        tid, name_id = ev[2], ev[3]
        name = g.strings.get(name_id)
        if name is None:
            raise self._err(ev, f"invalid string ID {name_id}")
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"region event without known state for current goroutine {cg}")
        regions = s[4]
        if ev[1] == W.EvUserRegionBegin:
            regions.append((tid, name))
        elif regions:
            if regions[-1] != (tid, name):
                raise self._err(ev, f"misuse of region in goroutine {cg}: region end {name!r} does not match")
            regions.pop()
        self._push(ev, m, cp, cg)
        return cp, cg

    def _annotation(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _heap_metric(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, (_MUST, _MUST, _MAY))
        self._push(ev, m, cp, cg)
        return cp, cg

    def _alloc_free(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, (_MUST, _MAY, _MAY))
        self._push(ev, m, cp, cg)
        return cp, cg

    # GC ------------------------------------------------------------------------
    def _gc_active(self, ev, m, cp, cg, gen, g):
        seq = ev[2]
        if gen == self.initial_gen:
            if self.gc_state != _GC_UNDETERMINED:
                raise self._err(ev, "GCActive in the first generation isn't first GC event")
            self.gc_seq = seq
            self.gc_state = _GC_RUNNING
            self._push(ev, m, cp, cg)
            return cp, cg
        if seq != self.gc_seq + 1:
            return None
        if self.gc_state != _GC_RUNNING:
            raise self._err(ev, "encountered GCActive while GC was not in progress")
        self.gc_seq = seq
        self._validate(ev, m, cp, cg, _USER_GO)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _gc_begin(self, ev, m, cp, cg, gen, g):
        seq = ev[2]
        if self.gc_state == _GC_UNDETERMINED:
            self.gc_seq = seq
            self.gc_state = _GC_RUNNING
            self._push(ev, m, cp, cg)
            return cp, cg
        if seq != self.gc_seq + 1:
            return None
        if self.gc_state == _GC_RUNNING:
            raise self._err(ev, "encountered GCBegin while GC was already in progress")
        self.gc_seq = seq
        self.gc_state = _GC_RUNNING
        self._validate(ev, m, cp, cg, _USER_GO)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _gc_end(self, ev, m, cp, cg, gen, g):
        seq = ev[2]
        if seq != self.gc_seq + 1:
            return None
        if self.gc_state == _GC_NOT_RUNNING:
            raise self._err(ev, "encountered GCEnd when GC was not in progress")
        if self.gc_state == _GC_UNDETERMINED:
            raise self._err(ev, "encountered GCEnd when GC was in an undetermined state")
        self.gc_seq = seq
        self.gc_state = _GC_NOT_RUNNING
        self._validate(ev, m, cp, cg, _USER_GO)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _gc_sweep_begin(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, (_MUST, _MUST, _MAY))
        _begin_range(self, ev, self._p_state(ev, cp)[3], (W.EvGCSweepBegin, 0))
        self._push(ev, m, cp, cg)
        return cp, cg

    def _gc_sweep_active(self, ev, m, cp, cg, gen, g):
        ps = self.p_states.get(ev[2])
        if ps is None:
            raise self._err(ev, f"encountered GCSweepActive for unknown proc {ev[2]}")
        _active_range(self, ev, ps[3], (W.EvGCSweepBegin, 0), gen == self.initial_gen)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _gc_sweep_end(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, (_MUST, _MUST, _MAY))
        _end_range(self, ev, self._p_state(ev, cp)[3])
        self._push(ev, m, cp, cg)
        return cp, cg

    def _go_range_begin(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        desc = ev[2] if ev[1] == W.EvSTWBegin else 0
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"event without known state for current goroutine {cg}")
        _begin_range(self, ev, s[3], (ev[1], desc))
        self._push(ev, m, cp, cg)
        return cp, cg

    def _go_range_active(self, ev, m, cp, cg, gen, g):
        s = self.g_states.get(ev[2])
        if s is None:
            raise self._err(ev, f"uninitialized goroutine {ev[2]}")
        _active_range(self, ev, s[3], (W.EvGCMarkAssistBegin, 0), gen == self.initial_gen)
        self._push(ev, m, cp, cg)
        return cp, cg

    def _go_range_end(self, ev, m, cp, cg, gen, g):
        self._validate(ev, m, cp, cg, _USER_GO)
        s = self.g_states.get(cg)
        if s is None:
            raise self._err(ev, f"event without known state for current goroutine {cg}")
        desc = _end_range(self, ev, s[3])
        if ev[1] == W.EvSTWEnd:
            self._push(ev, m, cp, cg, args=(desc, ev[3], ev[4], ev[5]))
        else:
            self._push(ev, m, cp, cg)
        return cp, cg

    def _p_state(self, ev: tuple, p: int) -> list:
        ps = self.p_states.get(p)
        if ps is None:
            raise self._err(ev, f"uninitialized proc {p}")
        return ps


_MUST_NOT, _MAY, _MUST = 0, 1, 2
_USER_GO = (_MUST, _MUST, _MUST)


def _begin_range(r: _Reader, ev: tuple, in_flight: list, rtype: tuple[int, int]) -> None:
    if rtype in in_flight:
        raise r._err(ev, "discovered event already in-flight when starting the range")
    in_flight.append(rtype)


def _active_range(r: _Reader, ev: tuple, in_flight: list, rtype: tuple[int, int], initial: bool) -> None:
    if initial:
        if rtype in in_flight:
            raise r._err(ev, "found named active range already in first gen")
        in_flight.append(rtype)
    elif rtype not in in_flight:
        raise r._err(ev, "resource is missing active range")


def _end_range(r: _Reader, ev: tuple, in_flight: list) -> int:
    start = _START_EV[ev[1]]
    for i, (typ, desc) in enumerate(in_flight):
        if typ == start:
            in_flight[i] = in_flight[-1]
            in_flight.pop()
            return desc
    raise r._err(ev, "tried to end a range that is not in flight")


_HANDLERS: dict[int, Callable] = {
    W.EvProcsChange: _Reader._annotation,
    W.EvProcStart: _Reader._proc_start,
    W.EvProcStop: _Reader._proc_stop,
    W.EvProcSteal: _Reader._proc_steal,
    W.EvProcStatus: _Reader._proc_status,
    W.EvGoCreate: _Reader._go_create,
    W.EvGoCreateSyscall: _Reader._go_create_syscall,
    W.EvGoStart: _Reader._go_start,
    W.EvGoDestroy: _Reader._go_stop_exec,
    W.EvGoDestroySyscall: _Reader._go_destroy_syscall,
    W.EvGoStop: _Reader._go_stop_exec,
    W.EvGoBlock: _Reader._go_stop_exec,
    W.EvGoUnblock: _Reader._go_unblock,
    W.EvGoSyscallBegin: _Reader._go_syscall_begin,
    W.EvGoSyscallEnd: _Reader._go_syscall_end,
    W.EvGoSyscallEndBlocked: _Reader._go_syscall_end_blocked,
    W.EvGoStatus: _Reader._go_status,
    W.EvSTWBegin: _Reader._go_range_begin,
    W.EvSTWEnd: _Reader._go_range_end,
    W.EvGCActive: _Reader._gc_active,
    W.EvGCBegin: _Reader._gc_begin,
    W.EvGCEnd: _Reader._gc_end,
    W.EvGCSweepActive: _Reader._gc_sweep_active,
    W.EvGCSweepBegin: _Reader._gc_sweep_begin,
    W.EvGCSweepEnd: _Reader._gc_sweep_end,
    W.EvGCMarkAssistActive: _Reader._go_range_active,
    W.EvGCMarkAssistBegin: _Reader._go_range_begin,
    W.EvGCMarkAssistEnd: _Reader._go_range_end,
    W.EvHeapAlloc: _Reader._heap_metric,
    W.EvHeapGoal: _Reader._heap_metric,
    W.EvGoLabel: _Reader._annotation,
    W.EvUserTaskBegin: _Reader._user_task_begin,
    W.EvUserTaskEnd: _Reader._user_task_end,
    W.EvUserRegionBegin: _Reader._user_region,
    W.EvUserRegionEnd: _Reader._user_region,
    W.EvUserLog: _Reader._annotation,
    W.EvGoSwitch: _Reader._go_switch,
    W.EvGoSwitchDestroy: _Reader._go_switch,
    W.EvGoCreateBlocked: _Reader._go_create,
    W.EvGoStatusStack: _Reader._go_status,
}
for _t in range(W.EvSpan, W.MaxExperimentalEvent):
    _HANDLERS[_t] = _Reader._alloc_free


# ---------------------------------------------------------------- cursor heap
# Cursors are [time of next event, m, events, index]; the heap functions are Go's
# (batchcursor.go), so ties between threads break exactly as in Go.


def _cursor_time(c: list) -> int:
    return c[0]


def _heap_insert(heap: list[list], c: list) -> None:
    heap.append(c)
    _sift_up(heap, len(heap) - 1)


def _heap_update(heap: list[list], i: int) -> None:
    if _sift_up(heap, i) != i:
        return
    _sift_down(heap, i)


def _heap_remove(heap: list[list], i: int) -> None:
    while i > 0:
        parent = (i - 1) // 2
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    heap[0], heap[-1] = heap[-1], heap[0]
    heap.pop()
    _sift_down(heap, 0)


def _sift_up(heap: list[list], i: int) -> int:
    while i > 0:
        parent = (i - 1) // 2
        if not heap[parent][0] > heap[i][0]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return i


def _sift_down(heap: list[list], i: int) -> int:
    n = len(heap)
    while True:
        m = i
        min_t = heap[i][0] if i < n else None
        left = 2 * i + 1
        if left < n and (min_t is None or heap[left][0] < min_t):
            m, min_t = left, heap[left][0]
        right = left + 1
        if right < n and (min_t is None or heap[right][0] < min_t):
            m = right
        if m == i:
            return i
        heap[i], heap[m] = heap[m], heap[i]
        i = m


# --------------------------------------------------------------------- public
def read_trace(
    source: str | os.PathLike[str] | bytes,
    *,
    strict: bool = False,
    fast: bool = True,
    stop: StopRule | None = None,
) -> Trace:
    """Read a Go execution trace from a path or from bytes.

    A trace cut short (the process was killed while tracing) keeps every complete
    generation; a :class:`TruncatedTraceWarning` says where it stopped (with
    ``strict=True`` that raises :class:`TraceError` instead). Anything else wrong
    raises :class:`TraceError` carrying the byte offset.

    ``fast=False`` orders every event through the faithful port of Go's handlers
    instead of the inlined fast path: same result, about twice as slow; it exists
    to check the fast path.

    ``stop`` reads only as far as a caller needs: it is called as events are
    ordered (every ``STOP_CHECK_EVERY`` events and at the end of each generation)
    with the events so far and the index of the first one it has not seen; when it
    returns True, reading ends there. The trace then holds the events ordered so
    far, at least up to the one that made it stop (how many more depends on where
    the check fell), and nothing after is decoded: no warning about a truncated
    generation it did not reach. The rule itself knows it stopped the read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        buf, path = bytes(source), None
    else:
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                buf = f.read()
        except OSError as exc:
            raise TraceError(f"cannot read trace file: {exc.strerror or exc}", 0, path) from None
    with gc_paused():
        try:
            return _read(buf, path, strict, fast, stop)
        except TraceError as exc:
            raise exc.with_path(path) from None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic GC off for the block. A trace is hundreds of thousands of tuples
    and no reference cycles: the GC would only rescan them over and over (about 30 % of
    the time of reading, and a third of the leak view's analysis after it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read(buf: bytes, path: str | None, strict: bool, fast: bool = True, stop: StopRule | None = None) -> Trace:
    r = _Reader(buf, path)
    r.stop = stop
    order = r.order_generation if fast else r.order_generation_faithful
    r.read_header()
    pos = W.HEADER_LEN
    generations = 0
    warning_list: list[str] = []
    truncated_at: int | None = None
    if r.version >= 26:
        while True:
            if r.at_header(pos):
                r.appended_at = pos
                break
            try:
                g, pos = r.read_generation(pos)
            except _Truncated as t:
                truncated_at = t.offset
                break
            if g is None:
                break
            order(g)
            generations += 1
            if r.stopped:
                break
    elif r.at_header(pos):
        r.appended_at = pos
    elif pos < len(buf):
        # Go 1.22-1.25: generations end where the next one's first batch starts.
        spill: tuple | None = None
        kept_partial: bool | None = False
        while True:
            try:
                g, pos, spill, spill_err = r.read_generation_spill(pos, spill)
            except _Truncated as t:  # the generation's very first batch is cut short
                truncated_at = t.offset
                break
            if isinstance(spill_err, _Truncated) and spill_err.gen == g.gen + 1:
                order(g)  # complete; the next generation is the cut one
                generations += 1
                if not r.stopped:  # a stopped read never reached the cut
                    truncated_at = spill_err.offset
                    kept_partial = None
                break
            if isinstance(spill_err, _Truncated):
                # No end marker before Go 1.26: Go orders the generation cut short as
                # far as it goes. Keep it if it is consistent, else drop it whole.
                truncated_at = spill_err.offset
                saved = (len(r.events), len(r.logs), r.total, r.last_ts)
                try:
                    r._finish_generation(g)
                    order(g)
                    generations += 1
                    kept_partial = True
                except TraceError:
                    del r.events[saved[0] :], r.logs[saved[1] :]
                    r.total, r.last_ts = saved[2], saved[3]
                if r.stopped:  # stopped before the cut: nothing read was cut short
                    truncated_at = None
                break
            order(g)
            generations += 1
            if r.stopped:
                break
            if spill_err is not None:
                raise spill_err
            if spill is None:
                break
    if truncated_at is not None and r.version < 26:
        if kept_partial is None:
            what = f"it starts the next generation; kept the {generations} complete generation(s) before it"
        elif kept_partial:
            what = "its generation was read up to there, as Go does"
        else:
            what = f"its generation is incomplete and was dropped; kept the {generations} complete generation(s) before it"
        msg = (
            f"trace is truncated: the batch at byte offset {truncated_at} is cut short "
            f"(file has {len(buf)} bytes); {what} (go 1.{r.version} traces have no end-of-generation marker)"
        )
    elif truncated_at is not None:
        if generations:
            msg = (
                f"trace is truncated: the generation starting at byte offset {truncated_at} is incomplete "
                f"(file has {len(buf)} bytes); kept the {generations} complete generation(s) before it"
            )
        else:
            msg = (
                f"trace is truncated: its first generation, starting at byte offset {truncated_at}, is incomplete "
                f"(file has {len(buf)} bytes); no events could be kept"
            )
    if r.appended_at is not None and truncated_at is None:
        truncated_at = r.appended_at
        msg = (
            f"the file holds another trace from byte offset {truncated_at} on (the tracer was started "
            f"again and wrote to the same file); read the first one only ({generations} generation(s)), "
            "as Go does"
        )
    if generations == 0 and truncated_at is None:
        # Go accepts a bare header as an empty trace; it is a run that died before
        # the tracer flushed anything.
        truncated_at = pos
        msg = f"trace holds no events: the file ends after its header (byte offset {pos})"
    if truncated_at is not None:
        if strict:
            raise TraceError(msg, truncated_at)
        warning_list.append(msg)
        warnings.warn(TruncatedTraceWarning(f"{path}: {msg}" if path else msg), stacklevel=3)
    for note in r.notes:
        warning_list.append(note)
        warnings.warn(TraceWarning(f"{path}: {note}" if path else note), stacklevel=3)
    r._emit_sync(r.last_ts)  # Go's final Sync event
    return Trace(
        path=path,
        version=r.version,
        events=r.events,
        logs=r.logs,
        generations=generations,
        gomaxprocs=r.gomaxprocs or r.procs_seen,
        total_events=r.total,
        warnings=warning_list,
        truncated_at=truncated_at,
    )
