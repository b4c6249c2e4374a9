"""The examples predictors read (`Examples`), made by the dataset's view
(schedcast.dataset.access) and by the probe; the models stage re-exports them from
schedcast.models.base with the predictor protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from schedcast.trace import N_KINDS

if TYPE_CHECKING:
    from schedcast.dataset.access import ExampleStructure


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
    prompt: Callable[..., Any] | None = None  # prompt(i, max_events=None) -> PromptExample

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


def _reindexed(prompt: Callable[..., Any], index: np.ndarray) -> Callable[..., Any]:
    positions = index.tolist()
    return lambda i, max_events=None: prompt(positions[i], max_events=max_events)
