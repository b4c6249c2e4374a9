"""The structural predictor: gradient boosting over history, scheduler-state and source
features (schedcast.models.features), trained against soft targets, masked to the
kinds the scheduler FSM allows, temperature-scaled on validation.

- Booster: scikit-learn's HistGradientBoostingClassifier (histogram gradient
  boosting, LightGBM's algorithm; its wheel ships its own OpenMP runtime, so it
  installs on a bare Debian/Python machine).
- Soft targets: an example whose target is a distribution p over the six kinds is
  given to the booster as one row per kind with p_k > 0, weighted p_k: the weighted
  log-loss is then exactly the cross-entropy against p. `targets="hard"` trains on
  the observed label only (the ablation).
- Rebalancing: each kind's rows are weighted (share of the kind in the booster's
  training targets) ** -rebalance, normalised to mean 1 (0 = off).
- FSM mask: probabilities of kinds the FSM does not allow are set to 0 and the rest
  renormalised (rows with nothing allowed keep the booster's distribution).
- Prediction: one booster fitted on every training example (since model version 2;
  version 1 predicted the mean of the fold boosters below, six times the trees for
  the same validation NLL: docs/models.md, "One booster predicts").
- Cross-fitting: the training programs are also split by family into `folds` groups
  (twins and generator templates share a family); one booster is fitted per fold on
  the other folds, so each training example gets an out-of-fold prediction from a
  booster that never saw its family (`out_of_fold_predictions`, `held_out_proba`:
  the trajectory model's stacked input). `deals` > 1 repeats this with the families
  dealt anew (deal d with seed + 100 d): an example's out-of-fold prediction is the
  mean of its deals' boosters that did not see its family. `fold_mean_proba` is the
  mean of all fold boosters: what a model stacked on the out-of-fold predictions
  reads at prediction time (the trajectory model saves them with its structural
  model; a structural model file does not). `folds=1`: the one booster only (no
  out-of-fold predictions).
- Calibration: one temperature T for the log-probabilities, fitted to minimise the
  NLL after masking on the validation split (never the test split), predicted by
  the model as it predicts. The out-of-fold training predictions are the fallback
  when there are no validation examples (the fit info says which was used).
  Dividing log-probabilities by T > 0 keeps their order, so calibration never
  changes the predicted kind.
- predict_moves: a distribution over (goroutine, kind) moves the FSM allows, from the
  goroutine snapshot: a kind's probability is split evenly between the goroutines
  that can make it (running ones block, yield, end; runnable ones start; blocked ones
  are unblocked; a create makes the next new id), so its marginal is predict_proba.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import pickle
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from schedcast.models.base import KIND_NAMES, N_KINDS, Examples, ModelError, Predictor, check_fitted, fold_of_groups
from schedcast.models.baselines import NgramPredictor
from schedcast.models.features import FEATURES_VERSION, FeatureReport, categorical_features, feature_names, featurize
from schedcast.terminal import track

TARGETS = ("soft", "hard")
MODEL_VERSION = 2  # 2: predicts with one booster fitted on every training example (1: the mean of the fold boosters)
MIN_GROUP_RUNS = 3  # a state group gives a soft target when it was seen in at least this many runs
UNKNOWN_GOROUTINE = 0  # predict_moves: "a goroutine the prefix has not shown"


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


_THREADPOOLS: Any = None


def _one_thread():  # type: ignore[no-untyped-def]
    """The booster runs on one OpenMP thread: on a busy 2-core machine, OpenMP's
    spinning threads made fitting 10-20x slower than one thread. The thread-pool
    controller is made once (after scikit-learn is loaded): making one scans every
    loaded library, which cost tens of milliseconds per prediction call."""
    global _THREADPOOLS
    from threadpoolctl import ThreadpoolController

    if _THREADPOOLS is None:
        import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime the controller must see

        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="openmp")


def _fit_booster(booster: Any, x: np.ndarray, rows: np.ndarray, kinds: np.ndarray, weight: np.ndarray) -> Any:
    """One booster on one OpenMP thread (also the body of a worker process's job)."""
    with _one_thread():
        booster.fit(x[rows], kinds, sample_weight=weight)
    return booster


PARALLEL_MIN_EXAMPLES = 256  # fewer examples per call: the booster predicts in this thread


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def apply_mask(p: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Zero the kinds the FSM does not allow and renormalise (rows with nothing
    allowed are left as they are)."""
    if allowed is None:
        return p
    masked = p * allowed
    sums = masked.sum(axis=1, keepdims=True)
    return np.where(sums > 0, masked / np.where(sums > 0, sums, 1.0), p)


def scale_temperature(p: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T); zeros stay zeros."""
    if temperature == 1.0:
        return p
    with np.errstate(divide="ignore"):
        logp = np.log(np.clip(p, 0.0, None))
    z = np.where(np.isfinite(logp), logp / temperature, -np.inf)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(p: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the NLL of `p` (already masked) on these labels."""
    from scipy.optimize import minimize_scalar

    keep = labels >= 0
    p, labels = p[keep], labels[keep]
    if labels.size == 0:
        return 1.0

    def nll(log_t: float) -> float:
        q = scale_temperature(p, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(q[np.arange(labels.size), labels], 1e-12, None))))

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x)) if nll(res.x) <= nll(0.0) else 1.0


@dataclass
class FitInfo:
    train_examples: int = 0
    train_rows: int = 0  # booster rows (soft targets: one per kind with mass)
    soft_examples: int = 0  # examples whose target was a state group's distribution
    validation_examples: int = 0
    calibration_examples: int = 0  # examples the temperature was fitted on
    calibration_source: str = "none"  # validation | out-of-fold training (no validation examples) | none
    folds: int = 1
    deals: int = 1  # deals of the families into the folds: deals x folds boosters
    out_of_fold_accuracy: float = float("nan")  # of the fold boosters on the families they did not see (masked, T = 1)
    out_of_fold_nll: float = float("nan")
    validation_nll_before: float = float("nan")
    validation_nll_after: float = float("nan")
    fit_seconds: float = 0.0
    fit_cpu_seconds: float = 0.0  # this process's CPU time (boosters fitted in worker processes not included)
    without_facts: int = 0
    programs_without_facts: dict[str, str] | None = None


class StructuralPredictor(Predictor):
    name: ClassVar[str] = "structural"

    def __init__(
        self,
        targets: str = "soft",
        source_features: bool = True,
        mask: bool = True,
        rebalance: float = 0.5,
        max_iter: int = 20,
        learning_rate: float = 0.3,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 1.0,
        seed: int = 0,
        name: str = "structural",
        folds: int = 3,
        ngram_order: int = 0,
        deals: int = 2,
        n_jobs: int | None = None,
    ) -> None:
        if targets not in TARGETS:
            raise ModelError(f"structural: targets must be one of {TARGETS}, got {targets!r}")
        if rebalance < 0:
            raise ModelError(f"structural: rebalance must be >= 0, got {rebalance}")
        if max_iter < 1:
            raise ModelError(f"structural: max_iter must be at least 1, got {max_iter}")
        if folds < 1:
            raise ModelError(f"structural: folds must be at least 1, got {folds}")
        if deals < 1:
            raise ModelError(f"structural: deals must be at least 1, got {deals}")
        if ngram_order < 0:
            raise ModelError(f"structural: ngram_order must be >= 0 (0: no n-gram features), got {ngram_order}")
        if n_jobs is not None and n_jobs < 1:
            raise ModelError(f"structural: workers (n_jobs) must be at least 1 (default: one per core), got {n_jobs}")
        self.targets = targets
        self.source_features = source_features
        self.mask = mask
        self.rebalance = rebalance
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.seed = seed
        self.name = name  # type: ignore[misc]  # variants (ablations) save under their own names
        self.folds = folds
        self.deals = deals
        # Processes fitting the boosters at once, and threads predicting (each on a share
        # of the examples) (None: one per core). The model and its predictions are the
        # same for any value; not saved.
        self.n_jobs = n_jobs
        # > 0: the log-probabilities of a kind n-gram of this order are 6 more features
        # (stacking): out of fold while fitting, the n-gram of all training examples after.
        self.ngram_order = ngram_order
        self.ngram: NgramPredictor | None = None
        # The booster the model predicts with (fitted on every training example), as a
        # list of one, and the kinds it saw.
        self.boosters: list[Any] = []
        self.classes: list[np.ndarray] = []
        # The fold boosters and their kinds, deal by deal: after fit, and after loading
        # a state saved with them (state(fold_boosters=True)).
        self._fold_boosters: list[Any] = []
        self._fold_classes: list[np.ndarray] = []
        self.temperature = 1.0
        self.class_weight: np.ndarray = np.ones(N_KINDS)
        self.info = FitInfo()
        self.last_report = FeatureReport()
        # Out-of-fold (masked) predictions and labels of the training examples, kept after
        # fit for calibrate(); not saved.
        self._out_of_fold: tuple[np.ndarray, np.ndarray] | None = None
        # The fold each training group was held out in, per deal, kept after fit for
        # held_out_proba(); not saved.
        self._fold_of_group: dict[str, tuple[int, ...]] = {}

    @property
    def fitted(self) -> bool:
        return bool(self.boosters)

    # -- fitting ------------------------------------------------------------------
    def feature_names(self) -> list[str]:
        names = feature_names(self.source_features)
        return names + ([f"ngram.{k}" for k in KIND_NAMES] if self.ngram_order else [])

    def features(self, examples: Examples) -> np.ndarray:
        x, report = featurize(examples, self.source_features)
        self.last_report = report
        if self.ngram_order:
            if self.ngram is None:
                raise ModelError("structural: this model stacks an n-gram but has none (fit it first)")
            x = np.hstack([x, _log_proba(self.ngram, examples)])
        return x

    def _booster(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            categorical_features=categorical_features(self.feature_names()),
            early_stopping=False,
            random_state=self.seed,
        )

    def fit(self, train: Examples, groups: np.ndarray | None = None) -> StructuralPredictor:
        """Fit on `train`; `groups` (one label per example, e.g. the program's family)
        decides the cross-fitting folds: a group is never split between folds. Without
        groups, the programs are the groups."""
        started, started_cpu = time.monotonic(), time.process_time()
        keep = train.labels >= 0
        if not keep.any():
            raise ModelError("structural: the training examples have no labels (empty split?)")
        index = np.flatnonzero(keep)
        train = train.subset(index)
        groups = np.asarray(train.programs if groups is None else np.asarray(groups)[index]).astype(str)
        fold = fold_of_groups(groups, self.folds, self.seed)
        n_folds = int(fold.max()) + 1
        # Further deals of the families (with one fold there is nothing to deal anew).
        deal_folds = [fold] + [fold_of_groups(groups, self.folds, self.seed + 100 * d) for d in range(1, self.deals if n_folds > 1 else 1)]
        self._fold_of_group = {g: tuple(int(f[i]) for f in deal_folds) for i, g in enumerate(groups.tolist())} if n_folds > 1 else {}
        x, report = featurize(train, self.source_features)
        self.last_report = report
        if self.ngram_order:
            # Stacking: each training example reads an n-gram fitted without its fold's families.
            stacked = np.zeros((len(train), N_KINDS))
            for f in range(n_folds):
                held = np.flatnonzero(fold == f)
                rest = np.flatnonzero(fold != f) if n_folds > 1 else held
                stacked[held] = _log_proba(NgramPredictor(self.ngram_order).fit(train.subset(rest)), train.subset(held))
            self.ngram = NgramPredictor(self.ngram_order).fit(train)
            x = np.hstack([x, stacked])
        if self.targets == "soft" and train.targets is not None:
            target = np.asarray(train.targets, dtype=np.float64)
            self.info.soft_examples = int(np.count_nonzero(target.max(axis=1) < 1.0))
        else:
            target = np.eye(N_KINDS)[train.labels]
            self.info.soft_examples = 0
        self.class_weight = class_weights(target, self.rebalance)
        self.boosters, self.classes, self._fold_boosters, self._fold_classes = [], [], [], []
        out_of_fold = np.zeros((len(train), N_KINDS))
        # The fold boosters (with more than one fold), then the one on everything.
        masks = [deal_folds[d] != f for d in range(len(deal_folds)) for f in range(n_folds)] if n_folds > 1 else []
        masks.append(np.ones(len(train), dtype=bool))
        plans = []
        for fitted_on in masks:
            rows, kinds = np.nonzero(target * fitted_on[:, None] > 0)
            weight = class_weights(target[fitted_on], self.rebalance)  # from this booster's own targets
            plans.append((fitted_on, rows, kinds, target[rows, kinds] * weight[kinds]))
        fitted = self._fit_boosters(x, plans)
        for i in track(range(len(plans)), f"train {self.name}", len(plans), "boosters"):
            booster = next(fitted)
            classes = np.asarray(booster.classes_, dtype=np.int64)
            if i == len(plans) - 1:
                self.boosters, self.classes = [booster], [classes]
                continue
            self._fold_boosters.append(booster)
            self._fold_classes.append(classes)
            held = np.flatnonzero(~plans[i][0])
            out_of_fold[held] += _proba(booster, classes, x[held]) / len(deal_folds)
        self._out_of_fold = None
        if n_folds > 1:
            held_out = apply_mask(out_of_fold, train.allowed)
            self._out_of_fold = (held_out, train.labels.copy())
            truth = held_out[np.arange(len(train)), train.labels]
            self.info.out_of_fold_accuracy = float(np.mean(held_out.argmax(axis=1) == train.labels))
            self.info.out_of_fold_nll = float(-np.mean(np.log(np.clip(truth, 1e-12, None))))
        self.temperature = 1.0
        self.info.folds = n_folds
        self.info.deals = len(deal_folds)
        self.info.train_examples = len(train)
        self.info.train_rows = int(plans[-1][1].size)
        self.info.without_facts = self.last_report.without_facts
        self.info.programs_without_facts = dict(self.last_report.programs_without_facts)
        self.info.fit_seconds = time.monotonic() - started
        self.info.fit_cpu_seconds = time.process_time() - started_cpu
        return self

    def _fit_boosters(self, x: np.ndarray, plans: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Iterator[Any]:
        """The boosters in order, fitted `n_jobs` at a time in worker processes (joblib;
        each on one OpenMP thread), or here when one job or one booster."""
        n_jobs = min(self.n_jobs or _cores(), len(plans))
        if n_jobs <= 1:
            return (_fit_booster(self._booster(), x, rows, kinds, weight) for _, rows, kinds, weight in plans)
        from joblib import Parallel, delayed

        return iter(Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_fit_booster)(self._booster(), x, rows, kinds, weight) for _, rows, kinds, weight in plans
        ))

    def out_of_fold_predictions(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The training examples' out-of-fold predictions (masked, T = 1) and their labels,
        from the fit this process made (None after load, or with one fold)."""
        return self._out_of_fold

    def calibrate(self, validation: Examples) -> StructuralPredictor:
        """Fit the temperature on these validation examples (never the test split); with
        none, on the out-of-fold training predictions fit() made (named in
        info.calibration_source); with neither, T stays 1."""
        check_fitted(self, self.fitted)
        keep = np.flatnonzero(validation.labels >= 0)
        validation = validation.subset(keep)
        self.info.validation_examples = len(validation)
        self.temperature = 1.0
        if len(validation):
            p, labels = self.predict_proba(validation, calibrated=False), validation.labels
            idx = np.arange(labels.size)
            self.info.validation_nll_before = float(-np.mean(np.log(np.clip(p[idx, labels], 1e-12, None))))
            self.info.calibration_source = "validation"
        elif self._out_of_fold is not None and self._out_of_fold[1].size:
            p, labels = self._out_of_fold
            self.info.calibration_source = "out-of-fold training (no validation examples)"
        else:
            self.info.calibration_source = "none"
            self.info.calibration_examples = 0
            return self
        self.temperature = fit_temperature(p, labels)
        self.info.calibration_examples = int(labels.size)
        if len(validation):
            q = self.predict_proba(validation)
            self.info.validation_nll_after = float(-np.mean(np.log(np.clip(q[idx, labels], 1e-12, None))))
        return self

    # -- prediction -----------------------------------------------------------------
    def raw_proba(self, examples: Examples, x: np.ndarray | None = None) -> np.ndarray:
        """The booster's distributions, before the FSM mask and the temperature."""
        check_fitted(self, self.fitted)
        if len(examples) == 0:
            return np.zeros((0, N_KINDS))
        if x is None:
            x = self.features(examples)
        booster, classes = self.boosters[0], self.classes[0]
        threads = min(self.n_jobs or _cores(), max(1, x.shape[0] // PARALLEL_MIN_EXAMPLES))
        if threads <= 1:
            return _proba(booster, classes, x)
        # The booster's predict runs without the GIL: one thread per core, each on its
        # share of the examples with one OpenMP thread (set in the thread that predicts).
        with ThreadPoolExecutor(threads) as pool:
            return np.concatenate(list(pool.map(lambda part: _proba(booster, classes, part), np.array_split(x, threads))))

    def fold_mean_proba(self, examples: Examples, x: np.ndarray | None = None) -> np.ndarray:
        """The mean of the fold boosters' distributions (before mask and temperature):
        what a model stacked on held_out_proba reads when it predicts (its training
        inputs were fold boosters' too). Needs the fold boosters (after fit, or loaded
        from a state saved with them)."""
        check_fitted(self, self.fitted)
        if not self._fold_boosters:
            raise ModelError("structural: this model carries no fold boosters (one fold, or loaded from a file saved without them)")
        if len(examples) == 0:
            return np.zeros((0, N_KINDS))
        if x is None:
            x = self.features(examples)
        return np.mean([_proba(b, c, x) for b, c in zip(self._fold_boosters, self._fold_classes, strict=True)], axis=0)

    def held_out_proba(self, examples: Examples, groups: np.ndarray) -> np.ndarray:
        """Like fold_mean_proba, but each example reads the mean of the fold boosters
        (one per deal) that did not see its group (`groups` as given to fit, one per
        example); a group fit never saw reads the mean of all fold boosters. For
        stacking on other positions of the training programs; only right after fit
        (the fold map is not saved). Without fold boosters (one fold, or loaded
        without them), every example reads the model's booster."""
        check_fitted(self, self.fitted)
        groups = np.asarray(groups).astype(str)
        if len(examples) != groups.size:
            raise ModelError(f"structural: held_out_proba got {groups.size} groups for {len(examples)} examples")
        x = self.features(examples)
        out = np.zeros((len(examples), N_KINDS))
        n_deals = len(next(iter(self._fold_of_group.values()), (0,)))
        n_folds = len(self._fold_boosters) // n_deals
        unknown = (-1,) * n_deals
        fold = np.array([self._fold_of_group.get(g, unknown) for g in groups.tolist()], dtype=np.int64).reshape(len(examples), n_deals)
        for d in range(n_deals):
            for f in range(n_folds):
                rows = np.flatnonzero(fold[:, d] == f)
                i = d * n_folds + f
                out[rows] += _proba(self._fold_boosters[i], self._fold_classes[i], x[rows]) / n_deals
        rows = np.flatnonzero((fold[:, 0] < 0) | (n_folds == 0))
        if rows.size:
            unseen = examples.subset(rows)
            out[rows] = self.fold_mean_proba(unseen, x[rows]) if n_folds else self.raw_proba(unseen, x[rows])
        return out

    def predict_proba(
        self, examples: Examples, *, calibrated: bool = True, mask: bool | None = None, x: np.ndarray | None = None
    ) -> np.ndarray:
        p = self.raw_proba(examples, x)
        if calibrated:
            p = scale_temperature(p, self.temperature)
        if self.mask if mask is None else mask:
            p = apply_mask(p, examples.allowed)
        return p

    def predict_moves(self, examples: Examples) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per example: (moves (m, 2) of (goroutine, kind), probabilities (m,)), over the
        moves the FSM allows; the probabilities of a kind's moves sum to predict_proba's.
        Goroutine 0 stands for one the prefix has not shown (e.g. a kind the FSM allows
        while the replayed snapshot has no goroutine that can make it)."""
        from schedcast.dataset.access import GOROUTINE_STATUS

        s = examples.structure
        if s is None:
            raise ModelError("structural: predict_moves needs examples with structure (DatasetView.model_examples)")
        q = self.predict_proba(examples)
        by_status = {name: i for i, name in enumerate(GOROUTINE_STATUS)}
        # Who can make each kind: GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock.
        needs = ("running", None, "running", "running", "runnable", "blocked")
        out = []
        for i in range(len(examples)):
            snap = s.snapshot(i)
            status = np.array([by_status[st.status] for st in snap], dtype=np.int64)
            ids = np.array([st.g for st in snap], dtype=np.int64)
            moves: list[tuple[int, int]] = []
            probs: list[float] = []
            for kind in range(N_KINDS):
                if q[i, kind] <= 0:
                    continue
                if needs[kind] is None:
                    who = np.array([(ids.max() if ids.size else 0) + 1])
                else:
                    who = ids[status == by_status[needs[kind]]]
                    if who.size == 0:
                        who = np.array([UNKNOWN_GOROUTINE])
                for g in who.tolist():
                    moves.append((int(g), kind))
                    probs.append(float(q[i, kind]) / who.size)
            out.append((np.array(moves, dtype=np.int64).reshape(-1, 2), np.array(probs)))
        return out

    def feature_importances(self, examples: Examples, repeats: int = 3, top: int = 20) -> list[tuple[str, float]]:
        """Permutation importance on these (validation) examples: the mean drop in
        log-likelihood (nats per example) when one feature's column is shuffled."""
        check_fitted(self, self.fitted)
        keep = np.flatnonzero(examples.labels >= 0)
        examples = examples.subset(keep)
        if len(examples) == 0:
            return []
        x = self.features(examples)
        labels = examples.labels
        idx = np.arange(labels.size)

        def loglik(xx: np.ndarray) -> float:
            p = self.predict_proba(examples, x=xx)
            return float(np.mean(np.log(np.clip(p[idx, labels], 1e-12, None))))

        base = loglik(x)
        rng = np.random.default_rng(self.seed)
        names = self.feature_names()
        scores = []
        for j, name in enumerate(names):
            col = x[:, j].copy()
            if np.all(col == col[0]) or np.all(np.isnan(col)):
                scores.append((name, 0.0))
                continue
            drops = []
            for _ in range(repeats):
                x[:, j] = rng.permutation(col)
                drops.append(base - loglik(x))
            x[:, j] = col
            scores.append((name, float(np.mean(drops))))
        scores.sort(key=lambda t: -t[1])
        return scores[:top]

    # -- persistence --------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "source_features": self.source_features,
            "mask": self.mask,
            "rebalance": self.rebalance,
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "seed": self.seed,
            "name": self.name,
            "folds": self.folds,
            "ngram_order": self.ngram_order,
            "deals": self.deals,
        }

    def state(self, fold_boosters: bool = False) -> dict[str, Any]:
        """The model as JSON-able data; `fold_boosters`: with the fold boosters too (for
        fold_mean_proba after loading; the trajectory model saves its structural model so)."""
        if not self.fitted:
            return {"fitted": False}
        out = {
            "fitted": True,
            "model_version": MODEL_VERSION,
            "features": self.feature_names(),
            "features_version": FEATURES_VERSION,
            "ngram": None if self.ngram is None else self.ngram.state(),
            "sklearn": _sklearn_version(),
            **_packed(self.boosters, self.classes, "boosters"),
            "temperature": self.temperature,
            "class_weight": self.class_weight.tolist(),
            "info": self.info.__dict__,
        }
        if fold_boosters:
            out.update(_packed(self._fold_boosters, self._fold_classes, "fold_boosters"))
        return out

    def set_state(self, state: dict[str, Any]) -> None:
        if not state.get("fitted"):
            return
        expected = self.feature_names()
        if state.get("features") != expected:
            got = state.get("features") or []
            missing = [f for f in expected if f not in got]
            raise ModelError(
                f"structural model computed other features ({len(got)} saved, {len(expected)} now; "
                f"missing e.g. {missing[:3]}): retrain it with `schedcast train structural`"
            )
        if state.get("features_version", 1) != FEATURES_VERSION:
            raise ModelError(
                f"structural model computed version {state.get('features_version', 1)} of its features, this schedcast "
                f"computes version {FEATURES_VERSION}: retrain it with `schedcast train structural`"
            )
        if state.get("sklearn") != _sklearn_version():
            raise ModelError(
                f"structural model saved with scikit-learn {state.get('sklearn')}, this install has {_sklearn_version()}: "
                "retrain it with `schedcast train structural`"
            )
        if state.get("model_version", 1) != MODEL_VERSION or len(state.get("boosters", [])) != 1:
            raise ModelError(
                f"structural model file of version {state.get('model_version', 1)} (this schedcast reads version {MODEL_VERSION}: "
                "one booster fitted on every training example): retrain it with `schedcast train structural`"
            )
        self.boosters, self.classes = _unpacked(state, "boosters")
        self._fold_boosters, self._fold_classes = _unpacked(state, "fold_boosters") if "fold_boosters" in state else ([], [])
        self.temperature = float(state["temperature"])
        self.class_weight = np.asarray(state["class_weight"], dtype=np.float64)
        known = {f.name for f in dataclasses.fields(FitInfo)}
        self.info = FitInfo(**{k: v for k, v in state.get("info", {}).items() if k in known})
        self.ngram = None
        if self.ngram_order:
            if not state.get("ngram"):
                raise ModelError("structural model file stacks an n-gram but carries none: retrain it")
            self.ngram = NgramPredictor(self.ngram_order)
            self.ngram.set_state(state["ngram"])


def _packed(boosters: list[Any], classes: list[np.ndarray], key: str) -> dict[str, Any]:
    """Boosters as JSON-able data: pickled, base64, with their SHA-256 and their kinds."""
    blobs = []
    for booster in boosters:
        buf = io.BytesIO()
        pickle.dump(booster, buf, protocol=5)
        blobs.append(buf.getvalue())
    return {
        f"{key}_sha256": [hashlib.sha256(b).hexdigest() for b in blobs],
        key: [base64.b64encode(b).decode() for b in blobs],
        _classes_key(key): [c.tolist() for c in classes],
    }


def _unpacked(state: dict[str, Any], key: str) -> tuple[list[Any], list[np.ndarray]]:
    boosters = []
    for text, digest in zip(state[key], state[f"{key}_sha256"], strict=True):
        blob = base64.b64decode(text)
        if hashlib.sha256(blob).hexdigest() != digest:
            raise ModelError("structural model file is damaged (booster checksum mismatch): retrain it")
        boosters.append(pickle.loads(blob))  # noqa: S301 - a model file this user trained (checksummed)
    return boosters, [np.asarray(c, dtype=np.int64) for c in state[_classes_key(key)]]


def _classes_key(key: str) -> str:
    return "classes" if key == "boosters" else f"{key}_classes"


def _proba(booster: Any, classes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One booster's distributions over the six kinds, on one OpenMP thread; a kind it
    never saw in training still gets a little mass (never a hard zero)."""
    p = np.zeros((x.shape[0], N_KINDS))
    if x.shape[0]:
        with _one_thread():
            p[:, classes] = booster.predict_proba(x)
    p = np.clip(p, 1e-6, None)
    return p / p.sum(axis=1, keepdims=True)


def _log_proba(ngram: NgramPredictor, examples: Examples) -> np.ndarray:
    return np.log(np.clip(ngram.predict_proba(examples), 1e-12, None))


def class_weights(target: np.ndarray, rebalance: float) -> np.ndarray:
    """Per kind: (its share of the target mass) ** -rebalance, normalised so the mean
    weight of the mass is 1; kinds without mass get 0."""
    mass = target.sum(axis=0)
    share = mass / mass.sum()
    weight = np.where(share > 0, np.power(np.where(share > 0, share, 1.0), -rebalance), 0.0)
    return weight / (weight * share).sum()


