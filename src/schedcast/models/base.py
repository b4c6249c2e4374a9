"""The predictor protocol every model follows (scikit-learn-like).

`fit(train)`, `predict_proba(examples) -> (n, 6)` over the fixed kind order
GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock, `save(path)` and
`load_predictor(path)`. A model that cannot say anything about an example returns
its prior for it, never zeros.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from schedcast.dataset.examples import Examples, ModelError  # noqa: F401 - re-exported: part of the predictor protocol

from schedcast.trace import KIND_NAMES, N_KINDS  # noqa: F401 - re-exported for predictors

MODEL_FORMAT_VERSION = 1


class Predictor:
    name: ClassVar[str] = "predictor"

    def fit(self, train: Examples) -> Predictor:
        raise NotImplementedError

    def predict_proba(self, examples: Examples) -> np.ndarray:
        raise NotImplementedError

    # -- persistence ----------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {}

    def state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass

    def loaded_from(self, path: Path) -> None:
        """Called by load_predictor with the file the model was read from (a model whose
        weights lie beside its file finds them from there)."""

    def save(self, path: Path) -> None:
        blob = {
            "schedcast_model": type(self).name,  # the class; a variant's own name is in its config
            "format_version": MODEL_FORMAT_VERSION,
            "kinds": list(KIND_NAMES),
            "config": self.config(),
            "state": self.state(),
        }
        Path(path).write_text(json.dumps(blob))


def _registry() -> dict[str, type[Predictor]]:
    from schedcast.models.baselines import BASELINES
    from schedcast.models.lm.predictor import LMPredictor
    from schedcast.models.structural import StructuralPredictor
    from schedcast.models.trajectory import TrajectoryPredictor
    from schedcast.models.zeroshot import ZeroShotPredictor

    return {cls.name: cls for cls in (*BASELINES, StructuralPredictor, TrajectoryPredictor, LMPredictor, ZeroShotPredictor)}


def model_files(paths: Sequence[Path]) -> list[Path]:
    """Model files named directly or found (*.json) in the directories given;
    ModelError names a path that holds none."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ModelError(f"{path}: no model files (*.json) in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ModelError(f"{path}: no such model file or directory")
    return files


def load_predictor(path: Path) -> Predictor:
    path = Path(path)
    try:
        blob = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not a schedcast model file ({exc})") from exc
    name = blob.get("schedcast_model", "?") if isinstance(blob, dict) else "?"
    if not isinstance(blob, dict) or "schedcast_model" not in blob:
        raise ModelError(f"{path}: not a schedcast model file")
    if blob.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(f"{path}: model {name!r} has format version {blob.get('format_version')}, this schedcast reads {MODEL_FORMAT_VERSION}")
    if blob.get("kinds") != list(KIND_NAMES):
        raise ModelError(f"{path}: model {name!r} uses kind order {blob.get('kinds')}, expected {list(KIND_NAMES)}")
    cls = _registry().get(name)
    if cls is None:
        raise ModelError(f"{path}: unknown model {name!r}")
    try:
        model = cls(**blob["config"])
        model.loaded_from(path)
        model.set_state(blob["state"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelError):
            raise ModelError(f"{path}: {exc}") from exc
        raise ModelError(f"{path}: model {name!r} file is incomplete or from another schedcast ({type(exc).__name__}: {exc})") from exc
    return model


def check_fitted(model: Predictor, fitted: bool) -> None:
    if not fitted:
        raise ModelError(f"{model.name}: call fit() before predict_proba()")


def fold_of_groups(groups: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """A fold index per example: the distinct groups are shuffled (seeded) and dealt
    round-robin to min(folds, groups) folds, so a group never straddles two folds."""
    names, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n = min(folds, names.size)
    if n <= 1:
        return np.zeros(inverse.size, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(names.size)
    fold_of_name = np.empty(names.size, dtype=np.int64)
    fold_of_name[order] = np.arange(names.size) % n
    return fold_of_name[inverse]
