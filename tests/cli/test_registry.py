"""`keel train`, `keel promote`, `keel rollback` and `keel registry …`, run with CliRunner on a
real system whose registry is the default SQLite store under its `.keel/`."""

from __future__ import annotations

import re

import pytest
import typer
from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app as keel_app

runner = CliRunner()
GATE = {"gate": {"min": {"roc_auc": 0.6}, "max_regression": {"roc_auc": 0.01}}}
WEAK = {"model": {"params": {"max_iter": 2, "max_depth": 1, "learning_rate": 0.05}}}


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return keel_app


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-registry") / "system"


def keel(app, *args: str, code: int | None = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    if code is not None:
        assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())  # one line: rich wraps to the terminal width


def test_the_registry_commands_are_in_the_app(app):
    text = keel(app, "--help")
    for command in ("train", "promote", "rollback", "registry"):
        assert command in text
    assert "list" in keel(app, "registry", "--help")


def test_train_promote_refuse_force_history_and_rollback(app, folder):
    train, evaluation = binary_frame(1200), binary_frame(500, seed=1)
    write_system(folder, train, evaluation, sections=GATE)
    assert "registered test-system version 1: roc_auc 0." in keel(app, "train", folder)
    assert (folder / ".keel" / "mlflow.db").is_file()
    write_system(folder, train, evaluation, sections={**GATE, **WEAK})
    assert "version 2" in keel(app, "train", folder)

    assert "champion is now version 1 (was none)" in keel(app, "promote", "1", folder)
    refused = keel(app, "promote", "2", folder, "--who", "ben", code=1)
    assert "version 2 refused by the gate" in refused
    assert "below the champion's" in refused and "judged by ben" in refused
    assert "needs a reason" in keel(app, "promote", "2", folder, "--force", code=2)
    forced = keel(app, "promote", "v2", folder, "--force", "--reason", "incident 7")
    assert "promoted by --force" in forced and "champion is now version 2 (was 1)" in forced

    history = keel(app, "registry", "history", folder)
    kinds = re.findall(r"│ (force-promote|refused|promote|rollback) ", history)
    assert kinds == ["force-promote", "refused", "promote"]  # newest first
    assert "incident 7" in history

    assert "champion is now version 1 (was 2)" in keel(app, "rollback", folder, "--who", "cy")
    assert "no earlier champion to roll back to" in keel(app, "rollback", folder, code=2)

    listing = keel(app, "registry", "list", folder)
    assert "│ 1 │" in listing and "champion" in listing and "forced" in listing
    shown = keel(app, "registry", "show", "2", folder)
    assert "gate verdict: forced past the gate" in shown
    assert "reason: incident 7" in shown and '"data/train.parquet": 1200 rows' in shown


def test_unknown_version_exits_2_with_the_versions_there_are(app, folder):
    text = keel(app, "registry", "show", "99", folder, code=2)
    assert "error: model 'test-system' has no version 99" in text


def test_unreachable_registry_exits_2_with_a_clear_message(app, tmp_path):
    path = write_system(
        tmp_path, binary_frame(200), sections={"registry": {"uri": "http://127.0.0.1:9"}}
    )
    text = keel(app, "registry", "list", path, code=2)
    assert 'cannot reach the MLflow server at "http://127.0.0.1:9"' in text


def test_train_says_the_staleness_limit_was_not_computed_unless_asked(app, tmp_path):
    write_system(tmp_path, binary_frame(300), binary_frame(200, seed=1))
    text = keel(app, "train", tmp_path)
    assert "staleness limit was not computed: `keel train --staleness-limit`" in text
    asked = keel(app, "train", tmp_path, "--staleness-limit", code=1)  # no [system] timestamp
    assert "version 2" in asked and "staleness limit is unknown" in asked
    assert "not computed" not in asked
    assert "error: model.4's staleness limit was NOT stored with version 2" in asked
    assert "no [system] timestamp" in asked


def test_train_with_a_staleness_limit_past_its_time_budget_says_so_and_exits_1(app, tmp_path):
    from systems import monthly

    sections = {
        "system": {"timestamp": "at"},
        "staleness": {"period_days": 30, "max_age_periods": 3, "max_seconds": 0.001},
    }
    write_system(tmp_path, *monthly(8, 300, turn=0.0), sections=sections)
    text = keel(app, "train", tmp_path, "--staleness-limit", code=1)
    assert "registered" in text and "version 1" in text  # the version itself is registered
    assert "error: model.4's staleness limit was NOT stored with version 1" in text
    assert "[staleness] max_seconds" in text and "Raise [staleness] max_seconds" in text


def test_a_promotion_without_gate_thresholds_is_shown_as_no_gate_not_passed(app, tmp_path):
    write_system(tmp_path, binary_frame(300), binary_frame(200, seed=1))
    keel(app, "train", tmp_path)
    assert "nothing was checked" in keel(app, "promote", "1", tmp_path)
    listed = keel(app, "registry", "list", tmp_path)
    assert "no gate" in listed and "passed" not in listed
    assert "gate verdict: no gate" in keel(app, "registry", "show", "1", tmp_path)
