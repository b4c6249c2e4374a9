"""Shared fixtures: real traced runs of the hand-crafted suite."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from schedcast.collect import RunConfig, RunStore, collect
from schedcast.corpus.catalog import handcrafted_programs

# Every hand-crafted program showed its declared outcome in 20 of 20 runs when it was
# written (docs/corpus.md): the 95 % lower bound on each rate is 0.86, so 3 runs miss
# an outcome with probability below 0.003 per program.
HANDCRAFTED_RUNS = 3


@pytest.fixture(scope="session")
def handcrafted_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """Every hand-crafted program run HANDCRAFTED_RUNS times (race build, GOMAXPROCS=2)."""
    out = tmp_path_factory.mktemp("handcrafted-collection")
    collect(handcrafted_programs(), out, RunConfig(runs=HANDCRAFTED_RUNS), show_progress=False)
    return out, RunStore(out).read_runs()
