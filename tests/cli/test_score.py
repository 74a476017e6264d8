"""The `keel` command, run in-process with Typer's CliRunner on small real systems."""

import json

from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()


def test_score_writes_the_three_reports_and_exits_0(tmp_path):
    path = write_system(tmp_path, binary_frame(1500), binary_frame(600, seed=1))
    result = runner.invoke(app, ["score", str(path), "--only", "model.5"])
    assert result.exit_code == 0, result.output
    for name in ("report.html", "report.json", "junit.xml"):
        assert (tmp_path / ".keel" / name).exists()
    report = json.loads((tmp_path / ".keel" / "report.json").read_text())
    assert report["selected"] == ["model.5"]
    assert "ML Test Score" in result.output or "score" in result.output.lower()


def test_min_score_gate_exits_1_below_the_minimum(tmp_path):
    path = write_system(tmp_path, binary_frame(300))
    result = runner.invoke(app, ["score", str(path), "--only", "model.2", "--min-score", "0.5"])
    assert result.exit_code == 1
    assert "below the minimum 0.5" in result.output


def test_min_score_from_keel_toml_is_the_default_gate(tmp_path):
    path = write_system(tmp_path, binary_frame(300), sections={"score": {"min_score": 1}})
    result = runner.invoke(app, ["score", str(path), "--only", "model.2"])
    assert result.exit_code == 1


def test_configuration_error_exits_2_with_the_message_and_no_traceback(tmp_path):
    path = write_system(tmp_path, binary_frame(50), sections={"model": {"train": "sysmodel:fit"}})
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 2
    assert 'keel.toml: [model] train = "sysmodel:fit": module sysmodel has no function fit' in (
        result.output.replace("\n", "")
    )
    assert "Traceback" not in result.output


def test_unknown_practice_id_exits_2_before_any_work(tmp_path):
    result = runner.invoke(app, ["score", str(tmp_path), "--only", "data.9"])
    assert result.exit_code == 2
    assert "unknown practice id data.9" in result.output


def test_missing_keel_toml_exits_2_and_points_to_keel_init(tmp_path):
    result = runner.invoke(app, ["score", str(tmp_path)])
    assert result.exit_code == 2
    assert "keel init" in result.output


def test_init_then_score_works_on_plain_data(tmp_path):
    frame = binary_frame(4000).rename(columns={"y": "label"})
    frame.to_parquet(tmp_path / "train.parquet")
    result = runner.invoke(
        app, ["init", "--data", str(tmp_path / "train.parquet"), "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "target:    label (binary)" in result.output
    result = runner.invoke(app, ["score", str(tmp_path), "--only", "model.5,model.6"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / ".keel" / "report.json").read_text())
    statuses = {p["id"]: p["status"] for p in report["practices"]}
    assert statuses["model.5"] in ("pass", "fail")
    assert statuses["model.6"] in ("pass", "fail")


def test_rubric_lists_all_practices():
    result = runner.invoke(app, ["rubric"])
    assert result.exit_code == 0
    for i in range(1, 8):
        assert f"monitor.{i}" in result.output


def test_every_score_run_is_recorded_and_the_report_shows_the_trend(tmp_path):
    path = write_system(tmp_path, binary_frame(1500), binary_frame(600, seed=1))
    for _ in range(2):
        result = runner.invoke(app, ["score", str(path), "--only", "model.5"])
        assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / ".keel" / "report.json").read_text())
    assert len(report["history"]) == 2
    assert report["history"][-1]["final"] == report["score"]["final"]
    html = (tmp_path / ".keel" / "report.html").read_text()
    assert "Final score of the last 2 recorded runs" in html
