"""Shared fixtures: small, real ML systems written to a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from systems import write_system

from keel.system import System


@pytest.fixture
def make_system(tmp_path: Path) -> Callable[..., System]:
    """Build a System from frames and keel.toml sections in a fresh temporary folder."""
    counter = iter(range(1000))

    def make(train: pd.DataFrame, eval: pd.DataFrame | None = None, **kwargs: Any) -> System:
        folder = tmp_path / f"system{next(counter)}"
        return System.from_path(write_system(folder, train, eval, **kwargs))

    return make


@pytest.fixture(autouse=True)
def _one_thread_per_test():
    """Training in tests uses one thread: two cores shared by several workers otherwise spin."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def spark() -> Any:
    """One real local[2] SparkSession for the whole run (Spark starts in ~7 s; once is enough)."""
    from keel.data.spark import SparkSettings, session

    started = session(SparkSettings(master="local[2]", conf={"spark.sql.shuffle.partitions": 4}))
    yield started
    started.stop()
