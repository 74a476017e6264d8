"""A generated smoke test of the training code (infra.2).

[smoke] rows rows are synthesised from the schema (keel.schema.yaml), the user's feature and
training functions run on them, and the model predicts a second batch synthesised the same way
(fresh rows, valid by the schema, never seen in training). Its predictions must have

    shape           one prediction per row, and one probability per class
    labels          only classes the model was trained on
    probabilities   finite, within [0, 1], each row summing to 1
    values          finite numbers (regression)

Columns are those of the raw training data, in order. Each is synthesised from its schema
feature, or, when the schema does not list it (or there is no schema file), from the training
column's type and values:

    string with a domain      drawn from the domain
    string without one        drawn from values seen in training; the [system] id column gets
                              fresh unique ids
    int, float                uniform within the range when the feature has both ends, else
                              between the 1st and 99th percentiles of the training values,
                              clipped to the range's end where there is one
    bool                      true or false
    datetime                  between the earliest and latest training time
    presence p < 1            missing in a share 1 − p of the rows
    the target                every class seen in training, in turn (classification); a
                              number like the above (regression)

Columns are cast to the training column's dtype where the values allow it. (infra.2 also runs
the user's own tests of the training code; see `keel.checks.infra`.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.data.schema import Feature, load_schema
from keel.errors import KeelError
from keel.system import System

QUANTILES = (0.01, 0.99)


@dataclass
class Step:
    """One step of the smoke test and how it went."""

    step: str
    outcome: str  # pass, fail or skipped
    detail: str = ""


@dataclass
class Smoke:
    """The smoke test's outcome, step by step."""

    rows: int
    source: str
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.outcome == "fail"]


# -- synthesis ----------------------------------------------------------------------------------


def _numbers(
    observed: pd.Series, feature: Feature | None, n: int, rng: np.random.Generator
) -> np.ndarray:
    values = pd.to_numeric(observed, errors="coerce").astype(float).dropna()
    values = values[np.isfinite(values)]
    low, high = (values.quantile(QUANTILES).tolist()) if len(values) else (0.0, 1.0)
    ranged = feature.range if feature is not None else None
    if ranged is not None:
        if ranged.min is not None and ranged.max is not None:
            low, high = ranged.min, ranged.max
        elif ranged.min is not None:
            low, high = max(low, ranged.min), max(high, ranged.min)
        elif ranged.max is not None:
            low, high = min(low, ranged.max), min(high, ranged.max)
    drawn = rng.uniform(low, high, n) if high > low else np.full(n, float(low))
    integral = (feature is not None and feature.type == "int") or (
        feature is None and pd.api.types.is_integer_dtype(observed.dtype)
    )
    if integral:
        drawn = np.clip(np.round(drawn), np.ceil(low), np.floor(high)) if high > low else drawn
    return drawn


def _kind(observed: pd.Series, feature: Feature | None) -> str:
    if feature is not None and feature.type != "other":
        return feature.type
    dtype = observed.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def synthesise_column(
    observed: pd.Series,
    feature: Feature | None,
    n: int,
    rng: np.random.Generator,
    *,
    unique: bool = False,
) -> pd.Series:
    """`n` values valid by `feature` (or like `observed`), in the observed dtype where possible."""
    kind = _kind(observed, feature)
    values: Any
    if unique:
        if pd.api.types.is_integer_dtype(observed.dtype):
            start = int(pd.to_numeric(observed, errors="coerce").max() or 0) + 1
            values = np.arange(start, start + n)
        else:
            values = np.array([f"keel-smoke-{i:06d}" for i in range(n)], dtype=object)
    elif kind in ("int", "float"):
        values = _numbers(observed, feature, n, rng)
    elif kind == "bool":
        values = rng.random(n) < 0.5
    elif kind == "datetime":
        times = pd.to_datetime(observed, errors="coerce").dropna()
        if len(times):
            low, high = times.min().value, times.max().value
        else:
            low = pd.Timestamp("2020-01-01").value
            high = low + 365 * 86_400 * 10**9
        values = pd.to_datetime(rng.integers(low, high + 1, n))
        if getattr(times.dt, "tz", None) is not None:
            values = values.tz_localize("UTC").tz_convert(times.dt.tz)
    else:
        domain = feature.domain if feature is not None and feature.domain else None
        if domain is None:
            seen = observed.dropna().astype(str).unique()
            domain = list(seen[:1000]) if len(seen) else [f"keel-smoke-{i}" for i in range(5)]
        values = rng.choice(np.array(domain, dtype=object), n)
    series = pd.Series(values)
    presence = feature.presence if feature is not None else 1.0
    if presence < 1 and not unique:
        missing = rng.random(n) < (1 - presence)
        series = series.where(~missing)
    return _cast(series, observed.dtype)


def _cast(series: pd.Series, dtype: Any) -> pd.Series:
    if series.isna().any() and pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        dtype = np.dtype("float64")  # what missing values make of an integer column
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series


def synthesise(
    system: System, n: int, *, seed: int, schema_features: dict[str, Feature] | None
) -> pd.DataFrame:
    """`n` raw rows valid by the schema (or like the training data), the target included."""
    raw = system.raw("train")
    rng = np.random.default_rng(seed)
    features = schema_features or {}
    columns = {}
    for name in raw.columns:
        if name == system.target:
            continue
        unique = name == system.config.system.id
        columns[name] = synthesise_column(raw[name], features.get(str(name)), n, rng, unique=unique)
    target = raw[system.target]
    if system.task == "regression":
        values = synthesise_column(target, features.get(system.target), n, rng)
        columns[system.target] = values.fillna(float(np.nanmedian(values.astype(float))))
    else:
        classes = np.sort(target.dropna().unique())
        columns[system.target] = pd.Series(rng.permutation(np.resize(classes, n))).astype(
            target.dtype
        )
    frame = pd.DataFrame(columns)
    return frame[[c for c in raw.columns if c in frame.columns]]


# -- the smoke test -----------------------------------------------------------------------------


def _check_predictions(
    system: System, estimator: Any, inputs: pd.DataFrame, classes: np.ndarray
) -> list[Step]:
    n = len(inputs)
    try:
        predictions = system.predict(estimator, inputs)
    except Exception as exc:
        return [Step("prediction", "fail", f"predicting raised {type(exc).__name__}: {exc}")]
    steps = [Step("prediction", "pass", f"predicted {n} fresh synthetic rows")]
    labels = np.asarray(predictions.labels)
    shape_ok = labels.shape == (n,) or labels.shape == (n, 1)
    steps.append(
        Step(
            "shape",
            "pass" if shape_ok else "fail",
            f"{labels.shape} for {n} rows" + ("" if shape_ok else f"; expected ({n},)"),
        )
    )
    labels = labels.reshape(-1)
    if system.task == "regression":
        numeric = labels.dtype.kind in "fiub"
        finite = numeric and bool(np.isfinite(labels.astype(float)).all())
        bad = int((~np.isfinite(labels.astype(float))).sum()) if numeric else n
        steps.append(
            Step(
                "values are finite numbers",
                "pass" if finite else "fail",
                f"dtype {labels.dtype}" + ("" if finite else f"; {bad} of {n} not finite"),
            )
        )
        return steps
    unknown = sorted({str(v) for v in labels[~pd.Series(labels).isin(classes).to_numpy()]})
    steps.append(
        Step(
            "labels are trained classes",
            "fail" if unknown else "pass",
            f"unknown labels {', '.join(unknown[:5])}" if unknown else f"within {classes.tolist()}",
        )
    )
    proba = predictions.proba
    if proba is None:
        steps.append(Step("probabilities", "skipped", "the model has no predict_proba"))
        return steps
    wanted = (n, len(classes))
    steps.append(
        Step(
            "probability shape",
            "pass" if proba.shape == wanted else "fail",
            f"{proba.shape}; expected {wanted}",
        )
    )
    finite = np.isfinite(proba)
    rows_bad = int((~finite.all(axis=1)).sum()) if proba.ndim == 2 else n
    in_range = bool(((proba >= 0) & (proba <= 1))[finite].all())
    sums_ok = proba.ndim == 2 and bool(
        np.allclose(np.where(finite, proba, 0).sum(axis=1)[finite.all(axis=1)], 1.0, atol=1e-6)
    )
    steps.append(
        Step(
            "probabilities are finite",
            "fail" if rows_bad else "pass",
            f"{rows_bad} of {n} rows hold NaN or infinity" if rows_bad else "all finite",
        )
    )
    steps.append(
        Step(
            "probabilities within [0, 1], rows sum to 1",
            "pass" if in_range and sums_ok else "fail",
            "yes"
            if in_range and sums_ok
            else ("outside [0, 1]" if not in_range else "rows do not sum to 1"),
        )
    )
    return steps


def smoke_test(system: System) -> Smoke:
    """Train the user's model on synthetic rows and check its predictions; run training tests."""
    cfg, seed = system.config.smoke, system.config.model.seed
    name = system.config.data.schema_file
    path = system.root / name
    features = load_schema(path).features if path.exists() else None
    source = f"schema {name}" if features else f"the training data (no schema file {name})"
    result = Smoke(rows=cfg.rows, source=source)
    start = time.perf_counter()
    train_raw = synthesise(system, cfg.rows, seed=seed, schema_features=features)
    fresh_raw = synthesise(system, cfg.rows, seed=seed + 1, schema_features=features)
    result.steps.append(
        Step("synthesis", "pass", f"{cfg.rows} rows × {train_raw.shape[1]} columns")
    )
    try:
        train_inputs, fresh_inputs = system.inputs(train_raw), system.inputs(fresh_raw)
    except KeelError as exc:
        result.steps.append(Step("features", "fail", str(exc)))
        result.seconds = time.perf_counter() - start
        return result
    result.steps.append(Step("features", "pass", f"{train_inputs.shape[1]} model inputs"))
    target = train_raw[system.target]
    try:
        estimator = system.fit(train_inputs, target)
    except KeelError as exc:
        result.steps.append(Step("training", "fail", str(exc)))
        result.seconds = time.perf_counter() - start
        return result
    result.steps.append(Step("training", "pass", f"trained {type(estimator).__name__}"))
    classes = np.sort(target.unique()) if system.task != "regression" else np.array([])
    result.steps.extend(_check_predictions(system, estimator, fresh_inputs, classes))
    result.seconds = time.perf_counter() - start
    return result


def smoke(system: System) -> Smoke:
    """The smoke test of a system, cached by its state and the [smoke] settings."""
    return system.cached(
        "smoke", lambda: smoke_test(system), system.config.smoke.model_dump(mode="json")
    )
