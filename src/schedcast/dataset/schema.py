"""The dataset's Parquet tables: schemas (versioned), writing and reading.

    programs.parquet  one row per program (split, sources, measured labels)
    runs.parquet      one row per run read (run_key is the join key)
    events.parquet    one row per event of every used run, stored once
    examples.parquet  (run_key, k) references into events: no prefix is copied
    groups.parquet    distribution groups: counts, p̂, Dirichlet posterior, intervals
    snapshots.parquet the goroutine snapshot at each paper-protocol example (dataset/snapshots.py)
    dataset.json      schema version, build options, build report

Strings that repeat (block reasons, code sites, protocol, split) are dictionary
encoded; everything is zstd-compressed. duckdb and polars read the files directly.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 6  # 3: snapshots.parquet; 4: events.actor_site (creators and unblockers stand at their own line); 5: snapshot starts; 6: snapshot since_ns
_META = {b"schedcast.dataset_schema_version": str(SCHEMA_VERSION).encode()}
_DICT = pa.dictionary(pa.int32(), pa.string())
_SIX_F = pa.list_(pa.float32(), 6)

PROGRAMS = pa.schema(
    [
        ("program_id", pa.string()),
        ("source_hash", pa.string()),
        ("origin", _DICT),
        ("kind", _DICT),
        ("pattern", _DICT),
        ("expected", pa.list_(pa.string())),
        ("description", pa.string()),
        ("split", _DICT),  # train | val | test | excluded
        ("family", pa.string()),  # twins and generator template+seed share one; splits never separate a family
        ("sources", pa.string()),  # JSON {file name: source}
        ("runs", pa.int32()),
        ("runs_used", pa.int32()),
        ("max_live_goroutines", pa.int32()),
        ("distinct_sequences", pa.int32()),  # distinct event-kind sequences over its runs
    ],
    metadata=_META,
)
RUNS = pa.schema(
    [
        ("run_key", pa.int32()),
        ("run_id", pa.string()),
        ("program_id", _DICT),
        ("run_index", pa.int32()),
        ("outcomes", pa.list_(pa.string())),
        ("gomaxprocs", pa.int16()),
        ("status", _DICT),  # ok | truncated | unreadable | no_events
        ("detail", pa.string()),
        ("n_events", pa.int32()),
        ("max_live_goroutines", pa.int32()),
        ("left_out", pa.string()),  # JSON {reason: program events left out} (docs/dataset.md)
        ("not_read", pa.string()),  # why the trace was not read past the window's end ("" = read whole)
    ],
    metadata=_META,
)
EVENTS = pa.schema(
    [
        ("run_key", pa.int32()),
        ("seq", pa.int32()),
        ("kind", pa.int8()),  # index into GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock
        ("g", pa.int32()),  # canonical goroutine id (first appearance in the run = 1)
        ("actor", pa.int32()),  # canonical id of the acting goroutine; 0 = not the program's
        ("reason", _DICT),
        ("site", _DICT),  # top user frame of the transitioning goroutine, file:line
        ("actor_site", _DICT),  # GoCreate / GoUnblock: the actor's top user frame (go statement, send, unlock...), else ""
        ("time_ns", pa.int64()),  # since the run's first event
        ("allowed", pa.uint8()),  # before this event: bit i set = the scheduler FSM allows kind i
        ("state_group", pa.int32()),  # abstract-state group of the position before this event (groups.parquet)
    ],
    metadata=_META,
)
EXAMPLES = pa.schema(
    [
        ("run_key", pa.int32()),
        ("k", pa.int32()),  # prefix length: events 0..k-1 are the prefix, event k the label
        ("protocol", _DICT),  # paper | all
        ("depth_pct", pa.int8()),  # 25 / 50 / 75 for the paper protocol, -1 otherwise
        ("label", pa.int8()),  # kind index of event k of the same run; -1: the run ended
        ("label_g", pa.int32()),
        ("split", _DICT),
        ("paper_group", pa.int32()),  # -1 outside the paper protocol
        ("state_group", pa.int32()),  # -1 when there is no next event
    ],
    metadata=_META,
)
GROUPS = pa.schema(
    [
        ("group_id", pa.int32()),  # unique within its grouping
        ("grouping", _DICT),  # paper | state
        ("program_id", pa.string()),
        ("key", pa.string()),
        ("n", pa.int32()),
        ("counts", pa.list_(pa.int32(), 6)),
        ("p_hat", _SIX_F),
        ("posterior_mean", _SIX_F),
        ("ci_low", _SIX_F),
        ("ci_high", _SIX_F),
        ("entropy_bits", pa.float32()),
    ],
    metadata=_META,
)


SNAPSHOTS = pa.schema(
    [
        ("run_key", pa.int32()),
        ("k", pa.int32()),  # the example's prefix length: the snapshot is before event k
        ("kinds_before", pa.list_(pa.int32(), 6)),  # prefix events per kind
        ("last_g_events", pa.int32()),  # prefix events of the last event's goroutine (0 at k = 0)
        ("last_g_site", _DICT),  # where that goroutine last was ("" = none)
        # The snapshot aggregated: one entry per distinct (status, block reason, site, start).
        ("status", pa.list_(pa.int8())),  # 0 runnable, 1 running, 2 blocked, 3 dead
        ("reason", pa.list_(pa.string())),  # blocked goroutines' reason, else ""
        ("site", pa.list_(pa.string())),  # "" = none (always for the dead)
        ("start_site", pa.list_(pa.string())),  # the first site named for the goroutine ("" = none; dataset/snapshots.py)
        ("start_entry", pa.list_(pa.bool_())),  # that start is its GoCreate's site (its start function's line)
        ("count", pa.list_(pa.int32())),
        ("since_ns", pa.list_(pa.int64())),  # the earliest last-event time of the entry's goroutines (a blocked one's block; -1: none)
    ],
    metadata=_META,
)


class SchemaError(ValueError):
    pass


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes files private; these are for sharing
    os.replace(tmp, path)


def write(path: Path, columns: dict[str, Any], schema: pa.Schema) -> None:
    """Columns are Python lists or ready Arrow arrays (chunked or not)."""
    arrays = []
    n = max((len(v) for v in columns.values()), default=0)
    for fld in schema:
        values = columns.get(fld.name, [])
        if len(values) != n:
            raise SchemaError(f"{path.name}: column {fld.name} has {len(values)} values, expected {n}")
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            arrays.append(values)
        elif pa.types.is_dictionary(fld.type):
            arrays.append(pa.array(values, type=pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(values, type=fld.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd", compression_level=9, use_dictionary=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path) -> pa.Table:
    if not path.exists():
        raise SchemaError(f"{path}: missing (build the dataset with `schedcast dataset build`)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchemaError(
            f"{path}: not a readable Parquet file ({first}); rebuild the dataset with `schedcast dataset build`"
        ) from exc
    version = (table.schema.metadata or {}).get(b"schedcast.dataset_schema_version", b"?").decode()
    if version != str(SCHEMA_VERSION):
        raise SchemaError(
            f"{path}: dataset schema version {version}, this schedcast reads {SCHEMA_VERSION}; "
            "rebuild the dataset with `schedcast dataset build`"
        )
    return table


def string_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes (int64, -1 for null or "") and the vocabulary of a string column
    (dictionary-encoded or not)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    vocab = tuple(str(v) if v is not None else "" for v in column.dictionary.to_pylist())
    codes = column.indices.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    empty = [i for i, v in enumerate(vocab) if v == ""]
    if empty:
        codes = np.where(np.isin(codes, empty), -1, codes)
    return codes, vocab


def shared_string_codes(
    a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Codes of two string columns in one vocabulary (a's, then b's new names)."""
    codes_a, vocab_a = string_codes(a)
    codes_b, vocab_b = string_codes(b)
    vocab = list(vocab_a)
    index = {v: i for i, v in enumerate(vocab)}
    for v in vocab_b:
        if v and v not in index:
            index[v] = len(vocab)
            vocab.append(v)
    lookup = np.array([index[v] if v else -1 for v in vocab_b] + [-1], dtype=np.int64)
    return codes_a, lookup[codes_b] if codes_b.size else codes_b, tuple(vocab)
