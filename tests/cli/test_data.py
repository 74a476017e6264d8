"""`keel profile`, `keel schema` and `keel pii` on real files, run with Typer's CliRunner."""

import json

import pandas as pd
import pytest
from systems import binary_frame
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = binary_frame(2000)
    frame["email"] = [f"someone{i}@example.net" for i in range(2000)]
    frame.iloc[:1000].to_parquet(tmp_path / "a.parquet")
    frame.iloc[1000:].to_parquet(tmp_path / "b.parquet")
    frame.to_csv(tmp_path / "all.csv", index=False)
    return tmp_path


def test_schema_infer_then_validate_the_same_data_exits_0(data):
    result = runner.invoke(app, ["schema", "infer", "a.parquet", "-o", "s.yaml"])
    assert result.exit_code == 0, result.output
    assert "PII found" in result.output and "email" in result.output
    result = runner.invoke(app, ["schema", "validate", "b.parquet", "--schema", "s.yaml"])
    assert result.exit_code == 0, result.output
    assert "conforms" in result.output


def test_schema_validate_exits_1_and_names_the_anomaly(data):
    runner.invoke(app, ["schema", "infer", "a.parquet", "-o", "s.yaml"])
    bad = pd.read_parquet("b.parquet")
    bad.loc[bad.index[:3], "group"] = "zzz"
    bad.to_parquet("bad.parquet")
    result = runner.invoke(app, ["schema", "validate", "bad.parquet", "--schema", "s.yaml"])
    assert result.exit_code == 1
    assert "group" in result.output and "out_of_domain" in result.output


def test_schema_validate_takes_the_schema_keel_toml_names(data):
    runner.invoke(app, ["schema", "infer", "a.parquet", "-o", "keel.schema.yaml"])
    (data / "keel.toml").write_text(
        '[system]\nname = "s"\ntask = "binary"\ntarget = "y"\n'
        '[data]\ntrain = "a.parquet"\n[model]\ntrain = "keel.trainers:gradient_boosting"\n'
    )
    result = runner.invoke(app, ["schema", "validate", "b.parquet"])
    assert result.exit_code == 0, result.output


def test_bad_input_exits_2_and_leaves_no_output_file(data):
    (data / "broken.parquet").write_bytes(b"not parquet at all")
    for args in (
        ["schema", "infer", "missing.parquet", "-o", "out.yaml"],
        ["schema", "infer", "broken.parquet", "-o", "out.yaml"],
        ["schema", "infer", "notes.txt", "-o", "out.yaml"],
        ["profile", "broken.parquet", "-o", "out.json"],
        ["pii", "scan", "missing.parquet"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    assert not (data / "out.yaml").exists() and not (data / "out.json").exists()


def test_schema_with_a_typo_exits_2_naming_the_key(data):
    (data / "s.yaml").write_text("version: 1\nfeatures:\n  x1:\n    type: float\n    presense: 1\n")
    result = runner.invoke(app, ["schema", "validate", "a.parquet", "--schema", "s.yaml"])
    assert result.exit_code == 2
    assert "features.x1.presense: unknown key" in result.output


def test_profile_of_parts_merges_into_the_profile_of_the_whole(data):
    assert runner.invoke(app, ["profile", "a.parquet", "-o", "a.json"]).exit_code == 0
    assert runner.invoke(app, ["profile", "b.parquet", "-o", "b.json"]).exit_code == 0
    result = runner.invoke(app, ["profile", "merge", "a.json", "b.json", "-o", "ab.json"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["profile", "all.csv", "-o", "all.json"]).exit_code == 0
    merged = json.loads((data / "ab.json").read_text())
    whole = json.loads((data / "all.json").read_text())
    assert merged["rows"] == whole["rows"] == 2000


def test_pii_scan_reports_the_email_column_masked(data):
    result = runner.invoke(app, ["pii", "scan", "a.parquet"])
    assert result.exit_code == 0
    assert "email" in result.output
    assert "someone1@example.net" not in result.output


def test_schema_infer_reads_latin_1_csv_with_encoding_from_the_option_or_keel_toml(
    tmp_path, monkeypatch
):
    import yaml

    monkeypatch.chdir(tmp_path)
    cities = ["Besançon", "Orléans", "Nîmes", "Angoulême"]
    frame = pd.DataFrame({"city": [cities[i % 4] for i in range(200)], "x": range(200)})
    frame.to_csv(tmp_path / "data.csv", index=False, encoding="latin-1")

    def city_of(*args):
        result = runner.invoke(app, ["schema", "infer", "data.csv", "-o", "s.yaml", *args])
        assert result.exit_code == 0, result.output
        return yaml.safe_load((tmp_path / "s.yaml").read_text(encoding="utf-8"))["features"]["city"]

    city = city_of("--encoding", "latin-1")
    assert city["type"] == "string" and sorted(city["domain"]) == sorted(cities)
    (tmp_path / "keel.toml").write_text(
        '[system]\nname = "s"\ntask = "binary"\ntarget = "x"\n\n'
        '[data]\ntrain = "data.csv"\nencoding = "latin-1"\n\n[model]\ntrain = "m:train"\n',
        encoding="utf-8",
    )
    assert sorted(city_of("--config", str(tmp_path))["domain"]) == sorted(cities)
    bad = runner.invoke(app, ["schema", "infer", "data.csv", "-o", "s.yaml", "--encoding", "x9"])
    assert bad.exit_code == 2 and "--encoding 'x9'" in bad.output
