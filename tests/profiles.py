"""Tables of every kind of column, and ways to compare their profiles, for the profile tests."""

import json
import math

import numpy as np
import pyarrow as pa

from keel.data.column import ColumnProfile
from keel.data.profile import Profile


def table(n: int, *, seed: int = 0) -> pa.Table:
    """Every kind of column, with nulls, NaN and infinities where they can occur."""
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    cities = np.array(["paris", "rome", "oslo", "lima", "kyiv"], dtype=object)
    return pa.table(
        {
            "x": pa.array(x, mask=rng.random(n) < 0.05),
            "n": pa.array(rng.integers(-50, 1000, n), mask=rng.random(n) < 0.03),
            "big": pa.array(rng.integers(0, 10**12, n)),
            "city": pa.array(cities[rng.choice(5, n, p=[0.6, 0.1, 0.1, 0.1, 0.1])]),
            "id": pa.array([f"u{i}" for i in rng.integers(0, 10 * n, n)]),
            "flag": pa.array(rng.random(n) < 0.3),
            "when": pa.array(
                np.datetime64("2024-01-01T00:00:00", "us") + rng.integers(0, 10**12, n),
                type=pa.timestamp("us"),
            ),
            "blob": pa.array([b"x"] * n),
        }
    )


def exact_columns(p: Profile) -> dict:
    return {
        name: (c.type, c.kind, c.count, c.nulls, c.nan, c.inf, c.finite, c.min, c.max)
        for name, c in p.columns.items()
    }


def comparable(p: Profile) -> str:
    """A profile's JSON, frequent-value sketches as their items (their bytes follow a hash map)."""
    data = p.to_dict()
    for name, col in data["columns"].items():
        if "frequent" in col["sketches"]:
            col["sketches"]["frequent"] = sorted(p[name].frequent_items())
    return json.dumps(data)


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def finite_values(t: pa.Table, name: str) -> np.ndarray:
    col = t.column(name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    v = col.drop_null().to_numpy().astype(np.float64)
    return v[np.isfinite(v)]


def assert_quantiles_within_rank_error(col: ColumnProfile, values: np.ndarray) -> None:
    """Each quantile the sketch gives has a rank in the exact data within the rank error."""
    values = np.sort(values)
    eps = col.rank_error
    for q, x in zip(
        (0.05, 0.25, 0.5, 0.75, 0.95), col.quantiles((0.05, 0.25, 0.5, 0.75, 0.95)), strict=True
    ):
        below = np.searchsorted(values, x, "left") / len(values)
        at_most = np.searchsorted(values, x, "right") / len(values)
        assert below - eps <= q <= at_most + eps, (col.name, q, x, below, at_most, eps)
