"""`keel.monitor.drift`: distances between profiles, judged against sampling noise."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from keel.data.profile import profile_batches
from keel.monitor.drift import compare, js_noise, linf_distance, linf_noise


def categorical(n: int, seed: int, *, distinct: int = 20_000, reverse: bool = False):
    """Zipf-like shares over `distinct` values, as real categories are."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"value-{j:05d}" for j in range(distinct)], dtype=object)
    weights = 1.0 / np.arange(1, distinct + 1) ** 0.8
    if reverse:
        weights = weights[::-1]
    picks = rng.choice(distinct, n, p=weights / weights.sum())
    return vocabulary[picks]


def profile(**columns):
    return profile_batches(
        pa.table(
            {k: pa.array(v, pa.string() if v.dtype == object else None) for k, v in columns.items()}
        )
    )


def test_an_unchanged_20000_value_column_at_100k_rows_is_not_flagged_even_at_a_tiny_threshold():
    a = profile(s=categorical(100_000, 1))
    b = profile(s=categorical(100_000, 2))
    [d] = compare(a, b, linf=0.1, js=0.1)
    assert d.measure == "linf" and not d.flagged and d.value < 0.01
    [tight] = compare(a, b, linf=0.0001, js=0.1)  # the threshold alone would flag it
    assert tight.value > tight.threshold
    assert not tight.flagged and tight.verdict == "within noise"
    assert tight.value < tight.noise < 0.02


def test_a_changed_category_mix_is_flagged_at_high_cardinality():
    a = profile(s=categorical(100_000, 1))
    b = profile(s=categorical(100_000, 2, reverse=True))
    [d] = compare(a, b, linf=0.02, js=0.1)
    assert d.flagged and d.value > 0.02


def test_untracked_mass_counts_as_one_other_bucket():
    # Same tracked values, but half the rows of `b` move to values neither sketch tracks.
    rng = np.random.default_rng(0)
    head = np.array([f"top{i}" for i in range(5)], dtype=object)
    a = head[rng.integers(0, 5, 100_000)]
    tail = np.array([f"rare{i}" for i in range(100_000)], dtype=object)
    b = np.where(rng.random(100_000) < 0.5, head[rng.integers(0, 5, 100_000)], tail)
    pa_, pb = profile(s=a), profile(s=b)
    assert linf_distance(pa_.columns["s"], pb.columns["s"]) > 0.4


def test_a_shifted_numeric_column_is_flagged_and_an_unchanged_one_is_not():
    rng = np.random.default_rng(0)
    a = profile(x=rng.normal(0, 1, 50_000), z=rng.normal(0, 1, 50_000))
    b = profile(x=rng.normal(1.5, 1, 50_000), z=rng.normal(0, 1, 50_000))
    found = {d.column: d for d in compare(a, b, linf=0.1, js=0.1)}
    assert found["x"].measure == "js" and found["x"].flagged
    assert not found["z"].flagged and found["z"].value < found["z"].threshold / 10


def test_noise_bounds_shrink_with_rows():
    rng = np.random.default_rng(0)
    small = [profile(x=rng.normal(size=200), s=categorical(200, i, distinct=5)) for i in (1, 2)]
    large = [
        profile(x=rng.normal(size=20_000), s=categorical(20_000, i, distinct=5)) for i in (1, 2)
    ]
    s_small, s_large = (p.columns["s"] for p in small), (p.columns["s"] for p in large)
    assert linf_noise(*s_small) > 5 * linf_noise(*s_large)
    assert js_noise(*(p.columns["x"] for p in small), 10) > 50 * js_noise(
        *(p.columns["x"] for p in large), 10
    )


@pytest.mark.parametrize("seed", range(5))
def test_small_samples_of_one_distribution_are_not_flagged(seed):
    rng = np.random.default_rng(seed)
    a = profile(x=rng.normal(size=150), s=categorical(150, seed, distinct=30))
    b = profile(x=rng.normal(size=120), s=categorical(120, seed + 10, distinct=30))
    assert not any(d.flagged for d in compare(a, b, linf=0.05, js=0.02))


def test_an_override_may_ask_for_linf_on_an_integer_column():
    rng = np.random.default_rng(0)
    a = profile(i=rng.integers(0, 5, 5_000))
    b = profile(i=rng.integers(0, 5, 5_000))
    assert [d.measure for d in compare(a, b, linf=0.1, js=0.1)] == ["js"]
    [d] = compare(a, b, linf=0.1, js=0.1, overrides={"i": {"linf": 0.05}})
    assert (d.measure, d.threshold) == ("linf", 0.05)
