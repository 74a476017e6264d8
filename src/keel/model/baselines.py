"""Simple baselines a model must beat (model.5): a constant, a linear model and a shallow tree.

Each baseline is trained on the same training inputs and target as the system's model and
evaluated on the same evaluation rows, so the comparison is like for like:

    constant  the training prior (classification) or the training mean (regression)
    linear    logistic (classification) or ridge (regression) regression on numeric inputs
              imputed with the median and standardised, and categorical inputs imputed with the
              most frequent value and one-hot encoded (rare values grouped, unseen ones ignored)
    tree      a decision tree of depth 3 on median-imputed numeric and ordinal-encoded
              categorical inputs

Date and time inputs are left out of the linear model and the tree. `baseline_kind` says which
baseline a model is itself (a logistic regression is the linear baseline's kind): model.5
leaves that baseline out of the bar, since a model cannot be asked to beat itself.
`metric_ceiling` is the best value a metric can take, so a bar above it is never asked for.
Warnings raised while the baselines train or predict (a solver that stops before converging,
say) are caught and returned as notes with the scores, so they are reported rather than
printed or raised.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from keel.model.contract import Dataset, PredictWith
from keel.model.metrics import METRICS, Predictions, Task, compute

BASELINES: dict[str, str] = {
    "constant": "predicts the training prior (classes) or mean (values)",
    "linear": "logistic or ridge regression on scaled numeric and one-hot categorical inputs",
    "tree": "decision tree of depth 3",
}
TREE_DEPTH = 3
LINEAR_MAX_ITER = 1000
ONE_HOT_MIN_FREQUENCY = 20  # values seen in fewer training rows share one "infrequent" column
ONE_HOT_MAX_CATEGORIES = 50

# The metrics shown beside the primary one, by task.
REPORTED: dict[Task, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "accuracy"),
    "multiclass": ("accuracy", "f1_macro", "neg_log_loss"),
    "regression": ("r2", "neg_mean_absolute_error", "neg_root_mean_squared_error"),
}


@dataclass
class ModelScore:
    """One model's metrics on the evaluation rows."""

    name: str
    description: str
    metrics: dict[str, float]


@dataclass
class BaselineScores:
    """Every baseline's metrics on the evaluation rows, and the warnings raised as notes."""

    scores: dict[str, dict[str, float]]
    notes: list[str]


@dataclass
class Comparison:
    """The system's model and each baseline, scored on the evaluation rows."""

    metric: str
    metrics: list[str]
    model: ModelScore
    baselines: list[ModelScore]
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> ModelScore:
        """The baseline with the highest primary metric (NaN scores never win)."""
        scored = [b for b in self.baselines if not math.isnan(b.metrics[self.metric])]
        if not scored:
            raise ValueError(f"no baseline has a defined {self.metric}")
        return max(scored, key=lambda b: b.metrics[self.metric])

    def best_of(self, names: Sequence[str]) -> ModelScore | None:
        """The baseline among `names` with the highest primary metric (None when none of
        them has a defined one)."""
        scored = [
            b for b in self.baselines if b.name in names and not math.isnan(b.metrics[self.metric])
        ]
        return max(scored, key=lambda b: b.metrics[self.metric]) if scored else None

    @property
    def gain(self) -> float:
        """How much the model's primary metric exceeds the best baseline's."""
        return self.model.metrics[self.metric] - self.best.metrics[self.metric]


def metric_ceiling(metric: str) -> float:
    """The best value the metric can take: 0 for the negated errors and losses (`neg_*`), 1
    for the scores (ROC AUC, accuracy, R², …)."""
    return 0.0 if metric.startswith("neg_") else 1.0


def final_estimator(estimator: Any) -> Any:
    """The estimator at the end of (nested) scikit-learn pipelines: what predicts."""
    while isinstance(estimator, Pipeline) and estimator.steps:
        estimator = estimator.steps[-1][1]
    return estimator


def baseline_kind(estimator: Any) -> str | None:
    """Which baseline the model is itself, judged by what predicts at the end of its
    pipeline: `constant` (a dummy), `linear` (a scikit-learn linear model) or `tree` (a
    decision tree no deeper than the baseline's); None for anything else."""
    final = final_estimator(estimator)
    if isinstance(final, DummyClassifier | DummyRegressor):
        return "constant"
    if type(final).__module__.startswith("sklearn.linear_model"):
        return "linear"
    if isinstance(final, DecisionTreeClassifier | DecisionTreeRegressor):
        depth = getattr(final, "max_depth", None)
        if depth is not None and depth <= TREE_DEPTH:
            return "tree"
    return None


def reported_metrics(task: Task, primary: str) -> list[str]:
    """The primary metric first, then the other metrics shown for the task."""
    return [primary, *(m for m in REPORTED[task] if m != primary)]


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) input columns; booleans count as categorical, dates as neither."""
    numeric, categorical = [], []
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            categorical.append(name)
        elif pd.api.types.is_numeric_dtype(dtype):
            numeric.append(name)
        elif not (
            pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
        ):
            categorical.append(name)
    return numeric, categorical


def as_text(frame: pd.DataFrame) -> np.ndarray:
    """Categorical values as strings in an object array, missing values as NaN."""
    text = frame.astype(str).to_numpy(dtype=object)
    return np.where(frame.isna().to_numpy(), np.nan, text)


def _preprocess(numeric: list[str], categorical: list[str], *, one_hot: bool) -> ColumnTransformer:
    text = FunctionTransformer(as_text, feature_names_out="one-to-one")
    if one_hot:
        numeric_steps = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        categorical_steps = make_pipeline(
            text,
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(
                handle_unknown="ignore",
                min_frequency=ONE_HOT_MIN_FREQUENCY,
                max_categories=ONE_HOT_MAX_CATEGORIES,
            ),
        )
    else:
        numeric_steps = make_pipeline(SimpleImputer(strategy="median"))
        categorical_steps = make_pipeline(
            text,
            OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
            ),
        )
    parts = []
    if numeric:
        parts.append(("numeric", numeric_steps, numeric))
    if categorical:
        parts.append(("categorical", categorical_steps, categorical))
    return ColumnTransformer(parts, remainder="drop")


def baseline_models(task: Task, inputs: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """Unfitted baselines for a task, with preprocessing for the columns of `inputs`.

    The linear model and the tree are left out when `inputs` has no numeric or categorical
    column to learn from.
    """
    if task not in REPORTED:
        raise ValueError(
            f"The 'task' parameter of baseline_models must be one of {', '.join(REPORTED)}. "
            f"Got {task!r} instead."
        )
    classify = task != "regression"
    models: dict[str, Any] = {
        "constant": DummyClassifier(strategy="prior") if classify else DummyRegressor()
    }
    numeric, categorical = split_columns(inputs)
    if not numeric and not categorical:
        return models
    linear = (
        LogisticRegression(max_iter=LINEAR_MAX_ITER, random_state=seed)
        if classify
        else Ridge(alpha=1.0)
    )
    tree_cls = DecisionTreeClassifier if classify else DecisionTreeRegressor
    models["linear"] = Pipeline(
        [("prepare", _preprocess(numeric, categorical, one_hot=True)), ("model", linear)]
    )
    models["tree"] = Pipeline(
        [
            ("prepare", _preprocess(numeric, categorical, one_hot=False)),
            ("model", tree_cls(max_depth=TREE_DEPTH, random_state=seed)),
        ]
    )
    return models


def _score(predictions: Predictions, target: pd.Series, metric: str) -> float:
    """A metric, or NaN when the predictions cannot give it (no probabilities, say)."""
    if METRICS[metric].reads == "score" and predictions.proba is None:
        return float("nan")
    try:
        return compute(metric, np.asarray(target), predictions)
    except ValueError:  # e.g. a class in the evaluation data that the model never saw
        return float("nan")


def baseline_scores(
    train: Dataset,
    evaluation: Dataset,
    *,
    task: Task,
    metrics: Sequence[str],
    predict: PredictWith,
    seed: int = 0,
) -> BaselineScores:
    """Train every baseline on `train` and score it on `evaluation` with `metrics`.

    `predict` gives an estimator's predictions (and probabilities) on a frame of inputs.
    """
    models = baseline_models(task, train.inputs, seed=seed)
    scores: dict[str, dict[str, float]] = {}
    notes: dict[str, None] = {}
    for name, model in models.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(train.inputs, train.target)
            predictions = predict(model, evaluation.inputs)
            scores[name] = {m: _score(predictions, evaluation.target, m) for m in metrics}
        for w in caught:
            first_line = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
            notes[f"{name} baseline: {w.category.__name__}: {first_line}"] = None
    if "linear" not in models:
        notes["no numeric or categorical input: only the constant baseline was trained"] = None
    return BaselineScores(scores, list(notes))


def compare_with_baselines(
    predictions: Predictions,
    target: pd.Series,
    found: BaselineScores,
    *,
    metric: str,
    metrics: list[str],
    model_metric: float,
    description: str,
) -> Comparison:
    """The model (its `predictions` on the evaluation rows, whose primary `metric` is
    `model_metric`) and the baselines' scores, side by side on `metrics`."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        model = {m: _score(predictions, target, m) for m in metrics}
    model[metric] = model_metric
    baselines = [
        ModelScore(name, BASELINES[name], dict(found.scores[name]))
        for name in BASELINES
        if name in found.scores
    ]
    return Comparison(
        metric, metrics, ModelScore("model", description, model), baselines, list(found.notes)
    )
