import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from keel.data.compare import (
    MEASURES,
    Comparison,
    compare_profiles,
    js_divergence,
    js_divergence_from_profiles,
    js_from_profiles,
    ks_statistic,
    linf_distance,
    linf_from_profiles,
    psi,
    psi_from_profiles,
    shared_splits,
    wasserstein,
)
from keel.data.profile import profile_batches
from keel.errors import ConfigError, DataError

RNG = np.random.default_rng(0)


def profile_of(**columns):
    return profile_batches(pa.table(columns).to_batches(max_chunksize=20_000))


def exact_histogram(values: np.ndarray, splits: list[float]) -> np.ndarray:
    """Counts in (-inf, s1], (s1, s2], ..., (sk, inf): the buckets of the sketches' pmf."""
    edges = np.searchsorted(np.sort(values), splits, side="right")
    return np.diff(np.concatenate([[0], edges, [len(values)]]))


# -- each measure against SciPy on the same inputs -------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_linf_distance_is_scipys_chebyshev_distance_of_the_normalised_frequencies(seed):
    rng = np.random.default_rng(seed)
    keys = [f"v{i}" for i in range(12)]
    p = dict(zip(keys[:10], rng.integers(0, 50, 10).tolist(), strict=True))
    q = dict(zip(keys[2:], rng.integers(1, 50, 10).tolist(), strict=True))
    a = np.array([p.get(k, 0) for k in keys], float)
    b = np.array([q.get(k, 0) for k in keys], float)
    assert linf_distance(p, q) == pytest.approx(distance.chebyshev(a / a.sum(), b / b.sum()))


@pytest.mark.parametrize("seed", range(5))
def test_js_divergence_is_scipys_jensen_shannon_distance_squared_in_base_2(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, 100, 8), rng.integers(0, 100, 8)
    p[0] = 0  # empty buckets on one side are part of the definition
    expected = distance.jensenshannon(p, q, base=2) ** 2
    assert js_divergence(p, q) == pytest.approx(expected, abs=1e-12)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_divergence([3, 4], [6, 8]) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_psi_is_the_symmetric_kullback_leibler_divergence_scipy_computes(seed):
    rng = np.random.default_rng(seed)
    e, a = rng.integers(1, 100, 10), rng.integers(1, 100, 10)
    expected = stats.entropy(a, e) + stats.entropy(e, a)
    assert psi(e, a) == pytest.approx(expected, rel=1e-12)
    eps = 1e-4  # an empty bucket: raised to eps, renormalised, then the same formula
    z = np.maximum(np.array([0, 5, 5]) / 10, eps)
    o = np.array([1, 1, 1]) / 3
    assert psi([0, 5, 5], [1, 1, 1], eps=eps) == pytest.approx(
        stats.entropy(o, z) + stats.entropy(z, o), rel=1e-12
    )


@pytest.mark.parametrize("seed", range(5))
def test_ks_statistic_is_scipys_two_sample_statistic_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=200)
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    i, j = rng.integers(0, 10, 500), rng.integers(0, 12, 400)
    assert ks_statistic(i, j) == pytest.approx(stats.ks_2samp(i, j).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_wasserstein_is_scipys_wasserstein_distance_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.exponential(size=300), rng.exponential(2.0, size=170)
    assert wasserstein(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)
    i, j = rng.integers(0, 10, 500), rng.integers(0, 12, 400)
    assert wasserstein(i, j) == pytest.approx(stats.wasserstein_distance(i, j), rel=1e-10)


def test_missing_values_are_left_out_of_samples_and_bad_inputs_are_refused():
    assert ks_statistic([1.0, np.nan, 2.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="at least one value"):
        wasserstein([np.nan], [1.0])
    with pytest.raises(ValueError, match="counts add up to 0"):
        js_divergence([0, 0], [1, 1])
    with pytest.raises(ValueError, match="same buckets"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="finite counts >= 0"):
        linf_distance({"a": -1}, {"a": 1})


# -- from profiles: the same measures on the sketches ------------------------------------------


def test_js_from_profiles_is_scipys_on_the_exact_histogram_when_the_sketches_are_exact():
    a, b = RNG.normal(size=150), RNG.normal(0.5, 1.0, size=180)  # fewer than k=200: exact
    ref, cur = profile_of(v=a)["v"], profile_of(v=b)["v"]
    splits = shared_splits(ref, cur, 10)
    expected = distance.jensenshannon(
        exact_histogram(a, splits), exact_histogram(b, splits), base=2
    )
    assert js_from_profiles(ref, cur, splits=splits) == pytest.approx(expected**2, abs=1e-12)
    assert js_from_profiles(ref, cur) == pytest.approx(expected**2, abs=0.01)
    assert js_divergence_from_profiles is js_from_profiles


def test_js_from_profiles_is_close_to_scipys_on_large_samples_and_sees_a_shift():
    a, b = RNG.normal(size=200_000), RNG.normal(0.5, 1.0, size=200_000)
    ref, cur = profile_of(v=a)["v"], profile_of(v=b)["v"]
    splits = shared_splits(ref, cur, 10)
    exact = distance.jensenshannon(exact_histogram(a, splits), exact_histogram(b, splits), base=2)
    for col, values in ((ref, a), (cur, b)):  # each bucket's mass within the rank error
        masses = exact_histogram(values, splits) / len(values)
        assert np.abs(np.array(col.pmf(splits)) - masses).max() <= 2 * col.rank_error
    assert js_from_profiles(ref, cur, splits=splits) == pytest.approx(exact**2, abs=0.01)
    same = profile_of(v=RNG.normal(size=200_000))["v"]
    assert js_from_profiles(ref, same) < 0.002 < 0.01 < js_from_profiles(ref, cur)


def test_psi_from_profiles_is_psi_on_the_reference_deciles_and_on_categorical_values():
    a, b = RNG.normal(size=190), RNG.normal(0.3, 1.0, size=150)
    ref, cur = profile_of(v=a)["v"], profile_of(v=b)["v"]
    splits = sorted(set(ref.quantiles([i / 10 for i in range(1, 10)])))
    expected = psi(exact_histogram(a, splits), exact_histogram(b, splits))
    assert psi_from_profiles(ref, cur) == pytest.approx(expected, rel=1e-12)
    e = RNG.choice(["a", "b", "c"], 1000, p=[0.5, 0.3, 0.2])
    o = RNG.choice(["a", "b", "c"], 800, p=[0.3, 0.3, 0.4])
    counts_e = [np.sum(e == k) for k in "abc"] + [0]
    counts_o = [np.sum(o == k) for k in "abc"] + [0]
    got = psi_from_profiles(profile_of(c=e)["c"], profile_of(c=o)["c"])
    assert got == pytest.approx(psi(counts_e, counts_o), rel=1e-12)


def test_linf_from_profiles_is_scipys_chebyshev_distance_when_the_counts_are_exact():
    e = RNG.choice(["a", "b", "c", "d"], 5000, p=[0.4, 0.3, 0.2, 0.1])
    o = np.concatenate([RNG.choice(["a", "b", "c"], 4000, p=[0.2, 0.4, 0.4]), [None] * 100])
    ref, cur = profile_of(c=e)["c"], profile_of(c=o)["c"]
    pe = np.array([np.sum(e == k) for k in "abcd"]) / len(e)
    po = np.array([np.sum(o == k) for k in "abcd"]) / 4000  # shares of the non-null rows
    assert linf_from_profiles(ref, cur) == pytest.approx(distance.chebyshev(pe, po), abs=1e-12)


def test_an_unchanged_20000_value_column_raises_no_false_alarm_at_100000_rows():
    values = np.array([f"user{i:05d}" for i in range(20_000)], dtype=object)
    weights = 1.0 / np.arange(1, 20_001) ** 0.5
    weights /= weights.sum()
    a = values[RNG.choice(20_000, 100_000, p=weights)]
    b = values[RNG.choice(20_000, 100_000, p=weights)]
    ref, cur = profile_of(c=a)["c"], profile_of(c=b)["c"]
    assert linf_from_profiles(ref, cur) < 0.01  # TFDV's example threshold
    # The plug-in Jensen-Shannon divergence of the same samples is the false alarm others raise.
    keys = sorted(set(a) | set(b))
    ca = dict(zip(*np.unique(a, return_counts=True), strict=True))
    cb = dict(zip(*np.unique(b, return_counts=True), strict=True))
    plug_in = distance.jensenshannon(
        [ca.get(k, 0) for k in keys], [cb.get(k, 0) for k in keys], base=2
    )
    assert plug_in**2 > 0.05
    # A real change of one value's share is still seen.
    c = np.concatenate([b[:90_000], np.full(10_000, "user19999", dtype=object)])
    assert linf_from_profiles(ref, profile_of(c=c)["c"]) > 0.05


def test_comparisons_run_the_measures_a_schema_asks_for_against_its_thresholds():
    reference = profile_of(x=RNG.normal(size=5000), c=RNG.choice(["a", "b"], 5000))
    current = profile_of(x=RNG.normal(1.0, 1.0, size=5000), c=RNG.choice(["a", "b"], 5000))
    out = compare_profiles(
        reference,
        current,
        {"x": {"js": 0.05, "psi": 10.0}, "c": {"linf": 0.1}, "gone": {"js": 0.1}},
    )
    assert [(c.feature, c.measure, c.drifted) for c in out] == [
        ("x", "js", True),
        ("x", "psi", False),
        ("c", "linf", False),
    ]
    assert all(isinstance(c, Comparison) and c.threshold is not None for c in out)
    assert Comparison("x", "js", 0.2, None).drifted is False
    assert set(MEASURES) == {"linf", "js", "psi"}


def test_a_measure_that_does_not_fit_the_column_is_a_clear_error():
    p = profile_of(x=RNG.normal(size=100), c=RNG.choice(["a", "b"], 100))
    with pytest.raises(ConfigError, match="unknown measure 'chi2'"):
        compare_profiles(p, p, {"x": {"chi2": 0.1}})
    with pytest.raises(DataError, match="compare categorical columns with 'linf'"):
        js_from_profiles(p["c"], p["c"])
    with pytest.raises(DataError, match="compare numeric columns with 'js' or 'psi'"):
        linf_from_profiles(p["x"], p["x"])
    assert math.isclose(js_from_profiles(p["x"], p["x"]), 0.0, abs_tol=1e-12)
