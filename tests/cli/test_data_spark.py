"""`keel profile` and `keel schema validate` with `--engine spark` (or `[engine]` in keel.toml):
the local engine's answers, from Spark jobs on the shared local[2] session."""

import json
from pathlib import Path

import pandas as pd
import pytest
from systems import binary_frame
from typer.testing import CliRunner

from keel.cli import app

pytestmark = pytest.mark.spark
runner = CliRunner()


@pytest.fixture
def data(tmp_path, monkeypatch, spark):
    monkeypatch.chdir(tmp_path)
    frame = binary_frame(3000)
    frame.iloc[:1500].to_parquet(tmp_path / "a.parquet")
    frame.iloc[1500:].to_parquet(tmp_path / "b.parquet")
    frame.to_csv(tmp_path / "all.csv", index=False)
    return tmp_path


def _exact(path):
    columns = json.loads(Path(path).read_text())["columns"]
    keys = ("type", "count", "nulls", "nan", "inf", "min", "max")
    return {n: {k: c.get(k) for k in keys} for n, c in columns.items()}


def test_keel_profile_on_spark_writes_the_local_engines_exact_statistics(data):
    local = runner.invoke(app, ["profile", "*.parquet", "-o", "local.json"])
    assert local.exit_code == 0, local.output
    spark = runner.invoke(app, ["profile", "*.parquet", "-o", "spark.json", "--engine", "spark"])
    assert spark.exit_code == 0, spark.output
    assert "3,000 rows" in spark.output
    assert _exact("spark.json") == _exact("local.json")


def test_keel_schema_validate_on_spark_finds_the_local_anomalies(data):
    runner.invoke(app, ["schema", "infer", "a.parquet", "-o", "s.yaml"])
    bad = pd.read_parquet("b.parquet")
    bad.loc[bad.index[:7], "group"] = "zzz"
    bad.to_parquet("bad.parquet")
    args = ["schema", "validate", "bad.parquet", "--schema", "s.yaml"]
    local = runner.invoke(app, args)
    spark = runner.invoke(app, [*args, "--engine", "spark"])
    assert local.exit_code == spark.exit_code == 1, spark.output
    assert (
        spark.output.strip() == local.output.strip()
    )  # the same table: column, anomaly, count, examples
    assert "1 anomalies" in spark.output and "'zzz'" in spark.output
    ok = runner.invoke(
        app, ["schema", "validate", "a.parquet", "--schema", "s.yaml", "--engine", "spark"]
    )
    assert ok.exit_code == 0 and "conforms" in ok.output


def test_the_engine_in_keel_toml_is_used_and_bad_choices_are_clear_errors(data):
    (data / "keel.toml").write_text(
        '[system]\nname="x"\ntask="binary"\ntarget="label"\n[data]\ntrain="a.parquet"\n'
        '[model]\ntrain="m:train"\n[engine]\nkind="spark"\n'
    )
    csv = runner.invoke(app, ["profile", "all.csv", "-o", "p.json"])  # Spark reads no CSV
    assert csv.exit_code == 2 and "not CSV" in csv.output
    local = runner.invoke(app, ["profile", "all.csv", "-o", "p.json", "--engine", "local"])
    assert local.exit_code == 0, local.output
    bogus = runner.invoke(app, ["profile", "a.parquet", "-o", "p.json", "--engine", "dask"])
    assert bogus.exit_code == 2 and "--engine 'dask': expected one of local, spark" in bogus.output
    lone = runner.invoke(
        app, ["profile", "a.parquet", "-o", "p.json", "--engine", "local", "--master", "local[2]"]
    )
    assert lone.exit_code == 2 and "--master" in lone.output
