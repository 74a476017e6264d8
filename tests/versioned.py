"""A system whose feature code changes from version to version under one module name.

A team's repository keeps `credit/features.py` and changes what is inside from commit to
commit; every registered version carries its own copy. Here version 1 builds one product
input, version 2 computes it differently and adds an input, and a third commit (never
registered) changes it again: each version must predict with its own code whatever the working
tree holds (used by tests/registry/test_artefact.py, tests/serve/test_versions.py).
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from drills import infer_schema
from systems import binary_frame, write_system

from keel.registry.promotion import promote
from keel.system import System
from keel.training import gate_inputs, registry_ref, train_and_register

FEATURES = {
    1: """
        def build(raw):
            out = raw[["x1", "x2", "group"]].copy()
            out["mix"] = raw["x1"] * raw["x2"]
            return out
        """,
    2: """
        def build(raw):
            out = raw[["x1", "x2", "group"]].copy()
            out["mix"] = raw["x1"] - 3 * raw["x2"]
            out["x1_sq"] = raw["x1"] ** 2
            return out
        """,
    3: """
        def build(raw):
            out = raw[["x1", "x2", "group"]].copy()
            out["mix"] = 100 * raw["x2"] + 50
            out["x1_sq"] = raw["x1"] ** 2
            out["x2_cube"] = raw["x2"] ** 3
            return out
        """,
}
GATE = {"min": {"roc_auc": 0.55}, "max_regression": {"roc_auc": 0.5}}


@dataclass
class Versions:
    """The working tree, the registered versions, and each version's offline predictions."""

    system: System  # as built at the last checkout
    tree: Path
    rows: pd.DataFrame  # raw evaluation rows, as a client sends them
    labels: dict[int, np.ndarray]
    proba: dict[int, np.ndarray]


def checkout(tree: Path, commit: int) -> System:
    """Put `commit`'s feature code in the working tree (as `git checkout` does) and build the
    system anew, as a new `keel` command would (the imported copy is forgotten)."""
    (tree / "credit" / "features.py").write_text(textwrap.dedent(FEATURES[commit]))
    for name in [n for n in sys.modules if n == "credit" or n.startswith("credit.")]:
        del sys.modules[name]
    return System.from_path(tree)


def versioned_system(folder: Path, *, serve: dict | None = None) -> Versions:
    """Versions 1 and 2 registered, each from its own checkout, version 1 champion; the working
    tree is left at commit 3 (code no version was registered with)."""
    tree = folder / "tree"
    train, evaluation = binary_frame(900), binary_frame(300, seed=1)
    train.insert(0, "rid", [f"t{i}" for i in range(len(train))])
    evaluation.insert(0, "rid", [f"e{i}" for i in range(len(evaluation))])
    write_system(
        tree,
        train,
        evaluation,
        files={"credit/__init__.py": "", "credit/features.py": FEATURES[1]},
        sections={
            "system": {"id": "rid"},
            "model": {"features": "credit.features:build"},
            "gate": GATE,
            "registry": {"uri": f"sqlite:///{folder}/store/mlflow.db", "model": "versioned"},
            "serve": {"poll_seconds": 0.3, **(serve or {})},
        },
    )
    infer_schema(tree)
    labels, proba = {}, {}
    for commit in (1, 2):
        system = checkout(tree, commit)
        trained = system.trained
        assert trained.unpredictable is None
        labels[commit] = np.asarray(trained.predictions.labels)
        proba[commit] = np.asarray(trained.predictions.proba)
        version = train_and_register(system).version
        assert version == commit
    assert not np.allclose(proba[1], proba[2])  # the versions differ, or nothing is tested
    promote(registry_ref(system), 1, gate_inputs(system), who="tester")
    system = checkout(tree, 3)
    rows = system.raw("eval").drop(columns=[system.target]).reset_index(drop=True)
    return Versions(system, tree, rows, labels, proba)
