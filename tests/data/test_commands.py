"""The data commands' library calls (keel.data.commands): explicit values, no keel.toml read."""

import pandas as pd
import pytest
from systems import binary_frame

from keel.data.commands import infer_path, profile_path, scan_path, validate_path


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = binary_frame(600)
    frame["email"] = [f"someone{i}@example.net" for i in range(600)]
    frame.to_parquet(tmp_path / "a.parquet")
    return tmp_path


def test_infer_path_takes_the_roles_it_is_given_and_reads_no_keel_toml(data):
    (data / "keel.toml").write_text("not toml at all [")  # read, it would be an error
    plain = infer_path("a.parquet")
    assert plain.features["y"].absent_in == [] and not plain.features["group"].sensitive
    schema = infer_path("a.parquet", target="y", sensitive=["group"])
    assert schema.features["y"].absent_in == ["serving"]
    assert schema.features["group"].sensitive
    assert schema.features["email"].pii == "redact"
    assert validate_path("a.parquet", schema) == []


def test_profile_and_scan_of_a_path_relative_to_the_current_folder(data):
    assert profile_path("a.parquet", batch_size=100).batches == 6
    assert [f.column for f in scan_path("a.parquet") if f.kind == "email"] == ["email"]


def test_iso_text_timestamps_in_parquet_are_inferred_as_datetime_as_from_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = binary_frame(300)
    stamps = pd.date_range("2024-01-01 06:00", periods=300, freq="37min")
    frame["at"] = stamps.strftime("%Y-%m-%dT%H:%M:%S")  # ISO 8601 kept as text
    frame["day"] = stamps.strftime("%Y-%m-%d")
    frame["code"] = [f"2024-{i:04d}" for i in range(300)]  # looks dated, is not
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False)
    from_parquet, from_csv = infer_path("t.parquet"), infer_path("t.csv")
    for name in ("at", "day"):
        assert from_parquet.features[name].type == from_csv.features[name].type == "datetime"
        assert from_parquet.features[name].drift == {}  # a time is not compared for drift
    assert from_parquet.features["code"].type == "string"
    assert validate_path("t.parquet", from_parquet) == []  # the text conforms to datetime


def test_a_datetime_feature_still_refuses_text_that_is_not_a_timestamp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = binary_frame(50)
    frame["at"] = "2024-03-01T10:00:00"
    frame.to_parquet(tmp_path / "good.parquet")
    schema = infer_path("good.parquet")
    frame.loc[3, "at"] = "yesterday"
    frame.to_parquet(tmp_path / "bad.parquet")
    [anomaly] = validate_path("bad.parquet", schema)
    assert anomaly.column == "at" and anomaly.kind == "wrong_type"
