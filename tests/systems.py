"""Small, real ML systems written to a folder, for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# A default training module: a real scikit-learn pipeline on whatever inputs it is given.
HGB_TRAIN = """
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    encode = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                        encoded_missing_value=-1),
         make_column_selector(dtype_include=["object", "category", "string"])),
        remainder="passthrough",
    )
    kind = params.pop("kind", "classifier")
    model = (HistGradientBoostingClassifier if kind == "classifier"
             else HistGradientBoostingRegressor)(random_state=seed, **params)
    return make_pipeline(encode, model).fit(X, y)
"""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def render_toml(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in keys.items())
        lines.append("")
    return "\n".join(lines)


def write_system(
    folder: Path,
    train: pd.DataFrame,
    eval: pd.DataFrame | None = None,
    *,
    sections: dict[str, dict[str, Any]] | None = None,
    code: str = HGB_TRAIN,
    module: str = "sysmodel",
    files: dict[str, str] | None = None,
) -> Path:
    """Write data, a training module and keel.toml for a small system; return keel.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    train.to_parquet(folder / "data" / "train.parquet")
    data: dict[str, Any] = {"train": "data/train.parquet"}
    if eval is not None:
        eval.to_parquet(folder / "data" / "eval.parquet")
        data["eval"] = "data/eval.parquet"
    (folder / f"{module}.py").write_text(textwrap.dedent(code))
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    base: dict[str, dict[str, Any]] = {
        "system": {"name": "test-system", "task": "binary", "target": "y"},
        "data": data,
        "model": {"train": f"{module}:train", "params": {"max_iter": 50}, "seed": 1},
    }
    for name, keys in (sections or {}).items():
        base.setdefault(name, {}).update(keys)
    path = folder / "keel.toml"
    path.write_text(render_toml(base))
    return path


def binary_frame(n: int, *, seed: int = 0) -> pd.DataFrame:
    """A binary task with a clear, nonlinear signal in x1, x2 and a categorical `group`."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], size=n)
    logit = 1.5 * x1 - 1.0 * x2 + 1.5 * (x1 * x2 > 0.3) + np.where(group == "a", 0.8, -0.2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "group": group, "y": y})


# Feature code and schema of a small system whose served traffic the monitor checks read.
MONITORED_FEATURES = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["x1_x2"] = raw["x1"] * raw["x2"]
    return out
"""


def monitored_system(make_system: Any) -> Any:
    """A binary system with feature code and a reviewed schema (`make_system` is the fixture)."""
    from keel.data.schema import Feature, Schema, write_schema

    made = make_system(
        binary_frame(1500),
        binary_frame(400, seed=1),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": MONITORED_FEATURES},
    )
    write_schema(
        Schema(
            features={
                "x1": Feature(type="float"),
                "x2": Feature(type="float"),
                "group": Feature(type="string", domain=["a", "b", "c"]),
                "y": Feature(type="int", absent_in=["serving"]),
            }
        ),
        made.root / "keel.schema.yaml",
    )
    return made


# A training function whose model predicts NaN for every row of group "c" (infra.2 must fail).
NAN_FOR_C = (
    HGB_TRAIN
    + """
import numpy as np


class NanForC:
    '''The trained pipeline, except that it predicts NaN for every row of group "c".'''

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict(self, X):
        return self.model.predict(X)

    def predict_proba(self, X):
        proba = self.model.predict_proba(X).copy()
        proba[np.asarray(X["group"] == "c")] = np.nan
        return proba


_fit = train


def train(frame, target, params, seed):
    return NanForC(_fit(frame, target, params, seed))
"""
)

START = pd.Timestamp("2024-01-01")


def monthly(months: int, rows: int, *, turn: float, seed: int = 0):
    """(train, eval): y depends on x1, x2 along a direction turning by `turn` radians every 30
    days; the last two months are the evaluation data."""
    rng = np.random.default_rng(seed)
    parts = []
    for m in range(months):
        at = START + pd.to_timedelta(rng.uniform(30 * m, 30 * (m + 1), rows), unit="D")
        x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
        logit = 3 * (x1 * np.cos(m * turn) + x2 * np.sin(m * turn))
        y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
        parts.append(pd.DataFrame({"at": at, "x1": x1, "x2": x2, "y": y}))
    frame = pd.concat(parts).sort_values("at", ignore_index=True)
    cut = START + pd.Timedelta(days=30 * (months - 2))
    return frame[frame["at"] < cut], frame[frame["at"] >= cut]


# Linear and tree pipelines whose contributions keel explain can take apart exactly.
LINEAR_ONE_HOT = """
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    prepare = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["group"]),
        (make_pipeline(SimpleImputer(), StandardScaler()), ["x1", "x2"]),
    )
    return make_pipeline(prepare, LogisticRegression()).fit(X, y)
"""

# Categorical splits (the booster's own bitsets), missing values routed to the learned side.
HGB_CATEGORICAL = """
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    prepare = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                        encoded_missing_value=-1), ["group"]),
        remainder="passthrough",
    )
    booster = HistGradientBoostingClassifier(
        max_iter=40, categorical_features=[0], random_state=seed
    )
    return make_pipeline(prepare, booster).fit(X, y)
"""


# A churn-like system: the feature code turns blank strings into NaN, and a LogisticRegression
# refuses NaN, so the model raises on every evaluation row with a blank `charges`.
BLANKS_TO_NAN = """
import pandas as pd


def build(raw):
    out = raw.drop(columns=["y", "customer"]).copy()
    out["charges"] = pd.to_numeric(out["charges"].replace(" ", None))
    return out
"""

LOGISTIC = """
from sklearn.linear_model import LogisticRegression


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    return LogisticRegression().fit(X, y)
"""


def churn_frames(n: int = 600, blanks: tuple[int, ...] = (3, 17, 40), seed: int = 0):
    """(train, eval) of the churn-like system; eval rows at `blanks` have a blank `charges`."""
    rng = np.random.default_rng(seed)

    def frame(rows: int, offset: int) -> pd.DataFrame:
        tenure = rng.uniform(0, 60, rows)
        charges = rng.uniform(20, 120, rows)
        logit = 0.05 * charges - 0.08 * tenure
        y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
        return pd.DataFrame(
            {
                "customer": [f"c{offset + i}" for i in range(rows)],
                "tenure": tenure,
                "charges": [f"{c:.2f}" for c in charges],
                "y": y,
            }
        )

    train, evaluation = frame(n, 0), frame(n // 2, n)
    evaluation.loc[list(blanks), "charges"] = " "
    return train, evaluation


def write_churn_system(folder: Path, **kwargs: Any) -> Path:
    """The churn-like system of `churn_frames(**kwargs)`, with `customer` as its id: the model
    raises on the evaluation rows with a blank `charges`. Returns keel.toml."""
    train, evaluation = churn_frames(**kwargs)
    return write_system(
        folder,
        train,
        evaluation,
        code=LOGISTIC,
        files={"feats.py": BLANKS_TO_NAN},
        sections={
            "system": {"id": "customer"},
            "model": {"features": "feats:build", "params": {}},
        },
    )
