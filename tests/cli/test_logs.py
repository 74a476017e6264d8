"""`keel logs query` over a real prediction-log folder, run with Typer's CliRunner."""

import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.serve.predlog import PredictionLog, rolled_dir, segments_dir

runner = CliRunner()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keel.toml").write_text(
        '[system]\nname = "s"\ntask = "binary"\ntarget = "y"\n\n'
        '[data]\ntrain = "train.parquet"\nserving_log = "served"\n\n'
        '[model]\ntrain = "m:train"\n'
    )
    return tmp_path


def _serve(project, n):
    with PredictionLog(segments_dir(project / "served")) as log:
        log.append(
            [
                {"time": "2026-11-29T10:00:00Z", "model_version": 1 + i % 2, "request_id": f"r{i}"}
                for i in range(n)
            ]
        )


def test_query_rolls_closed_segments_and_prints_a_table(project):
    _serve(project, 40)
    sql = "SELECT model_version, count(*) AS n FROM predictions GROUP BY 1 ORDER BY 1"
    result = runner.invoke(app, ["logs", "query", sql, str(project)])
    assert result.exit_code == 0, result.output
    assert "model_version" in result.output and "20" in result.output
    assert list(rolled_dir(project / "served").glob("**/*.parquet"))
    # run again from the project folder (PATH defaults to it): same answer, nothing re-rolled
    result = runner.invoke(app, ["logs", "query", "SELECT count(*) AS total FROM predictions"])
    assert result.exit_code == 0, result.output
    assert "40" in result.output and "rolled" not in result.output


def test_bad_sql_exits_2_with_a_message(project):
    _serve(project, 3)
    result = runner.invoke(app, ["logs", "query", "SELEC oops FROM predictions"])
    assert result.exit_code == 2
    assert "query failed" in result.output and "Traceback" not in result.output


def test_an_empty_log_exits_2_saying_so(project):
    result = runner.invoke(app, ["logs", "query", "SELECT 1"])
    assert result.exit_code == 2
    assert "no rolled records" in result.output and "Traceback" not in result.output
