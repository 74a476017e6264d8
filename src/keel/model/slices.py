"""Model quality per data slice (model.6): configured slices and a search for the worst ones.

A slice is the set of evaluation rows where one raw column takes one value ("region = east"),
or, for a numeric column, falls in one quantile bin ("income in [31250, 45900)"); missing
values form a slice of their own ("income is missing"). Slices are taken from the raw
evaluation frame, so a slice column need not be a model input.

Configured slices are every value of each `[slices] columns` column (a numeric column with
more than `MAX_VALUES` distinct values is binned). The search looks at every other raw column
except the target, id and timestamp: categorical columns with at most `MAX_VALUES` distinct
values, and numeric columns binned into `[slices] bins` quantile bins. It skips columns that
are nearly unique (identifiers, free text) and date columns.

A slice is judged only when it has at least `[slices] min_size` rows and its metric is defined.
It fails when its metric is below `min_metric`, or more than `max_gap` below the overall metric
(each rule only when set). A regression slice is judged on its error on the target's scale
instead (`keel.model.slice_error`): its MAE (or RMSE) at most `[slices] max_error_ratio` × the
whole's, its R² shown beside; `min_metric`, when set, is a floor of its metric too.

The search keeps false alarms down in two ways, because it looks at many slices at once:
- a slice found among the values or bins of a *numeric* column is reported but not judged: a
  ranking metric such as ROC AUC (or R²) is always lower inside a narrow range of a predictive
  input, so its gap to the overall metric says nothing about how well those rows are served;
- a searched categorical slice fails only when its shortfall is significant: the 95th
  percentile of a bootstrap of the slice's metric must still be below the threshold (for a
  regression, the 5th percentile of its error must still be too large).
Configured slices are judged on their metric as it is: they are the ones the user named.

Every searched slice counts for the verdict; `[slices] worst` only limits how many are shown
(a failing slice is always shown). Wide data: at most `MAX_NUMERIC_SEARCH` numeric columns are
searched, those whose worst quantile bin has the highest mean row loss (a vectorised screen of
all numeric columns); since numeric slices are reported and never judged, this bounds the work
without changing the verdict.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from keel.model.metrics import Predictions, compute
from keel.model.slice_error import ErrorRule, error_kind, error_of

MAX_VALUES = 50  # a column with more distinct values is binned (numeric) or skipped (other)
NEARLY_UNIQUE = 0.95  # share of distinct values among rows above which a column is an id

Source = Literal["configured", "search"]
Verdict = Literal["pass", "fail", "too small", "undefined", "reported"]
BOOTSTRAP = 200  # resamples for the significance of a searched slice's shortfall
SCREEN_ROWS = 20_000  # rows the screen of numeric columns reads at most
MAX_NUMERIC_SEARCH = 50  # numeric columns searched at most (their slices are only reported)


@dataclass
class Slice:
    """Rows of the evaluation split picked out by one value (or bin) of one column."""

    column: str
    value: str
    source: Source
    rows: np.ndarray  # positions in the evaluation frame

    @property
    def name(self) -> str:
        if self.value == "missing":
            return f"{self.column} is missing"
        if self.value.startswith(("[", "(")):
            return f"{self.column} in {self.value}"
        return f"{self.column} = {self.value}"


@dataclass
class SliceResult:
    """A slice's metric and verdict against the thresholds."""

    slice: Slice
    size: int
    metric: float
    gap: float  # overall metric minus the slice's metric (positive: the slice is worse)
    verdict: Verdict
    note: str = ""
    error: float = math.nan  # a regression slice's MAE or RMSE (ErrorRule.kind)
    ratio: float = math.nan  # that error ÷ the whole's: what a regression slice is judged on

    @property
    def standing(self) -> float:
        """Lower is worse: minus the error ratio of a regression slice, else its metric."""
        return -self.ratio if not math.isnan(self.ratio) else self.metric


def _number(x: float) -> str:
    """A bin edge for people: four significant digits, whole numbers from 10,000 up."""
    return f"{x:.0f}" if 1e4 <= abs(x) < 1e12 else f"{x:.4g}"


def is_categorical(series: pd.Series) -> bool:
    """Whether a column holds categories (text, category, boolean) rather than numbers or dates."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return True
    return not (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    )


def quantile_bins(values: pd.Series, bins: int) -> pd.Series:
    """Labels of the quantile bins of numeric values: "[a, b)" and "[a, b]" for the last.

    Edges are the `bins`-quantiles of the non-missing values; repeated edges (many equal
    values) are merged, so there may be fewer bins. A value on an inner edge belongs to the
    bin above it. Missing values get a missing label.
    """
    if bins < 1:
        raise ValueError(
            f"The 'bins' parameter of quantile_bins must be an int >= 1. Got {bins!r} instead."
        )
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    present = numbers.notna().to_numpy()
    labels = np.full(len(numbers), np.nan, dtype=object)
    if not present.any():
        return pd.Series(labels, index=values.index, dtype=object)
    x = numbers.to_numpy()[present]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:
        names = np.array([f"[{_number(edges[0])}, {_number(edges[0])}]"], dtype=object)
        codes = np.zeros(len(x), dtype=int)
    else:
        names = np.array(
            [
                f"[{_number(lo)}, {_number(hi)})"
                for lo, hi in zip(edges[:-2], edges[1:-1], strict=True)
            ]
            + [f"[{_number(edges[-2])}, {_number(edges[-1])}]"],
            dtype=object,
        )
        codes = np.searchsorted(edges[1:-1], x, side="right")
    labels[present] = names[codes]
    return pd.Series(labels, index=values.index, dtype=object)


def value_labels(series: pd.Series) -> pd.Series:
    """Each value as text ("2", not "2.0", for numbers), missing values as NaN."""
    if is_categorical(series) or not pd.api.types.is_numeric_dtype(series.dtype):
        text = series.astype(str).to_numpy(dtype=object)
    else:
        numbers = pd.to_numeric(series, errors="coerce").astype("float64").fillna(0.0)
        text = np.array([f"{v:.6g}" for v in numbers.to_numpy()], dtype=object)
    return pd.Series(np.where(series.isna().to_numpy(), np.nan, text), index=series.index)


def slice_labels(series: pd.Series, *, bins: int) -> pd.Series:
    """The slice value of every row: the value itself, or its quantile bin for many numbers."""
    numeric = not is_categorical(series) and pd.api.types.is_numeric_dtype(series.dtype)
    if numeric and series.nunique(dropna=True) > MAX_VALUES:
        return quantile_bins(series, bins)
    return value_labels(series)


def slices_of(series: pd.Series, *, bins: int, source: Source) -> Iterator[Slice]:
    """Every slice of one column (ordered by value), missing values last."""
    labels = slice_labels(series, bins=bins)
    codes, uniques = pd.factorize(labels, sort=True, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)  # missing values last
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(uniques) + 1))
    values = [str(v) for v in uniques] + ["missing"]
    for code, (start, end) in enumerate(zip(np.r_[0, ends[:-1]], ends, strict=True)):
        if end > start:
            yield Slice(str(series.name), values[code], source, order[start:end])


def search_columns(frame: pd.DataFrame, *, exclude: Sequence[str] = ()) -> list[str]:
    """Columns worth searching for weak slices: few categories, or numbers to bin.

    Leaves out `exclude` (target, id, timestamp), dates, categorical columns with more than
    `MAX_VALUES` values, and integer columns that are nearly unique (identifiers).
    """
    chosen = []
    for name in frame.columns:
        if name in exclude:
            continue
        column = frame[name]
        if pd.api.types.is_float_dtype(column.dtype):  # only "varies at all" matters: cheap
            if column.min() < column.max():
                chosen.append(name)
            continue
        present = int(column.notna().sum())
        if present == 0:
            continue
        distinct = column.nunique(dropna=True)
        if is_categorical(column):
            if 2 <= distinct <= MAX_VALUES or (distinct == 1 and present < len(column)):
                chosen.append(name)
        elif pd.api.types.is_numeric_dtype(column.dtype):
            id_like = pd.api.types.is_integer_dtype(column.dtype) and (
                distinct > MAX_VALUES and distinct >= NEARLY_UNIQUE * present
            )
            if distinct >= 2 and not id_like:
                chosen.append(name)
    return chosen


def slice_metric(name: str, y_true: np.ndarray, predictions: Predictions) -> tuple[float, str]:
    """A metric on some rows, and why it is undefined there when it is (NaN with a note)."""
    from sklearn.exceptions import UndefinedMetricWarning  # scikit-learn: loaded when measuring

    y = np.asarray(y_true)
    if len(y) == 0:
        return float("nan"), "no rows"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        try:
            value = compute(name, y, predictions)
        except UndefinedMetricWarning as exc:
            return float("nan"), f"{name} undefined: {str(exc).splitlines()[0]}"
        except ValueError as exc:
            return float("nan"), f"{name} undefined: {str(exc).splitlines()[0]}"
    if math.isnan(value):
        classes = len(np.unique(y))
        return value, f"{name} undefined on {classes} class{'es' if classes != 1 else ''}"
    return value, ""


def judge(
    metric: float, overall: float, *, min_metric: float | None, max_gap: float | None
) -> bool:
    """Whether a slice's (defined) metric fails the floor or the allowed gap."""
    below_floor = min_metric is not None and metric < min_metric
    too_far = max_gap is not None and overall - metric > max_gap + 1e-12
    return below_floor or too_far


def bootstrap_upper(
    name: str, y: np.ndarray, predictions: Predictions, *, seed: int = 0, q: float = 0.95
) -> float:
    """The `q` quantile of the metric over bootstrap resamples of the rows (NaNs left out)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(y), len(y))
        value, _ = slice_metric(name, y[pick], predictions.take(pick))
        if not math.isnan(value):
            values.append(value)
    return float(np.quantile(values, q)) if values else float("nan")


def evaluate_slices(
    slices: Sequence[Slice],
    target: np.ndarray,
    predictions: Predictions,
    *,
    metric: str,
    overall: float,
    min_size: int,
    min_metric: float | None,
    max_gap: float | None,
    numeric: frozenset[str] = frozenset(),
    confident: bool = False,
    error_rule: ErrorRule | None = None,
) -> list[SliceResult]:
    """Each slice's metric and verdict; slices under `min_size` rows are not judged.

    Slices of `numeric` columns are only reported; with `confident`, a failing slice must fail
    on the bootstrap's 95th percentile of its metric too (see the module docstring). With an
    `error_rule` (regression) a slice is judged on its error ratio (`judge_error`).
    """
    if error_rule is not None:
        return [
            judge_error(
                s,
                target,
                predictions,
                rule=error_rule,
                metric=metric,
                overall=overall,
                min_size=min_size,
                min_metric=min_metric,
                reported=s.column in numeric,
                confident=confident,
            )
            for s in slices
        ]
    results = []
    y = np.asarray(target)
    for s in slices:
        size = len(s.rows)
        if size < min_size:
            results.append(
                SliceResult(
                    s, size, float("nan"), float("nan"), "too small", f"fewer than {min_size} rows"
                )
            )
            continue
        value, note = slice_metric(metric, y[s.rows], predictions.take(s.rows))
        if math.isnan(value):
            results.append(SliceResult(s, size, value, float("nan"), "undefined", note))
            continue
        if s.column in numeric:
            note = "a range of a numeric column: reported, not judged"
            results.append(SliceResult(s, size, value, overall - value, "reported", note))
            continue
        failed = judge(value, overall, min_metric=min_metric, max_gap=max_gap)
        note = ""
        if failed and confident:
            upper = bootstrap_upper(metric, y[s.rows], predictions.take(s.rows))
            failed = judge(upper, overall, min_metric=min_metric, max_gap=max_gap)
            note = f"95% bootstrap upper bound {upper:.4f}" + (
                "" if failed else ": not significant"
            )
        results.append(
            SliceResult(s, size, value, overall - value, "fail" if failed else "pass", note)
        )
    return results


def judge_error(
    s: Slice,
    target: np.ndarray,
    predictions: Predictions,
    *,
    rule: ErrorRule,
    metric: str,
    overall: float,
    min_size: int,
    min_metric: float | None,
    reported: bool,
    confident: bool,
) -> SliceResult:
    """A regression slice's verdict: its error (MAE or RMSE) against the whole's by `rule`,
    and `min_metric` as a floor of its metric when set; its metric (R²) is shown beside.
    `reported` slices (of numeric columns) are not judged; with `confident`, a failing slice
    must fail on the bootstrap's 5th percentile of its error too."""
    size = len(s.rows)
    if size < min_size:
        return SliceResult(s, size, math.nan, math.nan, "too small", f"fewer than {min_size} rows")
    y = np.asarray(target)[s.rows]
    values = np.asarray(predictions.labels)[s.rows]
    error = error_of(rule.kind, y, values)
    ratio = rule.ratio(error)
    value, undefined = slice_metric(metric, y, predictions.take(s.rows))
    gap = overall - value
    if reported:
        note = "a range of a numeric column: reported, not judged"
        return SliceResult(s, size, value, gap, "reported", note, error, ratio)
    below = min_metric is not None and not math.isnan(value) and value < min_metric
    failed = rule.fails(error) or below
    notes = [undefined] if undefined else []
    if failed and confident:
        low = rule.lower_bound(y, values, resamples=BOOTSTRAP)
        upper = bootstrap_upper(metric, y, predictions.take(s.rows)) if below else math.nan
        failed = rule.fails(low) or (below and upper < min_metric)  # type: ignore[operator]
        notes.append(
            f"95% bootstrap lower bound of {rule.kind} {low:.4g}"
            + ("" if failed else ": not significant")
        )
    verdict: Verdict = "fail" if failed else "pass"
    return SliceResult(s, size, value, gap, verdict, "; ".join(notes), error, ratio)


@dataclass
class SliceReport:
    """Configured slices, every slice the search judged, and the ones it displays.

    The verdict (`judged`, `failing`) covers every configured and every searched slice; `worst`
    is only what is shown: the `[slices] worst` lowest, plus any failing slice beyond them.
    """

    configured: list[SliceResult]
    worst: list[SliceResult]
    searched_columns: list[str]
    searched_slices: int  # slices with at least min_size rows that the search judged
    searched_failing: int
    searched: list[SliceResult] = field(default_factory=list)  # every searched slice evaluated
    skipped_columns: list[str] = field(default_factory=list)  # numeric columns not searched
    screen: str = ""  # how the searched numeric columns were chosen, when some were skipped
    error_rule: ErrorRule | None = None  # how regression slices were judged (None: classifier)
    small_slices: int = 0  # searched slices under min_size rows (neither judged nor shown)

    @property
    def results(self) -> list[SliceResult]:
        """What is displayed: configured slices and the searched slices shown."""
        return self.configured + self.worst

    @property
    def judged(self) -> list[SliceResult]:
        return [r for r in self.configured + self.searched if r.verdict in ("pass", "fail")]

    @property
    def failing(self) -> list[SliceResult]:
        return [r for r in self.configured + self.searched if r.verdict == "fail"]


def row_loss(target: np.ndarray, predictions: Predictions) -> np.ndarray:
    """Each row's loss, for screening columns: 1 − probability of the true class, or the
    absolute error of a value (0/1 for a wrong label when there are no probabilities)."""
    y = np.asarray(target)
    if predictions.proba is not None and predictions.classes is not None:
        index = {c: i for i, c in enumerate(predictions.classes.tolist())}
        cols = np.array([index.get(v, -1) for v in y.tolist()])
        p = np.where(cols >= 0, predictions.proba[np.arange(len(y)), np.maximum(cols, 0)], 0.0)
        return 1.0 - np.nan_to_num(p, nan=0.0)
    labels = np.asarray(predictions.labels)
    if pd.api.types.is_numeric_dtype(labels.dtype) and pd.api.types.is_numeric_dtype(y.dtype):
        diff = np.abs(labels.astype(float) - y.astype(float))
        return np.nan_to_num(diff, nan=float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0)
    return (labels != y).astype(float)


def screen_numeric(
    frame: pd.DataFrame, columns: Sequence[str], loss: np.ndarray, *, bins: int, keep: int
) -> list[str]:
    """The `keep` numeric columns with the worst quantile bin: the highest mean row loss in one
    bin (of `bins`) above the overall mean loss. One vectorised pass over all columns, on at
    most `SCREEN_ROWS` rows (a seeded sample)."""
    if len(columns) <= keep:
        return list(columns)
    rows = np.arange(len(frame))
    if len(rows) > SCREEN_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(rows), SCREEN_ROWS, replace=False))
    values = frame[list(columns)].iloc[rows].to_numpy(dtype="float64", na_value=np.nan)
    loss = np.asarray(loss, dtype=float)[rows]
    overall = float(loss.mean())
    scores = np.empty(len(columns))
    levels = np.linspace(0, 1, bins + 1)[1:-1]
    quantile = np.nanquantile if np.isnan(values).any() else np.quantile
    qs = quantile(values, levels, axis=0)  # (bins - 1, cols)
    present = ~np.isnan(values)
    codes = (values[None, :, :] >= qs[:, None, :]).sum(axis=0)  # bin of each cell
    for b in range(bins):
        inside = (codes == b) & present
        counts = inside.sum(axis=0)
        sums = (inside * loss[:, None]).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
        scores = means if b == 0 else np.maximum(scores, means)
    scores = scores - overall
    order = np.argsort(-scores, kind="stable")[:keep]
    return [columns[i] for i in sorted(order)]


def find_slices(
    frame: pd.DataFrame,
    target: np.ndarray,
    predictions: Predictions,
    *,
    metric: str,
    overall: float,
    columns: Sequence[str] = (),
    search: bool = True,
    exclude: Sequence[str] = (),
    bins: int = 4,
    min_size: int = 200,
    worst: int = 10,
    min_metric: float | None = None,
    max_gap: float | None = None,
    max_numeric: int = MAX_NUMERIC_SEARCH,
    max_error_ratio: float | None = None,
) -> SliceReport:
    """Metrics of the configured slices and of every slice a search finds.

    `frame` is the raw evaluation frame, row for row with `target` and `predictions`. The
    search (over columns not configured) judges every slice with at least `min_size` rows; it
    displays the `worst` lowest (and every failing one), plus those where the metric is
    undefined. At most `max_numeric` numeric columns are searched, chosen by `screen_numeric`.
    With `max_error_ratio` (a regression), slices are judged on their error against the whole's
    (`keel.model.slice_error`: MAE, or RMSE for a squared-error `metric`), not on `max_gap`.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The 'columns' parameter of find_slices must name columns of the frame. "
            f"Got {missing[0]!r} instead."
        )
    rule = None
    if max_error_ratio is not None:
        kind = error_kind(metric)
        whole = error_of(kind, np.asarray(target), np.asarray(predictions.labels))
        rule = ErrorRule(kind, whole, max_error_ratio)
    limits = {
        "metric": metric,
        "overall": overall,
        "min_size": min_size,
        "min_metric": min_metric,
        "max_gap": None if rule else max_gap,
        "error_rule": rule,
    }
    configured_slices = [
        s for c in columns for s in slices_of(frame[c], bins=bins, source="configured")
    ]
    configured = evaluate_slices(configured_slices, target, predictions, **limits)
    if not search:
        return SliceReport(configured, [], [], 0, 0, error_rule=rule)
    searched_columns = search_columns(frame, exclude=[*exclude, *columns])
    numeric_columns = [c for c in searched_columns if not is_categorical(frame[c])]
    skipped: list[str] = []
    screen = ""
    if len(numeric_columns) > max_numeric:
        loss = row_loss(target, predictions)
        kept = set(screen_numeric(frame, numeric_columns, loss, bins=bins, keep=max_numeric))
        skipped = [c for c in numeric_columns if c not in kept]
        searched_columns = [c for c in searched_columns if c not in set(skipped)]
        screen = (
            f"{len(kept)} of {len(numeric_columns)} numeric columns searched: those whose worst "
            f"quantile bin has the highest mean row loss (1 − probability of the true class, or "
            f"absolute error); slices of numeric columns are reported, never judged, so the "
            f"{len(skipped)} left out cannot change the verdict"
        )
    every = [s for c in searched_columns for s in slices_of(frame[c], bins=bins, source="search")]
    candidates = [s for s in every if len(s.rows) >= min_size]
    numeric = frozenset(c for c in searched_columns if not is_categorical(frame[c]))
    found = evaluate_slices(
        candidates, target, predictions, **limits, numeric=numeric, confident=True
    )
    judged = sorted((r for r in found if r.verdict in ("pass", "fail")), key=lambda r: r.standing)
    reported = sorted((r for r in found if r.verdict == "reported"), key=lambda r: r.standing)
    undefined = [r for r in found if r.verdict == "undefined"]
    failing = [r for r in judged if r.verdict == "fail"]
    lowest = judged[:worst]
    shown = lowest + [r for r in failing if r not in lowest] + reported[:worst] + undefined[:worst]
    return SliceReport(
        configured,
        shown,
        searched_columns,
        len(judged),
        len(failing),
        searched=found,
        skipped_columns=skipped,
        screen=screen,
        error_rule=rule,
        small_slices=len(every) - len(candidates),
    )
