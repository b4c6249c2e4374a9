"""Every metric on cases computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedcast.evaluate import metrics as m

# Five examples over GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock.
P = np.array(
    [
        [0.90, 0.10, 0, 0, 0, 0],  # label 0: conf .90 (bin 13), right
        [0.60, 0.40, 0, 0, 0, 0],  # label 1: conf .60 (bin 9), wrong
        [0.15, 0.85, 0, 0, 0, 0],  # label 1: conf .85 (bin 12), right
        [1 / 6] * 6,  # label 3: conf 1/6 (bin 2), predicts kind 0 (tie -> first), wrong
        [0.88, 0.12, 0, 0, 0, 0],  # label 1: conf .88 (bin 13), wrong
    ]
)
Y = np.array([0, 1, 1, 3, 1])


def test_accuracy_and_per_kind() -> None:
    assert m.accuracy(P, Y) == pytest.approx(2 / 5)
    per_kind = m.per_kind_accuracy(P, Y)
    assert per_kind[0] == 1.0 and per_kind[1] == pytest.approx(1 / 3) and per_kind[3] == 0.0
    assert np.isnan(per_kind[[2, 4, 5]]).all()


def test_nll() -> None:
    # -(ln .9 + ln .4 + ln .85 + ln 1/6 + ln .12) / 5
    expected = -(math.log(0.9) + math.log(0.4) + math.log(0.85) + math.log(1 / 6) + math.log(0.12)) / 5
    assert m.nll(P, Y) == pytest.approx(expected)
    assert expected == pytest.approx(1.0192386, abs=1e-6)


def test_nll_floors_zero_probability() -> None:
    assert m.nll(np.array([[0, 1, 0, 0, 0, 0]]), np.array([0])) == pytest.approx(-math.log(1e-12))


def test_brier() -> None:
    # rows: .02, .72, .045, 30/36, 1.5488 -> mean 0.6334267
    assert m.brier(P, Y) == pytest.approx((0.02 + 0.72 + 0.045 + 30 / 36 + 1.5488) / 5)


def test_top_label_ece_with_15_bins() -> None:
    # bin 13: {.90 right, .88 wrong}: |0.5 - 0.89| = .39, weight 2/5
    # bins 9, 12, 2: |0 - .6|, |1 - .85|, |0 - 1/6|, weight 1/5 each
    expected = 2 / 5 * 0.39 + (0.6 + 0.15 + 1 / 6) / 5
    assert m.ece(P, Y) == pytest.approx(expected)
    assert expected == pytest.approx(0.3393333, abs=1e-6)


def test_ece_of_a_perfectly_calibrated_predictor_is_zero() -> None:
    # Ten examples at confidence .7 of which seven are right.
    p = np.tile([0.7, 0.3, 0, 0, 0, 0], (10, 1))
    y = np.array([0] * 7 + [1] * 3)
    assert m.ece(p, y) == pytest.approx(0.0)


def test_ece_by_program_resamples_whole_programs() -> None:
    # Program a: two examples at confidence .9, both right; program b: the same, both wrong.
    # All four: bin 13 at .9 with half right -> |.5 - .9| = .4. A replicate draws two
    # programs: {a, a} -> .1 (1/4 of draws), {b, b} -> .9 (1/4), a and b -> .4 (1/2).
    p = np.tile([0.9, 0.1, 0, 0, 0, 0], (4, 1))
    y = np.array([0, 0, 1, 1])
    got = m.ece_by_program(p, y, np.array(["a", "a", "b", "b"]), n_boot=4000)
    assert got.estimate == pytest.approx(0.4) and got.estimate == pytest.approx(m.ece(p, y))
    assert got.low == pytest.approx(0.1) and got.high == pytest.approx(0.9) and got.n_boot == 4000
    # Each example its own program: four right (1/16 of draws) -> .1, four wrong (1/16) -> .9,
    # both more than 2.5 %: the same ends; in between, three right -> |.75 - .9| = .15 (4/16).
    alone = m.ece_by_program(p, y, np.array(["a", "b", "c", "d"]), n_boot=4000)
    assert alone.estimate == pytest.approx(0.4) and alone.low == pytest.approx(0.1) and alone.high == pytest.approx(0.9)
    with pytest.raises(m.MetricInputError, match="3 programs for 4 examples"):
        m.ece_by_program(p, y, np.array(["a", "a", "b"]))


def test_ece_floor_by_hand() -> None:
    # Confidence 1: every draw is right, every bin exact -> 0.
    assert m.ece_floor(np.tile([1.0, 0, 0, 0, 0, 0], (4, 1))) == m.EceFloor(0.0, 0.0)
    # One example at confidence .5: each draw is right or wrong, |1 - .5| = |0 - .5| = .5.
    one = m.ece_floor(np.array([[0.5, 0.5, 0, 0, 0, 0]]), draws=50)
    assert one.mean == pytest.approx(0.5) and one.q95 == pytest.approx(0.5)
    # Two examples at confidences .9 and .1-ish (bins 13 and 3, top label .9 and .4):
    # E|hit - c| per bin = 2 c (1 - c): .18 and .48, each weight 1/2 -> .33.
    two = np.array([[0.9, 0.1, 0, 0, 0, 0], [0.4, 0.3, 0.3, 0, 0, 0]])
    assert m.ece_floor(two, draws=20000).mean == pytest.approx(0.33, abs=0.01)
    # Many examples: the floor shrinks like 1 / sqrt(n) (bin of 40,000 at .7: about .0018).
    big = m.ece_floor(np.tile([0.7, 0.3, 0, 0, 0, 0], (40000, 1)), draws=20)
    assert big.mean < 0.006 and big.q95 >= big.mean
    with pytest.raises(m.MetricInputError, match="draw"):
        m.ece_floor(two, draws=0)


def test_confidence_one_falls_in_the_last_bin() -> None:
    p = np.array([[1.0, 0, 0, 0, 0, 0]])
    assert m.ece(p, np.array([1])) == pytest.approx(1.0)


def test_classwise_ece() -> None:
    p = np.array([[1.0, 0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0, 0]])
    y = np.array([0, 0])
    # kind 0: bins {1.0: hit 1} {0.0: hit 1} -> .5 * 0 + .5 * 1 = .5
    # kind 1: bins {0.0: hit 0} {1.0: hit 0} -> .5 * 0 + .5 * 1 = .5 ; kinds 2-5: 0
    assert m.classwise_ece(p, y) == pytest.approx(1.0 / 6)


def test_distribution_distances() -> None:
    target = np.array([[0.5, 0.5, 0, 0, 0, 0]])
    pred = np.array([[0.25, 0.75, 0, 0, 0, 0]])
    # KL = .5 ln(.5/.25) + .5 ln(.5/.75)
    assert m.kl_divergence(target, pred)[0] == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75))
    assert m.total_variation(target, pred)[0] == pytest.approx(0.25)
    assert m.mean_absolute_difference(pred, target) == pytest.approx(0.5 / 6)
    assert m.kl_divergence(target, target)[0] == pytest.approx(0.0)


def test_entropy_in_bits() -> None:
    e = m.entropy_bits(np.array([[1 / 6] * 6, [0.5, 0.5, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]]))
    assert e == pytest.approx([math.log2(6), 1.0, 0.0])


def test_majority_baseline() -> None:
    train = np.array([4, 4, 4, 0, 1])
    test = np.array([4, 0, 4, 2])
    assert m.majority_baseline_accuracy(train, test) == pytest.approx(0.5)


def test_spearman() -> None:
    # ranks differ by 1 in two places: rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    c = m.spearman([1, 2, 3, 4], [1, 3, 2, 4])
    assert c.rho == pytest.approx(0.8) and c.n == 4 and 0 < c.p_value < 1


def test_mcnemar_exact() -> None:
    a = np.array([True] * 10 + [True] * 5 + [False] * 5)
    b = np.array([False] * 10 + [True] * 5 + [False] * 5)
    result = m.mcnemar(a, b)
    assert (result.only_a_right, result.only_b_right) == (10, 0)
    assert result.p_value == pytest.approx(2 * 0.5**10)  # two-sided exact binomial
    assert m.mcnemar(a, a).p_value == 1.0


def test_bootstrap_resamples_whole_programs() -> None:
    programs = np.array(["a"] * 50 + ["b"] * 50)
    correct = np.array([1.0] * 50 + [0.0] * 50)
    seen: list[np.ndarray] = []

    def stat(idx: np.ndarray) -> float:
        seen.append(idx)
        return float(correct[idx].mean())

    interval = m.bootstrap_by_program(stat, programs, n_boot=400, seed=1)
    assert interval.estimate == pytest.approx(0.5)
    # Two programs: a replicate is {a,a} (1.0), {b,b} (0.0) or {a,b} (0.5), each block whole.
    assert interval.low == 0.0 and interval.high == 1.0
    for idx in seen[1:]:
        counts = np.bincount(idx, minlength=100)
        assert len(set(counts[:50])) == 1 and len(set(counts[50:])) == 1
    # Resampling examples instead would give a narrow interval around 0.5; this one is not.
    assert interval.high - interval.low == 1.0


def test_paired_difference_is_paired() -> None:
    # Model A is right exactly where B is, plus 5 more examples of program "a": the
    # difference is the same in every replicate that draws "a" the same number of times,
    # and never negative; unpaired intervals would overlap heavily.
    programs = np.array(["a"] * 20 + ["b"] * 20 + ["c"] * 20)
    rng = np.random.default_rng(0)
    b = rng.random(60) < 0.5
    a = b.copy()
    a[np.flatnonzero(~b[:20])[:5]] = True
    d = m.paired_difference(a, b, programs, n_boot=500, seed=3)
    assert d.estimate == pytest.approx(5 / 60)
    assert d.low >= 0.0 and d.high <= 5 / 20 and d.n_boot == 500
    assert m.paired_difference(a, a, programs, n_boot=50).high == 0.0
    with pytest.raises(m.MetricInputError, match="paired difference"):
        m.paired_difference(a, b[:10], programs)


def test_oracle_accuracy() -> None:
    groups = np.array([[0.5, 0.5, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    assert m.oracle_accuracy(groups, np.array([0, 0, 1])) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.ones((2, 5)) / 5, "shape"),
        (np.array([[np.nan, 1, 0, 0, 0, 0]]), "NaN"),
        (np.array([[-0.1, 1.1, 0, 0, 0, 0]]), "negative"),
        (np.array([[0.5, 0.6, 0, 0, 0, 0]]), "sum to 1"),
        (np.zeros((0, 6)), "no examples"),
    ],
)
def test_bad_predictions_name_the_model_and_problem(probs: np.ndarray, message: str) -> None:
    labels = np.zeros(probs.shape[0], dtype=np.int64)
    with pytest.raises(m.MetricInputError, match=f"ngram.*{message}|{message}") as info:
        m.accuracy(probs, labels, model="ngram")
    assert str(info.value).startswith("ngram")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.floats(0.01, 1), min_size=6, max_size=6), st.integers(0, 5)), min_size=1, max_size=40))
def test_metric_ranges(rows: list[tuple[list[float], int]]) -> None:
    p = np.array([r for r, _ in rows])
    p = p / p.sum(axis=1, keepdims=True)
    y = np.array([lab for _, lab in rows])
    assert 0 <= m.ece(p, y) <= 1
    assert 0 <= m.classwise_ece(p, y) <= 1
    assert 0 <= m.brier(p, y) <= 2
    assert m.nll(p, y) >= 0
    assert 0 <= m.accuracy(p, y) <= 1
