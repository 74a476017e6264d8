"""`keel selftest` as a user runs it: its table, --json, and exit codes 0, 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path

from selftest_systems import policy_system
from typer.testing import CliRunner

from keel.cli import app


def test_every_fault_caught_exits_0_and_json_holds_the_verdicts(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "system")
    done = CliRunner().invoke(app, ["selftest", str(path), "--only", "data.4", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["passed"] is True
    assert data["practices"]["data.4"] == {"verdict": "caught", "reason": ""}
    (fault,) = data["faults"]
    assert fault["verdict"] == "caught"
    assert fault["clean"]["status"] == "pass" and fault["faulty"]["status"] == "fail"


def test_a_weak_check_exits_1_with_the_reason_in_the_table(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "system", deny=["x1"])
    done = CliRunner().invoke(app, ["selftest", str(path), "--only", "data.4"])
    assert done.exit_code == 1, done.output
    assert "not proven" in done.stdout
    assert "0 of 1 planted faults caught, 1 weak" in " ".join(done.stdout.split())


def test_bad_input_exits_2_naming_it(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "system")
    done = CliRunner().invoke(app, ["selftest", str(path), "--only", "data.9"])
    assert done.exit_code == 2
    assert "--only: no fault planted for data.9" in done.output
    missing = CliRunner().invoke(app, ["selftest", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
