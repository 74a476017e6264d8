"""Distances between a reference and a current profile, judged against sampling noise.

Training/serving skew and drift between windows use the same comparators as TFDV, computed by
`keel.data.compare` from the profiles' sketches: the L-infinity distance between the value
shares of a categorical (string or boolean) column (`linf_from_profiles`), and the
Jensen-Shannon divergence (log base 2) of a numeric one on buckets both sides share
(`js_from_profiles`, the quantiles of the two sketches merged). Per-column thresholds (a
schema feature's `skew` / `drift` dict, e.g. `{"linf": 0.05}`) override the defaults; a
measure the column cannot take (`js` on strings) is ignored in favour of its default one.

A column is flagged only when its distance exceeds its threshold AND the noise bound: the
distance two samples of these sizes drawn from one and the same distribution stay under with
probability 99.9% (`NOISE_LEVEL`). At a million rows the bound is tiny and the threshold rules;
on small windows, and on columns with many values, the bound keeps sampling noise from reading
as drift. Both bounds are analytic, from the profiles alone:

- L-infinity: each value's share differs between two samples of n1 and n2 rows of a shared
  distribution by a normal amount of standard deviation sqrt(p(1 - p)(1/n1 + 1/n2)), p its
  pooled share. The largest such deviation over k compared values (the values either sketch
  tracks, plus one "other" bucket for the rest) stays under z * sqrt(p*(1 - p)(1/n1 + 1/n2))
  with z the normal quantile at 1 - 0.001 / (2k) (Bonferroni) and p the pooled share closest
  to 1/2. A 20,000-value column of which a sketch tracks ~750 values is thus compared on those
  values and on the untracked mass as one bucket (`other_gap`): its distance counts real moves
  of mass, not the sketches' guesses about values they do not track. (L-infinity itself is
  the measure that does not grow with the number of values; see `keel.data.compare`.)
- Jensen-Shannon on B shared buckets: for two samples of one distribution, 8 n_eff ln(2) JS
  (n_eff = n1 n2 / (n1 + n2)) is Pearson's two-sample chi-squared statistic to second order,
  chi-squared with B - 1 degrees of freedom; the bound is its 99.9% quantile (Wilson-Hilferty)
  divided by 8 n_eff ln 2. A KLL sketch past its exact size adds its rank error, about
  `rank_error / 2.58` (one standard deviation), which counts as a sample of 1 / sd^2 rows
  (about 37,000 for k = 200): each side's size is taken as 1 / (1/n + sd^2). At a million rows
  a side that gives a bound of about 0.0003, what two sketched samples of one distribution read.

Datetime columns are not compared by default (time moves on; that is not drift); columns of
other kinds, or of different kinds on the two sides (a schema problem, monitor.2's), neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

from keel.data.column import ColumnProfile
from keel.data.compare import js_from_profiles, linf_from_profiles, shared_splits
from keel.data.profile import Profile

__all__ = [
    "BINS",
    "NOISE_LEVEL",
    "Distance",
    "compare",
    "distance",
    "js_noise",
    "linf_distance",
    "linf_noise",
    "other_gap",
]

NOISE_LEVEL = 0.999  # the noise bound: a quantile of the distance under no change
BINS = 10  # shared quantile buckets for Jensen-Shannon
_Z99 = NormalDist().inv_cdf(0.995)  # KLL reports its rank error at 99% (two-sided)


@dataclass(frozen=True)
class Distance:
    """One column's distance between reference and current, and the verdict."""

    column: str
    measure: str  # "linf" or "js"
    value: float
    threshold: float
    noise: float  # the distance sampling (and sketch) noise alone stays under, at NOISE_LEVEL
    rows: tuple[int, int]  # rows compared on each side (present or finite values)

    @property
    def flagged(self) -> bool:
        return self.value > self.threshold and self.value > self.noise

    @property
    def verdict(self) -> str:
        if self.flagged:
            return "changed"
        if self.value > self.threshold:
            return "within noise"
        return "ok"


# -- categorical -----------------------------------------------------------------------------


def _tracked(reference: ColumnProfile, current: ColumnProfile) -> list[str]:
    items = {i for i, *_ in reference.frequent_items()}
    items |= {i for i, *_ in current.frequent_items()}
    return sorted(items)


def other_gap(reference: ColumnProfile, current: ColumnProfile, items: Iterable[str]) -> float:
    """The share gap of the untracked mass (rows whose value is not in `items`), one bucket,
    the least the sketches' count bounds allow."""
    nr, nc = reference.present, current.present
    lo_r = hi_r = lo_c = hi_c = 0
    for item in items:
        _, lo, hi = reference.frequency(item)
        lo_r, hi_r = lo_r + lo, hi_r + hi
        _, lo, hi = current.frequency(item)
        lo_c, hi_c = lo_c + lo, hi_c + hi
    # rest = present - tracked: at least present - upper bounds, at most present - lower ones
    rest_r = (max(nr - hi_r, 0) / nr, max(nr - lo_r, 0) / nr)
    rest_c = (max(nc - hi_c, 0) / nc, max(nc - lo_c, 0) / nc)
    return max(rest_r[0] - rest_c[1], rest_c[0] - rest_r[1], 0.0)


def linf_distance(reference: ColumnProfile, current: ColumnProfile) -> float:
    """L-infinity distance of the value shares, the untracked mass as one more value."""
    value = linf_from_profiles(reference, current)
    return max(value, other_gap(reference, current, _tracked(reference, current)))


def linf_noise(reference: ColumnProfile, current: ColumnProfile) -> float:
    """The L-infinity distance two samples of these sizes from one distribution stay under."""
    nr, nc = reference.present, current.present
    items = _tracked(reference, current)
    shares = []
    tracked = 0
    for item in items:
        both = reference.frequency(item)[0] + current.frequency(item)[0]
        tracked += both
        shares.append(both / (nr + nc))
    shares.append(max(nr + nc - tracked, 0) / (nr + nc))  # the other bucket
    p = min(shares, key=lambda s: abs(s - 0.5)) if shares else 0.5
    p = min(max(p, 0.0), 1.0)
    z = NormalDist().inv_cdf(1 - (1 - NOISE_LEVEL) / (2 * len(shares)))
    return z * math.sqrt(p * (1 - p) * (1 / nr + 1 / nc))


# -- numeric ---------------------------------------------------------------------------------


def _effective_rows(col: ColumnProfile) -> float:
    """Rows, with a sketch's rank error counted as the sampling error of that many rows."""
    n = col.finite
    if col.kll is None or not col.kll.is_estimation_mode():
        return float(n)
    sd = col.rank_error / _Z99
    return 1.0 / (1.0 / n + sd * sd)


def _chi2_quantile(q: float, dof: int) -> float:
    """Wilson-Hilferty's approximation of the chi-squared quantile (good from dof = 1)."""
    z = NormalDist().inv_cdf(q)
    a = 2.0 / (9.0 * dof)
    return dof * (1 - a + z * math.sqrt(a)) ** 3


def js_noise(reference: ColumnProfile, current: ColumnProfile, buckets: int) -> float:
    """The Jensen-Shannon divergence (base 2) on `buckets` shared buckets that two samples of
    one distribution, of these sizes and sketched as they are, stay under."""
    if buckets < 2:
        return 0.0
    n1, n2 = _effective_rows(reference), _effective_rows(current)
    n_eff = n1 * n2 / (n1 + n2)
    return _chi2_quantile(NOISE_LEVEL, buckets - 1) / (8 * n_eff * math.log(2))


# -- one column, one profile -----------------------------------------------------------------


def _measures(col: ColumnProfile) -> set[str]:
    out = set()
    if col.kll is not None and col.kind == "numeric":
        out.add("js")
    if col.frequent is not None:
        out.add("linf")
    return out


def default_measure(reference: ColumnProfile, current: ColumnProfile) -> str | None:
    """ "linf" for categoricals, "js" for numbers, None for what is not compared."""
    if reference.kind != current.kind:
        return None
    if reference.kind == "categorical":
        return "linf" if reference.frequent is not None and current.frequent is not None else None
    if reference.kind == "numeric" and reference.kll is not None and current.kll is not None:
        return "js"
    return None


def distance(
    reference: ColumnProfile, current: ColumnProfile, measure: str, threshold: float
) -> Distance | None:
    """One measure of one column, or None when either side holds no value to compare."""
    if measure == "linf":
        if not reference.present or not current.present:
            return None
        value = linf_distance(reference, current)
        noise = linf_noise(reference, current)
        rows = (reference.present, current.present)
    elif measure == "js":
        if not reference.finite or not current.finite:
            return None
        splits = shared_splits(reference, current, BINS)
        value = js_from_profiles(reference, current, splits=splits)
        noise = js_noise(reference, current, len(splits) + 1)
        rows = (reference.finite, current.finite)
    else:
        raise ValueError(f"unknown measure {measure!r}; expected 'linf' or 'js'")
    return Distance(reference.name, measure, float(value), float(threshold), noise, rows)


def compare(
    reference: Profile,
    current: Profile,
    *,
    linf: float,
    js: float,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
    columns: Iterable[str] | None = None,
) -> list[Distance]:
    """Every column both profiles hold (or `columns`), by its measures and thresholds.

    `linf` / `js` are the default thresholds; `overrides[column]` (a schema feature's `skew`
    or `drift` dict) replaces them for that column, and may ask for the other measure where
    the column supports it (`linf` on an integer column).
    """
    overrides = overrides or {}
    names = list(columns) if columns is not None else list(current.columns)
    out = []
    for name in names:
        if name not in reference.columns or name not in current.columns:
            continue
        ref, cur = reference.columns[name], current.columns[name]
        default = default_measure(ref, cur)
        if ref.kind != cur.kind or ref.kind not in ("numeric", "categorical"):
            continue
        asked = {m: t for m, t in (overrides.get(name) or {}).items() if m in ("linf", "js")}
        usable = _measures(ref) & _measures(cur)
        chosen = {m: float(t) for m, t in asked.items() if m in usable}
        if not chosen and default is not None:
            chosen = {default: float(asked.get(default, linf if default == "linf" else js))}
        for measure, threshold in sorted(chosen.items()):
            found = distance(ref, cur, measure, threshold)
            if found is not None:
                out.append(found)
    return out
