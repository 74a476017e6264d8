"""How one example becomes its prediction (infra.5, `keel explain`).

An explanation walks one row through the system: its raw values, the feature function's output
(the model inputs), the output of every step of a scikit-learn Pipeline, and the model's output
split into one contribution per input, with the check that

    baseline + Σ contributions = the model's own output      (within [explain] tolerance)

The output explained is the model's raw output, where its contributions add up:

    boosted trees, linear classifiers    the decision function (log-odds for binary tasks; for
                                         multiclass, the score of the predicted class)
    forests and single trees             the predicted probability of the positive class (binary)
                                         or of the predicted class (multiclass)
    regressors                           the prediction (or its link, e.g. the log for Poisson)

Contributions, by kind of model:

    linear (coef_, intercept_)   exact: coef_j · (x_j − mean_j), the means over a sample of
                                 training rows; baseline = intercept + coef · mean
    trees and tree ensembles     path attribution (Saabas): along the row's path through each
                                 tree, the change of the expected value from a node to the child
                                 the row takes is credited to the node's split feature. A node's
                                 expected value is the training-count-weighted mean of the leaves
                                 below it, so each tree's credits add up to leaf − root exactly;
                                 baseline = the model's own baseline + the trees' root values

Why path attribution rather than TreeSHAP from the `shap` package: it is exact in the same sense
(additive to the model's own output), it follows the very splits the model took, which is what
step-by-step debugging asks for, it costs a few NumPy operations per tree level, and it keeps
Keel free of shap's compiled dependencies and of its lag behind scikit-learn's model internals.
Its price: credits depend on where in a tree a feature is split (Shapley values share them out
evenly among interacting features), which matters for ranking features globally, less for
following one prediction.

HistGradientBoosting's trees are read from the fitted model (`_predictors`, `_baseline_prediction`,
`_bin_mapper`, `_preprocess_X`: scikit-learn internals), and rows are routed as scikit-learn's
own predictor routes them: numeric thresholds, missing values to the learned side, categorical
bitsets, unknown or negative categories treated as missing. The sum is checked against the
model's own output, so a change in those internals shows as a failed check, never as a wrong
explanation that passes.

Contributions are reported per model input: a transformed feature that comes from exactly one
input (ordinal codes, scaling, passthrough, each column of a one-hot group) is credited to that
input; a feature derived from several inputs keeps its transformed name.

Wrappers are taken off first (`keel.model._unwrap`): nested Pipelines are flattened and shown
stage by stage; a TransformedTargetRegressor's inner regressor is explained in the transformed
target space, and the explanation shows how its output is mapped back to the prediction.

Every other model (kernel SVMs, neighbours, CalibratedClassifierCV, voting, custom estimators) is
explained by Shapley sampling over permutations (`keel.model._sampling`), on the model inputs:

    classifiers    the probability of the positive class (binary) or of the predicted class
                   (multiclass); the decision function when the model has no predict_proba
    regressors     the prediction

Its contributions are estimates with standard errors; their sum with the baseline reproduces the
output by construction. What Keel cannot explain (a classifier that gives labels only, a model
predicting several outputs, one that fails on mixed rows) raises `CannotExplain`, naming why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import KeelError
from keel.model._attribution import (
    Attribution,
    _dense,
    attribute,
    unsupported,
)
from keel.model._sampling import CannotSample, sample_count, shapley_sampling
from keel.model._unwrap import Unwrapped, unwrap
from keel.model.contract import PredictWith, Split
from keel.model.importance import sample_rows

BACKGROUND_ROWS = 2_000  # training rows: their means centre linear contributions; walks start
# from them in Shapley sampling


class CannotExplain(KeelError):
    """Keel has no way to split this model's output into contributions (its own gap)."""


@dataclass
class Stage:
    """One step of the model's pipeline and what it made of the row."""

    name: str
    transformer: str
    values: dict[str, Any]


@dataclass
class Contribution:
    """How much one model input (or a transformed feature) moved the output."""

    input: str
    value: Any
    contribution: float
    features: list[str] = field(default_factory=list)
    error: float | None = None  # standard error, when the contribution is an estimate


@dataclass
class Explanation:
    """One row, from raw values to the model's output, with per-input contributions."""

    row_id: str
    split: str
    position: int
    raw: dict[str, Any]
    inputs: dict[str, Any]
    stages: list[Stage]
    model: str
    method: str
    output_name: str
    baseline: float
    contributions: list[Contribution]
    output: float
    prediction: Any
    probability: float | None
    tolerance: float
    mapped_back: str = ""  # how the output becomes the prediction, when a wrapper maps it

    @property
    def total(self) -> float:
        """baseline + the sum of the contributions."""
        return self.baseline + float(sum(c.contribution for c in self.contributions))

    @property
    def difference(self) -> float:
        """|baseline + Σ contributions − the model's output|."""
        return abs(self.total - self.output)

    @property
    def adds_up(self) -> bool:
        return bool(self.difference <= self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (NaN as null), for `keel explain --json`."""
        from keel.report.values import json_safe

        data = {
            **asdict(self),
            "sum": self.total,
            "difference": self.difference,
            "adds_up": self.adds_up,
        }
        return json_safe(data)  # type: ignore[return-value]


# -- the pipeline -------------------------------------------------------------------------------


def split_model(estimator: Any) -> tuple[list[tuple[str, Any]], Any]:
    """The transforming steps of a Pipeline (none for a bare estimator) and its final model."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        steps = [(name, step) for name, step in estimator.steps[:-1]]
        return steps, estimator.steps[-1][1]
    return [], estimator


def _names(transformer: Any, data: Any) -> list[str]:
    """Column names of a step's output: the frame's, the step's own, or x0, x1, …"""
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    try:
        names = [str(n) for n in transformer.get_feature_names_out()]
    except Exception:
        names = []
    return names if len(names) == data.shape[1] else [f"x{i}" for i in range(data.shape[1])]


def _row(data: Any, names: list[str], r: int) -> dict[str, Any]:
    if isinstance(data, pd.DataFrame):
        return {n: _plain(v) for n, v in zip(names, data.iloc[r].tolist(), strict=True)}
    values = _dense(data[r : r + 1])[0]
    return {n: _plain(v) for n, v in zip(names, values.tolist(), strict=True)}


def _plain(value: Any) -> Any:
    """A cell as plain Python: NumPy scalars unwrapped, every kind of missing value None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if value is pd.NA:
        return None
    return value


Lineage = list[frozenset[int]]  # per output column: the input columns it is computed from


def _identity(n: int) -> Lineage:
    return [frozenset([i]) for i in range(n)]


def lineage(transformer: Any, n_in: int) -> Lineage | None:
    """For each output column of a fitted transformer, the input columns it comes from; None
    when that cannot be told (a transformer mixing its inputs, or an unknown one)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if transformer is None or (isinstance(transformer, str) and transformer == "passthrough"):
        return _identity(n_in)
    if isinstance(transformer, str) and transformer == "drop":
        return []
    if isinstance(transformer, Pipeline):
        current: Lineage = _identity(n_in)
        for _, step in transformer.steps:
            inner = lineage(step, len(current))
            if inner is None:
                return None
            current = [frozenset().union(*(current[i] for i in parts)) for parts in inner]
        return current
    if isinstance(transformer, ColumnTransformer):
        width = max((s.stop for s in transformer.output_indices_.values()), default=0)
        out: list[frozenset[int] | None] = [None] * width
        for name, inner_t, _ in transformer.transformers_:
            where = transformer.output_indices_.get(name, slice(0, 0))
            if where.stop <= where.start:
                continue
            columns = getattr(transformer, "_transformer_to_input_indices", {}).get(name)
            if columns is None:
                return None
            inner = lineage(inner_t, len(columns))
            if inner is None or len(inner) != where.stop - where.start:
                return None
            for j, parts in enumerate(inner):
                out[where.start + j] = frozenset(columns[i] for i in parts)
        return None if any(o is None for o in out) else out  # type: ignore[return-value]
    if isinstance(transformer, FeatureUnion):
        joined: Lineage = []
        for _, part in transformer.transformer_list:
            inner = lineage(part, n_in)
            if inner is None:
                return None
            joined.extend(inner)
        return joined
    if isinstance(transformer, OneHotEncoder) and hasattr(transformer, "_n_features_outs"):
        return [
            frozenset([i]) for i, k in enumerate(transformer._n_features_outs) for _ in range(k)
        ]
    try:
        outs = [str(n) for n in transformer.get_feature_names_out()]
    except Exception:
        return None
    ins = [str(n) for n in getattr(transformer, "feature_names_in_", [])] or [
        f"x{i}" for i in range(n_in)
    ]
    position = {name: i for i, name in enumerate(ins)}
    if len(ins) != n_in or not all(o in position for o in outs):
        return None
    return [frozenset([position[o]]) for o in outs]


def walk(estimator: Any, inputs: pd.DataFrame) -> tuple[list[tuple[str, Any, Any]], Any, Lineage]:
    """Each step's name, transformer and output on `inputs`; the final model's input; and its
    lineage: for each of the final model's features, the model inputs it comes from."""
    steps, _ = split_model(estimator)
    data: Any = inputs
    current: Lineage = _identity(inputs.shape[1])
    outputs = []
    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            outputs.append((name, "passthrough", data))
            continue
        data = step.transform(data)
        outputs.append((name, step, data))
        inner = lineage(step, len(current))
        if inner is None:
            current = [frozenset(range(inputs.shape[1]))] * data.shape[1]
        else:
            current = [frozenset().union(*(current[i] for i in parts)) for parts in inner]
    return outputs, data, current


def calibration_stages(final: Any, X: Any) -> list[tuple[str, str, pd.DataFrame]]:
    """Inside a fitted CalibratedClassifierCV, on the final model's input `X`: the first
    calibrated copy's pipeline steps, then, for each copy, its classifier's score and calibrated
    probability of the explained class (positive, or predicted), and their mean: the output.
    Empty for any other model."""
    copies = getattr(final, "calibrated_classifiers_", None)
    if not copies or not hasattr(final, "predict_proba"):
        return []
    label = f"copy 1 of {len(copies)}, " if len(copies) > 1 else ""
    out: list[tuple[str, str, pd.DataFrame]] = []
    steps, base = split_model(copies[0].estimator)
    data: Any = X
    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        data = step.transform(data)
        names = _names(step, data)
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(_dense(data))
        frame.columns = names
        out.append((f"{label}{name}", type(step).__name__, frame))
    proba = np.asarray(final.predict_proba(X), dtype=float)
    n = len(proba)
    k = np.ones(n, int) if proba.shape[1] == 2 else np.argmax(proba, axis=1)
    columns: dict[str, Any] = {}
    for i, copy in enumerate(copies, start=1):
        own = copy.estimator
        raw = own.decision_function(X) if hasattr(own, "decision_function") else None
        if raw is not None:
            raw = np.asarray(raw, dtype=float).reshape(n, -1)
            at = np.zeros(n, int) if raw.shape[1] == 1 else k
            columns[f"copy {i}: {type(base).__name__} decision function"] = raw[np.arange(n), at]
        calibrated = np.asarray(copy.predict_proba(X), dtype=float)
        columns[f"copy {i}: calibrated probability ({copy.method})"] = calibrated[np.arange(n), k]
    columns["mean of the copies: probability"] = proba[np.arange(n), k]
    what = "the predicted class"
    if proba.shape[1] == 2:
        what = f"the explained class ({final.classes_[1]})"
    out.append((f"calibration, {what}", "CalibratedClassifierCV", pd.DataFrame(columns)))
    return out


# -- attribution --------------------------------------------------------------------------------


def cannot_explain(estimator: Any) -> str | None:
    """Why Keel cannot split this model's output into per-input contributions, or None."""
    unwrapped = unwrap(estimator)
    final = unwrapped.final
    if unsupported(final) is None:
        return None
    name = unwrapped.model_name
    model = unwrapped.estimator
    if hasattr(model, "classes_") and not (
        hasattr(model, "predict_proba") or hasattr(model, "decision_function")
    ):
        return (
            f"{name} gives class labels only (no predict_proba or decision_function): there is "
            "no number to split into per-input contributions"
        )
    if getattr(final, "n_outputs_", 1) > 1 or type(final).__name__.startswith(
        ("MultiOutput", "ClassifierChain", "RegressorChain")
    ):
        return f"{name} predicts several outputs per row; keel explain splits one output"
    return None


def needs_background(estimator: Any) -> bool:
    """Whether explaining the model needs training rows (`background`): a linear final step's
    contributions are centred on their mean, Shapley sampling walks from them; tree path
    attribution needs none."""
    final = unwrap(estimator).final
    return hasattr(final, "coef_") or unsupported(final) is not None


def background(estimator: Any, inputs: pd.DataFrame, *, seed: int) -> Any:
    """The final model's inputs for a seeded sample of training `inputs` (centres linear
    models)."""
    rows = sample_rows(len(inputs), BACKGROUND_ROWS, seed=seed)
    return walk(estimator, inputs.iloc[rows])[1]


def _scorer(model: Any, inputs: pd.DataFrame) -> tuple[Any, str, np.ndarray]:
    """The output Shapley sampling explains: a function of model inputs giving one column per
    class (or one), its name, and the column of each of the explained `inputs`' rows."""
    if not hasattr(model, "classes_"):

        def predict(frame: pd.DataFrame) -> np.ndarray:
            values = np.asarray(model.predict(frame), dtype=float)
            if values.ndim == 2 and values.shape[1] != 1:
                raise CannotExplain(
                    f"keel explain: {type(model).__name__} predicts {values.shape[1]} outputs "
                    "per row; keel explain splits one output"
                )
            return values.reshape(len(frame), 1)

        return predict, "prediction", np.zeros(len(inputs), int)
    classes = list(model.classes_)
    if hasattr(model, "predict_proba"):
        method, what = model.predict_proba, "probability"
    else:
        method, what = model.decision_function, "decision function"

    def score(frame: pd.DataFrame) -> np.ndarray:
        values = np.asarray(method(frame), dtype=float)
        return values.reshape(len(frame), -1)

    own = score(inputs)
    if own.shape[1] == 1:
        return score, f"{what} of {classes[1]}", np.zeros(len(inputs), int)
    if own.shape[1] == 2:
        return score, f"{what} of {classes[1]}", np.ones(len(inputs), int)
    return score, f"{what} of the predicted class", np.argmax(own, axis=1)


def _sampled(
    model: Any,
    inputs: pd.DataFrame,
    train_inputs: pd.DataFrame,
    keys: list[int],
    *,
    seed: int,
    model_name: str,
) -> Attribution:
    """Shapley sampling of `model` on each row of `inputs` (one seed per row key, so a row's
    explanation is the same alone or among others)."""
    score, name, column = _scorer(model, inputs)
    rows = sample_rows(len(train_inputs), BACKGROUND_ROWS, seed=seed)
    starts = train_inputs.iloc[rows][list(inputs.columns)]
    p = inputs.shape[1]
    samples = sample_count(p)
    output = score(inputs)[np.arange(len(inputs)), column]
    baseline, contributions, errors = np.zeros(len(inputs)), np.zeros((len(inputs), p)), []
    for r, key in enumerate(keys):
        k = column[r]
        try:
            found = shapley_sampling(
                lambda frame, k=k: score(frame)[:, k],
                inputs.iloc[[r]],
                starts,
                samples=samples,
                rng=np.random.default_rng([seed, key]),
            )
        except CannotSample as exc:
            raise CannotExplain(f"keel explain: {model_name}: {exc}") from exc
        baseline[r] = found.baseline
        contributions[r] = found.contributions
        errors.append(found.errors)
    method = f"Shapley sampling, {samples} input orders per row, additive by construction"
    return Attribution(method, name, baseline, contributions, output, np.array(errors))


def _mapped_back(unwrapped: Unwrapped, output: float) -> str:
    mapped = unwrapped.mapped_back
    if mapped is None:
        return ""
    value = float(mapped(np.array([output]))[0])
    return (
        f"{unwrapped.wrappers[0]} maps this output back to the target's scale with "
        f"{mapped.how}: {mapped.how}({output:.6g}) = {value:.6g}, the prediction"
    )


def _shown(name: str, value: Any, pii_columns: dict[str, str]) -> Any:
    """A raw value as `keel explain` may show it: personal data masked."""
    if name not in pii_columns or value is None:
        return value
    from keel.data.pii import KINDS, mask

    kind = pii_columns[name]
    return mask(str(value), kind if kind in KINDS else "name_like_column")


def explain_rows(
    estimator: Any,
    raw: pd.DataFrame,
    inputs: pd.DataFrame,
    positions: list[int],
    *,
    predict: PredictWith,
    split: Split,
    tolerance: float,
    train_inputs: pd.DataFrame | None = None,
    seed: int = 0,
    id_column: str | None = None,
    pii_columns: dict[str, str] | None = None,
    row_ids: list[str] | None = None,
) -> list[Explanation]:
    """Explanations of the rows at `positions` of a split (its `raw` rows and model `inputs`)
    with `estimator`, the model trained on the training `inputs` (`train_inputs`: needed for a
    linear model or Shapley sampling, see `needs_background`).

    Rows are named by `row_ids`, else by their `id_column` value, else `#position`; raw values
    of `pii_columns` (name: kind of personal data) are masked. `tolerance` is how far
    baseline + contributions may be from the model's output ([explain] tolerance).
    """
    reason = cannot_explain(estimator)
    if reason:
        raise CannotExplain(f"keel explain: {reason}")
    unwrapped = unwrap(estimator)
    model, final = unwrapped.estimator, unwrapped.final
    pii_columns = pii_columns or {}
    inputs = inputs.iloc[positions]
    raw = raw.iloc[positions]
    steps, X, final_lineage = walk(model, inputs)
    names = _names(steps[-1][1], X) if steps else [str(c) for c in inputs.columns]
    if needs_background(model) and train_inputs is None:
        raise ValueError(
            "The 'train_inputs' parameter of explain_rows must be the training inputs to "
            f"explain this model ({unwrapped.model_name}). Got None instead."
        )
    if unsupported(final) is not None:
        keys = [int(p) * 2 + (split == "train") for p in positions]
        found = _sampled(
            model,
            inputs,
            train_inputs,  # type: ignore[arg-type]
            keys,
            seed=seed,
            model_name=unwrapped.model_name,
        )
        final_lineage = _identity(inputs.shape[1])
        names = [str(c) for c in inputs.columns]
    elif hasattr(final, "coef_"):
        found = attribute(final, X, background(model, train_inputs, seed=seed))  # type: ignore[arg-type]
    else:
        found = attribute(final, X, X)
    inside = calibration_stages(final, X)
    output_name = found.output_name
    if unwrapped.mapped_back is not None:
        output_name = f"{output_name} in the transformed target space"
    predictions = predict(estimator, inputs)
    input_names = [str(c) for c in inputs.columns]
    out = []
    for r, position in enumerate(positions):
        if row_ids is not None:
            row_id = row_ids[r]
        elif id_column:
            row_id = str(raw[id_column].iloc[r])
        else:
            row_id = f"#{position}"
        stages = [
            Stage(name, step if isinstance(step, str) else type(step).__name__, {})
            for name, step, _ in steps
        ]
        for stage, (_, step, values) in zip(stages, steps, strict=True):
            stage.values = _row(values, _names(step, values), r)
        for name, kind, frame in inside:
            stages.append(Stage(name, kind, _row(frame, [str(c) for c in frame.columns], r)))
        grouped: dict[str, Contribution] = {}
        for j, parts in enumerate(final_lineage):
            if len(parts) == 1:  # from one model input: credited to it
                i = next(iter(parts))
                key, value = input_names[i], _plain(inputs.iloc[r, i])
            else:  # mixed from several inputs: kept under its transformed name
                key = names[j] if names[j] not in input_names else f"{names[j]} (transformed)"
                value = None
            entry = grouped.setdefault(key, Contribution(key, value, 0.0))
            entry.contribution += float(found.contributions[r, j])
            entry.features.append(names[j])
            if found.errors is not None:
                entry.error = float(found.errors[r, j])
        contributions = sorted(grouped.values(), key=lambda c: -abs(c.contribution))
        probability = None
        if predictions.proba is not None:
            probability = float(np.max(predictions.proba[r]))
        out.append(
            Explanation(
                row_id=row_id,
                split=split,
                position=int(position),
                raw={
                    str(k): _shown(str(k), _plain(v), pii_columns) for k, v in raw.iloc[r].items()
                },
                inputs={
                    str(k): _shown(str(k), _plain(v), pii_columns)
                    for k, v in inputs.iloc[r].items()
                },
                stages=stages,
                model=unwrapped.model_name,
                method=found.method,
                output_name=output_name,
                baseline=float(found.baseline[r]),
                contributions=contributions,
                output=float(found.output[r]),
                prediction=_plain(predictions.labels[r]),
                probability=probability,
                tolerance=tolerance,
                mapped_back=_mapped_back(unwrapped, float(found.output[r])),
            )
        )
    return out
