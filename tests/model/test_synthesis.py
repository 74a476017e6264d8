import numpy as np
import pandas as pd
from systems import binary_frame

from keel.data.schema import Feature, Range
from keel.model.synthesis import synthesise, synthesise_column


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


def test_synthetic_rows_have_every_class_unique_ids_and_the_training_dtypes():
    train = binary_frame(500, seed=0)
    train.insert(0, "key", [f"k{i}" for i in range(500)])
    train["when"] = pd.date_range("2024-01-01", periods=500, freq="h")
    rows = synthesise(
        train, 300, seed=0, schema_features=None, target="y", task="binary", id_column="key"
    )
    assert list(rows.columns) == list(train.columns)
    assert rows["key"].is_unique
    assert set(rows["y"]) == {0, 1}
    assert rows["when"].between(train["when"].min(), train["when"].max()).all()
    assert dict(rows.dtypes.astype(str)) == dict(train.dtypes.astype(str))


def test_timestamps_held_as_text_are_synthesised_as_iso_text_in_the_observed_range():
    observed = pd.Series(["2024-03-01T10:00:00", "2024-03-09T18:45:10", None])
    rng = np.random.default_rng(0)
    made = synthesise_column(observed, Feature(type="datetime", as_text=True), 50, rng)
    present = made.dropna()
    assert len(present) and all(isinstance(v, str) and len(v) == 19 for v in present)
    times = pd.to_datetime(present)
    assert times.min() >= pd.Timestamp("2024-03-01T10:00:00")
    assert times.max() <= pd.Timestamp("2024-03-09T18:45:10")
