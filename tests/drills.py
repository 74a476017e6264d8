"""A system ready for a rollback drill: a schema, two champions in turn, a fast-following
server configuration (used by tests/serve/test_drill.py, tests/cli/test_drill.py and infra.7's
tests)."""

from __future__ import annotations

from pathlib import Path

from systems import HGB_TRAIN, binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app
from keel.registry.promotion import promote
from keel.system import System
from keel.training import gate_inputs, registry_ref, train_and_register

GATE = {"min": {"roc_auc": 0.6}, "max_regression": {"roc_auc": 0.01}}


def infer_schema(folder: Path) -> None:
    """Write `folder`/keel.schema.yaml with `keel schema infer` from its training data, as a
    user does before reviewing it (used by tests/versioned.py too)."""
    result = CliRunner().invoke(
        app,
        [
            "schema",
            "infer",
            str(folder / "data" / "train.parquet"),
            "-o",
            str(folder / "keel.schema.yaml"),
            "--config",
            str(folder),
        ],
    )
    assert result.exit_code == 0, result.output


def drill_system(
    folder: Path, *, champions: int = 2, code: str = HGB_TRAIN, **drill: float
) -> System:
    """A system in `folder` with its own SQLite registry, a reviewed schema, `[serve]
    poll_seconds` 0.3 and a short `[drill]`; `champions` versions registered and promoted in
    turn (versions 1, 2, …: the drill rolls back from the last to the one before); `code`
    is its training module."""
    path = write_system(
        folder,
        binary_frame(800),
        binary_frame(400, seed=1),
        code=code,
        sections={
            "gate": GATE,
            "registry": {"uri": f"sqlite:///{folder}/store/mlflow.db", "model": "drilled"},
            "serve": {"poll_seconds": 0.3},
            "drill": {"load_seconds": 1.0, "max_seconds": 10.0, "concurrency": 3, **drill},
        },
    )
    infer_schema(folder)
    system = System.from_path(path)
    ref, gate = registry_ref(system), gate_inputs(system)
    for _ in range(champions):
        version = train_and_register(system).version  # the same model, registered again
        assert promote(ref, version, gate, who="tester").promoted
    return system


def serving_rows(system: System, n: int = 100) -> list[dict]:
    """Evaluation rows without the target, as a client sends them."""
    from keel.serve.process import json_rows

    return json_rows(system.raw("eval").drop(columns=[system.target]).head(n))


# A training module whose model, when trained with the parameter `fragile = true`, cannot
# answer in a process that has SYSMODEL_SERVER=1 in its environment (a server): the version
# loads everywhere and predicts in the test process, but a server cannot serve it.
FRAGILE_TRAIN = """
import os

from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


class Fragile(HistGradientBoostingClassifier):
    def _refuse(self):
        if getattr(self, "fragile_", False) and os.environ.get("SYSMODEL_SERVER") == "1":
            raise RuntimeError("this version cannot answer in a server")

    def predict(self, X):
        self._refuse()
        return super().predict(X)

    def predict_proba(self, X):
        self._refuse()
        return super().predict_proba(X)


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    fragile = params.pop("fragile", False)
    encode = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
         make_column_selector(dtype_include=["object", "category", "string"])),
        remainder="passthrough",
    )
    model = make_pipeline(encode, Fragile(random_state=seed, **params)).fit(X, y)
    model[-1].fragile_ = fragile
    return model
"""
