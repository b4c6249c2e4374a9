"""Baselines: the floor every later model must beat.

- uniform: 1/6 for every kind.
- prior: the training frequency of each kind (Jeffreys-smoothed, so no kind gets 0).
- majority: all mass on the most frequent training kind.
- ngram: the next kind given the last n-1 kinds, with interpolated back-off to
  shorter contexts down to the prior; the order is picked on validation data.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from schedcast.models.base import N_KINDS, Examples, ModelError, Predictor, check_fitted, fold_of_groups
from schedcast.models.scoring import nll
from schedcast.terminal import track

PRIOR_PSEUDOCOUNT = 0.5  # Jeffreys: half an observation of every kind


def _label_counts(train: Examples) -> np.ndarray:
    labels = train.labels[train.labels >= 0]
    if labels.size == 0:
        raise ModelError("fit: the training examples have no labels (empty split?)")
    return np.bincount(labels, minlength=N_KINDS).astype(np.float64)


class UniformPredictor(Predictor):
    name: ClassVar[str] = "uniform"

    def fit(self, train: Examples) -> UniformPredictor:
        return self

    def predict_proba(self, examples: Examples) -> np.ndarray:
        return np.full((len(examples), N_KINDS), 1.0 / N_KINDS)


class PriorPredictor(Predictor):
    name: ClassVar[str] = "prior"

    def __init__(self) -> None:
        self.prior: np.ndarray | None = None

    def fit(self, train: Examples) -> PriorPredictor:
        counts = _label_counts(train) + PRIOR_PSEUDOCOUNT
        self.prior = counts / counts.sum()
        return self

    def predict_proba(self, examples: Examples) -> np.ndarray:
        check_fitted(self, self.prior is not None)
        return np.tile(self.prior, (len(examples), 1))

    def state(self) -> dict[str, Any]:
        return {"prior": None if self.prior is None else self.prior.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.prior = None if state.get("prior") is None else np.asarray(state["prior"])


class MajorityPredictor(Predictor):
    name: ClassVar[str] = "majority"

    def __init__(self) -> None:
        self.kind: int | None = None

    def fit(self, train: Examples) -> MajorityPredictor:
        self.kind = int(np.argmax(_label_counts(train)))  # ties: first kind
        return self

    def predict_proba(self, examples: Examples) -> np.ndarray:
        check_fitted(self, self.kind is not None)
        out = np.zeros((len(examples), N_KINDS))
        out[:, self.kind] = 1.0
        return out

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def set_state(self, state: dict[str, Any]) -> None:
        self.kind = state.get("kind")


class NgramPredictor(Predictor):
    """P(next kind | last order-1 kinds), smoothed recursively:

        p_j(k | c_j) = (count(c_j, k) + alpha * p_{j-1}(k | c_{j-1})) / (count(c_j) + alpha)

    where c_j is the last j kinds of the history and p_0 is the smoothed prior. An
    unseen context therefore falls back to the next shorter one, and every
    probability is positive.
    """

    name: ClassVar[str] = "ngram"

    def __init__(self, order: int = 3, alpha: float = 1.0) -> None:
        if order < 1:
            raise ModelError(f"ngram: order must be at least 1, got {order}")
        if alpha <= 0:
            raise ModelError(f"ngram: alpha must be positive, got {alpha}")
        self.order = order
        self.alpha = alpha
        self.prior: np.ndarray | None = None
        self.counts: dict[tuple[int, ...], np.ndarray] = {}

    def fit(self, train: Examples) -> NgramPredictor:
        label_counts = _label_counts(train) + PRIOR_PSEUDOCOUNT
        self.prior = label_counts / label_counts.sum()
        self.counts = {}
        for history, label in zip(train.history, train.labels):
            if label < 0:
                continue
            for j in range(1, self.order):
                if len(history) < j:
                    break
                context = tuple(map(int, history[len(history) - j :]))
                self.counts.setdefault(context, np.zeros(N_KINDS))[label] += 1
        return self

    def _predict_one(self, history: Any) -> np.ndarray:
        assert self.prior is not None
        p = self.prior
        for j in range(1, self.order):
            if len(history) < j:
                break
            counts = self.counts.get(tuple(map(int, history[len(history) - j :])))
            if counts is None:
                break  # longer contexts contain this one: unseen too
            p = (counts + self.alpha * p) / (counts.sum() + self.alpha)
        return p

    def predict_proba(self, examples: Examples) -> np.ndarray:
        check_fitted(self, self.prior is not None)
        if len(examples) == 0:
            return np.zeros((0, N_KINDS))
        return np.stack([self._predict_one(h) for h in examples.history])

    def config(self) -> dict[str, Any]:
        return {"order": self.order, "alpha": self.alpha}

    def state(self) -> dict[str, Any]:
        return {
            "prior": None if self.prior is None else self.prior.tolist(),
            "counts": [[list(c), v.tolist()] for c, v in self.counts.items()],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.prior = None if state.get("prior") is None else np.asarray(state["prior"])
        self.counts = {tuple(c): np.asarray(v) for c, v in state.get("counts", [])}


class FsmPriorPredictor(PriorPredictor):
    """The training prior restricted to the kinds the scheduler FSM allows from the
    example's snapshot, renormalised. Examples without a mask get the plain prior."""

    name: ClassVar[str] = "fsm_prior"

    def predict_proba(self, examples: Examples) -> np.ndarray:
        out = super().predict_proba(examples)
        if examples.allowed is not None:
            masked = out * examples.allowed
            sums = masked.sum(axis=1, keepdims=True)
            # A row with nothing allowed (no snapshot yet) keeps the prior.
            out = np.where(sums > 0, masked / np.where(sums > 0, sums, 1.0), out)
        return out


def select_ngram_order(
    train: Examples, validation: Examples, orders: range = range(1, 7), alpha: float = 1.0
) -> tuple[NgramPredictor, dict[int, float]]:
    """Fit one n-gram per order; keep the one with the lowest validation NLL."""
    if len(validation) == 0:
        raise ModelError("ngram: the validation split is empty; cannot pick an order")
    scores: dict[int, float] = {}
    best: NgramPredictor | None = None
    for order in orders:
        model = NgramPredictor(order=order, alpha=alpha).fit(train)
        scores[order] = nll(model.predict_proba(validation), validation.labels, model=f"ngram(order={order})")
        if best is None or scores[order] < scores[best.order]:
            best = model
    assert best is not None
    return best, scores


def select_ngram_order_cross_fitted(
    train: Examples, validation: Examples, groups: np.ndarray, orders: range = range(1, 7), folds: int = 3,
    alpha: float = 1.0, seed: int = 0,
) -> tuple[NgramPredictor, dict[int, float]]:
    """Pick the order by mean NLL over the out-of-fold training examples (the training
    programs dealt into `folds` folds by `groups`, e.g. their family; a fold's examples
    are scored by an n-gram fitted on the other folds) and the validation examples
    (scored by an n-gram fitted on all of train); then fit that order on all of train.
    A few validation programs alone give a noisy choice (docs/evaluate.md)."""
    fold = fold_of_groups(np.asarray(groups), folds, seed)
    scores: dict[int, float] = {}
    for order in track(orders, "train ngram", len(orders), "orders"):
        total, n = 0.0, 0
        for f in range(int(fold.max()) + 1):
            held, rest = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
            if held.size == 0 or rest.size == 0:
                continue
            model = NgramPredictor(order=order, alpha=alpha).fit(train.subset(rest))
            total += nll(model.predict_proba(train.subset(held)), train.labels[held], model=f"ngram(order={order})") * held.size
            n += int(held.size)
        if len(validation):
            model = NgramPredictor(order=order, alpha=alpha).fit(train)
            total += nll(model.predict_proba(validation), validation.labels, model=f"ngram(order={order})") * len(validation)
            n += len(validation)
        if n == 0:
            raise ModelError("ngram: no out-of-fold or validation examples to pick an order")
        scores[order] = total / n
    best = min(scores, key=lambda o: scores[o])
    return NgramPredictor(order=best, alpha=alpha).fit(train), scores


BASELINES: tuple[type[Predictor], ...] = (UniformPredictor, PriorPredictor, MajorityPredictor, NgramPredictor, FsmPriorPredictor)
