"""The data commands' library calls (keel.data.commands): explicit values, no keel.toml read."""

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
