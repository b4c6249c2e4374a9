"""The trajectory model: replayed goroutine statuses, moves whose marginal is
predict_proba, FSM masks, save/load, and the train / evaluate commands, on real runs."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.dataset.access import DatasetView
from schedcast.models import ModelError, load_predictor
from schedcast.models.trajectory import (
    BLOCKED,
    DEAD,
    RUNNABLE,
    RUNNING,
    UNSEEN,
    TrajectoryConfig,
    TrajectoryPredictor,
    fit_trajectory,
    goroutine_status,
    training_positions,
)

runner = CliRunner()
TINY = TrajectoryConfig(window=8, d_model=16, n_heads=2, n_layers=1, epochs=2, batch_size=64)  # the default kind: the structural prior
# The kind read from an MLP over the last kinds plus a kind n-gram prior (the variant the default replaced).
TINY_NGRAM = TrajectoryConfig(**{**asdict(TINY), "structural_prior": False, "ngram_order": 4, "kind_input": "kinds"})


@pytest.fixture(scope="module")
def tiny_model(builtin_dataset: Path) -> TrajectoryPredictor:
    return fit_trajectory(DatasetView(builtin_dataset), TINY, label="trajectory_tiny")


def test_goroutine_status_by_hand() -> None:
    # G1 creates G2 (G1 seen only as the actor), G2 starts, G1 blocks, G2 unblocks G1, G2 ends.
    kind = np.array([1, 4, 0, 5, 2], dtype=np.int8)
    g = np.array([2, 2, 1, 1, 2], dtype=np.int32)
    actor = np.array([1, 2, 1, 2, 2], dtype=np.int32)
    assert set(goroutine_status(kind, g, actor, 0).tolist()) == {UNSEEN}
    assert goroutine_status(kind, g, actor, 1)[1:3].tolist() == [RUNNING, RUNNABLE]
    assert goroutine_status(kind, g, actor, 3)[1:3].tolist() == [BLOCKED, RUNNING]
    assert goroutine_status(kind, g, actor, 5)[1:3].tolist() == [RUNNABLE, DEAD]


def test_moves_marginal_mask_and_round_trip(tiny_model: TrajectoryPredictor, builtin_dataset: Path, tmp_path: Path) -> None:
    view = DatasetView(builtin_dataset)
    info = tiny_model.info
    keys, _ = training_positions(view, "train")
    assert info.train_positions == keys.size > 0 and len(info.epochs) == 2 and info.fit_seconds > 0
    assert info.soft_targets > 0  # state groups with more than one next kind give soft targets
    examples, _ = view.model_examples("train")
    q = tiny_model.predict_proba(examples)
    assert q.shape == (len(examples), 6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert np.all(q[~examples.allowed] == 0)  # nothing outside the kinds the FSM allows
    moves = tiny_model.predict_moves(examples)
    for i, (mv, p) in enumerate(moves):
        assert mv.shape == (p.size, 2) and np.all(p > 0)
        np.testing.assert_allclose(np.bincount(mv[:, 1], weights=p, minlength=6), q[i], atol=1e-9)
        run, k = examples.structure.prefix(i)
        status = goroutine_status(run.kind, run.g, run.actor, k)
        for g, kind in mv.tolist():
            if kind == 1:
                assert g == status.size - 1  # a new goroutine: one more than the largest id
            elif g != 0:
                need = {0: RUNNING, 2: RUNNING, 3: RUNNING, 4: RUNNABLE, 5: BLOCKED}[kind]
                assert status[g] == need
    path = tmp_path / "trajectory_tiny.json"
    tiny_model.save(path)
    blob = json.loads(path.read_text())
    assert blob["schedcast_model"] == "trajectory" and blob["config"]["label"] == "trajectory_tiny"
    loaded = load_predictor(path)
    assert loaded.name == "trajectory_tiny"
    np.testing.assert_array_equal(loaded.predict_proba(examples), q)
    # A file whose weights were cut off fails with one clear line.
    blob["state"]["weights"] = blob["state"]["weights"][:100]
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="trajectory"):
        load_predictor(path)


def test_cross_entropy_only_and_examples_without_events(builtin_dataset: Path) -> None:
    view = DatasetView(builtin_dataset)
    ce = fit_trajectory(view, TrajectoryConfig(**{**asdict(TINY), "kl_weight": 0.0, "epochs": 1}), label="ce")
    examples, _ = view.model_examples("train")
    assert len(examples) and ce.predict_proba(examples).shape == (len(examples), 6)
    bare = type(examples)(examples.history, examples.labels, examples.programs, examples.allowed)
    with pytest.raises(ModelError, match="prefix events"):
        ce.predict_proba(bare)
    with pytest.raises(ModelError, match="call fit"):
        TrajectoryPredictor().predict_proba(examples)


def test_train_and_evaluate_commands(builtin_dataset: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = runner.invoke(
        app, ["train", "trajectory", str(builtin_dataset), "--out", str(models), "--epochs", "1", "--window", "8", "--d-model", "16", "--layers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "parameters fit on" in result.output and (models / "trajectory_kl.json").is_file()
    out = tmp_path / "results"
    result = runner.invoke(app, ["evaluate", str(builtin_dataset), str(models), "--split", "train", "--boot", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = (out / "metrics.csv").read_text()
    assert "trajectory_kl" in metrics
    bad = runner.invoke(app, ["train", "trajectory", str(builtin_dataset), "--d-model", "18"])
    assert bad.exit_code == 1 and "multiple of 4" in bad.output and "Traceback" not in bad.output


def test_factorized_kind_distribution_ignores_how_many_goroutines_can_move(tiny_model: TrajectoryPredictor, builtin_dataset: Path) -> None:
    """p(move) = p(kind) p(goroutine | kind): opening more goroutine slots of one kind
    leaves every kind's probability unchanged; one softmax over every move does not."""
    import torch

    from schedcast.models.trajectory import GOROUTINE_KINDS, _kind_of_moves, _net

    assert tiny_model.cfg.factorized
    examples, _ = DatasetView(builtin_dataset).model_examples("train")
    feats = tiny_model.features(examples)
    W = tiny_model.cfg.window
    start = 1 + GOROUTINE_KINDS.index(4) * (W + 1)  # GoStart's slots
    rows = np.flatnonzero(feats["mask"][:, start : start + W].sum(axis=1) == 1)[:20]
    assert rows.size
    wider = {k: v[rows].copy() for k, v in feats.items()}
    wider["mask"][:, start : start + W] = True  # more goroutines could start
    kinds_of = _kind_of_moves(W)

    def marginal(net, f):  # type: ignore[no-untyped-def]
        with torch.no_grad():
            p = torch.softmax(net({k: torch.from_numpy(v) for k, v in f.items()}), dim=1).numpy()
        q = np.zeros((p.shape[0], 6))
        np.add.at(q.T, kinds_of, p.T)
        return q

    narrow = {k: v[rows] for k, v in feats.items()}
    np.testing.assert_allclose(marginal(tiny_model.net, narrow), marginal(tiny_model.net, wider), atol=1e-5)
    joint = _net(TrajectoryConfig(**{**asdict(tiny_model.cfg), "factorized": False}), len(tiny_model.reason_vocab))
    joint.load_state_dict(tiny_model.net.state_dict())
    joint.eval()
    assert np.abs(marginal(joint, narrow) - marginal(joint, wider)).max() > 1e-3


def test_ngram_prior_is_out_of_fold_while_training_and_saved(builtin_dataset: Path, tmp_path: Path) -> None:
    from schedcast.models.baselines import NgramPredictor

    view = DatasetView(builtin_dataset)
    keys, ks = training_positions(view, "train")
    train = view.examples_at(keys, ks)
    train = train.subset(np.flatnonzero(train.labels >= 0))
    model = TrajectoryPredictor(asdict(TINY_NGRAM))
    oof = model._fit_ngram(train, train.programs)
    full = np.log(NgramPredictor(TINY_NGRAM.ngram_order).fit(train).predict_proba(train))
    np.testing.assert_allclose(np.log(model.ngram.predict_proba(train)), full)  # predictions read the n-gram of all of train
    assert np.abs(oof - full).max() > 0.1  # training reads n-grams that never saw the position's program
    # Saved with the model; a file without it (an older format) fails with one line.
    fitted = fit_trajectory(view, TrajectoryConfig(**{**asdict(TINY_NGRAM), "epochs": 1}), label="ngram_prior")
    path = tmp_path / "t.json"
    fitted.save(path)
    assert load_predictor(path).ngram.counts.keys() == fitted.ngram.counts.keys()
    blob = json.loads(path.read_text())
    del blob["state"]["ngram"]
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="n-gram prior"):
        load_predictor(path)


def test_kind_heads_are_an_ensemble(builtin_dataset: Path) -> None:
    """With several kind heads, the model's move distribution is the mean of the heads'
    own distributions, and the heads differ (own initialisation, own loss)."""
    import torch

    view = DatasetView(builtin_dataset)
    model = fit_trajectory(view, TrajectoryConfig(**{**asdict(TINY_NGRAM), "kind_heads": 3, "epochs": 1}), label="heads")
    examples, _ = view.model_examples("train")
    feats = {k: torch.from_numpy(v) for k, v in model.features(examples).items()}
    with torch.no_grad():
        members = model.net(feats, members=True).exp().numpy()
        mixed = model.net(feats).exp().numpy()
    assert members.shape[0] == 3
    np.testing.assert_allclose(mixed, members.mean(axis=0), atol=1e-5)
    assert np.abs(members[0] - members[1]).max() > 1e-3
    np.testing.assert_allclose(model.predict_proba(examples).sum(axis=1), 1.0)


def test_structural_prior_is_out_of_fold_while_training_and_saved(tiny_model: TrajectoryPredictor, builtin_dataset: Path, tmp_path: Path) -> None:
    """By default the kind logits read the structural model's log-probabilities alone,
    with a learned weight per kind: while training, each position reads the fold booster
    that never saw its family (so they differ from the mean of all fold boosters,
    which predictions read); the kind distribution is p_structural ** w over the allowed kinds,
    renormalised; the structural model is saved inside the file, and a file without it
    fails with one line."""
    import torch

    from schedcast.models.fitting import program_families
    from schedcast.models.structural import _proba

    view = DatasetView(builtin_dataset)
    model = tiny_model
    assert model.cfg.structural_prior and model.cfg.kind_input == "none" and model.cfg.ngram_order == 0 and model.ngram is None
    assert model.structural is not None and len(model.structural._fold_boosters) > 1
    keys, ks = training_positions(view, "train")
    train = view.examples_at(keys, ks)
    train = train.subset(np.flatnonzero(train.labels >= 0))
    held = model.structural.held_out_proba(train, program_families(view, train.programs))
    mean = model.structural.fold_mean_proba(train)
    assert np.abs(held - mean).max() > 0.05
    # Each position's held-out distribution is the mean of its own fold boosters (one per deal).
    fold = np.array([model.structural._fold_of_group[g] for g in program_families(view, train.programs).astype(str)])
    n_folds = len(model.structural._fold_boosters) // fold.shape[1]
    rows = np.flatnonzero((fold[:, 0] == 0) & (fold[:, 1] == 1))
    x = model.structural.features(train.subset(rows))
    s = model.structural
    by_hand = (_proba(s._fold_boosters[0], s._fold_classes[0], x) + _proba(s._fold_boosters[n_folds + 1], s._fold_classes[n_folds + 1], x)) / 2
    assert rows.size and fold.shape[1] == 2
    np.testing.assert_allclose(held[rows], by_hand)
    examples, _ = view.model_examples("train")
    feats = model.features(examples)
    np.testing.assert_allclose(feats["structural"], np.log(np.maximum(model.structural.fold_mean_proba(examples), 1e-12)), rtol=1e-5)
    assert model.net.structural_weight.shape == (1, 6)
    assert not hasattr(model.net, "kind_mlps")
    # By hand: the kind distribution is the structural one raised to the learned weights, over the allowed kinds.
    q = model.predict_proba(examples)
    w = model.net.structural_weight.detach().numpy()[0]
    by_hand = np.exp(w * feats["structural"]) * (q > 0)
    np.testing.assert_allclose(q, by_hand / by_hand.sum(axis=1, keepdims=True), atol=1e-5)
    # The prior moves the prediction: with its weight at zero the kinds change.
    learned = model.net.structural_weight.detach().clone()
    with torch.no_grad():
        model.net.structural_weight.zero_()
    assert np.abs(model.predict_proba(examples) - q).max() > 1e-3
    with torch.no_grad():
        model.net.structural_weight.copy_(learned)
    np.testing.assert_allclose(model.predict_proba(examples), q)
    path = tmp_path / "stacked.json"
    model.save(path)
    loaded = load_predictor(path)
    np.testing.assert_allclose(loaded.structural.raw_proba(examples), model.structural.raw_proba(examples))
    np.testing.assert_allclose(loaded.predict_proba(examples), q)  # its fold boosters came with it
    blob = json.loads(path.read_text())
    for key in ("fold_boosters", "fold_boosters_sha256", "fold_boosters_classes"):
        del blob["state"]["structural"]["state"][key]
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="structural prior carries no fold boosters"):
        load_predictor(path)
    del blob["state"]["structural"]
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="structural prior"):
        load_predictor(path)


def test_a_kind_that_reads_nothing_is_refused() -> None:
    with pytest.raises(ModelError, match="uniform"):
        TrajectoryPredictor({"structural_prior": False, "ngram_order": 0, "kind_input": "none"})
    with pytest.raises(ModelError, match="kind_input must be one of"):
        TrajectoryPredictor({"kind_input": "everything"})
