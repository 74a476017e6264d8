"""The model artefact: a trained model as an MLflow pyfunc model that serves raw rows.

The artefact (`KeelModel`, saved as MLflow "models from code") holds the pickled estimator,
the user's feature and training code (`code_paths`), and a small `keel.json` with the task,
the model inputs, the feature entry point and the SHA-256 of the pickle. Loaded anywhere Keel
is installed, it turns raw rows into predictions: the feature function, then `predict` (and
`predict_proba` for classifiers). A pickle that does not match its recorded hash is refused as
corrupt.

This module is what a process that loads a model imports (the artefact's entry code imports
`KeelModel` from here), so it stays light: NumPy, pandas, MLflow's pyfunc and the standard
library; loading a model then imports the user's feature code and what their estimator needs.
Never the configuration, the System, the checks, Keel's metrics or scikit-learn
(tests/registry/test_artefact.py holds it to that).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import io
import json
import pickle
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.registry._mlflow import quiet
from keel.registry.feature_code import (
    FeatureCode,
    _feature_function,
    load_feature_code,
    own_imports,
)

with quiet():  # MLflow warns about its own type hints while importing
    import mlflow.pyfunc

__all__ = [
    "FeatureCode",
    "KeelModel",
    "TrainedModel",
    "load_feature_code",
    "own_imports",
    "predict_raw",
    "save_model",
]

ESTIMATOR = "estimator.pkl"
META = "keel.json"  # the same name as keel.registry.feature_code.META
# The model's code, copied into every model: MLflow runs it on loading ("models from code"),
# so no pickled Python object of Keel's own is needed.
MODEL_ENTRY = """\
# A Keel model (https://mlflow.org/docs/latest/ml/model/models-from-code/).
import mlflow.models

from keel.registry.artefact import KeelModel

mlflow.models.set_model(KeelModel())
"""


@dataclass(frozen=True)
class TrainedModel:
    """What an artefact is made of: a fitted estimator and how raw rows reach it.

    `inputs` are the model inputs in the estimator's order; `features` the feature function's
    entry point (`module:function`, None when the raw columns are the inputs); `classes` the
    classes in `predict_proba`'s column order (None for a regressor); `code_paths` the user's
    modules or packages that travel with the model.
    """

    estimator: Any
    system: str
    task: str
    inputs: list[str]
    features: str | None = None
    classes: list[Any] | None = None
    code_paths: list[Path] = field(default_factory=list)


def pickle_estimator(estimator: Any) -> tuple[bytes, set[str]]:
    """The estimator pickled (with cloudpickle), and the modules its pickle refers to."""
    import cloudpickle

    modules: set[str] = set()

    class _Recorder(cloudpickle.CloudPickler):
        def persistent_id(self, obj: Any) -> None:
            modules.add(getattr(type(obj), "__module__", None) or "")
            if isinstance(obj, type) or callable(obj):
                modules.add(getattr(obj, "__module__", None) or "")
            return None

    buffer = io.BytesIO()
    _Recorder(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(estimator)
    return buffer.getvalue(), {m for m in modules if m}


def requirements(modules: Collection[str], *, exclude: Collection[str] = ()) -> list[str]:
    """Pinned pip requirements for code that uses `modules`: each one's installed distribution.

    Keel, pandas, NumPy and cloudpickle are always included (loading and predicting need
    them); modules in `exclude` (the user's own code, shipped with the model) and the standard
    library are left out.
    """
    tops = {m.split(".")[0] for m in modules} | {"keel", "numpy", "pandas", "cloudpickle"}
    tops -= set(sys.stdlib_module_names) | {"builtins", "__main__"} | set(exclude)
    dists = importlib.metadata.packages_distributions()
    pinned = set()
    for top in tops:
        for dist in dists.get(top, [top]):
            try:
                pinned.add(f"{dist}=={importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                continue
    return sorted(pinned, key=str.lower)


class KeelModel(mlflow.pyfunc.PythonModel):
    """A Keel system's model as an MLflow pyfunc model: raw rows in, predictions out.

    `predict` returns a frame with `prediction` and, for classifiers, one `proba_<class>`
    column per class, in the estimator's class order.
    """

    def load_context(self, context: Any) -> None:
        meta = json.loads(Path(context.artifacts["keel"]).read_text(encoding="utf-8"))
        code = Path(context.artifacts["keel"]).resolve().parent.parent / "code"
        # inside the block whatever happens: it also takes MLflow's copy of the code folder
        # off sys.path again, a refused artefact included
        with own_imports(code if code.is_dir() else None):
            payload = Path(context.artifacts["estimator"]).read_bytes()
            if hashlib.sha256(payload).hexdigest() != meta["estimator_sha256"]:
                raise ValueError(
                    f"{ESTIMATOR} does not match the SHA-256 recorded when the model was saved: "
                    "the artefact is corrupt or was changed"
                )
            # the estimator's pickle may name classes of the user's own modules: this
            # version's copy, like the feature function
            self.estimator = pickle.loads(payload)
            self.build = _feature_function(meta)
        self.task: str = meta["task"]
        self.inputs: list[str] = meta["inputs"]
        self.classes: list[Any] | None = meta["classes"]

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        raw = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.predict_with_inputs(raw)[1]

    # whether this version's labels are taken from its probabilities (one pipeline pass per
    # call): None until `check_one_pass` has checked it on real rows, then True or False
    one_pass: bool | None = None

    def model_inputs(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The model inputs the feature code builds from `raw` (the raw columns without it)."""
        inputs = raw if self.build is None else self.build(raw.copy())
        if inputs.columns.tolist() == self.inputs:
            return inputs  # already the model's inputs, in its order: no selection
        missing = [c for c in self.inputs if c not in inputs.columns]
        if missing:
            where = "the rows" if self.build is None else "the feature function's output"
            raise ValueError(f"{where} lack the model inputs {', '.join(map(str, missing))}")
        return inputs[self.inputs]

    def _labels_of(self, proba: np.ndarray) -> np.ndarray | None:
        """The labels the probabilities give, in the estimator's own class order (None when
        the estimator does not say its order)."""
        order = getattr(self.estimator, "classes_", None)
        if order is None or proba.ndim != 2 or proba.shape[1] != len(order):
            return None
        return np.asarray(order)[proba.argmax(axis=1)]

    def check_one_pass(self, raw: pd.DataFrame) -> bool:
        """Whether the labels taken from the probabilities are exactly the estimator's
        `predict` on `raw` (real rows, e.g. the evaluation data); remembered in `one_pass`,
        so that serving makes one pipeline pass per call only where it gives the same
        answers. A regressor makes one pass anyway."""
        if self.classes is None:
            self.one_pass = True
            return True
        if not len(raw):
            self.one_pass = False
            return False
        inputs = self.model_inputs(raw)
        proba = np.asarray(self.estimator.predict_proba(inputs), dtype=float)
        labels = self._labels_of(proba)
        predicted = np.asarray(self.estimator.predict(inputs))
        self.one_pass = bool(
            labels is not None
            and labels.shape == predicted.shape
            and np.array_equal(labels, predicted)
        )
        return self.one_pass

    def predict_arrays(
        self, raw: pd.DataFrame
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
        """(model inputs, predicted labels or values, class probabilities or None): one
        pipeline pass for a classifier whose `check_one_pass` held, two otherwise."""
        inputs = self.model_inputs(raw)
        if self.classes is None:
            return inputs, np.asarray(self.estimator.predict(inputs)), None
        proba = np.asarray(self.estimator.predict_proba(inputs), dtype=float)
        labels = self._labels_of(proba) if self.one_pass else None
        if labels is None:
            labels = np.asarray(self.estimator.predict(inputs))
        return inputs, labels, proba

    def predict_with_inputs(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the model inputs the feature code built from `raw`, the predictions): what a
        server logs beside each prediction, built once."""
        inputs, labels, proba = self.predict_arrays(raw)
        out = pd.DataFrame({"prediction": labels})
        if proba is not None and self.classes is not None:
            for i, label in enumerate(self.classes):
                out[f"proba_{label}"] = proba[:, i]
        return inputs, out.set_axis(raw.index)


def save_model(model: TrainedModel, folder: Path) -> tuple[Path, list[str]]:
    """Save a trained model as a pyfunc model in `folder/model`; return it and the pinned pip
    requirements (given to MLflow, which would otherwise spend seconds inferring them)."""
    payload, modules = pickle_estimator(model.estimator)
    pinned = requirements(modules, exclude={p.stem for p in model.code_paths})
    meta = {
        "system": model.system,
        "task": model.task,
        "inputs": [str(c) for c in model.inputs],
        "features": model.features,
        "classes": None if model.classes is None else np.asarray(model.classes).tolist(),
        "estimator_sha256": hashlib.sha256(payload).hexdigest(),
    }
    src = folder / "src"
    src.mkdir(parents=True)
    (src / ESTIMATOR).write_bytes(payload)
    (src / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    (src / "keel_model.py").write_text(MODEL_ENTRY, encoding="utf-8")
    with quiet():
        mlflow.pyfunc.save_model(
            str(folder / "model"),
            python_model=str(src / "keel_model.py"),
            artifacts={"estimator": str(src / ESTIMATOR), "keel": str(src / META)},
            code_paths=[str(p) for p in model.code_paths] or None,
            pip_requirements=pinned,
        )
    return folder / "model", pinned


def predict_raw(model: Any, raw: pd.DataFrame) -> pd.DataFrame:
    """A loaded Keel pyfunc model's predictions for raw rows (as served)."""
    with quiet():
        return model.predict(raw)
