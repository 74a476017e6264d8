"""Registered versions: listing, finding, loading and measuring them.

A version is named by a number (`3`, `v3`) or an alias (`champion` marks the serving one).
`load_model` gives its pyfunc model (raw rows in, predictions out); `measure` predicts raw
rows with it, as it would serve them, and computes metrics. Everything a user can get wrong
(an unknown version, a missing or corrupt artefact) raises `RegistryError`.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from keel.errors import RegistryError
from keel.registry._mlflow import quiet
from keel.registry.artefact import FeatureCode, load_feature_code, predict_raw
from keel.registry.feature_code import unloadable
from keel.registry.lineage import LINEAGE_TAG, read_lineage
from keel.registry.records import ModelVersion
from keel.registry.ref import RegistryRef
from keel.registry.store import Store, connect, translated

with quiet():
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

if TYPE_CHECKING:
    from keel.model.metrics import Predictions

__all__ = [
    "CHAMPION",
    "ModelVersion",
    "as_predictions",
    "champion",
    "get_version",
    "list_versions",
    "load_features",
    "load_model",
    "measure",
    "model_uri",
]

CHAMPION = "champion"


def _iso(millis: int | None) -> str:
    if not millis:
        return ""
    return dt.datetime.fromtimestamp(millis / 1000, dt.UTC).isoformat(timespec="seconds")


def describe(store: Store, mv: Any, named: dict[str, int] | None = None) -> ModelVersion:
    """An MLflow model version as plain data; `named` is the model's alias map when already
    read."""
    named = aliases(store) if named is None else named
    try:
        metrics = dict(store.client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
    except MlflowException:
        metrics = {}
    tags = dict(mv.tags or {})
    lineage = read_lineage(tags)
    tags.pop(LINEAGE_TAG, None)
    return ModelVersion(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or "",
        lineage=lineage,
        metrics=metrics,
        created_at=_iso(mv.creation_timestamp),
        aliases=sorted(a for a, number in named.items() if number == int(mv.version)),
        source=mv.source,
        verdict=json.loads(tags["keel.gate.verdict"]) if "keel.gate.verdict" in tags else None,
        tags=tags,
    )


def registered(store: Store) -> Any | None:
    """The registered model, or None before its first version."""
    try:
        return store.client.get_registered_model(store.model)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def aliases(store: Store) -> dict[str, int]:
    """The model's aliases and the versions they name (`champion` among them)."""
    model = registered(store)
    return {} if model is None else {a: int(v) for a, v in (model.aliases or {}).items()}


def _quoted(text: str) -> str:
    return f'"{text}"' if "'" in text else f"'{text}'"


def _all_versions(store: Store) -> list[Any]:
    found, token = [], None
    while True:
        page = store.client.search_model_versions(
            f"name = {_quoted(store.model)}", max_results=1000, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def find_version(store: Store, version: int | str) -> Any:
    """The MLflow model version a user named: a number (`3`, `v3`) or an alias (`champion`)."""
    text = str(version).strip()
    if text[:1] in "vV" and text[1:].isdigit():
        text = text[1:]
    if not text.isdigit():
        number = aliases(store).get(text)
        if number is None:
            raise RegistryError(
                f"model '{store.model}' has no version or alias '{version}'; "
                "see `keel registry list`"
            )
        text = str(number)
    try:
        return store.client.get_model_version(store.model, text)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    known = [int(mv.version) for mv in _all_versions(store)]
    has = f"its versions are {', '.join(map(str, sorted(known)))}" if known else "it has none"
    raise RegistryError(
        f"model '{store.model}' has no version {text}; {has} (`keel registry list`; "
        "`keel train` registers a new one)"
    )


def list_versions(ref: RegistryRef) -> list[ModelVersion]:
    """Every registered version of the model, newest first."""
    store = connect(ref)
    with translated(store.uri):
        named = aliases(store)
        return [describe(store, mv, named) for mv in _all_versions(store)]


def get_version(ref: RegistryRef, version: int | str) -> ModelVersion:
    """One version, by number or alias; `RegistryError` when there is no such version."""
    store = connect(ref)
    with translated(store.uri):
        return describe(store, find_version(store, version))


def champion(ref: RegistryRef) -> ModelVersion | None:
    """The serving version (alias `champion`), or None before the first promotion."""
    store = connect(ref)
    with translated(store.uri):
        number = aliases(store).get(CHAMPION)
        if number is None:
            return None
        return describe(store, store.client.get_model_version(store.model, str(number)))


def load_version(store: Store, mv: Any) -> Any:
    """A version's pyfunc model; `RegistryError` when its artefact is missing or corrupt.

    A local artefact is loaded where it is; a remote one is downloaded once to
    `<state>/models/` (versions never change).
    """
    try:
        with quiet():
            return mlflow.pyfunc.load_model(str(_folder(store, mv)), suppress_warnings=True)
    except Exception as exc:
        raise unloadable(f"version {mv.version}", store.model, mv.source, exc) from None


def _folder(store: Store, mv: Any) -> Path:
    """A version's artefact folder here: where it is, or downloaded once."""
    parsed = urlparse(mv.source)
    if parsed.scheme in ("file", ""):
        return Path(unquote(parsed.path))
    return _download(store, mv)


def load_features(store: Store, mv: Any) -> FeatureCode:
    """A version's feature code alone (`keel.registry.artefact.load_feature_code`): what its
    pyfunc model builds model inputs with, without loading its estimator; `RegistryError`
    when the artefact is missing or corrupt."""
    try:
        with quiet():
            return load_feature_code(_folder(store, mv))
    except Exception as exc:
        what = f"the feature code of version {mv.version}"
        raise unloadable(what, store.model, mv.source, exc) from None


def _download(store: Store, mv: Any) -> Path:
    folder = store.downloads / f"{store.model}-v{mv.version}"
    done = folder / ".downloaded"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=mv.source,
            dst_path=str(folder),
            tracking_uri=store.tracking,
            registry_uri=store.tracking,
        )
        done.write_text(local, encoding="utf-8")
    return Path(done.read_text(encoding="utf-8"))


def load_model(ref: RegistryRef, version: int | str = CHAMPION) -> Any:
    """The pyfunc model of a version (number or alias): raw rows in, predictions out."""
    store = connect(ref)
    with translated(store.uri):
        return load_version(store, find_version(store, version))


def model_uri(ref: RegistryRef, version: int | str = CHAMPION) -> str:
    """The URI of a version's artefact, for `mlflow.pyfunc.load_model` in any process."""
    return get_version(ref, version).source


def as_predictions(model: Any, output: pd.DataFrame) -> Predictions:
    """A Keel model's output frame as `Predictions`, for Keel's metrics."""
    from keel.model.metrics import Predictions

    labels = output["prediction"].to_numpy()
    classes = model.unwrap_python_model().classes
    if classes is None:
        return Predictions(labels)
    proba = output[[f"proba_{c}" for c in classes]].to_numpy(dtype=float)
    return Predictions(labels, proba, np.asarray(classes))


def measure_version(
    store: Store, mv: Any, frame: pd.DataFrame, target: Any, *, metrics: list[str]
) -> dict[str, float]:
    """Metrics of a version's artefact predicting raw rows `frame` as it would serve them,
    against `target` (NaN where a metric is undefined)."""
    from keel.model.slices import slice_metric  # scikit-learn: loaded when measuring

    model = load_version(store, mv)
    try:
        predictions = as_predictions(model, predict_raw(model, frame))
    except Exception as exc:
        raise RegistryError(
            f"version {mv.version} of '{store.model}' cannot predict the evaluation rows: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    y = np.asarray(target)
    return {name: slice_metric(name, y, predictions)[0] for name in metrics}


def measure(
    ref: RegistryRef, version: int | str, frame: pd.DataFrame, target: Any, *, metrics: list[str]
) -> dict[str, float]:
    """Metrics of a registered version (number or alias) on raw evaluation rows and their
    target, predicted through its artefact as it would serve them."""
    store = connect(ref)
    with translated(store.uri):
        return measure_version(store, find_version(store, version), frame, target, metrics=metrics)
