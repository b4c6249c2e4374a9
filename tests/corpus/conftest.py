"""Shared fixtures: real traced runs of the hand-crafted suite."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from schedcast.collect import RunConfig, RunStore, collect
from schedcast.corpus.catalog import handcrafted_programs

# Every hand-crafted program showed its declared outcome in 20 of 20 runs (and 50 of
# 50, see docs/corpus.md) when it was written; the least reliable measured rate is
# above 0.9, so 3 runs miss an outcome with probability below 1e-3 per program.
HANDCRAFTED_RUNS = 3


@pytest.fixture(scope="session")
def handcrafted_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """Every hand-crafted program run HANDCRAFTED_RUNS times (race build, GOMAXPROCS=2)."""
    out = tmp_path_factory.mktemp("handcrafted-collection")
    collect(handcrafted_programs(), out, RunConfig(runs=HANDCRAFTED_RUNS), show_progress=False)
    return out, RunStore(out).read_runs()
