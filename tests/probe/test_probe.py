"""The multi-step coherence probe on real runs: a hand-made program whose continuations
are known exactly, the FSM catching invalid moves, constrained rollouts replayed
through the trace FSM, real runs against themselves, bad input."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.collect import RunConfig, collect
from schedcast.corpus.program import load_program
from schedcast.dataset import BuildOptions, build_dataset
from schedcast.dataset.access import DatasetView
from schedcast.models import Examples, NgramPredictor, Predictor, UniformPredictor
from schedcast.models.base import N_KINDS
from schedcast.models.trajectory import training_positions
from schedcast.probe import KIND_ONLY_RULE, MovePredictor, ProbeError, SchedState, probe, replay_through_fsm, select_prefixes
from schedcast.probe.probe import _Continuations, real_noise_floor

runner = CliRunner()
PINGPONG = Path(__file__).parent / "programs" / "pingpong"
# GoCreate G2, then (GoBlock, GoStart, GoUnblock) eight times, goroutines alternating.
KNOWN_KINDS = [1] + [0, 4, 5] * 8
KNOWN_GS = [2] + [1, 2, 1, 2, 1, 2] * 4


@pytest.fixture(scope="module")
def pingpong_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ping-pong program, 4 real runs at GOMAXPROCS=1 (every run the same)."""
    out = tmp_path_factory.mktemp("pingpong")
    collect([load_program(PINGPONG)], out / "collection", RunConfig(runs=4, gomaxprocs=1, race=False), show_progress=False)
    build_dataset(out / "collection", out / "dataset", BuildOptions(workers=1, validation_fraction=0.0))
    return out / "dataset"


class ReplayOracle(Predictor):
    """Knows the program's one interleaving: after m events it names event m."""

    name: ClassVar[str] = "replay_oracle"

    def fit(self, train: Examples) -> "ReplayOracle":
        return self

    def predict_proba(self, examples: Examples) -> np.ndarray:
        out = np.zeros((len(examples), N_KINDS))
        for i, h in enumerate(examples.history):
            out[i, KNOWN_KINDS[len(h)]] = 1.0
        return out

    def predict_moves(self, examples: Examples) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.array([[KNOWN_GS[len(h)], KNOWN_KINDS[len(h)]]]), np.array([1.0])) for h in examples.history]


class AlwaysStartMain(Predictor):
    """Deliberately wrong: always starts goroutine 1, whatever its state."""

    name: ClassVar[str] = "always_start_g1"

    def fit(self, train: Examples) -> "AlwaysStartMain":
        return self

    def predict_proba(self, examples: Examples) -> np.ndarray:
        return np.tile(np.eye(N_KINDS)[4], (len(examples), 1))

    def predict_moves(self, examples: Examples) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.array([[1, 4]]), np.array([1.0])) for _ in examples.history]


class NamesNothing(AlwaysStartMain):
    name: ClassVar[str] = "names_nothing"

    def predict_moves(self, examples: Examples) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.zeros((0, 2), dtype=np.int64), np.zeros(0)) for _ in examples.history]


def _prefix_arrays(view: DatasetView, run_key: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    run = view.examples_at(np.array([run_key]), np.array([k])).structure.runs[run_key]
    return run.kind[:k], run.g[:k], run.actor[:k]


def test_rollouts_on_a_program_whose_continuations_are_known(pingpong_dataset: Path) -> None:
    view = DatasetView(pingpong_dataset)
    for r in view.runs["run_key"].to_list():
        kinds, gs = view.run_events(r)
        assert kinds.tolist() == KNOWN_KINDS and gs.tolist() == KNOWN_GS  # the premise: one interleaving
    horizon = 7  # the 75 % prefix (k = 18 of 25) has exactly 7 events left
    keys, ks = training_positions(view, "train")
    ngram = NgramPredictor(order=4).fit(view.examples_at(keys, ks))  # every position: it learns the cycle
    result = probe([ReplayOracle(), ngram], view, "train", horizon, samples=3, runs_per_program=None)
    assert result.prefixes == 12 and sorted({p.k for p in result.prefix_rows}) == [6, 12, 18]
    oracle = {r.mode: r for r in result.results if r.model == "replay_oracle"}
    for mode in ("free", "constrained"):
        r = oracle[mode]
        assert r.goroutine_rule == "predict_moves"
        assert (r.survival == horizon).all() and not r.violations and r.fallback_steps == 0
        # Its rollouts are the real continuation, and the fidelity at every step is exact.
        np.testing.assert_allclose(r.tv, 0.0, atol=1e-12)
        for i, moves in enumerate(r.moves):
            k = result.prefix_rows[i // 3].k
            assert moves == list(zip(KNOWN_GS[k : k + horizon], KNOWN_KINDS[k : k + horizon]))
    # The real continuations from each prefix's state: every run passes there and goes on the same way.
    continuations = _Continuations(view, {result.prefix_rows[0].program}, horizon, {p.state_group for p in result.prefix_rows})
    for p in result.prefix_rows:
        dist, count = continuations.distribution(p.state_group)
        assert (count > 0).all()
        for step in range(horizon):
            # The state (recent events + live goroutines) recurs each round: a continuation
            # from an earlier round may be cut by the run's end, never changed.
            assert dist[step, KNOWN_KINDS[p.k + step]] == pytest.approx(1.0)
    # The n-gram has learnt the cycle, and the kind-only rule has one goroutine to choose
    # each time (GOMAXPROCS=1): it follows the real continuation too, up to its smoothing.
    for r in result.results:
        if r.model == "ngram":
            assert r.goroutine_rule == KIND_ONLY_RULE
            assert (r.survival == horizon).all() and np.nanmax(r.tv) < 0.1


def test_the_fsm_catches_a_deliberately_invalid_move(pingpong_dataset: Path) -> None:
    view = DatasetView(pingpong_dataset)
    run_key = view.runs["run_key"][0]
    kind, g, actor = _prefix_arrays(view, run_key, 6)  # after 6 events G1 is running, G2 blocked
    state = SchedState(gomaxprocs=1)
    state.replay(kind, g, actor)
    assert state.status == {1: "running", 2: "blocked"} and state.inconsistent == 0
    assert state.check(1, 4) is not None  # GoStart of a running goroutine
    assert state.check(2, 4) is not None  # GoStart of a blocked goroutine
    assert state.check(2, 2) is not None  # GoEnd of a blocked goroutine
    assert state.check(7, 0) is not None  # a goroutine nobody has seen
    assert state.check(1, 0) is None and state.check(2, 5) is None  # GoBlock G1, GoUnblock G2 are fine
    # The trace FSM itself refuses the same moves, and accepts the real continuation.
    assert replay_through_fsm(kind, g, actor, [(2, 4)], 1) == (0, "G2 is blocked, not runnable")
    assert replay_through_fsm(kind, g, actor, [(1, 0), (2, 5), (2, 4), (1, 4)], 1)[0] == 3
    assert replay_through_fsm(kind, g, actor, list(zip(KNOWN_GS[6:], KNOWN_KINDS[6:])), 1) == (19, None)
    # In a rollout: free mode stops at the first step, constrained mode never lets it through.
    result = probe([AlwaysStartMain(), NamesNothing()], view, "train", horizon=5, samples=2, runs_per_program=1)
    free = next(r for r in result.results if r.model == "always_start_g1" and r.mode == "free")
    assert (free.survival == 0).all() and sum(free.violations.values()) == free.survival.size
    assert any(k.startswith("GoStart: goroutine") for k in free.violations)
    constrained = next(r for r in result.results if r.model == "always_start_g1" and r.mode == "constrained")
    assert (constrained.survival == 5).all() and constrained.fallback_steps > 0
    nothing = next(r for r in result.results if r.model == "names_nothing" and r.mode == "free")
    assert nothing.violations == {"no move named": nothing.survival.size}


def _probe_models(view: DatasetView) -> list[Predictor]:
    train, _ = view.model_examples("train")
    return [UniformPredictor().fit(train), NgramPredictor(order=3).fit(train)]


def test_constrained_rollouts_replay_through_the_fsm(builtin_dataset: Path) -> None:
    view = DatasetView(builtin_dataset)
    models = _probe_models(view)
    result = probe(models, view, "train", horizon=15, samples=2, runs_per_program=2, seed=1)
    assert result.prefixes > 20
    by_run: dict[int, int] = {}
    for p in result.prefix_rows:
        by_run[p.run_key] = max(by_run.get(p.run_key, 0), p.k)
    gomaxprocs = dict(zip(view.runs["run_key"].to_list(), view.runs["gomaxprocs"].to_list()))
    checked = 0
    for r in result.results:
        assert r.goroutine_rule == KIND_ONLY_RULE
        for i, moves in enumerate(r.moves):
            p = result.prefix_rows[i // 2]
            assert len(moves) == r.survival[i]
            if r.mode != "constrained":
                continue
            assert len(moves) == 15
            kind, g, actor = _prefix_arrays(view, p.run_key, p.k)
            if p.state.inconsistent:
                continue  # the prefix itself breaks the rules from the six-kind state (counted by the probe)
            assert replay_through_fsm(kind, g, actor, moves, gomaxprocs[p.run_key]) == (15, None)
            checked += 1
        if r.mode == "free":
            # Free survival is what it is; every rollout that stopped early names why.
            assert sum(r.violations.values()) == int(np.sum(r.survival < 15))
    assert checked > 20


def test_fidelity_of_real_runs_against_themselves_is_zero(builtin_dataset: Path) -> None:
    view = DatasetView(builtin_dataset)
    prefixes = select_prefixes(view, "train", runs_per_program=None)
    continuations = _Continuations(view, {p.program for p in prefixes}, 15, {p.state_group for p in prefixes})
    few = real_noise_floor(prefixes, continuations, 15, samples=3, seed=0)
    many = real_noise_floor(prefixes, continuations, 15, samples=2000, seed=0)
    assert np.nanmax(many) < 0.05  # a perfect simulator: ~0, up to sampling noise
    assert np.nanmean(few) > np.nanmean(many)  # and the noise floor of three samples is printed beside the models


def test_probe_cli_tables_and_bad_input(builtin_dataset: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert runner.invoke(app, ["train", "baselines", str(builtin_dataset), "--out", str(models)]).exit_code == 0
    out = tmp_path / "probe"
    result = runner.invoke(app, ["probe", str(builtin_dataset), str(models / "ngram.json"), str(models / "prior.json"), "--split", "train", "-H", "6", "--out", str(out), "--markdown", str(tmp_path / "probe.md")])
    assert result.exit_code == 0, result.output
    assert "goroutine uniform among those the FSM allows" in result.output  # the documented fallback is named
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert {(r["model"], r["mode"]) for r in summary} == {(m, mode) for m in ("ngram", "prior") for mode in ("free", "constrained")}
    curves = list(csv.DictReader(open(out / "curves.csv")))
    assert {int(r["k"]) for r in curves} == set(range(1, 7))
    assert all(int(r["real_continuations"]) >= int(r["tv_prefixes"]) for r in curves if r["mode"] != "reference")
    assert (out / "survival.csv").is_file() and (out / "entropy_by_class.csv").is_file() and (out / "probe.json").is_file()
    page = (tmp_path / "probe.md").read_text()
    assert "## Multi-step coherence probe" in page and "schedcast probe" in page and "| 6 |" in page

    def one_line(args: list[str], text: str) -> None:
        res = runner.invoke(app, ["probe", *args])
        assert res.exit_code != 0 and text in res.output and "Traceback" not in res.output, res.output

    one_line([str(builtin_dataset), str(models), "--split", "test"], "no test (held-out) examples")
    one_line([str(builtin_dataset), str(models), "--split", "validation"], "unknown split 'validation': the splits are train, val, test")
    one_line([str(builtin_dataset), str(models), "--split", "train", "-H", "51"], "--horizon must be between 1 and 50")
    one_line([str(builtin_dataset), str(tmp_path / "nothing")], "no such model file or directory")
    one_line([str(tmp_path), str(models)], "missing")
    one_line([str(builtin_dataset), str(models), "--split", "train", "--mode", "greedy"], "unknown mode 'greedy'")


def test_mean_tv_over_prefix_rows_by_hand() -> None:
    from schedcast.probe.probe import mean_tv_over

    nan = np.nan
    tv = np.array([[0.2, 0.4, nan], [0.4, nan, nan], [0.6, 0.8, nan]])
    # step 1: (.2 + .4 + .6) / 3 = .4; step 2: (.4 + .8) / 2 = .6; step 3: no point -> mean .5
    assert mean_tv_over(tv, np.arange(3)) == pytest.approx(0.5)
    # a row drawn twice counts twice: step 1 (.2 + .2 + .4) / 3, step 2 (.4 + .4) / 2 -> (4/15 + 2/5) / 2
    assert mean_tv_over(tv, np.array([0, 0, 1])) == pytest.approx((0.8 / 3 + 0.4) / 2)
    assert np.isnan(mean_tv_over(tv[:, 2:], np.arange(3)))


def test_move_predictor_protocol() -> None:
    assert isinstance(ReplayOracle(), MovePredictor)
    assert not isinstance(NgramPredictor(), MovePredictor)
    with pytest.raises(ProbeError):
        probe([], None, "test")  # type: ignore[arg-type]


def test_plain_api_runs_the_probe_and_writes_its_section(builtin_dataset: Path, tmp_path: Path) -> None:
    from schedcast.models.trajectory import TrajectoryConfig, train_trajectory
    from schedcast.probe import ProbeOptions, run_probe, write_probe_outputs

    models = tmp_path / "models"
    assert runner.invoke(app, ["train", "baselines", str(builtin_dataset), "--out", str(models)]).exit_code == 0
    tiny = TrajectoryConfig(window=8, d_model=16, n_heads=2, n_layers=1, epochs=1, batch_size=64)
    path = train_trajectory(builtin_dataset, models, tiny)
    assert path == models / "trajectory_kl.json" and path.is_file()
    options = ProbeOptions(split="train", horizon=5, samples=2, modes=("constrained",), runs_per_program=1)
    result = run_probe(builtin_dataset, [models / "ngram.json", path], options)
    assert [r.model for r in result.results] == ["ngram", "trajectory_kl"]
    assert all(r.mode == "constrained" and np.all(r.survival == 5) for r in result.results)
    written = write_probe_outputs(result, tmp_path / "probe", "schedcast probe X")
    assert {p.name for p in written} == {
        "summary.csv", "curves.csv", "survival.csv", "entropy_by_class.csv", "tv_differences.csv", "tv_by_program.csv", "probe.json", "probe.md",
    }
    # Per program: each model's rows cover every prefix once, and each is that program's mean TV.
    per_program = list(csv.DictReader(open(tmp_path / "probe" / "tv_by_program.csv")))
    programs = np.array([p.program for p in result.prefix_rows])
    for r in result.results:
        mine = [row for row in per_program if row["model"] == r.model]
        assert sum(int(row["prefixes"]) for row in mine) == programs.size and len(mine) == np.unique(programs).size
        for row in mine:
            idx = np.flatnonzero(programs == row["program"])
            block = r.tv_by_prefix[idx]
            per_step = [np.mean(col[~np.isnan(col)]) for col in block.T if np.any(~np.isnan(col))]
            assert float(row["mean_tv"]) == pytest.approx(np.mean(per_step))
    diffs = list(csv.DictReader(open(tmp_path / "probe" / "tv_differences.csv")))
    assert [(d["model_a"], d["model_b"], d["mode"]) for d in diffs] == [("ngram", "trajectory_kl", "constrained")]
    means = {r["model"]: float(r["mean_tv"]) for r in csv.DictReader(open(tmp_path / "probe" / "summary.csv"))}
    d = diffs[0]
    assert float(d["difference"]) == pytest.approx(means["ngram"] - means["trajectory_kl"])
    assert float(d["low"]) <= float(d["difference"]) <= float(d["high"])
    assert "ngram − trajectory_kl" in (tmp_path / "probe" / "probe.md").read_text()
    summary = list(csv.DictReader(open(tmp_path / "probe" / "summary.csv")))
    assert {r["model"] for r in summary} == {"ngram", "trajectory_kl"}
    assert "## Multi-step coherence probe" in (tmp_path / "probe" / "probe.md").read_text()
    with pytest.raises(ProbeError, match="no test"):
        run_probe(builtin_dataset, [path], ProbeOptions(split="test"))


def test_rollout_events_get_the_prefixs_recent_pace() -> None:
    from schedcast.probe.probe import _extrapolated_times

    # Fewer than 16 gaps: all 4 count, (80 - 0) / 4 = 20 ns apart.
    assert _extrapolated_times(np.array([0, 10, 40, 60, 80]), 3).tolist() == [100, 120, 140]
    # Only the last 16 events (15 gaps) count: the long first gap is left out.
    times = np.array([0] + [1_000 + 5 * i for i in range(19)])
    assert _extrapolated_times(times, 2).tolist() == [1_095, 1_100]
    assert _extrapolated_times(np.array([5]), 2).tolist() == [5, 5]
    assert _extrapolated_times(np.zeros(0, dtype=np.int64), 2).tolist() == [0, 0]
