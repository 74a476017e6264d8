"""Fairness across sensitive groups and proxies of sensitive attributes (model.7).

Per sensitive attribute, on the evaluation rows:

- per-group quality with Fairlearn's `MetricFrame`: the primary metric, accuracy (classes),
  selection rate and true and false positive rates (binary), and the row count. Missing values
  form a group of their own. Groups with fewer than `min_group_size` rows are listed but left
  out of the differences. A numeric attribute with more than `GROUP_CODES` distinct values
  (age, say) is grouped into `GROUP_BINS` quantile bins.
- differences: for binary tasks the demographic parity difference and the equalized odds
  difference of the predicted labels, as Fairlearn defines them (`demographic_parity_difference`,
  `equalized_odds_difference`), taken from the per-group rates; for multiclass and regression
  tasks, where those are not defined on the labels, the largest gap in the primary metric
  between groups instead.
- proxies: the association of every model input with every sensitive attribute, on at most
  `MAX_ROWS` rows sampled with a fixed seed, missing values dropped pair by pair:

      categorical vs categorical   bias-corrected Cramér's V (Bergsma 2013)
      numeric vs categorical       bias-corrected correlation ratio (eta)
      numeric vs numeric           absolute Pearson correlation

  All three lie in [0, 1]: 0 for no association, 1 when one column determines the other. The
  bias corrections keep high-cardinality columns (many values, few rows each) from looking
  associated by chance. A column without variation has association 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from keel.model.metrics import Predictions, Task
from keel.model.slices import is_categorical, quantile_bins, slice_metric, value_labels

MAX_ROWS = 100_000
GROUP_CODES = 10  # a numeric sensitive attribute with at most this many values is a set of codes
GROUP_BINS = 4

CRAMERS_V = "Cramér's V"
ETA = "correlation ratio"
PEARSON = "|Pearson r|"


# -- association measures ------------------------------------------------------------------
def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(pd.Series(values).to_numpy(dtype=object), sort=False)
    return codes, len(uniques)


def contingency(x: pd.Series | np.ndarray, y: pd.Series | np.ndarray) -> np.ndarray:
    """Counts of each pair of values of two columns of categories (no missing values)."""
    cx, kx = _codes(x)
    cy, ky = _codes(y)
    return np.bincount(cx * ky + cy, minlength=kx * ky).reshape(kx, ky).astype(float)


def cramers_v(
    x: pd.Series | np.ndarray, y: pd.Series | np.ndarray, *, bias_correction: bool = True
) -> float:
    """Cramér's V of two categorical columns without missing values, in [0, 1].

    With `bias_correction` (the default), Bergsma's (2013) correction of phi² and of the table
    dimensions, which removes the upward bias of plain V when columns have many values
    relative to rows; without it, plain V = sqrt(chi² / (n · (min(r, k) − 1))).
    0 when either column has a single value, or (corrected) when there are no more rows than
    values.
    """
    table = contingency(x, y)
    n = table.sum()
    r, k = table.shape
    if r < 2 or k < 2 or n < 2:
        return 0.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    phi2 = float(((table - expected) ** 2 / expected).sum() / n)
    if not bias_correction:
        return float(min(1.0, math.sqrt(phi2 / (min(r, k) - 1))))
    phi2 = max(0.0, phi2 - (r - 1) * (k - 1) / (n - 1))
    rows = r - (r - 1) ** 2 / (n - 1)
    cols = k - (k - 1) ** 2 / (n - 1)
    denominator = min(rows, cols) - 1
    if denominator <= 0:
        return 0.0
    return float(min(1.0, math.sqrt(phi2 / denominator)))


def correlation_ratio(
    categories: pd.Series | np.ndarray,
    values: pd.Series | np.ndarray,
    *,
    bias_correction: bool = True,
) -> float:
    """The correlation ratio eta of numeric values across categories, in [0, 1].

    Plain eta is sqrt(between-group / total sum of squares). With `bias_correction` (the
    default), the between-group sum of squares is first reduced by what `g` groups explain by
    chance, (g − 1) · within-group mean square (as epsilon² does), and floored at 0.
    0 when the values are constant or there is a single category.
    """
    codes, groups = _codes(categories)
    x = np.asarray(values, dtype=float)
    n = len(x)
    if groups < 2 or n < 2:
        return 0.0
    total = float(((x - x.mean()) ** 2).sum())
    if total <= 0:
        return 0.0
    counts = np.bincount(codes, minlength=groups)
    means = np.bincount(codes, weights=x, minlength=groups) / counts
    between = float((counts * (means - x.mean()) ** 2).sum())
    if bias_correction:
        if n <= groups:
            return 0.0
        within = max(total - between, 0.0)
        between = max(0.0, between - (groups - 1) * within / (n - groups))
    return float(min(1.0, math.sqrt(between / total)))


def abs_pearson(x: pd.Series | np.ndarray, y: pd.Series | np.ndarray) -> float:
    """The absolute Pearson correlation of two numeric columns; 0 when either is constant."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 2:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    scale = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    if scale <= 0:
        return 0.0
    return float(min(1.0, abs(float((a * b).sum())) / scale))


def _as_numbers(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(
        series.dtype
    ):
        numbers = series.astype("int64").astype("float64")
        return numbers.where(series.notna())
    return pd.to_numeric(series, errors="coerce").astype("float64")


def is_group_column(series: pd.Series) -> bool:
    """Whether a sensitive attribute is a set of groups: categories, or a few numeric codes."""
    return is_categorical(series) or series.nunique(dropna=True) <= GROUP_CODES


@dataclass
class Association:
    """How strongly one column is associated with another, and by which measure."""

    measure: str
    value: float
    rows: int


def association(
    x: pd.Series, y: pd.Series, *, x_groups: bool | None = None, y_groups: bool | None = None
) -> Association:
    """The association of two columns, by the measure their kinds call for (module docstring).

    `x_groups` / `y_groups` say whether a column is categorical (default: by its dtype).
    Rows where either column is missing are dropped.
    """
    x_cat = is_categorical(x) if x_groups is None else x_groups
    y_cat = is_categorical(y) if y_groups is None else y_groups
    a = x if x_cat else _as_numbers(x)
    b = y if y_cat else _as_numbers(y)
    both = (a.notna() & b.notna()).to_numpy()
    a, b = a[both], b[both]
    rows = int(both.sum())
    if x_cat and y_cat:
        return Association(CRAMERS_V, cramers_v(a, b), rows)
    if x_cat:
        return Association(ETA, correlation_ratio(a, b), rows)
    if y_cat:
        return Association(ETA, correlation_ratio(b, a), rows)
    return Association(PEARSON, abs_pearson(a, b), rows)


@dataclass
class Proxy:
    """The association of one model input with one sensitive attribute."""

    input: str
    attribute: str
    measure: str
    value: float
    rows: int
    flagged: bool


@dataclass
class ProxyScan:
    """Every input's association with every sensitive attribute, and what the scan read."""

    proxies: list[Proxy]  # strongest first
    rows: int  # rows read
    total_rows: int  # rows given
    inputs: int

    @property
    def note(self) -> str:
        """What was sampled, when not every row was read ("" otherwise)."""
        if self.rows == self.total_rows:
            return ""
        return f"proxies measured on a seeded sample of {self.rows:,} of {self.total_rows:,} rows"

    def facts(self) -> dict[str, object]:
        return {"proxy_rows": self.rows, "proxy_inputs": self.inputs}


def _block_eta(codes: np.ndarray, groups: int, x: np.ndarray) -> np.ndarray:
    """Bias-corrected correlation ratio of each column of `x` (NaN: missing) with the group
    `codes` (no missing), rows with a missing value dropped column by column: the same numbers
    as `correlation_ratio` on each column, computed for all columns at once."""
    present = ~np.isnan(x)
    x0 = np.where(present, x, 0.0)
    onehot = np.zeros((groups, len(codes)))
    onehot[codes, np.arange(len(codes))] = 1.0
    counts = onehot @ present  # (groups, cols)
    sums = onehot @ x0
    n = present.sum(axis=0).astype(float)
    total_sum = x0.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total_sum / n
        total = (x0 * x0).sum(axis=0) - total_sum * mean
        between = (
            np.where(counts > 0, sums * sums / np.where(counts > 0, counts, 1), 0.0).sum(axis=0)
            - total_sum * mean
        )
        g = (counts > 0).sum(axis=0).astype(float)
        within = np.maximum(total - between, 0.0)
        corrected = np.maximum(0.0, between - (g - 1) * within / (n - g))
        eta = np.sqrt(np.clip(corrected / total, 0.0, 1.0))
    # relative round-off: a constant column gives a total of ~0, not exactly 0
    scale = (x0 * x0).sum(axis=0)
    flat = ~(total > 1e-12 * np.maximum(scale, 1e-300))
    eta[(g < 2) | (n < 2) | (n <= g) | flat | ~np.isfinite(eta)] = 0.0
    return eta


def _block_pearson(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """|Pearson r| of each column of `x` with `y` (NaN: missing, dropped pair by pair): the
    same numbers as `abs_pearson` on each column, computed for all columns at once."""
    present = ~np.isnan(x) & ~np.isnan(y)[:, None]
    x0 = np.where(present, x, 0.0)
    y0 = np.where(present, np.nan_to_num(y)[:, None], 0.0)
    n = present.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sx, sy = x0.sum(axis=0), y0.sum(axis=0)
        cov = (x0 * y0).sum(axis=0) - sx * sy / n
        vx = (x0 * x0).sum(axis=0) - sx * sx / n
        vy = (y0 * y0).sum(axis=0) - sy * sy / n
        r = np.abs(cov) / np.sqrt(vx * vy)
    scale_x, scale_y = (x0 * x0).sum(axis=0), (y0 * y0).sum(axis=0)
    flat = ~(
        (vx > 1e-12 * np.maximum(scale_x, 1e-300)) & (vy > 1e-12 * np.maximum(scale_y, 1e-300))
    )
    r[(n < 2) | flat | ~np.isfinite(r)] = 0.0
    return np.minimum(r, 1.0)


def _numeric_block(
    attr: pd.Series, groups: bool, x: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray]:
    """(measure, association of each column of `x` with `attr`, rows counted per column)."""
    if groups:
        known = attr.notna().to_numpy()
        codes, uniques = pd.factorize(attr[known].to_numpy(dtype=object), sort=False)
        x = x[known]
        return ETA, _block_eta(codes, len(uniques), x), (~np.isnan(x)).sum(axis=0)
    y = _as_numbers(attr).to_numpy()
    counted = (~np.isnan(x) & ~np.isnan(y)[:, None]).sum(axis=0)
    return PEARSON, _block_pearson(y, x), counted


BLOCK = 256  # numeric inputs measured together (bounds the memory of the vectorised scan)


def scan_proxies(
    inputs: pd.DataFrame,
    sensitive: pd.DataFrame,
    *,
    max_association: float,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> ProxyScan:
    """Every input's association with every sensitive attribute, strongest first.

    `inputs` and `sensitive` hold the same rows in the same order; at most `max_rows` of them
    are used, sampled with `seed`. An input is flagged when its association exceeds
    `max_association`. Numeric inputs are measured in blocks of columns at once (wide data),
    categorical ones one by one; the numbers are those of `association`.
    """
    if len(inputs) != len(sensitive):
        raise ValueError(
            "The 'sensitive' parameter of find_proxies must have one row per input row. "
            f"Got {len(sensitive)} rows for {len(inputs)} instead."
        )
    total = len(inputs)
    if len(inputs) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(inputs), max_rows, replace=False))
        inputs, sensitive = inputs.iloc[rows], sensitive.iloc[rows]
    inputs = inputs.reset_index(drop=True)
    sensitive = sensitive.reset_index(drop=True)
    numeric = [c for c in inputs.columns if not is_categorical(inputs[c])]
    other = [c for c in inputs.columns if is_categorical(inputs[c])]
    found = []
    for attribute in sensitive.columns:
        attr = sensitive[attribute]
        groups = is_group_column(attr)
        measured: list[tuple[object, str, float, int]] = []
        for name in other:
            a = association(inputs[name], attr, y_groups=groups)
            measured.append((name, a.measure, a.value, a.rows))
        for start in range(0, len(numeric), BLOCK):
            names = numeric[start : start + BLOCK]
            x = np.column_stack([_as_numbers(inputs[c]).to_numpy() for c in names])
            measure, values, counted = _numeric_block(attr, groups, x)
            measured.extend(zip(names, [measure] * len(names), values, counted, strict=True))
        found.extend(
            Proxy(str(n), str(attribute), m, float(v), int(k), float(v) > max_association)
            for n, m, v, k in measured
        )
    attributes = {str(a): i for i, a in enumerate(sensitive.columns)}
    order = {str(c): i for i, c in enumerate(inputs.columns)}
    found.sort(key=lambda p: (-p.value, attributes[p.attribute], order[p.input]))
    return ProxyScan(found, len(inputs), total, len(inputs.columns))


def find_proxies(
    inputs: pd.DataFrame,
    sensitive: pd.DataFrame,
    *,
    max_association: float,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> list[Proxy]:
    """Every input's association with every sensitive attribute, strongest first (see
    `scan_proxies`, which also says what was read)."""
    return scan_proxies(
        inputs, sensitive, max_association=max_association, max_rows=max_rows, seed=seed
    ).proxies


# -- groups and differences ----------------------------------------------------------------
def group_labels(series: pd.Series) -> np.ndarray:
    """The group of every row as text: the value, or a quantile bin for many numbers."""
    labels = value_labels(series) if is_group_column(series) else quantile_bins(series, GROUP_BINS)
    return labels.fillna("missing").to_numpy(dtype=object)


@dataclass
class Group:
    """One sensitive group: its size, metrics, and whether it is large enough to compare."""

    name: str
    size: int
    metrics: dict[str, float]
    included: bool


@dataclass
class Difference:
    """A fairness difference between the groups of one attribute, against its limit."""

    attribute: str
    measure: str
    value: float  # NaN when it cannot be measured
    limit: float
    note: str = ""

    @property
    def verdict(self) -> str:
        if math.isnan(self.value):
            return "not measured"
        return "fail" if self.value > self.limit + 1e-12 else "pass"


@dataclass
class AttributeReport:
    """The groups of one sensitive attribute and the differences between them."""

    attribute: str
    metrics: list[str]
    groups: list[Group]
    differences: list[Difference] = field(default_factory=list)


def _positive(target: np.ndarray, predictions: Predictions) -> object:
    if predictions.classes is not None and len(predictions.classes) == 2:
        return predictions.classes[1]
    return np.unique(np.concatenate([np.unique(target), np.unique(predictions.labels)]))[-1]


def _blocks(groups: np.ndarray, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Row positions cut into blocks of at most `size` rows of one group, and each block's group.

    `MetricFrame` turns every row it is given into a NumPy array of its own (seconds per metric
    at a million rows); handing it blocks of rows instead, and letting each metric gather the
    rows of its blocks, gives the same numbers at a fraction of the cost.
    """
    codes, names = pd.factorize(pd.Series(groups), sort=True)
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(names)))
    blocks, owners = [], []
    for code, (start, end) in enumerate(zip(np.r_[0, ends[:-1]], ends, strict=True)):
        for first in range(start, end, size):
            blocks.append(order[first : min(first + size, end)])
            owners.append(names[code])
    return blocks, np.asarray(owners, dtype=object)


def _rate(hits: np.ndarray) -> float:
    return float(hits.mean()) if len(hits) else float("nan")


def _spread(values: Sequence[float]) -> float:
    """max − min of the defined values (Fairlearn's "between_groups" difference); NaN if < 2."""
    defined = [v for v in values if not math.isnan(v)]
    return max(defined) - min(defined) if len(defined) >= 2 else float("nan")


def group_report(
    attribute: str,
    groups: np.ndarray,
    target: np.ndarray,
    predictions: Predictions,
    *,
    task: Task,
    metric: str,
    min_group_size: int,
    max_demographic_parity_difference: float,
    max_equalized_odds_difference: float,
    block_size: int = 4096,
) -> AttributeReport:
    """Per-group metrics (Fairlearn `MetricFrame`) and the differences between large groups.

    Binary tasks: the demographic parity difference is the largest difference in selection
    rate, and the equalized odds difference the larger of the largest differences in true and
    false positive rate, between groups of at least `min_group_size` rows (Fairlearn's
    definitions; groups holding one class only are left out of equalized odds).
    """
    from fairlearn.metrics import MetricFrame

    y = np.asarray(target)
    labels = np.asarray(predictions.labels)
    positive = _positive(y, predictions) if task == "binary" else None
    y_pos, p_pos = y == positive, labels == positive

    funcs = {
        metric: lambda rows: slice_metric(metric, y[rows], predictions.take(rows))[0],
    }
    if task != "regression" and metric != "accuracy":
        funcs["accuracy"] = lambda rows: _rate(labels[rows] == y[rows])
    if task == "binary":
        funcs["selection_rate"] = lambda rows: _rate(p_pos[rows])
        funcs["true_positive_rate"] = lambda rows: _rate(p_pos[rows][y_pos[rows]])
        funcs["false_positive_rate"] = lambda rows: _rate(p_pos[rows][~y_pos[rows]])
    blocks, owners = _blocks(groups, block_size)

    def on_rows(func: Callable[[np.ndarray], float]) -> Callable[..., float]:
        def metric_of_blocks(block_ids: np.ndarray, _: np.ndarray) -> float:
            return func(np.concatenate([blocks[b] for b in block_ids]))

        return metric_of_blocks

    ids = np.arange(len(blocks))
    frame = MetricFrame(
        metrics={name: on_rows(func) for name, func in funcs.items()},
        y_true=ids,
        y_pred=ids,
        sensitive_features=pd.Series(owners, name=attribute),
    ).by_group
    sizes = pd.Series(groups).value_counts()
    rows = [
        Group(
            str(name),
            int(sizes[name]),
            {m: float(frame.loc[name, m]) for m in funcs},
            bool(sizes[name] >= min_group_size),
        )
        for name in frame.index
    ]
    report = AttributeReport(attribute, list(funcs), rows)
    kept = [g for g in rows if g.included]
    too_few = f"fewer than two groups with at least {min_group_size} rows"
    if task == "binary":
        dp = _spread([g.metrics["selection_rate"] for g in kept])
        both = [
            g
            for g in kept
            if not math.isnan(g.metrics["true_positive_rate"] + g.metrics["false_positive_rate"])
        ]
        eo = (
            max(
                _spread([g.metrics["true_positive_rate"] for g in both]),
                _spread([g.metrics["false_positive_rate"] for g in both]),
            )
            if len(both) >= 2
            else float("nan")
        )
        one_class = [g.name for g in kept if g not in both]
        eo_note = (
            too_few
            if len(kept) < 2
            else ("fewer than two large groups hold both classes" if len(both) < 2 else "")
        )
        if one_class and len(both) >= 2:
            eo_note = f"left out (one class only): {', '.join(one_class)}"
        report.differences = [
            Difference(
                attribute,
                "demographic parity difference",
                dp,
                max_demographic_parity_difference,
                too_few if len(kept) < 2 else "",
            ),
            Difference(
                attribute, "equalized odds difference", eo, max_equalized_odds_difference, eo_note
            ),
        ]
    else:
        gap = _spread([g.metrics[metric] for g in kept])
        note = (
            f"largest {metric} gap between groups (demographic parity and equalized odds "
            f"apply to binary tasks), held to max_equalized_odds_difference"
            if not math.isnan(gap)
            else too_few
        )
        report.differences = [
            Difference(
                attribute, f"{metric} gap between groups", gap, max_equalized_odds_difference, note
            )
        ]
    return report


def fairness_reports(
    frame: pd.DataFrame,
    target: np.ndarray,
    predictions: Predictions,
    *,
    sensitive: Sequence[str],
    task: Task,
    metric: str,
    min_group_size: int,
    max_demographic_parity_difference: float,
    max_equalized_odds_difference: float,
) -> list[AttributeReport]:
    """A group report per sensitive attribute; `frame` is the raw evaluation frame."""
    return [
        group_report(
            attribute,
            group_labels(frame[attribute]),
            target,
            predictions,
            task=task,
            metric=metric,
            min_group_size=min_group_size,
            max_demographic_parity_difference=max_demographic_parity_difference,
            max_equalized_odds_difference=max_equalized_odds_difference,
        )
        for attribute in sensitive
    ]
