"""The impact of model staleness (model.4): quality against the age of the training data.

    newest period   the last [staleness] period_days of the evaluation data; of the training
                    and evaluation data together when the evaluation data covers less than a
                    period (said in the notes)
    pool            every row, training and evaluation, older than the newest period
    windows         for k = 0 … K ([staleness] max_age_periods), the pool's rows in a window
                    ending k periods before the newest period starts; every window has the same
                    length, the longest the oldest one allows (from the pool's first row to K
                    periods before the newest period), K lowered until that is at least one
                    period; every window is sampled down to the same number of rows (the
                    smallest window's, at most `WINDOW_ROWS`, and on wide data at most
                    `keel.model.budget.TRAIN_CELLS` rows × inputs), so windows differ in age
                    only
    age             k · period_days days: from the window's end to the newest period's start

A model is trained on each window with the user's training function and evaluated on the
newest period with the primary metric. The limit is the smallest age at which the metric falls
more than [staleness] max_drop below the age-0 model's; when it never does, the limit is the
oldest age measured (as far as the model is known to hold up). When the age-0 training's time
(the smaller of wall and CPU time) times the older windows exceeds [staleness] max_seconds, the
older windows are not trained unless `keel score --deep` (`stopped` says so). `limit` reads the
limit, for monitor.4 and the registry (None when it is not known).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from keel.errors import KeelError
from keel.model.budget import TRAIN_CELLS, affordable_rows, clock, over_budget, seconds_since
from keel.model.contract import Build, Fit, PredictWith
from keel.model.importance import sample_rows
from keel.model.metrics import compute

WINDOW_ROWS = 20_000
DAY = pd.Timedelta(days=1)


@dataclass
class Age:
    """The model trained on one window, evaluated on the newest period."""

    k: int
    age_days: float
    start: str
    end: str
    rows: int
    metric: float | None
    error: str = ""


@dataclass
class Staleness:
    """The quality-versus-age curve and the age limit it implies."""

    metric: str
    period_days: int
    max_drop: float
    ages: list[Age] = field(default_factory=list)
    newest: str = ""
    newest_rows: int = 0
    window_days: float = 0.0
    notes: list[str] = field(default_factory=list)
    problem: str = ""  # why the curve could not be computed
    stopped: str = ""  # why the older windows were not trained (over [staleness] max_seconds)
    drop_age_days: float | None = None
    limit_days: float | None = None
    seconds: float = 0.0

    @property
    def measured(self) -> list[Age]:
        return [a for a in self.ages if a.metric is not None]


def _times(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        times = pd.to_datetime(values, unit="s", errors="coerce")
    else:
        times = pd.to_datetime(values, errors="coerce")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times


def _day(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%d")


def curve(
    train_raw: pd.DataFrame,
    eval_raw: pd.DataFrame,
    *,
    build: Build,
    fit: Fit,
    predict: PredictWith,
    metric: str,
    target: str,
    timestamp: str | None,
    period_days: int,
    max_age_periods: int,
    max_drop: float,
    max_seconds: float,
    deep: bool,
    seed: int,
) -> Staleness:
    """Train on windows of growing age, evaluate each on the newest period (module docstring).

    `build` makes model inputs of raw rows, `fit` trains on them, `predict` predicts with the
    model trained; `timestamp` is the [system] timestamp column of the raw rows; the periods,
    `max_drop` and `max_seconds` are the [staleness] settings; `deep` trains every window
    whatever the time it takes (`keel score --deep`).
    """
    ts = timestamp
    found = Staleness(metric, period_days, max_drop)
    if ts is None:
        found.problem = "no [system] timestamp column"
        return found
    start_clock = time.perf_counter()
    period = period_days * DAY
    raw = pd.concat([train_raw, eval_raw], ignore_index=True)
    times = _times(raw[ts])
    is_eval = np.r_[np.zeros(len(train_raw), bool), np.ones(len(eval_raw), bool)]
    known = times.notna().to_numpy()
    if known.sum() < len(raw):
        found.notes.append(f"{int((~known).sum())} rows without a time are left out")
    eval_times = times[is_eval & known]
    if len(eval_times) and eval_times.max() - eval_times.min() >= period:
        newest_start = eval_times.max() - period
    else:
        newest_start = times[known].max() - period
        found.notes.append(
            f"the evaluation data covers less than {period_days} days: the newest period is "
            "taken from the training and evaluation data together"
        )
    newest = (times > newest_start).to_numpy() & known
    pool = (times <= newest_start).to_numpy() & known
    found.newest = f"{_day(newest_start)} to {_day(times[newest].max())}" if newest.any() else ""
    found.newest_rows = int(newest.sum())
    if not pool.any() or not newest.any():
        found.problem = "the data covers less than one period before the newest period"
        return found
    first = times[pool].min()
    periods_before = math.floor((newest_start - first) / period)
    k_max = min(max_age_periods, periods_before - 1)
    if k_max < 1:
        span = (newest_start - first) / DAY
        found.problem = (
            f"the data before the newest period covers {span:.0f} days: fewer than the 2 periods "
            f"of {period_days} days needed to train models of two ages"
        )
        return found
    if k_max < max_age_periods:
        found.notes.append(
            f"the data allows ages up to {k_max} periods, not [staleness] max_age_periods = "
            f"{max_age_periods}"
        )
    window = (newest_start - k_max * period) - first
    found.window_days = window / DAY
    inputs = build(raw)
    y = raw[target]
    newest_idx = np.flatnonzero(newest)
    y_newest = np.asarray(y.iloc[newest_idx])
    windows = []
    for k in range(k_max + 1):
        end = newest_start - k * period
        inside = pool & (times >= end - window).to_numpy() & (times <= end).to_numpy()
        windows.append((k, end, np.flatnonzero(inside)))
    affordable = affordable_rows(WINDOW_ROWS, inputs.shape[1])
    size = min(affordable, *(len(rows) for _, _, rows in windows))
    first_seconds = 0.0
    if affordable < min(WINDOW_ROWS, *(len(rows) for _, _, rows in windows)):
        found.notes.append(
            f"every window sampled to {size:,} rows: {inputs.shape[1]:,} inputs, at most "
            f"{TRAIN_CELLS:,} cells (rows × inputs) per training"
        )
    for k, end, rows in windows:
        if k == 1:
            found.stopped = over_budget(
                first_seconds,
                k_max,
                max_seconds,
                deep=deep,
                key="[staleness] max_seconds",
            )
            if found.stopped:
                return found
        started = clock()
        picked = rows[sample_rows(len(rows), size, seed=seed)]
        age = Age(k, k * period_days, _day(end - window), _day(end), len(picked), None)
        try:
            estimator = fit(inputs.iloc[picked], y.iloc[picked])
            predictions = predict(estimator, inputs.iloc[newest_idx])
            value = compute(metric, y_newest, predictions)
            age.metric = None if math.isnan(value) else value
            if age.metric is None:
                age.error = f"{metric} is undefined on the newest period"
        except KeelError as exc:
            age.error = str(exc)
        found.ages.append(age)
        if k == 0:
            first_seconds = seconds_since(started)
    fresh = found.ages[0].metric
    if fresh is None:
        found.problem = f"the age-0 model could not be evaluated: {found.ages[0].error}"
        return found
    for age in found.ages[1:]:
        if age.metric is not None and age.metric < fresh - max_drop:
            found.drop_age_days = age.age_days
            break
    oldest = max(a.age_days for a in found.measured)
    found.limit_days = found.drop_age_days if found.drop_age_days is not None else oldest
    found.seconds = time.perf_counter() - start_clock
    return found


def limit(found: Staleness) -> float | None:
    """The age in days past which the model's quality is known to drop (or, with no drop
    measured, the oldest age known to hold up); None when the curve could not be computed or
    its older windows were not trained.

    monitor.4 holds the serving model's data age to it; the registry stores it with a version.
    """
    return None if found.problem or found.stopped else found.limit_days
