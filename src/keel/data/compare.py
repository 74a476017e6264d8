"""Comparing two distributions of a feature: the measures behind skew and drift checks.

From profiles (`keel.data.profile`), so they work at any scale and on serving logs:
- `linf_from_profiles`: L-infinity distance between the normalised value frequencies of a
  categorical (or integer) feature, TFDV's categorical comparator. Frequencies are divided by
  the non-null rows, so values the sketch does not track stay in the mass. The value returned
  is the smallest distance the sketches' guaranteed count bounds allow: the sketches' own error
  never raises an alarm. Up to ~750 distinct values the counts are exact, and so is the distance.
- `js_from_profiles`: Jensen-Shannon divergence (log base 2, in [0, 1]) of a numeric feature,
  on buckets shared by both sides: the split points are the quantiles of the two KLL sketches
  merged (`shared_splits`), and each side's bucket masses come from its own sketch. On two
  samples of one distribution the sketches' error reads as about 0.0003.
- `psi_from_profiles`: the population stability index, on the reference's deciles (numeric)
  or on the frequent values plus one bucket for the rest (categorical).

From plain numbers, where exact values are at hand: `linf_distance`, `js_divergence` and `psi`
on counts or frequencies, and `ks_statistic` and `wasserstein` on samples.

High-cardinality categoricals: two samples of 100,000 rows of one 20,000-value distribution
hold each value about 5 times, so the Jensen-Shannon divergence of their counts is large
though nothing changed (about 0.08 in base 2; the distance, its square root, about 0.28): the
false alarm some tools raise. The L-infinity distance looks only at the largest change of any
one value's share, which sampling moves by about 0.00015 here, so Keel compares categoricals
with it, as TFDV does.

`compare_profiles` runs the measures a schema asks for, feature by feature, against their
thresholds (a comparator runs only where a threshold is set, as in TFDV).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from keel.data.column import ColumnProfile
from keel.data.profile import Profile
from keel.errors import ConfigError, DataError

__all__ = [
    "MEASURES",
    "Comparison",
    "compare_profiles",
    "js_divergence",
    "js_divergence_from_profiles",
    "js_from_profiles",
    "ks_statistic",
    "linf_distance",
    "linf_from_profiles",
    "psi",
    "psi_from_profiles",
    "shared_splits",
    "wasserstein",
]

PSI_EPS = 1e-4


@dataclass(frozen=True)
class Comparison:
    """One measure of one feature against its threshold; drifted when the value exceeds it."""

    feature: str
    measure: str
    value: float
    threshold: float | None = None
    drifted: bool = field(init=False)

    def __post_init__(self) -> None:
        drifted = self.threshold is not None and self.value > self.threshold
        object.__setattr__(self, "drifted", bool(drifted))


# -- on counts and samples -------------------------------------------------------------------


def _distribution(counts: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    p = np.asarray(counts, dtype=np.float64)
    if p.ndim != 1 or not len(p):
        raise ValueError(f"{name} must be a non-empty sequence of counts. Got {counts!r} instead.")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must hold finite counts >= 0. Got {counts!r} instead.")
    total = p.sum()
    if total <= 0:
        raise ValueError(f"{name} must hold some mass; its counts add up to 0.")
    return p / total


def linf_distance(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """L-infinity distance of two value -> count (or frequency) maps, each normalised."""
    keys = sorted(set(p) | set(q))
    if not keys:
        raise ValueError("linf_distance needs at least one value with a count.")
    a = _distribution([p.get(k, 0.0) for k in keys], "p")
    b = _distribution([q.get(k, 0.0) for k in keys], "q")
    return float(np.max(np.abs(a - b)))


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon divergence, log base 2, of two histograms over the same buckets."""
    a, b = _distribution(p, "p"), _distribution(q, "q")
    if a.shape != b.shape:
        raise ValueError(f"p and q must have the same buckets. Got {len(a)} and {len(b)}.")
    m = 0.5 * (a + b)
    return max(0.0, 0.5 * _kl2(a, m) + 0.5 * _kl2(b, m))


def _kl2(a: np.ndarray, m: np.ndarray) -> float:
    nz = a > 0
    return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))


def psi(expected: Sequence[float], actual: Sequence[float], *, eps: float = PSI_EPS) -> float:
    """Population stability index of two histograms over the same buckets (natural log).

    Shares below `eps` are raised to `eps` and each side renormalised, so an empty bucket gives
    a large but finite index; the result is then the symmetric Kullback-Leibler divergence.
    """
    if not 0 < eps < 1:
        raise ValueError(f"The 'eps' parameter of psi must be a float in (0, 1). Got {eps!r}.")
    e, a = _distribution(expected, "expected"), _distribution(actual, "actual")
    if e.shape != a.shape:
        raise ValueError(f"expected and actual must have the same buckets. Got {len(e)}, {len(a)}.")
    e, a = np.maximum(e, eps), np.maximum(a, eps)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _sample(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    x = np.sort(x[~np.isnan(x)])
    if not len(x):
        raise ValueError(f"{name} must hold at least one value that is not NaN.")
    return x


def ks_statistic(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap of the empirical CDFs.

    NaN values are left out: missing values are not part of either distribution.
    """
    x, y = _sample(a, "a"), _sample(b, "b")
    points = np.concatenate([x, y])
    fx = np.searchsorted(x, points, side="right") / len(x)
    fy = np.searchsorted(y, points, side="right") / len(y)
    return float(np.max(np.abs(fx - fy)))


def wasserstein(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """First Wasserstein (earth mover's) distance of two samples: the area between the CDFs."""
    x, y = _sample(a, "a"), _sample(b, "b")
    points = np.sort(np.concatenate([x, y]))
    widths = np.diff(points)
    fx = np.searchsorted(x, points[:-1], side="right") / len(x)
    fy = np.searchsorted(y, points[:-1], side="right") / len(y)
    return float(np.sum(np.abs(fx - fy) * widths))


# -- on profiles -----------------------------------------------------------------------------


def _numeric(col: ColumnProfile, measure: str) -> None:
    if col.kll is None:
        raise DataError(
            f"column {col.name!r} is {col.type} ({col.kind}): {measure} needs a numeric or "
            "datetime column; compare categorical columns with 'linf'"
        )
    if col.kll.is_empty():
        raise DataError(f"column {col.name!r} has no finite value to compare")


def shared_splits(reference: ColumnProfile, current: ColumnProfile, bins: int) -> list[float]:
    """Split points for both sides: the quantiles at 1/bins, 2/bins, ... of both together.

    Quantiles of the two sketches merged give buckets that each hold about 1/bins of the
    pooled rows. (Pooling the two sides' own quantiles instead makes slivers between nearly
    equal points, whose sketched masses are mostly error: on two samples of one distribution
    that reads as a divergence of about 0.01, where this reads 0.0003.)
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
        raise ValueError(f"The 'bins' parameter must be an int >= 2. Got {bins!r} instead.")
    pooled = reference.merge(current)
    points = pooled.quantiles([i / bins for i in range(1, bins)])
    return sorted({float(x) for x in points if math.isfinite(x)})


def js_from_profiles(
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    bins: int = 10,
    splits: Sequence[float] | None = None,
) -> float:
    """Jensen-Shannon divergence (base 2) of a numeric feature, from the KLL sketches.

    The buckets are `shared_splits(reference, current, bins)` unless `splits` are given.
    """
    _numeric(reference, "js")
    _numeric(current, "js")
    if splits is None:
        splits = shared_splits(reference, current, bins)
    return js_divergence(reference.pmf(splits), current.pmf(splits))


js_divergence_from_profiles = js_from_profiles


def psi_from_profiles(reference: ColumnProfile, current: ColumnProfile, *, bins: int = 10) -> float:
    """PSI of a feature: on the reference's quantiles (numeric) or its values (categorical)."""
    if reference.kll is not None and current.kll is not None:
        _numeric(reference, "psi")
        _numeric(current, "psi")
        if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
            raise ValueError(f"The 'bins' parameter must be an int >= 2. Got {bins!r} instead.")
        splits = sorted(set(reference.quantiles([i / bins for i in range(1, bins)])))
        return psi(reference.pmf(splits), current.pmf(splits))
    expected, actual = _frequencies(reference, current)
    return psi(expected, actual)


def _frequencies(reference: ColumnProfile, current: ColumnProfile) -> tuple[list[int], list[int]]:
    """Estimated counts of the values either side tracks, then the rest in one bucket."""
    _categorical(reference)
    _categorical(current)
    tracked_r = {i: est for i, est, *_ in reference.frequent_items()}
    tracked_c = {i: est for i, est, *_ in current.frequent_items()}
    items = sorted(set(tracked_r) | set(tracked_c))
    e = [tracked_r.get(i, 0) for i in items]
    a = [tracked_c.get(i, 0) for i in items]
    e.append(max(reference.present - sum(e), 0))
    a.append(max(current.present - sum(a), 0))
    return e, a


def _categorical(col: ColumnProfile) -> None:
    if col.frequent is None:
        raise DataError(
            f"column {col.name!r} is {col.type}: it has no value counts; compare numeric "
            "columns with 'js' or 'psi'"
        )
    if not col.present:
        raise DataError(f"column {col.name!r} has no value to compare")


def linf_from_profiles(reference: ColumnProfile, current: ColumnProfile) -> float:
    """L-infinity distance of the value shares, the least the sketches' count bounds allow."""
    _categorical(reference)
    _categorical(current)
    nr, nc = reference.present, current.present
    items = {i for i, *_ in reference.frequent_items()} | {i for i, *_ in current.frequent_items()}
    worst = 0.0
    for item in items:
        _, lo_r, hi_r = reference.frequency(item)
        _, lo_c, hi_c = current.frequency(item)
        gap = max(lo_r / nr - hi_c / nc, lo_c / nc - hi_r / nr, 0.0)
        worst = max(worst, gap)
    return float(worst)


MEASURES = {
    "linf": linf_from_profiles,
    "js": js_from_profiles,
    "psi": psi_from_profiles,
}


def compare_profiles(
    reference: Profile,
    current: Profile,
    thresholds: Mapping[str, Mapping[str, float]],
    *,
    bins: int = 10,
) -> list[Comparison]:
    """Each feature's measures against its thresholds, e.g. {"age": {"js": 0.1}}.

    A feature missing from either profile is skipped: a missing column is a schema anomaly,
    which validation reports.
    """
    out = []
    for feature, measures in thresholds.items():
        if feature not in reference.columns or feature not in current.columns:
            continue
        for measure, threshold in measures.items():
            if measure not in MEASURES:
                raise ConfigError(
                    f"feature {feature!r}: unknown measure {measure!r}; expected one of "
                    f"{', '.join(MEASURES)}"
                )
            ref, cur = reference.columns[feature], current.columns[feature]
            if measure == "linf":
                value = linf_from_profiles(ref, cur)
            else:
                value = MEASURES[measure](ref, cur, bins=bins)
            out.append(Comparison(feature, measure, value, float(threshold)))
    return out
