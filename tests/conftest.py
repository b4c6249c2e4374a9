"""Fixtures shared by every stage's tests: real builds and real traced runs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from schedcast.collect import RunConfig, collect
from schedcast.collect.store import RunStore
from schedcast.corpus import builtin_programs

BUILTIN_RUNS = 3


@pytest.fixture(scope="session")
def builtin_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """Every built-in program run BUILTIN_RUNS times (race build, GOMAXPROCS=2)."""
    out = tmp_path_factory.mktemp("builtin-collection")
    collect(builtin_programs(), out, RunConfig(runs=BUILTIN_RUNS), show_progress=False)
    return out, RunStore(out).read_runs()


@pytest.fixture(scope="session")
def builtin_dataset(builtin_collection: tuple[Path, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset built from `builtin_collection`."""
    from schedcast.dataset import BuildOptions, build_dataset

    out = tmp_path_factory.mktemp("builtin-dataset")
    build_dataset(builtin_collection[0], out, BuildOptions(workers=2, all_depths=True))
    return out
