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

Columns are cast to the training column's dtype where the values allow it.

Synthetic rows valid by the schema are not the rows a model meets. The system's trained model
also predicts the rows it could crash on, built from real training rows (`edge_rows`):

    real rows        a seeded sample of the training rows, as they are
    missing          each input in turn set to missing (None / NaN), the rest of a real row kept
    blank            each text input in turn set to an empty string
    seen values      each text input set to values seen in training (the most and the least
                     frequent), each numeric input to its smallest and largest seen value

A row whose prediction raises, or holds NaN or infinity, fails the smoke test; the failing rows
are found by splitting the batch in halves (within `MAX_ATTEMPTS` predictions), so the evidence
names the inputs and values that make the model raise. (infra.2 also runs the user's own tests
of the training code; see `keel.checks.infra`.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.data.schema import Feature, load_schema
from keel.errors import KeelError
from keel.model.importance import sample_rows
from keel.system import System

QUANTILES = (0.01, 0.99)
REAL_ROWS = 100  # real training rows predicted as they are, and used as bases for the others
SEEN_VALUES = 6  # seen values per text input: the most and the least frequent
MAX_ATTEMPTS = 200  # predictions spent finding which rows of a failing batch raise
MAX_SECONDS = 30.0  # … and the time spent on it


@dataclass
class Step:
    """One step of the smoke test and how it went."""

    step: str
    outcome: str  # pass, fail or skipped
    detail: str = ""


@dataclass
class Probe:
    """One row of the edge-row batch: what it is, and which raw input it changed."""

    label: str  # "x2 missing", "group blank ''", "training row 12", …
    kind: str  # real row, missing, blank, seen value
    input: str | None = None  # the raw column changed (None for a real row)
    base: int | None = None  # the real row it changed (its position among the probes)


@dataclass
class EdgeRows:
    """How the trained model did on the rows it could crash on (see `edge_rows`)."""

    rows: int = 0
    real_rows: int = 0
    raising: list[tuple[Probe, str]] = field(default_factory=list)  # (row, the exception)
    not_finite: list[Probe] = field(default_factory=list)
    unresolved: int = 0  # rows of failing batches not narrowed down within the budget
    unresolved_error: str = ""
    kinds: dict[str, int] = field(default_factory=dict)  # rows per kind
    seconds: float = 0.0
    error: str = ""  # the trained model could not be had at all

    @property
    def ok(self) -> bool:
        return not (self.raising or self.not_finite or self.unresolved or self.error)

    def inputs(self) -> list[str]:
        """The raw inputs whose changed rows raise or give non-finite output, in order."""
        names = [p.input for p, _ in self.raising] + [p.input for p in self.not_finite]
        return list(dict.fromkeys(n for n in names if n is not None))


@dataclass
class Smoke:
    """The smoke test's outcome, step by step."""

    rows: int
    source: str
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    edge: EdgeRows | None = None

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


# -- rows the model could crash on --------------------------------------------------------------


def _is_text(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def _changes(raw: pd.DataFrame, skip: set[str]) -> list[tuple[Probe, Any]]:
    """(row, the value its input is set to) for every edge row that changes one input."""
    found: list[tuple[Probe, Any]] = []
    for name in raw.columns:
        if name in skip:
            continue
        column, col = raw[name], str(name)
        found.append((Probe(f"{col} missing", "missing", col), None))
        if _is_text(column):
            found.append((Probe(f"{col} blank ('')", "blank", col), ""))
            counts = column.dropna().astype(str).value_counts()
            half = SEEN_VALUES // 2
            picked = list(dict.fromkeys([*counts.index[:half], *counts.index[::-1][:half]]))
            found += [(Probe(f"{col} = {v!r} (seen)", "seen value", col), v) for v in picked]
        elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            values = pd.to_numeric(column, errors="coerce").astype(float)
            values = values[np.isfinite(values)]
            if len(values):
                for v in dict.fromkeys([values.min(), values.max()]):
                    found.append((Probe(f"{col} = {v:g} (seen)", "seen value", col), v))
    return found


def _set_cells(column: pd.Series, at: np.ndarray, values: list[Any]) -> pd.Series:
    """`column` with the cells at positions `at` set to `values`, in its dtype where it can."""
    dtype = column.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if numeric and isinstance(dtype, np.dtype):
        array = column.to_numpy(dtype=float, copy=True)
        array[at] = [np.nan if v is None else float(v) for v in values]
        return _cast(pd.Series(array, index=column.index), dtype)
    array = column.to_numpy(dtype=object, copy=True)
    for i, v in zip(at, values, strict=True):
        array[i] = v
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Series(array, index=column.index, dtype=object)
    return _cast(pd.Series(array, index=column.index, dtype=object), dtype)


def edge_rows(
    raw: pd.DataFrame, *, skip: set[str], seed: int, label: Any = None
) -> tuple[pd.DataFrame, list[Probe]]:
    """Raw rows a model could crash on (see the module docstring), and what each one is.

    `skip` are columns left as they are (the target, the id); `label` names real rows (the id
    column's values, else their position in `raw`).
    """
    if raw.empty:
        return raw.iloc[:0], []
    positions = sample_rows(len(raw), REAL_ROWS, seed=seed)
    bases = raw.iloc[positions].reset_index(drop=True)
    names = positions if label is None else np.asarray(label)[positions]
    probes = [Probe(f"training row {n}", "real row") for n in names]
    changes = _changes(raw, skip)
    rows = bases.iloc[np.arange(len(changes)) % len(bases)].reset_index(drop=True)
    by_column: dict[str, tuple[list[int], list[Any]]] = {}
    for i, (probe, value) in enumerate(changes):
        at, values = by_column.setdefault(str(probe.input), ([], []))
        at.append(i)
        values.append(value)
    columns = {}
    for name in rows.columns:
        if str(name) in by_column and name not in skip:
            at, values = by_column[str(name)]
            columns[name] = _set_cells(rows[name], np.asarray(at), values)
        else:
            columns[name] = rows[name]
    changed = pd.DataFrame(columns, index=rows.index)
    frame = pd.concat([bases, changed], ignore_index=True) if len(changed) else bases
    for i, (probe, _) in enumerate(changes):
        probe.base = i % len(bases)
    return frame, probes + [p for p, _ in changes]


def _finite_rows(predictions: Any, task: str) -> np.ndarray:
    """Which rows' predictions (probabilities for classifiers) are finite numbers."""
    if predictions.proba is not None:
        proba = np.asarray(predictions.proba, dtype=float)
        return np.isfinite(proba.reshape(len(proba), -1)).all(axis=1)
    labels = np.asarray(predictions.labels)
    if task == "regression" and labels.dtype.kind in "fiub":
        return np.isfinite(labels.astype(float).reshape(len(labels), -1)).all(axis=1)
    return np.ones(len(labels), dtype=bool)


def probe_edge_rows(system: System, estimator: Any) -> EdgeRows:
    """Predict the edge rows of the system's training data with `estimator`; find the ones
    that raise (by halving failing batches) or give non-finite output."""
    start = time.perf_counter()
    raw = system.raw("train")
    id_column = system.config.system.id
    skip = {system.target} | ({id_column} if id_column else set())
    label = raw[id_column].to_numpy() if id_column else None
    frame, probes = edge_rows(raw, skip=skip, seed=system.config.model.seed, label=label)
    found = EdgeRows(rows=len(probes), real_rows=sum(p.kind == "real row" for p in probes))
    for p in probes:
        found.kinds[p.kind] = found.kinds.get(p.kind, 0) + 1
    attempts = 0
    failing: set[int] = set()

    def attempt(rows: np.ndarray) -> tuple[str, Any]:
        nonlocal attempts
        attempts += 1
        try:
            return "", system.predict(estimator, system.inputs(frame.iloc[rows]))
        except Exception as exc:  # what the model raises is the finding
            return f"{type(exc).__name__}: {exc}".splitlines()[0][:300], None

    def search(rows: np.ndarray) -> None:
        error, predictions = attempt(rows)
        if not error:
            finite = _finite_rows(predictions, system.task)
            found.not_finite += [probes[i] for i in rows[~finite]]
            failing.update(int(i) for i in rows[~finite])
            return
        if len(rows) == 1:
            found.raising.append((probes[rows[0]], error))
            failing.add(int(rows[0]))
            return
        out_of_budget = attempts >= MAX_ATTEMPTS or time.perf_counter() - start > MAX_SECONDS
        if out_of_budget:
            found.unresolved += len(rows)
            found.unresolved_error = found.unresolved_error or error
            return
        half = len(rows) // 2
        search(rows[:half])
        search(rows[half:])

    if len(probes):
        search(np.arange(len(probes)))
    _blame_bases(found, failing, found.real_rows)
    found.seconds = time.perf_counter() - start
    return found


def _blame_bases(found: EdgeRows, failing: set[int], real: int) -> None:
    """Drop changed rows whose real base row fails by itself: the change is not the cause."""
    bad = {i for i in failing if i < real}
    if bad:
        found.raising = [(p, e) for p, e in found.raising if p.base not in bad]
        found.not_finite = [p for p in found.not_finite if p.base not in bad]


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
    result.edge = _edge_step(system, result)
    result.seconds = time.perf_counter() - start
    return result


def _trained_model(system: System) -> Any:
    """The system's model trained on its training data: the shared one, or, when evaluating
    it failed (the evaluation is not what is tested here), the same training again."""
    try:
        return system.trained.estimator
    except Exception:  # reported by the checks that evaluate; the estimator is still wanted
        train = system.dataset("train")
        return system.fit(train.inputs, train.target)


def _edge_step(system: System, result: Smoke) -> EdgeRows:
    """Probe the system's trained model with the edge rows; add the step to `result`."""
    step = "rows the model may crash on"
    try:
        estimator = _trained_model(system)
    except KeelError as exc:
        edge = EdgeRows(error=f"the model could not be trained on the training data: {exc}")
        result.steps.append(Step(step, "fail", edge.error))
        return edge
    edge = probe_edge_rows(system, estimator)
    kinds = ", ".join(f"{n} {k}" for k, n in edge.kinds.items())
    if edge.ok:
        result.steps.append(Step(step, "pass", f"{edge.rows} rows ({kinds}) predicted"))
        return edge
    problems = []
    if edge.raising or edge.unresolved:
        raising = len(edge.raising) + edge.unresolved
        shown = ", ".join(p.label for p, _ in edge.raising[:6])
        shown = f" ({shown}{', …' if raising > 6 else ''})" if shown else ""
        error = edge.raising[0][1] if edge.raising else edge.unresolved_error
        problems.append(f"prediction raised on {raising} of {edge.rows} rows{shown}: {error}")
    if edge.not_finite:
        shown = ", ".join(p.label for p in edge.not_finite[:6])
        problems.append(f"NaN or infinity on {len(edge.not_finite)} rows ({shown})")
    result.steps.append(Step(step, "fail", "; ".join(problems)))
    return edge


def smoke(system: System) -> Smoke:
    """The smoke test of a system, cached by its state and the [smoke] settings."""
    return system.cached(
        "smoke", lambda: smoke_test(system), system.config.smoke.model_dump(mode="json"), "edge"
    )
