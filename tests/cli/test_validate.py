"""`keel validate`, run in-process with Typer's CliRunner."""

from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()


def test_validate_exits_0_on_a_valid_system(tmp_path):
    write_system(tmp_path, binary_frame(50))
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "(test-system): valid" in result.output


def test_validate_exits_1_naming_the_bad_key(tmp_path):
    write_system(tmp_path, binary_frame(50), sections={"score": {"min_score": 9}})
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "min_score" in result.output and "Traceback" not in result.output


def test_validate_exits_1_on_a_folder_without_keel_toml(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no keel.toml here" in result.output
