"""The canary's comparisons that sampling noise can fool: quality on labelled rows, and the
distribution of the predicted probabilities.

Quality: the candidate may be promoted only when the labelled rows rule out a drop larger than
`[canary] max_quality_drop` at CONFIDENCE (one-sided): the drop (champion minus candidate) plus
z times its bootstrap standard deviation must stay within the limit. A candidate whose drop is
past the limit and beyond noise (the same bound below zero) fails. Anything between is
undecided: the labels cannot yet tell a drop of the configured size from noise, so the canary
waits, and the comparison says how many more labelled rows would decide it (the spread shrinks
with the square root of the rows).

Probabilities: the two routes' predicted probabilities of each class are compared with the
two-sample Kolmogorov-Smirnov distance (the largest gap between their cumulative
distributions; the largest over the classes), so a candidate that predicts the same classes
with other confidence is seen, not only one that changes the class mix. Probabilities are
compared to the PROBABILITY_RESOLUTION (a percentage point): the distance ranks values, so
without it a candidate that gives the other nine digits 1e-9 where the champion gives 1e-6
(no probability moved by a thousandth) would be as far from the champion as one that changed
every confidence. A distance over the limit fails only beyond the distance two samples of the
same distribution reach with probability KS_LEVEL; over the limit but within that noise it is
undecided (more rows tell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

CONFIDENCE = 0.95  # one-sided: how sure a promotion must be that the drop is within the limit
KS_LEVEL = 0.999  # the probability distance two same-distribution samples stay under
MIN_LABELLED = 20  # labelled rows per route before a metric is computed
PROBABILITY_RESOLUTION = 0.01  # probabilities closer than this are the same confidence


@dataclass
class Comparison:
    """One comparison of the candidate with the champion. It holds when `bound` (the measured
    value, or its upper confidence bound where sampling noise matters) is at most `limit`:
    stored with the canary's verdict, so the comparison can be judged again under other limits.
    `undecided`: too little data to tell either way; `needed`: the rows (labelled rows for
    quality) still needed on the two routes together, where they can be estimated."""

    name: str
    value: float | None
    limit: float
    ok: bool
    detail: str
    key: str = ""
    bound: float | None = None
    undecided: bool = False
    needed: int | None = None
    spread: float | None = None  # the standard deviation of `value` from sampling alone


@dataclass(frozen=True)
class LabelledQuality:
    """One route's metric on its labelled rows and the metric's bootstrap standard deviation
    (NaN when it could not be estimated)."""

    labelled: int
    value: float | None
    spread: float


def _z() -> float:
    return NormalDist().inv_cdf(CONFIDENCE)


def quality_drop(
    metric: str, limit: float, champion: LabelledQuality, candidate: LabelledQuality
) -> Comparison:
    """The candidate's quality drop against the champion, judged with power (module doc)."""
    name = f"{metric} drop on labelled rows"
    counts = f"{candidate.labelled:,} candidate and {champion.labelled:,} champion rows"
    if champion.value is None or candidate.value is None:
        short = sum(max(0, MIN_LABELLED - r.labelled) for r in (champion, candidate))
        return Comparison(
            name,
            None,
            limit,
            False,
            f"{counts} have labels: {metric} needs at least {MIN_LABELLED} labelled rows with "
            "both classes on each route",
            key="quality_drop",
            undecided=True,
            needed=short or None,
        )
    drop = champion.value - candidate.value
    spread = math.hypot(champion.spread, candidate.spread)
    measured = f"{candidate.value:.4f} on {counts.split(' and ')[0]}, {champion.value:.4f} on "
    measured += f"{champion.labelled:,} champion rows"
    if not math.isfinite(spread):
        return Comparison(
            name,
            drop,
            limit,
            False,
            f"{measured}; the sampling noise of the metric could not be estimated",
            key="quality_drop",
            undecided=True,
        )
    z = _z()
    upper, lower = drop + z * spread, drop - z * spread
    level = f"{CONFIDENCE:.0%}"
    if upper <= limit:
        return Comparison(
            name,
            drop,
            limit,
            True,
            f"{measured}; at {level} confidence the drop is at most {upper:+.4f}",
            key="quality_drop",
            bound=upper,
            spread=spread,
        )
    if drop > limit and lower > 0:
        return Comparison(
            name,
            drop,
            limit,
            False,
            f"{measured}; the drop is beyond sampling noise (at {level} at least {lower:+.4f})",
            key="quality_drop",
            bound=upper,
            spread=spread,
        )
    margin = limit - drop if drop <= limit else drop
    labelled = champion.labelled + candidate.labelled
    needed = None
    if margin > 0:
        needed = max(1, math.ceil(labelled * ((z * spread / margin) ** 2 - 1)))
    more = (
        f"about {needed:,} more labelled rows (both routes together) would tell"
        if needed is not None
        else "more labelled rows are needed to tell"
    )
    return Comparison(
        name,
        drop,
        limit,
        False,
        f"{measured}; the drop could be up to {upper:+.4f} at {level} confidence, so these "
        f"labels cannot tell a drop of {limit:g} from noise: {more}",
        key="quality_drop",
        bound=upper,
        undecided=True,
        needed=needed,
        spread=spread,
    )


def _class_columns(probabilities: pd.Series, classes: list[str]) -> np.ndarray:
    """Each row's probability of each class, rounded to PROBABILITY_RESOLUTION."""
    values = np.array(
        [
            [float({str(k): v for k, v in p.items()}.get(c, 0.0)) for c in classes]
            for p in probabilities
        ]
    )
    return np.round(values / PROBABILITY_RESOLUTION) * PROBABILITY_RESOLUTION


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov distance: the largest gap between the empirical
    cumulative distributions of `a` and `b`."""
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_noise(n: int, m: int, level: float = KS_LEVEL) -> float:
    """The KS distance two samples of sizes n and m from one distribution stay under with
    probability `level` (the asymptotic Kolmogorov bound)."""
    return math.sqrt(-math.log((1 - level) / 2) / 2) * math.sqrt((n + m) / (n * m))


def probability_distance(
    champion: pd.Series, candidate: pd.Series, limit: float
) -> Comparison | None:
    """The largest per-class KS distance between the two routes' logged probabilities (dicts
    of class to probability), each rounded to PROBABILITY_RESOLUTION; None when either route
    logged none."""
    champion = champion[champion.map(lambda p: isinstance(p, dict) and bool(p))]
    candidate = candidate[candidate.map(lambda p: isinstance(p, dict) and bool(p))]
    if not len(champion) or not len(candidate):
        return None
    classes = sorted({str(k) for p in pd.concat([champion, candidate]) for k in p})
    a, b = _class_columns(champion, classes), _class_columns(candidate, classes)
    per_class = {c: ks_distance(a[:, j], b[:, j]) for j, c in enumerate(classes)}
    worst = max(per_class, key=per_class.__getitem__)
    distance = per_class[worst]
    noise = ks_noise(len(a), len(b))
    said = (
        f"Kolmogorov-Smirnov between the routes' probabilities of class {worst}, to the "
        f"nearest {PROBABILITY_RESOLUTION:g} ({len(b):,} candidate, {len(a):,} champion rows; "
        f"sampling noise alone reaches {noise:.3f} at {KS_LEVEL:.1%})"
    )
    undecided = noise >= distance > limit
    needed = None
    if undecided:  # rows at which the noise bound falls under the measured distance
        factor = (noise / distance) ** 2
        needed = max(1, math.ceil((len(a) + len(b)) * (factor - 1)))
        said += f": over the limit but within noise, about {needed:,} more rows would tell"
    return Comparison(
        "probability distribution distance",
        distance,
        limit,
        distance <= limit,
        said,
        key="probability_distance",
        bound=distance,
        undecided=undecided,
        needed=needed,
    )
