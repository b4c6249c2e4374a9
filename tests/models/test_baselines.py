"""Baselines on hand-computed cases; the predictor protocol's guarantees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from schedcast.evaluate.metrics import check_probs
from schedcast.models import (
    BASELINES,
    Examples,
    MajorityPredictor,
    ModelError,
    NgramPredictor,
    PriorPredictor,
    UniformPredictor,
    load_predictor,
    select_ngram_order,
    select_ngram_order_cross_fitted,
)

# Kind indices: 0 GoBlock, 1 GoCreate, 2 GoEnd, 3 GoSched, 4 GoStart, 5 GoUnblock.
TRAIN = Examples(
    history=[[1, 4], [1, 4], [1, 4], [4, 0], [4, 0], [0]],
    labels=np.array([0, 0, 2, 5, 5, 4]),
    programs=np.array(["a", "a", "a", "b", "b", "b"]),
)
TEST = Examples(history=[[1, 4], [3, 3], []], labels=np.array([0, 4, 4]), programs=np.array(["c", "c", "c"]))


def test_uniform_prior_majority() -> None:
    assert np.allclose(UniformPredictor().fit(TRAIN).predict_proba(TEST), 1 / 6)
    # counts (2,0,1,0,1,2) + 0.5 each -> (2.5,.5,1.5,.5,1.5,2.5) / 9
    prior = PriorPredictor().fit(TRAIN).predict_proba(TEST)
    assert prior[0] == pytest.approx(np.array([2.5, 0.5, 1.5, 0.5, 1.5, 2.5]) / 9)
    # GoBlock and GoUnblock tie at 2: the first kind in the fixed order wins.
    assert MajorityPredictor().fit(TRAIN).predict_proba(TEST)[0].tolist() == [1, 0, 0, 0, 0, 0]


def test_ngram_backoff_by_hand() -> None:
    model = NgramPredictor(order=3, alpha=1.0).fit(TRAIN)
    prior = np.array([2.5, 0.5, 1.5, 0.5, 1.5, 2.5]) / 9
    # context (4,): labels 0,0,2 -> p1 = (counts + prior) / (3 + 1)
    p1 = (np.array([2, 0, 1, 0, 0, 0]) + prior) / 4
    # context (1,4): the same three labels -> p2 = (counts + p1) / 4
    p2 = (np.array([2, 0, 1, 0, 0, 0]) + p1) / 4
    probs = model.predict_proba(TEST)
    assert probs[0] == pytest.approx(p2)
    assert probs[1] == pytest.approx(prior)  # context (3,) never seen: the prior
    assert probs[2] == pytest.approx(prior)  # empty history: the prior


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.name)
def test_protocol_proper_probabilities_and_round_trip(cls, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = cls().fit(TRAIN)
    probs = check_probs(model.predict_proba(TEST), cls.name)
    assert probs.shape == (3, 6)
    model.save(tmp_path / "m.json")
    again = load_predictor(tmp_path / "m.json")
    assert type(again) is cls
    assert np.allclose(again.predict_proba(TEST), probs)


def test_order_is_picked_on_validation() -> None:
    # A process where the next kind is the one two steps back: order 3 sees it.
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(0, 6, size=12)) for _ in range(200)]
    def examples(rows: list[list[int]]) -> Examples:
        hist = [s[:k] for s in rows for k in range(2, len(s))]
        labels = np.array([s[k - 2] for s in rows for k in range(2, len(s))])
        return Examples(hist, labels, np.array(["p"] * len(hist)))
    best, scores = select_ngram_order(examples(seqs[:150]), examples(seqs[150:]), orders=range(1, 4))
    assert best.order == 3
    # Orders 1 and 2 cannot see two steps back: they stay near the uniform ln 6.
    assert scores[1] > 1.7 and scores[2] > 1.7 and scores[3] < 1.2


def test_order_is_picked_out_of_fold_without_validation() -> None:
    # The same process: with no validation examples at all, the out-of-fold NLL over
    # five program groups still finds order 3, and the model is fitted on all of train.
    rng = np.random.default_rng(1)
    seqs = [list(rng.integers(0, 6, size=12)) for _ in range(200)]
    hist = [s[:k] for s in seqs for k in range(2, len(s))]
    labels = np.array([s[k - 2] for s in seqs for k in range(2, len(s))])
    programs = np.array([f"p{i % 5}" for i, s in enumerate(seqs) for _ in range(2, len(s))])
    train = Examples(hist, labels, programs)
    empty = Examples([], np.zeros(0, dtype=np.int64), np.array([], dtype=object))
    best, scores = select_ngram_order_cross_fitted(train, empty, programs, orders=range(1, 4))
    assert best.order == 3 and scores[3] < 1.2 < 1.7 < min(scores[1], scores[2])
    assert np.allclose(best.predict_proba(train), NgramPredictor(order=3).fit(train).predict_proba(train))
    with pytest.raises(ModelError, match="no out-of-fold or validation examples"):
        select_ngram_order_cross_fitted(train, empty, np.array(["one"] * len(hist)), orders=range(1, 3))


def test_errors_name_the_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="prior: call fit"):
        PriorPredictor().predict_proba(TEST)
    with pytest.raises(ModelError, match="no labels"):
        PriorPredictor().fit(Examples([[]], np.array([-1]), np.array(["a"])))
    path = tmp_path / "m.json"
    NgramPredictor().fit(TRAIN).save(path)
    blob = json.loads(path.read_text())
    blob["format_version"] = 99
    path.write_text(json.dumps(blob))
    with pytest.raises(ModelError, match="'ngram' has format version 99"):
        load_predictor(path)
    path.write_text("not json")
    with pytest.raises(ModelError, match="not a schedcast model file"):
        load_predictor(path)


def test_fsm_prior_puts_mass_only_on_allowed_kinds() -> None:
    from schedcast.models import FsmPriorPredictor

    allowed = np.array([[True, False, False, False, True, False], [False] * 6, [True] * 6])
    ex = Examples([[1], [1], [1]], np.array([0, 4, 4]), np.array(["c"] * 3), allowed)
    p = FsmPriorPredictor().fit(TRAIN).predict_proba(ex)
    prior = np.array([2.5, 0.5, 1.5, 0.5, 1.5, 2.5]) / 9
    # row 0: prior restricted to GoBlock and GoStart: 2.5 : 1.5
    assert p[0] == pytest.approx([2.5 / 4, 0, 0, 0, 1.5 / 4, 0])
    assert p[1] == pytest.approx(prior)  # nothing known: the prior, never zeros
    assert p[2] == pytest.approx(prior)
