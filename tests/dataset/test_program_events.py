"""What counts as the program's events, on real runs: GoKer kernels (their leak-profile
call and the GC it runs are not the program's), a test kernel whose leak happens after
the test returned (in the sequence, the testing framework's goroutine not), canonical
actor ids, short runs, and bad input (corrupt Parquet, a read-only collection)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.collect import RunConfig, collect
from schedcast.corpus.goker import toolchain_goker_programs
from schedcast.corpus.program import builtin_programs, load_program
from schedcast.dataset import BuildOptions, DatasetError, build_dataset
from schedcast.dataset.build import paper_positions
from schedcast.dataset.extract import (
    KIND_INDEX,
    LEAK_PROFILE_FRAME,
    NOT_READ_AFTER_LEAK_PROFILE,
    EventRules,
    StopAtLeakProfile,
    extract_run,
)
from schedcast.trace import read_trace
from schedcast.trace.reader import STOP_CHECK_EVERY
from schedcast.trace.snapshot import is_user_frame, user_site

runner = CliRunner()
KERNELS = ("goker_grpc660", "goker_moby28462")
LATE_LEAK = """package late

import (
	"testing"
	"time"
)

// worker is still asleep when the test returns; then it starts a goroutine and
// both block forever on a channel nobody receives from.
func worker(ch chan int) {
	time.Sleep(30 * time.Millisecond)
	go func() { ch <- 2 }()
	ch <- 1
}

func TestLateLeak(t *testing.T) {
	ch := make(chan int)
	go worker(ch)
}
"""
SHORT_MAIN = """package main

// One creation, then main returns: 1 to 3 program events (create, maybe start and block).
func main() {
	go func() { select {} }()
}
"""


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("program-events")
    late = root / "src" / "late_leak"
    late.mkdir(parents=True)
    (late / "late_test.go").write_text(LATE_LEAK)
    short = root / "src" / "short_main"
    short.mkdir(parents=True)
    (short / "main.go").write_text(SHORT_MAIN)
    kernels = [p for p in toolchain_goker_programs() if p.id in KERNELS]
    assert len(kernels) == len(KERNELS)
    builtins = [p for p in builtin_programs() if p.id in ("leak_select_two", "ok_pipeline")]
    programs = kernels + builtins + [load_program(late), load_program(short)]
    out = root / "collection"
    collect(programs, out, RunConfig(runs=3), show_progress=False)
    return out


@pytest.fixture(scope="module")
def dataset(collection: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("program-events-dataset")
    build_dataset(collection, out, BuildOptions(workers=2))
    return out


def _runs(collection: Path, program_id: str) -> list[dict]:  # type: ignore[type-arg]
    runs = pl.read_parquet(collection / "runs.parquet").filter(pl.col("program_id") == program_id)
    return runs.sort("run_index").to_dicts()


def _runtime_frames_before_user_frame(stack) -> list[str]:  # type: ignore[no-untyped-def]
    frames = []
    for frame in stack:
        if is_user_frame(frame):
            break
        frames.append(frame.func)
    return frames


def _done_by_gc_or_profiler(stack) -> bool:  # type: ignore[no-untyped-def]
    return any(
        f == "runtime.GC" or f.startswith(("runtime.gc", "runtime.(*gc", "runtime/pprof."))
        for f in _runtime_frames_before_user_frame(stack)
    )


@pytest.mark.parametrize("kernel", KERNELS)
def test_goker_sequence_holds_no_leak_profile_work(collection: Path, dataset: Path, kernel: str) -> None:
    """The kept sequence is exactly the kernel's own transitions up to its leak-profile
    call: no event at the `WriteTo` line, none with runtime.GC or runtime/pprof frames
    between it and the user frame; the left-out events are counted, and the trace
    after the call is not read (said per run, not counted)."""
    ds_runs = pl.read_parquet(dataset / "runs.parquet").with_columns(pl.col("program_id").cast(pl.Utf8))
    events = pl.read_parquet(dataset / "events.parquet").with_columns(pl.col("site").cast(pl.Utf8))
    for run in _runs(collection, kernel):
        trace = read_trace(collection / run["trace_path"])
        lo, hi = trace.window()
        system = trace.system_goroutines()
        program = [ev for ev in trace.events[lo:hi] if ev.g not in system and ev.kind is not None]
        cut = next(i for i, ev in enumerate(program) if any(f.func == LEAK_PROFILE_FRAME for f in ev.stack))
        write_to_site = user_site(program[cut].stack)
        expected = [(KIND_INDEX[ev.kind], user_site(ev.stack) if ev.stack else "") for ev in program[:cut] if not _done_by_gc_or_profiler(ev.stack)]
        row = ds_runs.filter(pl.col("run_id") == run["run_id"]).row(0, named=True)
        mine = events.filter(pl.col("run_key") == row["run_key"]).sort("seq")
        got = list(zip(mine["kind"].to_list(), mine["site"].to_list()))
        assert got == expected
        assert write_to_site and write_to_site not in set(mine["site"].to_list())
        left_out = json.loads(row["left_out"])
        assert "after_leak_profile" not in left_out
        assert sum(left_out.values()) == cut - len(got)  # the runtime's work before the call
        assert row["not_read"] == NOT_READ_AFTER_LEAK_PROFILE
        assert len(program) - cut > 1  # the GC loop of the profile call was there, unread


@pytest.mark.parametrize("kernel", KERNELS)
def test_goker_read_stops_at_the_window_end_and_changes_nothing(collection: Path, kernel: str) -> None:
    """Reading a kernel's trace only up to its leak-profile call gives exactly what
    reading it whole gives, and decodes fewer events."""
    rules = EventRules.for_program("main", "goker")
    for run in _runs(collection, kernel):
        path = str(collection / run["trace_path"])
        rule = StopAtLeakProfile()
        part, whole = read_trace(path, stop=rule), read_trace(path)
        assert rule.stopped and len(part.events) <= len(whole.events)
        assert [(e.time, e.g, e.kind) for e in part.events] == [(e.time, e.g, e.kind) for e in whole.events[: len(part.events)]]
        # The rule is asked every STOP_CHECK_EVERY ordered events and at each generation's
        # end: a trace with more than that beyond its window is cut short.
        cut = next(i for i, ev in enumerate(whole.events) if any(f.func == LEAK_PROFILE_FRAME for f in ev.stack))
        if len(whole.events) - cut > 2 * STOP_CHECK_EVERY:
            assert len(part.events) < len(whole.events)
        assert extract_run(path, rules) == extract_run(path, rules, stop_early=False)
        assert extract_run(path, rules).not_read == NOT_READ_AFTER_LEAK_PROFILE


def test_test_kernel_keeps_the_leak_after_the_test_returned(collection: Path, dataset: Path) -> None:
    runs = _runs(collection, "late_leak")
    assert {o for r in runs for o in r["outcomes"]} == {"leak"}
    ds_runs = pl.read_parquet(dataset / "runs.parquet").with_columns(pl.col("program_id").cast(pl.Utf8))
    events = pl.read_parquet(dataset / "events.parquet").with_columns(
        pl.col("site").cast(pl.Utf8), pl.col("reason").cast(pl.Utf8)
    )
    for run in runs:
        trace = read_trace(collection / run["trace_path"])
        end = trace.program_end
        assert end is not None
        # In the raw trace, the leaking goroutines start and block after the test's end.
        late = [ev for ev in trace.events[end.index :] if ev.kind is not None and user_site(ev.stack).endswith(("late_test.go:12", "late_test.go:13"))]
        assert {ev.reason for ev in late if ev.kind.name == "GoBlock"} == {"chan send"}
        row = ds_runs.filter(pl.col("run_id") == run["run_id"]).row(0, named=True)
        mine = events.filter(pl.col("run_key") == row["run_key"]).sort("seq")
        blocks = mine.filter((pl.col("kind") == KIND_INDEX["GoBlock"]) & (pl.col("reason") == "chan send"))
        assert sorted(blocks["site"].to_list()) == ["prog/late_test.go:12", "prog/late_test.go:13"]
        creations = mine.filter(pl.col("kind") == KIND_INDEX["GoCreate"])
        assert "prog/late_test.go:12" in creations["site"].to_list()  # created after the test returned
        # The framework's goroutine 1 (testing.(*M).Run) is not in the sequence: every
        # event belongs to the test goroutine or to goroutines it started.
        assert json.loads(row["left_out"])["test_framework"] > 0
        assert set(mine["g"].to_list()) == {1, 2, 3}  # tRunner, worker, the late goroutine
        assert not any("testmain" in s for s in mine["site"].to_list())


def test_actor_of_the_main_goroutines_creations_is_its_id(dataset: Path) -> None:
    events = pl.read_parquet(dataset / "events.parquet")
    runs = pl.read_parquet(dataset / "runs.parquet").with_columns(pl.col("program_id").cast(pl.Utf8))
    mains = runs.filter(pl.col("program_id").is_in(["leak_select_two", "ok_pipeline", "short_main"]))["run_key"]
    creations = events.filter(pl.col("run_key").is_in(mains.implode()) & (pl.col("kind") == KIND_INDEX["GoCreate"]))
    assert creations.height >= 6
    # Main is the first goroutine seen (canonical id 1), as creator of the first goroutine.
    first = creations.sort(["run_key", "seq"]).group_by("run_key", maintain_order=True).first()
    assert (first["actor"] == 1).all() and (first["g"] == 2).all()
    assert (creations["actor"] > 0).all()


def test_creations_and_unblocks_name_the_actors_line(dataset: Path) -> None:
    """An event's site is its goroutine's (a new goroutine's start function, where an
    unblocked one waited); actor_site is the creator's go statement / the unblocker's
    line, and the replayed snapshot puts each goroutine at its own line."""
    from schedcast.dataset.access import DatasetView

    events = pl.read_parquet(dataset / "events.parquet")
    runs = pl.read_parquet(dataset / "runs.parquet").with_columns(pl.col("program_id").cast(pl.Utf8))
    keys = runs.filter(pl.col("program_id") == "leak_select_two")["run_key"]
    mine = events.filter(pl.col("run_key").is_in(keys.implode())).sort(["run_key", "seq"])
    creations = mine.filter(pl.col("kind") == KIND_INDEX["GoCreate"])
    assert creations.height == keys.len() >= 3
    # leak_select_two/main.go: `func worker(` on line 5, `go worker(...)` on line 20.
    assert set(zip(creations["site"], creations["actor_site"])) == {("prog/main.go:5", "prog/main.go:20")}
    unblocks = mine.filter((pl.col("kind") == KIND_INDEX["GoUnblock"]) & (pl.col("actor") > 0))
    for site, actor_site in zip(unblocks["site"], unblocks["actor_site"]):
        # main's send (21) wakes the worker's select (7), the worker wakes main's send or receive (21, 22)
        assert (site, actor_site) in {("prog/main.go:7", "prog/main.go:21"), ("prog/main.go:21", "prog/main.go:7"),
                                      ("prog/main.go:21", "prog/main.go:8"), ("prog/main.go:22", "prog/main.go:9")}, (site, actor_site)
    others = mine.filter(~pl.col("kind").is_in([KIND_INDEX["GoCreate"], KIND_INDEX["GoUnblock"]]))
    assert set(others["actor_site"].fill_null("").to_list()) == {""}
    view = DatasetView(dataset)
    first = creations.row(0, named=True)
    s = view.examples_at([first["run_key"]], [first["seq"] + 1]).structure
    where = {state.g: (state.status, state.site) for state in s.snapshot(0)}
    assert where[first["actor"]] == ("running", "prog/main.go:20")  # main, at its go statement
    assert where[first["g"]] == ("runnable", "prog/main.go:5")  # the worker, at its start function


def test_short_runs_have_no_duplicate_positions(dataset: Path) -> None:
    assert [paper_positions(n)[1].tolist() for n in (1, 2, 3, 4, 8)] == [[0], [0, 1], [0, 1, 2], [1, 2, 3], [2, 4, 6]]
    assert paper_positions(2)[0].tolist() == [25, 50]  # k = 1 named by 50 and 75 %: kept once, under 50 %
    runs = pl.read_parquet(dataset / "runs.parquet")
    assert runs["n_events"].min() < 4  # short runs are really there (short_main)
    examples = pl.read_parquet(dataset / "examples.parquet").filter(pl.col("protocol") == "paper")
    assert examples.select("run_key", "k").is_duplicated().sum() == 0
    groups = pl.read_parquet(dataset / "groups.parquet").filter(pl.col("grouping") == "paper")
    assert groups["n"].sum() == examples.height


def test_corrupt_parquet_is_one_clear_line(collection: Path, dataset: Path, tmp_path: Path) -> None:
    broken = tmp_path / "dataset"
    shutil.copytree(dataset, broken)
    (broken / "events.parquet").write_bytes(b"PAR1 this is not parquet")
    models = tmp_path / "models"
    assert runner.invoke(app, ["train", "baselines", str(dataset), "--out", str(models)]).exit_code == 0
    for args in (["train", "baselines", str(broken), "--out", str(tmp_path / "m2")], ["evaluate", str(broken), str(models)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "events.parquet: not a readable Parquet file" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    bad_collection = tmp_path / "collection"
    shutil.copytree(collection, bad_collection)
    (bad_collection / "runs.parquet").write_bytes(b"garbage")
    result = runner.invoke(app, ["dataset", "build", str(bad_collection), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 1 and "runs.parquet" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (bad_collection / "runs.parquet").read_bytes() == b"garbage"  # nothing overwritten


def _read_only(path: Path) -> None:
    if os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return
    # Root writes through file modes: a read-only bind mount is the real thing.
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)


def _writable(path: Path) -> None:
    if os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
        return
    subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_collection_can_be_read(collection: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ro"
    shutil.copytree(collection, copy)
    _read_only(copy)
    try:
        with pytest.raises(OSError):
            (copy / "probe").write_text("x")
        report = build_dataset(copy, tmp_path / "ds", BuildOptions(workers=1))
        assert report.runs_used == report.runs_total > 0
    finally:
        _writable(copy)
    # A pending (unmerged) run in a read-only collection: a clear refusal, not a crash.
    (copy / "pending" / "x.json").write_text("{}")
    _read_only(copy)
    try:
        with pytest.raises(DatasetError, match="read-only collection with runs not yet merged"):
            build_dataset(copy, tmp_path / "ds2", BuildOptions(workers=1))
    finally:
        _writable(copy)
    assert np.array_equal(
        pl.read_parquet(collection / "runs.parquet")["run_id"].to_numpy(), pl.read_parquet(copy / "runs.parquet")["run_id"].to_numpy()
    )
