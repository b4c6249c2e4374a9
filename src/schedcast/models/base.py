"""The predictor protocol every model follows (scikit-learn-like).

`fit(train)`, `predict_proba(examples) -> (n, 6)` over the fixed kind order
GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock, `save(path)` and
`load_predictor(path)`. A model that cannot say anything about an example returns
its prior for it, never zeros.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from schedcast.trace import KIND_NAMES, N_KINDS  # noqa: F401 - re-exported for predictors

if TYPE_CHECKING:
    from schedcast.dataset.access import ExampleStructure
MODEL_FORMAT_VERSION = 1


class ModelError(ValueError):
    """A model that cannot be used: unfitted, bad input, incompatible file. Names the model."""


@dataclass(frozen=True)
class Examples:
    """What a baseline sees of each example: the kinds of the prefix's events (oldest
    first, as indices into KIND_NAMES), the label (the next event's kind in the same
    run; -1 when unknown), the program it came from and, when known, which kinds the
    scheduler FSM allows next (boolean (n, 6)).

    Examples read from a dataset also carry `structure`, the richer view a structural
    predictor reads (prefix events with goroutines, reasons and sites, the goroutine
    snapshot, the program's source, k: schedcast.dataset.access.ExampleStructure), and
    training examples may carry `targets`, a (n, 6) distribution per example (soft
    targets; None: the labels are the targets).

    Language models also read `prompt(i)`: example i as a
    `schedcast.dataset.prompts.PromptExample` (source, prefix events with reasons and
    sites, goroutine states), made on demand."""

    history: Sequence[Sequence[int]]
    labels: np.ndarray
    programs: np.ndarray
    allowed: np.ndarray | None = None
    structure: "ExampleStructure | None" = None
    targets: np.ndarray | None = None
    prompt: Callable[[int], Any] | None = None

    def __post_init__(self) -> None:
        n = len(self.history)
        if self.labels.shape != (n,) or self.programs.shape != (n,):
            raise ModelError(f"examples: {n} histories, {self.labels.shape} labels, {self.programs.shape} programs")
        if self.allowed is not None and self.allowed.shape != (n, N_KINDS):
            raise ModelError(f"examples: allowed-kind mask of shape {self.allowed.shape}, expected ({n}, {N_KINDS})")
        if self.structure is not None and len(self.structure) != n:
            raise ModelError(f"examples: structure of {len(self.structure)} examples, expected {n}")
        if self.targets is not None and self.targets.shape != (n, N_KINDS):
            raise ModelError(f"examples: targets of shape {self.targets.shape}, expected ({n}, {N_KINDS})")

    def __len__(self) -> int:
        return len(self.history)

    def subset(self, index: np.ndarray) -> "Examples":
        """The examples at these positions (in this order)."""
        return Examples(
            [self.history[i] for i in index.tolist()],
            self.labels[index],
            self.programs[index],
            None if self.allowed is None else self.allowed[index],
            None if self.structure is None else self.structure.subset(index),
            None if self.targets is None else self.targets[index],
            None if self.prompt is None else _reindexed(self.prompt, index),
        )

    def with_targets(self, targets: np.ndarray | None) -> "Examples":
        return Examples(self.history, self.labels, self.programs, self.allowed, self.structure, targets, self.prompt)


def _reindexed(prompt: Callable[[int], Any], index: np.ndarray) -> Callable[[int], Any]:
    positions = index.tolist()
    return lambda i: prompt(positions[i])


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
