"""The dataset built from real traced runs of the built-in programs."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schedcast.dataset import BuildOptions, DatasetError, build_dataset, group_distribution
from schedcast.dataset import schema as ds_schema
from schedcast.dataset.extract import KIND_INDEX, on_behalf_reason
from schedcast.dataset.splits import ProgramSplitInfo, SplitError, assign_splits, check_split_hygiene, program_families
from schedcast.dataset.stats import dataset_stats
from schedcast.trace import Trace, read_trace


@pytest.fixture(scope="module")
def dataset(builtin_dataset: Path) -> Path:
    return builtin_dataset


def _tables(root: Path) -> dict[str, pl.DataFrame]:
    return {n: pl.read_parquet(root / f"{n}.parquet") for n in ("programs", "runs", "events", "examples", "groups")}


def _program_kinds(trace: Trace, kind: str) -> list[int]:
    """The documented rule, written out plainly: the program goroutines' six-kind
    transitions from program-start to program-end (a test binary: to the trace's end,
    goroutine 1 left out), without the runtime's work on their behalf."""
    lo, hi = trace.window()
    system = trace.system_goroutines()
    if kind == "test":
        hi, system = len(trace.events), system | {1}
    return [
        KIND_INDEX[e.kind]
        for e in trace.events[lo:hi]
        if e.kind is not None and e.g not in system and on_behalf_reason(e.stack) is None
    ]


def test_labels_come_from_the_same_run(builtin_collection: tuple[Path, pa.Table], dataset: Path) -> None:
    """Each example's label is event k of its own run, re-derived from that run's raw trace."""
    collection, runs = builtin_collection
    t = _tables(dataset)
    trace_of = {r["run_id"]: r["trace_path"] for r in runs.to_pylist()}
    kind_of = dict(zip(t["programs"]["program_id"].to_list(), t["programs"]["kind"].cast(pl.Utf8).to_list()))
    kinds_by_run: dict[int, list[int]] = {}
    for run in t["runs"].filter(pl.col("status") == "ok").iter_rows(named=True):
        trace = read_trace(collection / trace_of[run["run_id"]])
        kinds_by_run[run["run_key"]] = _program_kinds(trace, kind_of[run["program_id"]])
        assert len(kinds_by_run[run["run_key"]]) == run["n_events"]
    examples = t["examples"].filter(pl.col("label") >= 0)
    assert examples.height > 100
    for ex in examples.iter_rows(named=True):
        assert ex["label"] == kinds_by_run[ex["run_key"]][ex["k"]]
    # And the events table agrees with the traces, position by position.
    joined = examples.join(t["events"], left_on=["run_key", "k"], right_on=["run_key", "seq"])
    assert joined.height == examples.height
    assert (joined["label"] == joined["kind"]).all() and (joined["label_g"] == joined["g"]).all()


def test_paper_depths_and_end_markers(dataset: Path) -> None:
    t = _tables(dataset)
    n_events = dict(zip(t["runs"]["run_key"].to_list(), t["runs"]["n_events"].to_list()))
    paper = t["examples"].filter(pl.col("protocol") == "paper")
    for ex in paper.iter_rows(named=True):
        assert ex["k"] == n_events[ex["run_key"]] * ex["depth_pct"] // 100
    ends = t["examples"].filter(pl.col("label") == -1)
    used = t["examples"]["run_key"].unique().to_list()
    assert sorted(ends["run_key"].to_list()) == sorted(used)  # one end-of-run marker per used run
    assert all(ex["k"] == n_events[ex["run_key"]] for ex in ends.iter_rows(named=True))
    assert (ends["state_group"] == -1).all()


def test_group_counts_match_their_examples(dataset: Path) -> None:
    t = _tables(dataset)
    groups = t["groups"]
    paper = t["examples"].filter(pl.col("protocol") == "paper")
    for g in groups.filter(pl.col("grouping") == "paper").iter_rows(named=True):
        labels = paper.filter(pl.col("paper_group") == g["group_id"])["label"].to_numpy()
        assert g["counts"] == np.bincount(labels, minlength=6).tolist()
        assert g["n"] == labels.size and np.isclose(sum(g["p_hat"]), 1.0)
    state_total = groups.filter(pl.col("grouping") == "state")["n"].sum()
    assert state_total == t["examples"].filter((pl.col("protocol") == "all") & (pl.col("label") >= 0)).height


def test_jeffreys_posterior_by_hand() -> None:
    d = group_distribution(np.array([3, 1, 0, 0, 0, 0]))
    # alpha = counts + 0.5 = (3.5, 1.5, .5, .5, .5, .5), total 7
    assert d.alpha == pytest.approx([3.5, 1.5, 0.5, 0.5, 0.5, 0.5])
    assert d.posterior_mean == pytest.approx([0.5, 1.5 / 7, 0.5 / 7, 0.5 / 7, 0.5 / 7, 0.5 / 7])
    assert d.p_hat == pytest.approx([0.75, 0.25, 0, 0, 0, 0])
    # entropy of (.75, .25) = .811278 bits
    assert d.entropy_bits == pytest.approx(0.8112781, abs=1e-6)
    # Beta(3.5, 3.5) is symmetric: its 95 % interval is symmetric around 0.5.
    assert d.ci_low[0] + d.ci_high[0] == pytest.approx(1.0)
    # The interval is the marginal of the Dirichlet: check against sampling it.
    draws = np.random.default_rng(0).dirichlet(d.alpha, size=200_000)
    assert np.quantile(draws, 0.025, axis=0) == pytest.approx(d.ci_low, abs=0.005)
    assert np.quantile(draws, 0.975, axis=0) == pytest.approx(d.ci_high, abs=0.005)
    with pytest.raises(ValueError):
        group_distribution(np.zeros(6))


def test_splits_hold_out_real_world_programs() -> None:
    progs = [
        ProgramSplitInfo("hand1", "h1", "handcrafted"),
        ProgramSplitInfo("gen1", "h2", "generated", template="pipeline", seed="0"),
        ProgramSplitInfo("etcd_1", "h4", "goker", bug_key="etcd#1"),
    ]
    splits = assign_splits(progs, validation_fraction=0.0)
    assert splits == {"hand1": "train", "gen1": "train", "etcd_1": "test"}
    same_source = [ProgramSplitInfo("a", "same", "handcrafted"), ProgramSplitInfo("b", "same", "goker")]
    with pytest.raises(SplitError, match="source:same"):
        check_split_hygiene(same_source, {"a": "train", "b": "test"})


def test_one_bug_is_tested_once_gobench_wins() -> None:
    progs = [
        ProgramSplitInfo("goker_etcd7492", "h1", "goker", bug_key="etcd#7492"),
        ProgramSplitInfo("gobench_etcd_7492", "h2", "gobench", bug_key="etcd#7492"),
        ProgramSplitInfo("goker_grpc660", "h3", "goker", bug_key="grpc#660"),
    ]
    splits = assign_splits(progs)
    assert splits == {"goker_etcd7492": "excluded", "gobench_etcd_7492": "test", "goker_grpc660": "test"}
    with pytest.raises(SplitError, match="tested more than once"):
        check_split_hygiene(progs, {**splits, "goker_etcd7492": "test"})


def test_twins_and_template_families_never_straddle_a_split() -> None:
    """Every hand-crafted twin pair and every generator template family lands on one
    side, whatever the validation fraction (the hash is of the family, not the program)."""
    from schedcast.corpus.generator import generate
    from schedcast.corpus.catalog import handcrafted_programs

    programs = handcrafted_programs() + generate(120, seed=3).programs
    infos = [
        ProgramSplitInfo(
            p.id, p.source_hash, p.origin, twin=p.extra.get("twin", ""), template=p.extra.get("template", ""),
            seed=p.extra.get("seed", ""),
        )
        for p in programs
    ]
    twins = [(p.id, p.extra["twin"]) for p in programs if p.extra.get("twin")]
    assert len(twins) >= 40
    templates: dict[str, set[str]] = {}
    for p in programs:
        if p.origin == "generated":
            templates.setdefault(p.extra["template"], set()).add(p.id)
    for fraction in (0.1, 0.3, 0.5, 0.7):
        splits = assign_splits(infos, validation_fraction=fraction)
        assert set(splits.values()) == {"train", "val"}, fraction  # both sides are used
        for a, b in twins:
            assert splits[a] == splits[b], (a, b, fraction)
        for template, ids in templates.items():
            assert len({splits[i] for i in ids}) == 1, (template, fraction)
    families = program_families(infos)
    assert families["buffered_results_leak"] == families["buffered_results_ok"]
    # The hygiene check refuses a family split in two.
    splits = assign_splits(infos, validation_fraction=0.5)
    a, b = twins[0]
    with pytest.raises(SplitError, match="families"):
        check_split_hygiene(infos, {**splits, a: "train", b: "val"})


def test_tables_read_with_duckdb_and_schema_is_checked(dataset: Path, tmp_path: Path) -> None:
    n = duckdb.connect().execute(f"select count(*) from '{dataset}/events.parquet'").fetchall()[0][0]
    assert n == pl.read_parquet(dataset / "events.parquet").height > 0
    bad = tmp_path / "events.parquet"
    table = pq.read_table(dataset / "events.parquet")
    pq.write_table(table.replace_schema_metadata({b"schedcast.dataset_schema_version": b"0"}), bad)
    with pytest.raises(ds_schema.SchemaError, match="schema version 0"):
        ds_schema.read(bad)


def test_stats_show_sharper_state_groups(dataset: Path) -> None:
    s = dataset_stats(dataset)
    assert set(s["kind_frequency_paper"]) <= {"train", "val", "test"}
    for freq in s["kind_frequency_paper"].values():
        assert sum(freq.values()) == pytest.approx(1.0)
    assert s["groupings"]["state"]["mean_entropy_bits"] <= s["groupings"]["paper"]["mean_entropy_bits"]


def test_bad_collections_are_reported_not_fatal(builtin_collection: tuple[Path, pa.Table], tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such collection"):
        build_dataset(tmp_path / "absent", tmp_path / "ds")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no runs"):
        build_dataset(tmp_path / "empty", tmp_path / "ds")
    # A copy of the collection with one trace corrupted and one deleted.
    src, runs = builtin_collection
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    paths = [r["trace_path"] for r in runs.to_pylist() if r["trace_path"] and r["outcomes"] == ["ok"]]
    (copy / paths[0]).write_bytes(b"go 1.26 trace\x00\x00\x00" + b"\xff" * 64)
    (copy / paths[1]).unlink()
    report = build_dataset(copy, tmp_path / "ds", BuildOptions(workers=1))
    assert report.skipped["unreadable"] >= 1 and report.skipped["trace_missing"] == 1
    assert report.skipped["build_error"] == 3
    reasons = {reason for _, reason, _ in report.skipped_runs}
    assert {"unreadable", "trace_missing", "build_error"} <= reasons
    assert report.runs_used > 0


def test_the_fsm_allows_every_real_next_event(dataset: Path) -> None:
    """The allowed-kind mask stored before each event always contains that event."""
    events = pl.read_parquet(dataset / "events.parquet")
    allowed = events["allowed"].to_numpy().astype(np.int64)
    kinds = events["kind"].to_numpy().astype(np.int64)
    assert events.height > 100
    assert np.all((allowed >> kinds) & 1)
    # And the mask is informative: not every kind is always allowed.
    assert np.mean(allowed == 0b111111) < 0.5


def test_model_examples_view(dataset: Path) -> None:
    from schedcast.dataset.access import DatasetView

    view = DatasetView(dataset)
    examples, rows = view.model_examples("train", "paper")
    assert len(examples) == rows.height > 0
    events = pl.read_parquet(dataset / "events.parquet")
    for i in range(0, len(examples), 7):
        run_key, k = rows["run_key"][i], rows["k"][i]
        expected = events.filter(pl.col("run_key") == run_key).sort("seq")["kind"].to_list()[:k]
        assert list(examples.history[i]) == expected
        assert examples.allowed is not None and examples.allowed[i, examples.labels[i]]


def test_allowed_mask_equals_the_scheduler_fsm(builtin_collection: tuple[Path, pa.Table]) -> None:
    """extract's O(1) mask gives exactly FSM.allowed_kinds at every position of real traces."""
    from schedcast.dataset.extract import extract_run
    from schedcast.trace.fsm import FSM
    from schedcast.trace.snapshot import Snapshot

    collection, runs = builtin_collection
    checked = 0
    for r in runs.to_pylist():
        if not r["trace_path"] or r["outcomes"] == ["crash"]:
            continue
        path = collection / r["trace_path"]
        extracted = extract_run(str(path))
        trace = read_trace(path)
        system = trace.system_goroutines()
        lo, hi = trace.window()
        fsm = FSM(max(1, trace.gomaxprocs))
        snap = Snapshot()
        masks = []
        for i, ev in enumerate(trace.events):
            if ev.g in system:
                continue
            if ev.kind is not None and lo <= i < hi and on_behalf_reason(ev.stack) is None:
                masks.append(sum(1 << KIND_INDEX[k] for k in fsm.allowed_kinds(snap)))
            snap.apply(ev)
        assert masks == extracted.allowed
        checked += len(masks)
    assert checked > 200


def _replayed_snapshot(
    kinds: list[int], gs: list[int], actors: list[int], reasons: list[str], sites: list[str], actor_sites: list[str],
    times: list[int] | None = None,
) -> tuple:
    """The goroutine snapshot after these events, one event at a time in plain Python:
    each goroutine's status after its last event (running if it was only seen acting),
    its block reason, the last site named for it: an event's site is its goroutine's,
    its actor_site (creates, unblocks) the actor's; and its start, the first site named
    for it (a GoCreate's site: its start function's line, the entry flag set). With
    times, also each entry's since: the earliest time of its goroutines' own last events
    (-1 when none made one)."""
    status_after = {0: 2, 1: 0, 2: 3, 3: 0, 4: 1, 5: 0}
    status: dict[int, int] = {}
    reason: dict[int, str] = {}
    site: dict[int, str] = {}
    start: dict[int, tuple[str, bool]] = {}
    events: dict[int, int] = {}
    when: dict[int, int] = {}
    for i, (kind, g, actor, r, s, a_s) in enumerate(zip(kinds, gs, actors, reasons, sites, actor_sites)):
        if actor > 0:
            status.setdefault(actor, 1)
            reason.setdefault(actor, "")
            if a_s:
                site[actor] = a_s
                start.setdefault(actor, (a_s, False))
        status[g] = status_after[kind]
        reason[g] = r
        events[g] = events.get(g, 0) + 1
        if times is not None:
            when[g] = times[i]
        if s:
            site[g] = s
            start.setdefault(g, (s, kind == 1))
    entries: dict[tuple[int, str, str, str, bool], int] = {}
    since: dict[tuple[int, str, str, str, bool], int] = {}
    for g, st in status.items():
        first = start.get(g, ("", False)) if st != 3 else ("", False)
        key = (st, reason[g] if st == 2 else "", site.get(g, "") if st != 3 else "", *first)
        entries[key] = entries.get(key, 0) + 1
        if g in when:
            since[key] = min(since[key], when[g]) if since.get(key, -1) >= 0 else when[g]
        else:
            since.setdefault(key, -1)
    last_g = gs[-1] if gs else None
    by_kind = [kinds.count(c) for c in range(6)]
    if times is None:
        return by_kind, events.get(last_g, 0), site.get(last_g, "") if last_g is not None else "", entries
    return by_kind, events.get(last_g, 0), site.get(last_g, "") if last_g is not None else "", entries, since


def test_stored_snapshots_equal_a_replay_of_the_events(dataset: Path) -> None:
    """snapshots.parquet holds, at every paper example, what replaying its prefix gives."""
    from schedcast.dataset.access import DatasetView

    snaps = pl.read_parquet(dataset / "snapshots.parquet")
    paper = pl.read_parquet(dataset / "examples.parquet").filter(pl.col("protocol") == "paper")
    assert sorted(zip(snaps["run_key"], snaps["k"])) == sorted(zip(paper["run_key"], paper["k"]))
    events = pl.read_parquet(dataset / "events.parquet").sort(["run_key", "seq"])
    by_run = events.partition_by("run_key", as_dict=True)
    view = DatasetView(dataset)
    structure = view.examples_at(snaps["run_key"].to_numpy(), snaps["k"].to_numpy()).structure
    checked = nonempty = 0
    for i, row in enumerate(snaps.iter_rows(named=True)):
        run = by_run[(row["run_key"],)].head(row["k"])
        want = _replayed_snapshot(
            run["kind"].to_list(), run["g"].to_list(), run["actor"].to_list(),
            [r or "" for r in run["reason"].to_list()], [s or "" for s in run["site"].to_list()],
            [s or "" for s in run["actor_site"].to_list()], run["time_ns"].to_list(),
        )
        got_since = {
            (st, r, s, f, e): t
            for st, r, s, f, e, t in zip(row["status"], row["reason"], row["site"], row["start_site"], row["start_entry"], row["since_ns"])
        }
        assert got_since == want[4], row
        want = want[:4]
        got_entries = {
            (st, r, s, f, e): c
            for st, r, s, f, e, c in zip(row["status"], row["reason"], row["site"], row["start_site"], row["start_entry"], row["count"])
        }
        assert (row["kinds_before"], row["last_g_events"], row["last_g_site"] or "", got_entries) == want, row
        # The view reads them back into the events' vocabularies, at the same positions.
        p = int(structure.stored_at[i])
        stored = structure.stored
        assert p >= 0 and stored.kinds_before[p].tolist() == row["kinds_before"]
        lo, hi = int(stored.offsets[p]), int(stored.offsets[p + 1])
        name = lambda code: structure.sites[code] if code >= 0 else ""  # noqa: E731
        back = {
            (int(st), structure.reasons[r] if r >= 0 else "", name(s), name(f), bool(e)): int(c)
            for st, r, s, f, e, c in zip(
                stored.status[lo:hi], stored.reason[lo:hi], stored.site[lo:hi], stored.start_site[lo:hi],
                stored.start_entry[lo:hi], stored.count[lo:hi],
            )
        }
        assert back == got_entries
        checked += 1
        nonempty += bool(got_entries)
    assert checked == paper.height and nonempty > checked // 2


def test_a_dataset_of_the_previous_format_asks_for_a_rebuild(dataset: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from schedcast.cli import app

    old = tmp_path / "old"
    old.mkdir()
    for name in ("programs", "runs", "events", "examples", "groups"):  # version 2 had no snapshots.parquet
        table = pq.read_table(dataset / f"{name}.parquet")
        pq.write_table(table.replace_schema_metadata({b"schedcast.dataset_schema_version": b"2"}), old / f"{name}.parquet")
    result = CliRunner().invoke(app, ["train", "structural", str(old), "--out", str(tmp_path / "models")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "schema version 2" in lines[0] and "rebuild the dataset" in lines[0], result.output
    assert not (tmp_path / "models" / "structural.json").exists()
