"""A generated smoke test of the training code (infra.2).

[smoke] rows rows are synthesised from the schema (keel.schema.yaml), the user's feature and
training functions run on them, and the model predicts a second batch synthesised the same way
(fresh rows, valid by the schema, never seen in training). Its predictions must have

    shape           one prediction per row, and one probability per class
    labels          only classes the model was trained on
    probabilities   finite, within [0, 1], each row summing to 1
    values          finite numbers (regression)

Columns are synthesised as `keel.model.synthesis` says.

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
of the training code; see `keel.checks.infra`; `keel.checks._measure_infra` runs this smoke test
on a System.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.data.schema import Feature
from keel.errors import KeelError
from keel.model.contract import Build, Fit, Predict, PredictWith
from keel.model.importance import sample_rows
from keel.model.synthesis import cast_like, synthesise

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
        return cast_like(pd.Series(array, index=column.index), dtype)
    array = column.to_numpy(dtype=object, copy=True)
    for i, v in zip(at, values, strict=True):
        array[i] = v
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Series(array, index=column.index, dtype=object)
    return cast_like(pd.Series(array, index=column.index, dtype=object), dtype)


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


def probe_edge_rows(
    predict: Predict,
    raw: pd.DataFrame,
    *,
    target: str,
    task: str,
    seed: int,
    id_column: str | None = None,
) -> EdgeRows:
    """Predict the edge rows of the training rows `raw` (`predict` maps raw rows to the
    model's predictions, feature code included); find the ones that raise (by halving failing
    batches) or give non-finite output."""
    start = time.perf_counter()
    skip = {target} | ({id_column} if id_column else set())
    label = raw[id_column].to_numpy() if id_column else None
    frame, probes = edge_rows(raw, skip=skip, seed=seed, label=label)
    found = EdgeRows(rows=len(probes), real_rows=sum(p.kind == "real row" for p in probes))
    for p in probes:
        found.kinds[p.kind] = found.kinds.get(p.kind, 0) + 1
    attempts = 0
    failing: set[int] = set()

    def attempt(rows: np.ndarray) -> tuple[str, Any]:
        nonlocal attempts
        attempts += 1
        try:
            return "", predict(frame.iloc[rows])
        except Exception as exc:  # what the model raises is the finding
            return f"{type(exc).__name__}: {exc}".splitlines()[0][:300], None

    def search(rows: np.ndarray) -> None:
        error, predictions = attempt(rows)
        if not error:
            finite = _finite_rows(predictions, task)
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
    predict: Predict, inputs: pd.DataFrame, classes: np.ndarray, task: str
) -> list[Step]:
    n = len(inputs)
    try:
        predictions = predict(inputs)
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
    if task == "regression":
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


def smoke_test(
    raw: pd.DataFrame,
    *,
    build: Build,
    fit: Fit,
    predict: PredictWith,
    trained: Callable[[], Any],
    target: str,
    task: str,
    seed: int,
    rows: int,
    schema_features: dict[str, Feature] | None,
    source: str,
    id_column: str | None = None,
) -> Smoke:
    """Train the user's model on `rows` synthetic rows like the training rows `raw` (valid by
    `schema_features`, which come from `source`) and check its predictions; then probe the
    model `trained()` gives (the one trained on the training data) with the edge rows."""
    result = Smoke(rows=rows, source=source)
    start = time.perf_counter()
    train_raw, fresh_raw = (
        synthesise(
            raw,
            rows,
            seed=seed + i,
            schema_features=schema_features,
            target=target,
            task=task,
            id_column=id_column,
        )
        for i in (0, 1)
    )
    result.steps.append(Step("synthesis", "pass", f"{rows} rows × {train_raw.shape[1]} columns"))
    try:
        train_inputs, fresh_inputs = build(train_raw), build(fresh_raw)
    except KeelError as exc:
        result.steps.append(Step("features", "fail", str(exc)))
        result.seconds = time.perf_counter() - start
        return result
    result.steps.append(Step("features", "pass", f"{train_inputs.shape[1]} model inputs"))
    labels = train_raw[target]
    try:
        estimator = fit(train_inputs, labels)
    except KeelError as exc:
        result.steps.append(Step("training", "fail", str(exc)))
        result.seconds = time.perf_counter() - start
        return result
    result.steps.append(Step("training", "pass", f"trained {type(estimator).__name__}"))
    classes = np.sort(labels.unique()) if task != "regression" else np.array([])
    result.steps.extend(
        _check_predictions(lambda inputs: predict(estimator, inputs), fresh_inputs, classes, task)
    )
    result.edge = _edge_step(
        result,
        trained,
        build,
        predict,
        raw,
        target=target,
        task=task,
        seed=seed,
        id_column=id_column,
    )
    result.seconds = time.perf_counter() - start
    return result


def _edge_step(
    result: Smoke,
    trained: Callable[[], Any],
    build: Build,
    predict: PredictWith,
    raw: pd.DataFrame,
    *,
    target: str,
    task: str,
    seed: int,
    id_column: str | None,
) -> EdgeRows:
    """Probe the model trained on the training data with the edge rows; add the step to
    `result`."""
    step = "rows the model may crash on"
    try:
        estimator = trained()
    except KeelError as exc:
        edge = EdgeRows(error=f"the model could not be trained on the training data: {exc}")
        result.steps.append(Step(step, "fail", edge.error))
        return edge
    edge = probe_edge_rows(
        lambda rows: predict(estimator, build(rows)),
        raw,
        target=target,
        task=task,
        seed=seed,
        id_column=id_column,
    )
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
