"""The model artefact: a pyfunc model that turns raw rows into the offline predictions, refuses
a changed pickle, pins what it needs, and loads in a fresh process without Keel's offline stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from registries import FEATURES as REGISTRY_FEATURES
from systems import binary_frame, write_system

import keel
from keel.registry._mlflow import quiet
from keel.registry.artefact import mlflow, pickle_estimator, predict_raw, requirements, save_model
from keel.system import System
from keel.training import train_and_register, trained_model

FEATURES = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["ratio"] = raw["x1"] / (1 + raw["x2"].abs())
    return out
"""


def test_requirements_pin_the_pickled_packages_and_leave_out_user_code_and_stdlib(make_system):
    system = make_system(binary_frame(300))
    payload, modules = pickle_estimator(system.trained.estimator)
    assert payload[:1] == b"\x80"  # a pickle
    assert any(m.startswith("sklearn.") for m in modules)
    pinned = requirements(modules | {"sysmodel", "collections"}, exclude={"sysmodel"})
    names = {r.split("==")[0] for r in pinned}
    assert {"scikit-learn", "numpy", "pandas", "keel", "cloudpickle"} <= names
    assert not names & {"sysmodel", "collections"}
    assert all("==" in r for r in pinned)


def test_saved_model_turns_raw_rows_into_the_offline_predictions(make_system, tmp_path):
    system = make_system(
        binary_frame(600),
        binary_frame(300, seed=1),
        files={"sysfeatures.py": FEATURES},
        sections={"model": {"features": "sysfeatures:build"}},
    )
    folder, pinned = save_model(trained_model(system), tmp_path)
    assert (folder / "code" / "sysfeatures.py").is_file()
    assert any(r.startswith("scikit-learn==") for r in pinned)
    assert set((folder / "requirements.txt").read_text().split()) >= set(pinned)
    with quiet():
        model = mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)
    raw = system.dataset("eval").raw.drop(columns=["y"])
    out = predict_raw(model, raw)
    offline = system.trained.predictions
    np.testing.assert_array_equal(out["prediction"], offline.labels)
    np.testing.assert_allclose(out[["proba_0", "proba_1"]].to_numpy(), offline.proba)
    assert list(out.index) == list(raw.index)


def test_regression_model_returns_only_the_prediction(make_system, tmp_path):
    frame = binary_frame(400)
    frame["y"] = frame["x1"] * 2 + frame["x2"]
    system = make_system(
        frame,
        sections={
            "system": {"task": "regression"},
            "model": {"params": {"kind": "regressor", "max_iter": 20}},
        },
    )
    folder, _ = save_model(trained_model(system), tmp_path)
    with quiet():
        model = mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)
    out = predict_raw(model, system.dataset("eval").raw)
    assert list(out.columns) == ["prediction"]
    np.testing.assert_allclose(out["prediction"], system.trained.predictions.labels)


def test_a_changed_pickle_is_refused_as_corrupt(make_system, tmp_path):
    system = make_system(binary_frame(300))
    folder, _ = save_model(trained_model(system), tmp_path)
    (folder / "artifacts" / "estimator.pkl").write_bytes(
        pickle_estimator(system.trained.estimator)[0] + b"\x00"
    )
    with quiet(), pytest.raises(ValueError, match="corrupt or was changed"):
        mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)


def test_model_loaded_in_a_fresh_process_predicts_raw_rows_like_the_offline_model(
    good, first, tmp_path
):
    raw = good.dataset("eval").raw.drop(columns=["y"])  # served rows have no label
    raw.to_parquet(tmp_path / "rows.parquet")
    script = textwrap.dedent(
        """
        import sys, mlflow.pyfunc, pandas as pd
        model = mlflow.pyfunc.load_model(sys.argv[1])
        model.predict(pd.read_parquet(sys.argv[2])).to_parquet(sys.argv[3])
        """
    )
    elsewhere = tmp_path / "elsewhere"  # neither the system's folder nor its code on the path
    elsewhere.mkdir()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, first.source, str(tmp_path / "rows.parquet"), "out.pq"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - start < 60
    served = pd.read_parquet(elsewhere / "out.pq")
    offline = good.trained.predictions
    assert list(served.columns) == ["prediction", "proba_0", "proba_1"]
    np.testing.assert_array_equal(served["prediction"].to_numpy(), offline.labels)
    np.testing.assert_allclose(served["proba_1"].to_numpy(), offline.proba[:, 1], atol=1e-12)


# A classifier of NumPy alone: what its pickle needs on loading is this module and NumPy, so
# whatever else a loaded model imports comes from the artefact (scikit-learn's own estimators
# import sklearn.metrics when unpickled).
NUMPY_TRAIN = """
import numpy as np


class LeastSquares:
    classes_ = np.array([0, 1])

    def __init__(self, columns, coef, intercept):
        self.columns, self.coef, self.intercept = columns, coef, intercept

    def predict_proba(self, X):
        z = X[self.columns].to_numpy(dtype=float) @ self.coef + self.intercept
        p = 1 / (1 + np.exp(-3 * z))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def train(frame, target, params, seed):
    X = frame.drop(columns=[target]).select_dtypes("number")
    A = np.column_stack([X.to_numpy(dtype=float), np.ones(len(X))])
    coef, *_ = np.linalg.lstsq(A, frame[target].to_numpy(dtype=float) * 2 - 1, rcond=None)
    return LeastSquares(list(X.columns), coef[:-1], coef[-1])
"""

LOAD_AND_LIST_MODULES = """
import json, sys
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
out = model.predict(pd.read_parquet(sys.argv[2]))
print(json.dumps({
    "rows": len(out),
    "columns": list(out.columns),
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("keel", "sklearn")),
}))
"""


def test_a_loaded_model_imports_no_config_system_checks_or_metrics_of_keel(tmp_path):
    path = write_system(
        tmp_path / "light",
        binary_frame(600),
        binary_frame(300, seed=1),
        code=NUMPY_TRAIN,
        files={"sysfeatures.py": REGISTRY_FEATURES},
        sections={
            "model": {"features": "sysfeatures:build"},
            "registry": {"uri": f"sqlite:///{tmp_path}/store/mlflow.db", "model": "light"},
        },
    )
    version = train_and_register(System.from_path(path))
    rows = tmp_path / "rows.parquet"
    binary_frame(50, seed=2).drop(columns=["y"]).to_parquet(rows)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    keel_path = str(Path(keel.__file__).parents[1])  # this Keel, wherever the process runs
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_LIST_MODULES, version.source, str(rows)],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": keel_path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["rows"] == 50 and loaded["columns"] == ["prediction", "proba_0", "proba_1"]
    modules = loaded["modules"]
    assert "keel.registry.artefact" in modules  # the model's entry code imported it
    for heavy in ("keel.system", "keel.config", "keel.checks", "keel.model", "sklearn.metrics"):
        assert not [m for m in modules if m == heavy or m.startswith(heavy + ".")], heavy
    assert set(modules) <= {
        "keel",
        "keel.registry",
        "keel.registry._mlflow",
        "keel.registry.artefact",
        "keel.registry.feature_code",  # the version's own code, imported as monitoring does
    }


def test_each_version_predicts_with_its_own_feature_code_whatever_the_working_tree_holds(
    tmp_path,
):
    from versioned import checkout, versioned_system

    from keel.registry.versions import load_model
    from keel.training import registry_ref

    versions = versioned_system(tmp_path)
    ref = registry_ref(versions.system)
    for commit in (3, 1, 2):  # the working tree at code no version has, then at each version's
        tree = checkout(versions.tree, commit)
        tree.features_function  # noqa: B018 (the working tree's code, imported as a check would)
        imported = sys.modules["credit.features"]
        loaded = {v: load_model(ref, v) for v in (2, 1)}  # the newer one first, then the older
        for version, model in loaded.items():
            out = predict_raw(model, versions.rows)
            np.testing.assert_array_equal(out["prediction"].to_numpy(), versions.labels[version])
            proba = out[["proba_0", "proba_1"]].to_numpy()
            np.testing.assert_allclose(proba, versions.proba[version], rtol=0, atol=1e-12)
        # the working tree's own module is untouched, and no model's code stays on the path
        assert sys.modules["credit.features"] is imported
        assert tree.features_function.__module__ == "credit.features"
        assert not [p for p in sys.path if (Path(p).parent / "MLmodel").is_file()]


def test_the_gate_and_the_canary_check_judge_an_old_version_by_its_own_code(tmp_path):
    """`keel promote 1` and `keel canary start 1` with the working tree at a later commit once
    refused version 1: it was judged with the working tree's feature code."""
    from versioned import versioned_system

    from keel.registry.promotion import promote
    from keel.serve.process import fresh_process_check
    from keel.training import gate_inputs, registry_ref

    versions = versioned_system(tmp_path)  # version 1 champion, the tree at commit 3
    ref, gate = registry_ref(versions.system), gate_inputs(versions.system)
    assert promote(ref, 2, gate, who="tester").promoted
    check = fresh_process_check(
        ref, 1, versions.tree / "keel.schema.yaml", versions.rows.head(50), id_column="rid"
    )
    assert check.ok, check.describe()
    verdict = promote(ref, 1, gate, who="tester")
    assert verdict.promoted, verdict


def test_a_refused_artefact_leaves_no_model_code_on_the_path(make_system, tmp_path):
    system = make_system(
        binary_frame(300),
        files={"sysfeatures.py": FEATURES},
        sections={"model": {"features": "sysfeatures:build"}},
    )
    folder, _ = save_model(trained_model(system), tmp_path)
    pickle = folder / "artifacts" / "estimator.pkl"
    pickle.write_bytes(pickle.read_bytes() + b"x")
    with pytest.raises(Exception, match="SHA-256"), quiet():
        mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)
    assert not [p for p in sys.path if (Path(p).parent / "MLmodel").is_file()]
