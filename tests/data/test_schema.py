import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.data.pii import PiiFinding
from keel.data.profile import profile_batches
from keel.data.schema import (
    Feature,
    Range,
    Schema,
    Tallies,
    infer,
    judge,
    load_schema,
    tally,
    validate,
    write_schema,
)
from keel.errors import ConfigError


def frame(n=500, seed=0):
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 10_000, n)
    income[::10] = np.nan  # missing values (nulls in Arrow)
    return pd.DataFrame(
        {
            "id": [f"A{i}" for i in range(n)],
            "income": pd.array(income).astype("Float64"),
            "age": rng.integers(18, 90, n),
            "region": rng.choice(["north", "south", "east"], n),
            "email": [f"user{i}@example.com" for i in range(n)],
            "y": rng.integers(0, 2, n),
        }
    )


def inferred(data):
    table = pa.Table.from_pandas(data, preserve_index=False)
    profile = profile_batches(table.to_batches(max_chunksize=128))
    pii = [PiiFinding("email", "email", 1.0, len(data), "u***@e******.com")]
    return infer(profile, pii=pii, target="y", id="id", sensitive=[])


def kinds(anomalies):
    return sorted((a.column, a.kind) for a in anomalies)


def test_round_trip_infer_write_load_validate_finds_no_anomaly(tmp_path):
    data = frame()
    path = tmp_path / "keel.schema.yaml"
    write_schema(inferred(data), path)
    schema = load_schema(path)
    assert validate(data, schema) == []
    assert schema.features["region"].domain == ["east", "north", "south"]
    assert schema.features["email"].pii == "redact" and schema.features["email"].pii_kind == "email"
    assert schema.features["y"].absent_in == ["serving"]


def test_changing_one_column_gives_exactly_that_anomaly(tmp_path):
    data = frame()
    schema = inferred(data)
    changed = data.copy()
    changed.loc[:9, "region"] = "atlantis"
    anomalies = validate(changed, schema)
    assert kinds(anomalies) == [("region", "out_of_domain")]
    assert anomalies[0].count == 10 and anomalies[0].examples == ["atlantis"]


def test_inference_is_conservative_about_numeric_ranges():
    data = frame()
    schema = inferred(data)
    assert schema.features["age"].range is None
    fresh = data.copy()
    fresh["age"] = fresh["age"] + 100  # a new maximum is not an anomaly by itself
    assert validate(fresh, schema) == []


def test_a_range_set_on_purpose_is_enforced_with_examples():
    schema = Schema(features={"age": Feature(type="int", range=Range(min=18, max=100))})
    anomalies = validate(pd.DataFrame({"age": [20, 17, 150, 150]}), schema)
    assert kinds(anomalies) == [("age", "out_of_range")]
    assert anomalies[0].count == 3 and set(anomalies[0].examples) == {17, 150}


def test_label_and_id_may_be_absent_from_serving_data_only():
    data = frame()
    schema = inferred(data)
    serving = data.drop(columns=["y", "id"])
    assert validate(serving, schema, environment="serving") == []
    assert kinds(validate(serving, schema)) == [("id", "missing_column"), ("y", "missing_column")]


def test_unexpected_column_wrong_type_presence_nan_and_inf_are_reported():
    schema = Schema(
        features={
            "a": Feature(type="float"),
            "b": Feature(type="int"),
            "c": Feature(type="float"),
        }
    )
    data = pa.table(
        {  # Arrow keeps NaN apart from null (pandas would read NaN as missing)
            "a": pa.array([1.0, np.nan, np.inf, 2.0]),
            "b": ["x", "y", "z", "w"],
            "c": pa.array([1.0, None, None, 2.0]),
            "extra": [1, 2, 3, 4],
        }
    )
    assert kinds(validate(data, schema)) == [
        ("a", "inf"),
        ("a", "nan"),
        ("b", "wrong_type"),
        ("c", "low_presence"),
        ("extra", "unexpected_column"),
    ]


def test_schema_with_a_typo_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "keel.schema.yaml"
    path.write_text("version: 1\nfeatures:\n  age:\n    type: int\n    rnage: {min: 0}\n")
    with pytest.raises(ConfigError, match=r"keel.schema.yaml: features.age.rnage: unknown key"):
        load_schema(path)
    path.write_text("version: 1\nfeatures:\n  age:\n    type: integer\n")
    with pytest.raises(ConfigError, match=r"features.age.type = 'integer'"):
        load_schema(path)
    path.write_text("features: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_schema(path)


def test_missing_schema_file_says_how_to_write_one(tmp_path):
    with pytest.raises(ConfigError, match="keel schema infer"):
        load_schema(tmp_path / "keel.schema.yaml")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=1,
        max_size=50,
    ),
    st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=50),
)
def test_validation_of_any_values_reports_plain_anomalies_never_crashes(floats, strings):
    n = min(len(floats), len(strings))
    data = pa.table({"x": pa.array(floats[:n], pa.float64()), "s": pa.array(strings[:n])})
    schema = Schema(
        features={
            "x": Feature(type="float", presence=0.5, range=Range(min=-1, max=1)),
            "s": Feature(type="string", domain=["a", "b"]),
        }
    )
    anomalies = validate(data, schema)
    outside = sum(s not in ("a", "b") for s in strings[:n])
    found = {a.kind: a.count for a in anomalies}
    assert found.get("out_of_domain", 0) == outside
    finite = [f for f in floats[:n] if f is not None and np.isfinite(f)]
    assert found.get("out_of_range", 0) == sum(abs(f) > 1 for f in finite)


def test_infer_does_not_mark_a_column_only_named_like_personal_data():
    from keel.data.pii import scan

    table = pa.table(
        {
            "phone_service": ["Yes", "No"] * 200,
            "email": [f"user{i}@example.com" for i in range(400)],
        }
    )
    schema = infer(profile_batches(table.to_batches()), pii=scan(table))
    assert schema.features["phone_service"].pii == "none"
    assert schema.features["email"].pii == "redact"


# -- tallies: counted in parts (a Spark partition each), merged, judged once -----------------


_SPLIT_SCHEMA = Schema(
    features={
        "x": Feature(type="float", range=Range(min=0, max=10)),
        "c": Feature(type="string", domain=["a", "b"], presence=0.9),
        "gone": Feature(type="int", absent_in=["serving"]),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    xs=st.lists(
        st.one_of(st.none(), st.floats(-5, 15), st.just(float("nan")), st.just(float("inf"))),
        min_size=1,
        max_size=60,
    ),
    cs=st.lists(st.sampled_from(["a", "b", "z", None]), min_size=60, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
)
def test_tallies_of_any_split_merged_judge_as_validating_the_whole(xs, cs, cuts):
    frame = pa.table({"x": pa.array(xs, pa.float64()), "c": cs[: len(xs)]})
    whole = validate(frame, _SPLIT_SCHEMA)
    bounds = sorted({0, len(xs), *(c for c in cuts if c <= len(xs))})
    merged = Tallies.start(frame.column_names, _SPLIT_SCHEMA)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
        part = tally(frame.slice(lo, hi - lo), _SPLIT_SCHEMA)
        merged = merged.merge(Tallies.from_dict(part.to_dict()))  # as sent from an executor
    assert [(a.column, a.kind, a.count) for a in judge(merged, _SPLIT_SCHEMA)] == [
        (a.column, a.kind, a.count) for a in whole
    ]
