"""Raw rows synthesised from the schema or like the training rows (infra.2's smoke test).

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

Columns are cast to the training column's dtype where the values allow it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from keel.data.schema import Feature

QUANTILES = (0.01, 0.99)


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
        if feature is not None and feature.as_text:  # ISO 8601 text, as the data holds it
            dates = observed.dropna().astype(str).str.len().max() == 10
            values = values.strftime("%Y-%m-%d" if dates else "%Y-%m-%dT%H:%M:%S").to_numpy(object)
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
    return cast_like(series, observed.dtype)


def cast_like(series: pd.Series, dtype: Any) -> pd.Series:
    """`series` in `dtype` where its values allow it (float for an integer column with missing
    values, as in pandas), else as it is."""
    if series.isna().any() and pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        dtype = np.dtype("float64")  # what missing values make of an integer column
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series


def synthesise(
    raw: pd.DataFrame,
    n: int,
    *,
    seed: int,
    schema_features: dict[str, Feature] | None,
    target: str,
    task: str,
    id_column: str | None = None,
) -> pd.DataFrame:
    """`n` raw rows valid by the schema (or like the training rows `raw`), the `target` column
    included; the `id_column` gets fresh unique ids."""
    rng = np.random.default_rng(seed)
    features = schema_features or {}
    columns = {}
    for name in raw.columns:
        if name == target:
            continue
        unique = name == id_column
        columns[name] = synthesise_column(raw[name], features.get(str(name)), n, rng, unique=unique)
    labels = raw[target]
    if task == "regression":
        values = synthesise_column(labels, features.get(target), n, rng)
        columns[target] = values.fillna(float(np.nanmedian(values.astype(float))))
    else:
        classes = np.sort(labels.dropna().unique())
        columns[target] = pd.Series(rng.permutation(np.resize(classes, n))).astype(labels.dtype)
    frame = pd.DataFrame(columns)
    return frame[[c for c in raw.columns if c in frame.columns]]
