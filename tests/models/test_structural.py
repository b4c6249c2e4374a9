"""The structural predictor: soft targets, calibration, the FSM mask, moves, persistence."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.corpus.facts import ProgramFacts
from schedcast.dataset.access import DatasetView, ExampleStructure, RunPrefix
from schedcast.models import Examples, ModelError, load_predictor
from schedcast.models.baselines import NgramPredictor
from schedcast.models.features import FEATURES_VERSION, NO_DEADLINE, feature_names, featurize
from schedcast.models.structural import StructuralPredictor, _proba, apply_mask, fit_temperature, fold_of_groups, scale_temperature

runner = CliRunner()
BLOCK, CREATE, END, SCHED, START, UNBLOCK = range(6)


def _run(kinds: list[int], gs: list[int]) -> RunPrefix:
    n = len(kinds)
    return RunPrefix(
        np.array(kinds, dtype=np.int8), np.array(gs, dtype=np.int32), np.zeros(n, dtype=np.int32),
        np.full(n, -1, dtype=np.int32), np.full(n, -1, dtype=np.int32),
    )


def _examples(n_per: int, targets: np.ndarray | None, labels: np.ndarray) -> Examples:
    """Two kinds of context: after "G1 created, G2 started" (run 0, k=2) and after
    "G1 created, started, blocked" (run 1, k=3), n_per examples each."""
    runs = {0: _run([CREATE, START, BLOCK], [2, 2, 2]), 1: _run([CREATE, START, BLOCK, UNBLOCK], [2, 2, 2, 2])}
    keys = np.array([0] * n_per + [1] * n_per, dtype=np.int64)
    ks = np.array([2] * n_per + [3] * n_per, dtype=np.int64)
    structure = ExampleStructure(keys, ks, runs, {0: "p", 1: "p"}, {"p": {}}, (), ())
    history = [runs[int(r)].kind[:k] for r, k in zip(keys, ks)]
    return Examples(history, labels, np.array(["p"] * keys.size), np.ones((keys.size, 6), dtype=bool), structure, targets)


KNOWN = np.array([[0.2, 0.5, 0.0, 0.3, 0.0, 0.0], [0.0, 0.0, 0.1, 0.0, 0.0, 0.9]])


def _tiny_model(targets: str = "soft", n_per: int = 200) -> tuple[StructuralPredictor, Examples]:
    rng = np.random.default_rng(0)
    labels = np.concatenate([rng.choice(6, n_per, p=KNOWN[0]), rng.choice(6, n_per, p=KNOWN[1])])
    soft = np.repeat(KNOWN, n_per, axis=0)
    train = _examples(n_per, soft if targets == "soft" else None, labels)
    model = StructuralPredictor(targets=targets, source_features=False, rebalance=0.0, max_iter=50, min_samples_leaf=5).fit(train)
    return model, train


def test_soft_targets_recover_a_known_distribution() -> None:
    model, train = _tiny_model("soft")
    q = model.predict_proba(train.subset(np.array([0, len(train) - 1])))
    # The booster's cross-entropy against p is minimised by p itself.
    assert np.abs(q - KNOWN).max() < 0.03, q.round(3)


def test_calibration_never_changes_the_argmax_and_fits_on_validation() -> None:
    model, train = _tiny_model("hard")
    before = model.predict_proba(train, calibrated=False)
    model.calibrate(train)
    after = model.predict_proba(train)
    assert model.temperature != 1.0
    assert np.array_equal(before.argmax(axis=1), after.argmax(axis=1))
    assert model.info.validation_nll_after <= model.info.validation_nll_before + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=6, max_size=6).filter(lambda v: sum(v) > 1e-3),
    st.floats(min_value=0.05, max_value=20.0),
)
def test_temperature_keeps_the_order(values: list[float], temperature: float) -> None:
    p = np.array([values]) / sum(values)
    q = scale_temperature(p, temperature)
    assert q.sum() == pytest.approx(1.0)
    # The top kind stays on top. At T > 1 two kinds a rounding error apart (0.49999999999999994
    # vs 0.5) can come out equal, so "on top" allows a tie, never another kind above it.
    assert q[0, int(p.argmax())] == q.max()
    assert np.all(q[p == 0] == 0)  # zeros stay zeros


def test_mask_zeroes_what_the_fsm_forbids() -> None:
    p = np.full((2, 6), 1 / 6)
    allowed = np.array([[1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]], dtype=bool)
    q = apply_mask(p, allowed)
    assert np.allclose(q[0], [0.5, 0, 0, 0, 0.5, 0]) and np.allclose(q[1], p[1])


def test_save_load_round_trips_exactly(tmp_path: Path) -> None:
    model, train = _tiny_model("soft")
    model.calibrate(train)
    path = tmp_path / "structural.json"
    model.save(path)
    loaded = load_predictor(path)
    assert isinstance(loaded, StructuralPredictor) and loaded.temperature == model.temperature
    assert np.array_equal(loaded.predict_proba(train), model.predict_proba(train))


def test_a_model_file_with_other_features_fails_with_one_line(tmp_path: Path) -> None:
    model, _ = _tiny_model("soft", n_per=30)
    path = tmp_path / "structural.json"
    model.save(path)
    blob = json.loads(path.read_text())
    blob["state"]["features"] = blob["state"]["features"][:-2]
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="retrain it"):
        load_predictor(path)
    blob["state"]["features"] = feature_names(False)
    del blob["state"]["features_version"]  # a model saved before the features' meaning changed
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="version 1 of its features"):
        load_predictor(path)
    blob["state"]["features_version"] = FEATURES_VERSION
    blob["state"]["sklearn"] = "0.1"
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="scikit-learn 0.1"):
        load_predictor(path)


def _grouped_model(folds: int, deals: int = 1, n_jobs: int | None = None) -> tuple[StructuralPredictor, Examples, np.ndarray]:
    """The tiny examples, hard labels, spread over 6 families."""
    rng = np.random.default_rng(1)
    n_per = 120
    labels = np.concatenate([rng.choice(6, n_per, p=KNOWN[0]), rng.choice(6, n_per, p=KNOWN[1])])
    train = _examples(n_per, None, labels)
    groups = np.array([f"family{i % 6}" for i in range(len(train))])
    model = StructuralPredictor(
        targets="hard", source_features=False, rebalance=0.0, max_iter=30, min_samples_leaf=5, folds=folds, deals=deals, n_jobs=n_jobs,
    )
    return model.fit(train, groups=groups), train, groups


def test_folds_never_split_a_group() -> None:
    groups = np.array([f"g{i % 7}" for i in range(50)] + ["lonely"])
    fold = fold_of_groups(groups, 3, seed=4)
    assert set(fold.tolist()) == {0, 1, 2}
    for g in set(groups.tolist()):
        assert len(set(fold[groups == g].tolist())) == 1
    assert np.all(fold_of_groups(np.array(["one"] * 5), 3) == 0)  # one group: no cross-fitting


def test_cross_fitting_calibrates_on_out_of_fold_predictions(tmp_path: Path) -> None:
    model, train, _ = _grouped_model(folds=3)
    assert len(model.boosters) == 1 and len(model._fold_boosters) == 3 and model.info.folds == 3
    before = model.predict_proba(train, calibrated=False)
    empty = train.subset(np.zeros(0, dtype=np.int64))
    model.calibrate(empty)  # no validation: the out-of-fold predictions alone, named
    assert model.info.calibration_examples == len(train) and model.temperature != 1.0
    assert model.info.calibration_source.startswith("out-of-fold")
    after = model.predict_proba(train)
    assert np.array_equal(before.argmax(axis=1), after.argmax(axis=1))
    # The model predicts with one booster fitted on every example: exactly a one-fold model's.
    whole, _, _ = _grouped_model(folds=1)
    assert len(whole.boosters) == 1 and whole._fold_boosters == [] and whole.out_of_fold_predictions() is None
    assert np.array_equal(model.predict_proba(train, calibrated=False), whole.predict_proba(train, calibrated=False))
    path = tmp_path / "structural.json"
    model.save(path)
    loaded = load_predictor(path)
    assert np.array_equal(loaded.predict_proba(train), after)
    # A model file holds the booster it predicts with, not the fold boosters: after load,
    # held-out predictions are the model's and there is no fold mean; a state saved with
    # them (the trajectory model's) gives the same fold mean after loading.
    assert np.array_equal(loaded.held_out_proba(train, np.array(["family0"] * len(train))), model.raw_proba(train))
    with pytest.raises(ModelError, match="carries no fold boosters"):
        loaded.fold_mean_proba(train)
    again = StructuralPredictor(**model.config())
    again.set_state(json.loads(json.dumps(model.state(fold_boosters=True))))
    assert len(again._fold_boosters) == 3 and np.array_equal(again.fold_mean_proba(train), model.fold_mean_proba(train))
    blob = json.loads(path.read_text())
    del blob["state"]["model_version"]  # a file of version 1 (it predicted the mean of its fold boosters)
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match=r"structural.json: structural model file of version 1 \(this schedcast reads version 2"):
        load_predictor(path)


def test_with_validation_the_temperature_is_fitted_on_validation_alone() -> None:
    """Validation is predicted as the model predicts (its booster on every example); the
    out-of-fold predictions are only the fallback."""
    model, train, groups = _grouped_model(folds=3)
    val = train.subset(np.flatnonzero(groups == "family0"))
    model.calibrate(val)
    assert model.info.calibration_source == "validation" and model.info.calibration_examples == len(val)
    assert model.temperature == fit_temperature(model.predict_proba(val, calibrated=False), val.labels)
    assert model.temperature != 1.0


def test_predict_moves_marginal_is_predict_proba() -> None:
    model, train = _tiny_model("soft", n_per=40)
    sub = train.subset(np.array([0, len(train) - 1]))
    q = model.predict_proba(sub)
    for i, (moves, probs) in enumerate(model.predict_moves(sub)):
        assert probs.sum() == pytest.approx(1.0)
        marginal = np.bincount(moves[:, 1], weights=probs, minlength=6)
        assert np.allclose(marginal, q[i])
    # Run 1 at k=3: goroutine 2 is blocked, so only it can be unblocked.
    moves, probs = model.predict_moves(sub)[1]
    assert {tuple(m) for m in moves[moves[:, 1] == UNBLOCK]} == {(2, UNBLOCK)}


def test_unparsable_source_still_gets_predictions_and_is_counted() -> None:
    model, train = _tiny_model("soft", n_per=20)
    bad = ProgramFacts(sites=(), parse_errors=("main.go:1:1: expected 'package', found 'garbage'",), typed=False)
    x, report = featurize(train, source=True, facts={"p": bad})
    assert report.without_facts == len(train) and "p" in report.programs_without_facts
    assert np.all(x[:, feature_names(True).index("src.has_facts")] == 0)


def test_train_structural_then_evaluate_with_ablations(builtin_dataset: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert runner.invoke(app, ["train", "baselines", str(builtin_dataset), "--out", str(models)]).exit_code == 0
    result = runner.invoke(app, ["train", "structural", str(builtin_dataset), "--out", str(models), "--max-iter", "30"])
    assert result.exit_code == 0, result.output
    assert "temperature" in result.output and (models / "structural.json").is_file()
    view = DatasetView(builtin_dataset)
    model = load_predictor(models / "structural.json")
    examples, _ = view.model_examples("train")
    q = model.predict_proba(examples)
    assert q.shape == (len(examples), 6) and np.allclose(q.sum(axis=1), 1)
    # The FSM mask: no probability on a kind the scheduler does not allow.
    assert np.all(q[~examples.allowed] == 0)
    page = tmp_path / "results.md"
    out = tmp_path / "results"
    result = runner.invoke(
        app, ["evaluate", str(builtin_dataset), str(models), "--split", "train", "--boot", "50", "--ablations", "--markdown", str(page), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "## The structural predictor: ablations" in text and "hard-label (CE) targets" in text
    assert "without source features" in text and "without the FSM mask" in text and "before calibration" in text
    assert f"({model.info.deals} x {model.info.folds} fold boosters for the out-of-fold predictions), fit in {model.info.fit_seconds:.1f} s" in text
    ab = json.loads((out / "ablations.json").read_text())
    assert len(ab["importances"]) <= 20 and ab["reliability_after"]
    assert set(ab["soft_vs_hard"]) == {"soft", "hard"} and "Soft vs hard targets: accuracy" in text
    variants = {r["variant"]: r for r in ab["variants"]}
    assert ab["soft_vs_hard"]["hard"]["accuracy"] == variants["hard-label (CE) targets"]["accuracy"]
    assert ab["soft_vs_hard"]["soft"]["ece_before_calibration"] == variants["before calibration (T = 1)"]["ece"]
    assert sum(b["n"] for b in ab["reliability_after"]) == ab["examples"]
    bad = runner.invoke(app, ["train", "structural", str(builtin_dataset), "--targets", "fuzzy"])
    assert bad.exit_code == 1 and "--targets must be soft or hard" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["train", "structural", str(builtin_dataset), "--deals", "0"])
    assert bad.exit_code == 1 and "--deals >= 1" in bad.output and "Traceback" not in bad.output


def test_vectorised_features_equal_the_per_example_replay(builtin_dataset: Path) -> None:
    from tests.models.featurize_reference import featurize_reference

    view = DatasetView(builtin_dataset)
    seen: dict[str, int] = {}
    for split in ("train", "val", "test"):
        examples, _ = view.model_examples(split)
        if len(examples) == 0:
            continue
        keys, ks = view.sample_positions(split, 25, seed=2)  # many positions per run, k = 0 included
        extra = view.examples_at(np.concatenate([keys, keys[:3]]), np.concatenate([ks, np.zeros(3, dtype=np.int64)]))
        # Paper examples read their snapshot from the dataset; most sampled positions replay it.
        assert examples.structure is not None and extra.structure is not None
        assert (examples.structure.stored_at >= 0).all() and (extra.structure.stored_at < 0).sum() > len(extra) // 2
        # A set holds the stored snapshots of its own positions only (none of a later depth).
        positions = set(zip(examples.structure.run_keys.tolist(), examples.structure.ks.tolist()))
        assert examples.structure.stored is not None and examples.structure.stored.last_g_events.size == len(positions)
        # A structure without the dataset's snapshots (built by hand, as the probe does).
        bare = dataclasses.replace(extra.structure, stored=None, stored_at=None)
        mixed = examples.subset(np.arange(len(examples))[::-1])  # order must not matter
        for ex in (examples, extra, mixed, dataclasses.replace(extra, structure=bare)):
            for source in (True, False):
                got, report = featurize(ex, source)
                want, want_report = featurize_reference(ex, source)
                assert got.shape == want.shape
                assert np.array_equal(got, want), np.argwhere(got != want)[:5]
                assert report.without_facts == want_report.without_facts
                if source:
                    names = feature_names(True)
                    for column in ("src.running.return_ends", "src.running.return_unknown", "src.wake.receiver", "src.timer.waiting"):
                        seen[column] = seen.get(column, 0) + int(np.count_nonzero(got[:, names.index(column)]))
                    for column, unset in (("time.sleep.elapsed", -1.0), ("src.timer.remaining", NO_DEADLINE)):
                        seen[column] = seen.get(column, 0) + int(np.count_nonzero(got[:, names.index(column)] != unset))
    # The comparison covered the features that read each goroutine's start, the wake pairs and the clock.
    assert all(seen.values()), seen


def test_a_stacked_ngram_is_out_of_fold_while_fitting_and_saved(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n_per = 120
    labels = np.concatenate([rng.choice(6, n_per, p=KNOWN[0]), rng.choice(6, n_per, p=KNOWN[1])])
    train = _examples(n_per, None, labels)
    groups = np.array([f"family{i % 6}" for i in range(len(train))])
    model = StructuralPredictor(targets="hard", source_features=False, rebalance=0.0, max_iter=20, min_samples_leaf=5, ngram_order=3)
    model.fit(train, groups=groups)
    names = model.feature_names()
    assert names[-6:] == [f"ngram.{k}" for k in ("GoBlock", "GoCreate", "GoEnd", "GoSched", "GoStart", "GoUnblock")]
    # After fitting, the features carry the log-probabilities of the n-gram of all of train.
    whole = NgramPredictor(3).fit(train)
    x = model.features(train)
    assert x.shape[1] == len(names)
    assert np.allclose(x[:, -6:], np.log(whole.predict_proba(train)))
    path = tmp_path / "structural.json"
    model.save(path)
    loaded = load_predictor(path)
    assert isinstance(loaded, StructuralPredictor) and loaded.ngram_order == 3
    assert np.array_equal(loaded.predict_proba(train), model.predict_proba(train))
    blob = json.loads(path.read_text())
    blob["state"]["ngram"] = None
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="carries none"):
        load_predictor(path)
    with pytest.raises(ModelError, match="ngram_order"):
        StructuralPredictor(ngram_order=-1)


SPAWNER = """package main

import "sync"

func work(out chan<- int) {
	out <- 1
}

func main() {
	out := make(chan int, 8)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(out)
		}()
	}
	wg.Wait()
}
"""


def test_a_line_reads_the_facts_of_who_stands_on_it() -> None:
    """`go func() {` (line 14) is main's go statement and the literal's first line: a
    goroutine entering the literal reads its func_start facts, main the go statement's,
    whose next operations look through wg.Add (silent in the trace) to the go again."""
    from schedcast.corpus.facts import facts_for_sources
    from schedcast.models.features import NEXT_NAMES, OPS, _SiteTable

    (facts,) = facts_for_sources([({"main.go": SPAWNER}, "")])
    assert not facts.parse_errors
    sites = ("prog/main.go:14", "prog/main.go:13", "prog/main.go:5")
    table = _SiteTable(facts, sites)

    def named(vector: np.ndarray, names: tuple[str, ...]) -> set[str]:
        return {n for n, v in zip(names, vector.tolist()) if v}

    op, nx = table.at(0, entry=False)  # main at its go statement
    assert named(op, OPS) == {"go"} and named(nx, NEXT_NAMES) == {"wg_add", "go", "wg_wait"}
    op, nx = table.at(0, entry=True)  # the new goroutine entering the literal
    assert named(op, OPS) == {"func_start"} and "go" not in named(nx, NEXT_NAMES)
    op, nx = table.at(1, entry=True)  # wg.Add: no func_start here, so its own facts either way
    assert named(op, OPS) == {"wg_add"} and named(nx, NEXT_NAMES) == {"go"}
    op, nx = table.at(2, entry=False)  # `func work(`: only a func_start, read by anyone there
    assert named(op, OPS) == {"func_start"} and named(nx, NEXT_NAMES) == {"send"}
    assert table.is_entry(0) and not table.is_entry(1) and table.at(-1) == table.at(-1, True)


def test_clock_features_by_hand() -> None:
    """Hand-computed time.* and src.timer.* on one run: g2 sleeps 10 µs from t = 1,000
    (main.go:6, `time.Sleep(10 * time.Microsecond)`), g3 blocks in a receive (no clock)."""
    source = "package main\n\nimport \"time\"\n\nfunc main() {\n\ttime.Sleep(10 * time.Microsecond)\n\tc := make(chan int)\n\t<-c\n}\n"
    sites = ("prog/main.go:6", "prog/main.go:8")
    reasons = ("sleep", "chan receive")
    kinds = [CREATE, CREATE, START, BLOCK, START, BLOCK, UNBLOCK, START]
    gs = [2, 3, 2, 2, 3, 3, 2, 2]
    times = [0, 100, 500, 1_000, 3_000, 5_000, 12_000, 13_000]
    n = len(kinds)
    reason = np.full(n, -1, dtype=np.int32)
    site = np.full(n, -1, dtype=np.int32)
    reason[3], site[3] = 0, 0
    reason[5], site[5] = 1, 1
    run = RunPrefix(
        np.array(kinds, dtype=np.int8), np.array(gs, dtype=np.int32), np.zeros(n, dtype=np.int32), reason, site,
        None, np.array(times, dtype=np.int64),
    )
    ks = np.array([4, 6, 7, 1], dtype=np.int64)
    structure = ExampleStructure(np.zeros(ks.size, dtype=np.int64), ks, {0: run}, {0: "p"}, {"p": {"main.go": source}}, reasons, sites)
    history = [run.kind[:k] for k in ks]
    examples = Examples(history, np.zeros(ks.size, dtype=np.int64), np.array(["p"] * ks.size), np.ones((ks.size, 6), dtype=bool), structure)
    x, _ = featurize(examples, source=True)
    col = {name: x[:, i] for i, name in enumerate(feature_names(True))}
    # k = 4: now 1,000 (g2 just blocked); k = 6: now 5,000; k = 7: g2 woken, nothing sleeps; k = 1: no gap yet.
    assert np.allclose(col["time.gap[-1]"], [np.log1p(500), np.log1p(2_000), np.log1p(7_000), -1])
    assert np.allclose(col["time.gap.recent"][:3], np.log1p([1_000 / 3, 5_000 / 5, 12_000 / 6]))
    assert np.allclose(col["time.sleep.elapsed"], [np.log1p(0), np.log1p(4_000), -1, -1])
    # Deadline 1,000 + 10,000 = 11,000 ns: 10 µs left at k = 4, 6 µs at k = 6.
    assert np.allclose(col["src.timer.remaining"], [np.log1p(10.0), np.log1p(6.0), NO_DEADLINE, NO_DEADLINE])
    assert np.allclose(col["src.timer.remaining_events"][:2], [np.log1p(10_000 / (1_000 / 3)), np.log1p(6_000 / 1_000)])
    assert col["src.timer.waiting"].tolist() == [1, 1, 0, 0]  # g2 until its wake at k = 7
    # Later in the same sleep, past its deadline: due, and the time left is negative.
    late = RunPrefix(run.kind, run.g, run.actor, run.reason, run.site, None, np.array([0, 100, 500, 1_000, 3_000, 12_000, 13_000, 14_000]))
    structure = ExampleStructure(np.zeros(1, dtype=np.int64), np.array([6]), {0: late}, {0: "p"}, {"p": {"main.go": source}}, reasons, sites)
    x, _ = featurize(Examples([late.kind[:6]], np.zeros(1, dtype=np.int64), np.array(["p"]), np.ones((1, 6), dtype=bool), structure), True)
    col = {name: x[:, i] for i, name in enumerate(feature_names(True))}
    assert np.allclose(col["src.timer.remaining"], [-np.log1p(1.0)]) and col["src.timer.waiting"].tolist() == [1]
    assert np.allclose(col["src.timer.remaining_events"], [0.0])


def test_deals_average_boosters_and_their_out_of_fold_predictions() -> None:
    """Two deals of 3 folds: 6 fold boosters; a training example's out-of-fold prediction
    is the mean of the two (one per deal) that did not see its family, and
    held_out_proba gives the same; a family fit never saw reads the model's booster."""
    model, train, groups = _grouped_model(folds=3, deals=2)
    assert len(model._fold_boosters) == 6 and len(model.boosters) == 1 and model.info.folds == 3 and model.info.deals == 2
    x = model.features(train)
    every = [_proba(b, c, x) for b, c in zip(model._fold_boosters, model._fold_classes, strict=True)]
    assert not np.allclose(model.raw_proba(train), np.mean(every, axis=0))  # it predicts with its own booster
    strangers = np.array(["never seen"] * len(train))
    assert np.allclose(model.held_out_proba(train, strangers), np.mean(every, axis=0))
    assert np.array_equal(model.fold_mean_proba(train), model.held_out_proba(train, strangers))
    folds = np.array([model._fold_of_group[g] for g in groups.tolist()])
    assert folds.shape == (len(train), 2) and (folds[:, 0] != folds[:, 1]).any()  # the second deal differs
    by_hand = np.array([(every[folds[i, 0]][i] + every[3 + folds[i, 1]][i]) / 2 for i in range(len(train))])
    assert np.allclose(model.held_out_proba(train, groups), by_hand)
    assert model._out_of_fold is not None
    assert np.allclose(model._out_of_fold[0], apply_mask(by_hand, train.allowed))
    # The first deal is the one deals=1 makes.
    single, _, _ = _grouped_model(folds=3, deals=1)
    assert single._fold_of_group == {g: f[:1] for g, f in model._fold_of_group.items()}
    with pytest.raises(ModelError, match="deals must be at least 1"):
        StructuralPredictor(deals=0)


def test_boosters_fitted_in_worker_processes_are_the_ones_fitted_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seven boosters (six fold boosters and the model's) fitted two at a time in
    worker processes give exactly the predictions and out-of-fold predictions of the
    same boosters fitted one by one here; predicting in two threads, each on its share
    of the examples, gives exactly the one-thread predictions."""
    import schedcast.models.structural as structural_module

    here, train, groups = _grouped_model(folds=3, deals=2, n_jobs=1)
    pooled, _, _ = _grouped_model(folds=3, deals=2, n_jobs=2)
    assert len(pooled._fold_boosters) == 6 and len(pooled.boosters) == 1
    assert np.array_equal(here.predict_proba(train), pooled.predict_proba(train))
    monkeypatch.setattr(structural_module, "PARALLEL_MIN_EXAMPLES", 1)  # the tiny set takes the threaded path too
    assert np.array_equal(here.predict_proba(train), pooled.predict_proba(train))
    assert here._out_of_fold is not None and pooled._out_of_fold is not None
    assert np.array_equal(here._out_of_fold[0], pooled._out_of_fold[0])
    assert np.array_equal(here.held_out_proba(train, groups), pooled.held_out_proba(train, groups))
    with pytest.raises(ModelError, match=r"workers \(n_jobs\) must be at least 1"):
        StructuralPredictor(n_jobs=0)
