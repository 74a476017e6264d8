"""The monitoring dashboard's charts: window summaries turned into series over time.

Plain functions from `{(window start, model version): PartSummary}` (see
`keel.monitor.intake.load_windows`) to `keel.report.lines.LineChart`s, or to the sentence
that says why a chart is empty and what to do. Where a chart has one line per input, only the
`WORST` inputs (ranked by their highest value) are drawn, and the chart says so, so the page
stays readable and quick to draw with dozens of inputs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from functools import reduce

from keel.data.column import ColumnProfile
from keel.data.compare import js_from_profiles, linf_from_profiles
from keel.errors import DataError
from keel.monitor.summary import PartSummary
from keel.report.lines import LineChart, worst

WORST = 8
Windows = dict[tuple[str, int], PartSummary]
NO_TRAFFIC = "Nothing served yet: run `keel serve`, send it traffic, then run `keel monitor`."


@dataclass(frozen=True)
class Timeline:
    """The windows, oldest first: their labels, the versions that served, and the summaries
    per window (all versions merged) and per (window, version)."""

    starts: list[str]
    labels: list[str]
    versions: list[int]
    merged: list[PartSummary]
    by_key: Windows

    @classmethod
    def of(cls, windows: Windows) -> Timeline:
        starts = sorted({w for w, _ in windows})
        versions = sorted({v for _, v in windows})
        merged = []
        for start in starts:
            group = [s for (w, _), s in sorted(windows.items()) if w == start]
            # PartSummary merges one version; the merged window belongs to the first one.
            merged.append(
                reduce(lambda a, b: a.merge(replace(b, model_version=a.model_version)), group)
            )
        return cls(starts, window_labels(starts), versions, merged, dict(windows))

    def per_version(self, version: int) -> list[PartSummary | None]:
        return [self.by_key.get((start, version)) for start in self.starts]


def window_labels(starts: list[str]) -> list[str]:
    """Short x labels: dates when every window starts at midnight, else month-day and time."""
    try:
        moments = [dt.datetime.fromisoformat(s) for s in starts]
    except ValueError:
        return list(starts)
    if all(m.hour == m.minute == 0 for m in moments):
        return [f"{m:%Y-%m-%d}" for m in moments]
    return [f"{m:%m-%d %H:%M}" for m in moments]


def _ranked(title: str, series: dict[str, list[float | None]], what: str) -> tuple[dict, str]:
    """The worst WORST series and the note that says so (empty when all are shown)."""
    if len(series) <= WORST:
        return series, ""
    return worst(series, WORST), (
        f"Showing the {WORST} of {len(series)} {what} with the highest {title} "
        "(ranked by their highest value)."
    )


def rows_chart(t: Timeline) -> LineChart:
    """Served rows per window: all versions together, and each version when several served;
    and the rows the server refused, when it refused any."""
    series: dict[str, list[float | None]] = {"all versions": [float(m.rows) for m in t.merged]}
    if len(t.versions) > 1:
        for v in t.versions:
            series[f"v{v}"] = [None if s is None else float(s.rows) for s in t.per_version(v)]
    if any(m.rejected for m in t.merged):
        series["refused (schema problem)"] = [float(m.rejected) for m in t.merged]
    return LineChart("Served rows per window", t.labels, series, y_label="rows")


def anomaly_chart(t: Timeline, threshold: float | None) -> tuple[LineChart, str]:
    """The share of rows received (served and refused) with a schema anomaly, per input and
    window."""
    names = sorted({n for m in t.merged for n in m.anomalies})
    series = {
        n: [m.anomalies.get(n, 0) / m.received if m.received else None for m in t.merged]
        for n in names
    }
    empty = "" if names else "No row received had a schema anomaly in any window."
    shown, note = _ranked("rate", series, "inputs")
    if not series:
        shown = {"every input": [0.0 if m.received else None for m in t.merged]}
    chart = LineChart(
        "Anomaly rate per input",
        t.labels,
        shown,
        y_label="share of the window's rows",
        thresholds={"max_anomaly_rate": threshold} if threshold is not None else {},
        note=note,
    )
    return chart, empty


def drift_value(reference: ColumnProfile, current: ColumnProfile) -> tuple[float | None, str]:
    """(value, measure) of one column between two windows: L-infinity for categorical
    (and integer) columns, Jensen-Shannon for numeric ones; None when it cannot be measured."""
    try:
        if reference.kind == "categorical" or current.kind == "categorical":
            return linf_from_profiles(reference, current), "linf"
        if reference.kind in ("numeric", "datetime"):
            return js_from_profiles(reference, current), "js"
    except (DataError, ValueError):
        return None, ""
    return None, ""


def drift_chart(t: Timeline, thresholds: dict[str, float]) -> tuple[LineChart | None, str]:
    """Each input's drift from the window before (the first window has no value)."""
    if len(t.merged) < 2:
        return None, (
            "Drift compares consecutive windows: there is one so far. Run `keel monitor` "
            "again once traffic has reached the next window."
        )
    series: dict[str, list[float | None]] = {}
    measures: dict[str, str] = {}
    for i in range(1, len(t.merged)):
        before, now = t.merged[i - 1].inputs, t.merged[i].inputs
        if before is None or now is None:
            continue
        for name, column in now.columns.items():
            if name not in before.columns:
                continue
            value, measure = drift_value(before.columns[name], column)
            if measure:
                measures[name] = measure
                series.setdefault(name, [None] * len(t.merged))[i] = value
    if not series:
        return None, "No input was logged in two consecutive windows with values to compare."
    labelled = {f"{n} ({measures[n]})": v for n, v in series.items()}
    shown, note = _ranked("drift", labelled, "inputs")
    chart = LineChart(
        "Drift per input from the previous window",
        t.labels,
        shown,
        y_label="L-infinity (categorical) or Jensen-Shannon (numeric)",
        thresholds=thresholds,
        note=note,
    )
    return chart, ""


def skew_chart(t: Timeline, threshold: float | None) -> tuple[LineChart | None, str]:
    """Per model input, the share of recomputed examples whose value differed from the log."""
    names = sorted({n for m in t.merged for n in m.skew})
    if not names:
        errors = sorted({m.skew_error for m in t.merged if m.skew_error})
        why = f" (the feature code failed: {errors[0]})" if errors else ""
        return None, (
            f"No per-example skew was measured{why}. It needs the model inputs logged by "
            "`keel serve` and the model's feature code ([model].features) to recompute them."
        )
    series = {
        n: [
            m.skew[n].skewed / m.skew[n].compared if n in m.skew and m.skew[n].compared else None
            for m in t.merged
        ]
        for n in names
    }
    shown, note = _ranked("skewed share", series, "model inputs")
    chart = LineChart(
        "Per-example skew: share of examples the feature code recomputes differently",
        t.labels,
        shown,
        y_label="share of compared examples",
        thresholds={"max_skewed_share": threshold} if threshold is not None else {},
        note=note,
    )
    return chart, ""


def _column(summary: PartSummary | None, name: str) -> ColumnProfile | None:
    if summary is None or summary.outputs is None:
        return None
    return summary.outputs.columns.get(name)


def latency_chart(t: Timeline) -> tuple[LineChart | None, str]:
    """p50 and p99 of the served latency, in milliseconds, per model version."""
    series: dict[str, list[float | None]] = {}
    for v in t.versions:
        tag = f" v{v}" if len(t.versions) > 1 else ""
        cols = [_column(s, "latency_seconds") for s in t.per_version(v)]
        qs = [c.quantiles([0.5, 0.99]) if c is not None and c.finite else None for c in cols]
        series[f"p50{tag}"] = [None if q is None else q[0] * 1000 for q in qs]
        series[f"p99{tag}"] = [None if q is None else q[1] * 1000 for q in qs]
    if not any(v is not None for vs in series.values() for v in vs):
        return None, "No latency was logged: the prediction log holds no latency_seconds."
    return LineChart("Serving latency per window", t.labels, series, y_label="milliseconds"), ""


def positive_class(t: Timeline) -> str | None:
    """The class whose probability the dashboard follows: "1", "true" or "yes" when logged,
    else the last class in sorted order; None without probabilities."""
    classes = sorted(
        {
            n.removeprefix("proba_")
            for m in t.merged
            if m.outputs is not None
            for n in m.outputs.columns
            if n.startswith("proba_")
        }
    )
    for usual in ("1", "1.0", "true", "True", "yes", "positive"):
        if usual in classes:
            return usual
    return classes[-1] if classes else None


def prediction_chart(t: Timeline) -> tuple[LineChart | None, str]:
    """Mean of the positive class's probability (or of the prediction) per version."""
    positive = positive_class(t)
    name = f"proba_{positive}" if positive is not None else "prediction"
    series: dict[str, list[float | None]] = {}
    for v in t.versions:
        cols = [_column(s, name) for s in t.per_version(v)]
        series[f"v{v}"] = [None if c is None or c.mean is None else c.mean for c in cols]
    if not any(x is not None for vs in series.values() for x in vs):
        return None, "No numeric prediction or class probability was logged."
    what = f"P(class {positive})" if positive is not None else "the prediction"
    return LineChart(f"Mean of {what} per window", t.labels, series, y_label="mean"), ""


def class_chart(t: Timeline) -> LineChart | None:
    """Share of each predicted class per window (classifiers: a prediction with value counts
    and few distinct values); None for regressors."""
    cols = [_column(m, "prediction") for m in t.merged]
    if not any(c is not None and c.frequent is not None and c.present for c in cols):
        return None
    distinct = max((c.distinct or 0) for c in cols if c is not None)
    if distinct > 50:
        return None
    classes = sorted({item for c in cols if c is not None for item, _ in c.top(WORST * 2)})
    series = {
        f"class {k}": [
            c.frequency(k)[0] / c.present if c is not None and c.present else None for c in cols
        ]
        for k in classes
    }
    shown, note = _ranked("share", series, "classes")
    return LineChart(
        "Predicted class shares per window", t.labels, shown, y_label="share", note=note
    )


def finite_or_none(value: object) -> float | None:
    """A threshold from evidence as a float, None when absent or not a finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
