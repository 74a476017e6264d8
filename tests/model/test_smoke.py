import numpy as np
import pandas as pd
from systems import NAN_FOR_C, binary_frame

from keel.data.schema import Feature, Range, Schema, write_schema
from keel.model.smoke import smoke_test, synthesise, synthesise_column

CRASHES_ON_FEW_ROWS = """
def train(frame, target, params, seed):
    if len(frame) < 1000:
        raise ValueError("needs at least 1000 rows")
    from sklearn.dummy import DummyClassifier
    return DummyClassifier().fit(frame.drop(columns=[target]), frame[target])
"""


def with_schema(system, features: dict[str, Feature]) -> None:
    write_schema(Schema(features=features), system.root / "keel.schema.yaml")


def test_columns_follow_domain_range_presence_and_type():
    rng = np.random.default_rng(0)
    observed = pd.Series(["a", "b"] * 50)
    domain = synthesise_column(observed, Feature(type="string", domain=["x", "y", "z"]), 400, rng)
    assert set(domain) == {"x", "y", "z"}
    ranged = synthesise_column(
        pd.Series(np.arange(100)),
        Feature(type="int", range=Range(min=18, max=30), presence=0.8),
        400,
        rng,
    )
    present = ranged.dropna()
    assert present.between(18, 30).all() and (present == present.round()).all()
    assert 0.1 < ranged.isna().mean() < 0.3
    assert ranged.dtype == "float64"  # missing values make a float column, as in pandas


def test_without_a_range_numbers_stay_within_the_observed_percentiles():
    observed = pd.Series(np.linspace(0, 100, 1001))
    values = synthesise_column(observed, None, 500, np.random.default_rng(0))
    assert values.between(1, 99).all() and values.dtype == "float64"


def test_synthetic_rows_have_every_class_unique_ids_and_the_training_dtypes(make_system):
    train = binary_frame(500, seed=0)
    train.insert(0, "key", [f"k{i}" for i in range(500)])
    train["when"] = pd.date_range("2024-01-01", periods=500, freq="h")
    system = make_system(
        train,
        binary_frame(100, seed=1).assign(key="k", when=train["when"][:100]),
        sections={"system": {"id": "key", "timestamp": "when"}},
    )
    rows = synthesise(system, 300, seed=0, schema_features=None)
    assert list(rows.columns) == list(train.columns)
    assert rows["key"].is_unique
    assert set(rows["y"]) == {0, 1}
    assert rows["when"].between(train["when"].min(), train["when"].max()).all()
    assert dict(rows.dtypes.astype(str)) == dict(train.dtypes.astype(str))


def test_smoke_test_passes_a_model_that_trains_and_predicts_on_synthetic_rows(make_system):
    system = make_system(binary_frame(500, seed=0), binary_frame(100, seed=1))
    with_schema(
        system,
        {
            "x1": Feature(type="float", range=Range(min=-3, max=3)),
            "x2": Feature(type="float", presence=0.7),
            "group": Feature(type="string", domain=["a", "b", "c", "d"]),
            "y": Feature(type="int"),
        },
    )
    result = smoke_test(system)
    assert result.failed == [], result.steps
    assert result.source == "schema keel.schema.yaml"
    assert [s.step for s in result.steps][:3] == ["synthesis", "features", "training"]


def test_smoke_test_fails_a_model_that_returns_nan_for_a_valid_category(make_system):
    system = make_system(binary_frame(500, seed=0), binary_frame(100, seed=1), code=NAN_FOR_C)
    result = smoke_test(system)
    assert result.source.startswith("the training data (no schema file")
    failed = {s.step: s.detail for s in result.failed}
    assert set(failed) == {"probabilities are finite", "rows the model may crash on"}
    assert "rows hold NaN or infinity" in failed["probabilities are finite"]
    assert "NaN or infinity on" in failed["rows the model may crash on"]
    labels = {p.label for p in result.edge.not_finite}
    assert "group = 'c' (seen)" in labels and "group = 'a' (seen)" not in labels
    assert result.edge.inputs() == ["group"]


def test_smoke_test_reports_training_that_crashes_on_few_rows(make_system):
    system = make_system(
        binary_frame(1200, seed=0), binary_frame(100, seed=1), code=CRASHES_ON_FEW_ROWS
    )
    [failed] = smoke_test(system).failed
    assert failed.step == "training" and "needs at least 1000 rows" in failed.detail
