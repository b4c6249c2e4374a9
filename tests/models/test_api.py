"""The train stage's API: each function fits on a real dataset and writes loadable models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schedcast.dataset.access import DatasetView
from schedcast.models import ModelError, load_predictor, train_baselines, train_structural, train_trajectory
from schedcast.models.fitting import StructuralOptions


def test_train_functions_write_models_that_predict(builtin_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    baselines = train_baselines(builtin_dataset, out)
    assert sorted(p.name for p in baselines.paths) == sorted(f"{n}.json" for n in ("uniform", "prior", "majority", "fsm_prior", "ngram"))
    assert baselines.report.train_examples > 0 and "baselines fit on" in baselines.summary(out)
    structural = train_structural(builtin_dataset, out, StructuralOptions(max_iter=5, positions_per_run=2))
    assert structural.path == out / "structural.json" and "structural: fit on" in structural.summary()
    trajectory = train_trajectory(builtin_dataset, out, epochs=1)
    assert trajectory.path == out / "trajectory_kl.json"
    examples, _ = DatasetView(builtin_dataset).model_examples("train")
    for path in [*baselines.paths, structural.path, trajectory.path]:
        probs = load_predictor(path).predict_proba(examples)
        assert probs.shape == (len(examples), 6) and np.allclose(probs.sum(axis=1), 1.0)


def test_bad_options_are_model_errors(builtin_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="protocol must be paper or all"):
        train_baselines(builtin_dataset, tmp_path, protocol="some")
    with pytest.raises(ModelError, match="--targets must be soft or hard"):
        train_structural(builtin_dataset, tmp_path, StructuralOptions(targets="fuzzy"))
    assert not list(tmp_path.iterdir())
