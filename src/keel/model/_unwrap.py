"""The common scikit-learn wrappers taken off a model, so that `keel explain` reaches what computes.

Private to `keel.model.explain`.

    Pipeline                      nested Pipelines (as the last step, or the model itself) are
                                  flattened into one list of steps, each shown stage by stage
    TransformedTargetRegressor    its fitted inner regressor (`regressor_`) is explained, in the
                                  transformed target space; the explanation says how the output
                                  is mapped back (`transformer_.inverse_transform`, e.g. expm1)
                                  and shows the mapped value, which is the prediction

Wrappers that combine several fitted models (CalibratedClassifierCV, OneVsRest, bagging, voting,
stacking) are not taken apart: they are explained as a whole by Shapley sampling, which needs
only the wrapper's own output (see `keel.model._sampling`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class MappedBack:
    """How a TransformedTargetRegressor maps the explained output back to the target's scale."""

    how: str  # "expm1", "QuantileTransformer.inverse_transform", …
    inverse: Callable[[np.ndarray], np.ndarray]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(self.inverse(np.asarray(values, float).reshape(-1, 1))).reshape(-1)


@dataclass
class Unwrapped:
    """What is explained: `steps` (name, fitted transformer) then `final`, on the model inputs."""

    steps: list[tuple[str, Any]]
    final: Any
    mapped_back: MappedBack | None = None
    wrappers: list[str] = field(default_factory=list)  # what was taken off, outermost first

    @property
    def estimator(self) -> Any:
        """A Pipeline of the fitted steps and final model (the model alone when no steps)."""
        if not self.steps:
            return self.final
        from sklearn.pipeline import Pipeline

        return Pipeline([*self.steps, ("model", self.final)])

    @property
    def model_name(self) -> str:
        """The explained model's name with the wrappers around it, e.g.
        "SVR in a TransformedTargetRegressor"."""
        inner = describe(self.final)
        return " in a ".join([inner, *reversed(self.wrappers)])


def describe(model: Any) -> str:
    """A model's class name, with the model a single-model wrapper holds (`estimator`)."""
    name = type(model).__name__
    inner = getattr(model, "estimator", None)
    if inner is not None and not isinstance(inner, str) and hasattr(inner, "fit"):
        _, last = _last(inner)
        return f"{name} of {type(last).__name__}"
    return name


def _last(estimator: Any) -> tuple[list[tuple[str, Any]], Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        return list(estimator.steps[:-1]), estimator.steps[-1][1]
    return [], estimator


def _mapped_back(wrapper: Any) -> MappedBack:
    from sklearn.preprocessing import FunctionTransformer

    transformer = wrapper.transformer_
    if isinstance(transformer, FunctionTransformer):
        inverse = transformer.inverse_func
        how = getattr(inverse, "__name__", None) or "the identity"
        if inverse is None:
            how = "the identity"
    else:
        how = f"{type(transformer).__name__}.inverse_transform"
    return MappedBack(how, transformer.inverse_transform)


def unwrap(estimator: Any) -> Unwrapped:
    """The fitted steps and final model that compute `estimator`'s output, wrappers taken off."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    steps: list[tuple[str, Any]] = []
    mapped: MappedBack | None = None
    wrappers: list[str] = []
    prefix = ""
    current = estimator
    while True:
        if isinstance(current, Pipeline):
            for name, step in current.steps[:-1]:
                steps.append((f"{prefix}{name}", step))
            name, current = current.steps[-1]
            prefix = f"{prefix}{name}/"
            continue
        if isinstance(current, TransformedTargetRegressor) and mapped is None:
            mapped = _mapped_back(current)
            wrappers.append(type(current).__name__)
            current = current.regressor_
            continue
        break
    return Unwrapped(steps, current, mapped, wrappers)
