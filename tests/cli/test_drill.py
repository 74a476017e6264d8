"""`keel drill rollback` as a user runs it: its own `keel serve` on a free loopback port."""

from __future__ import annotations

from drills import drill_system
from typer.testing import CliRunner

from keel.cli import app
from keel.registry.drill import drills
from keel.registry.versions import champion
from keel.serve.process import LOOPBACK, free_port
from keel.training import registry_ref

runner = CliRunner()


def test_keel_drill_rollback_starts_a_server_drills_it_and_records_the_result(tmp_path):
    system = drill_system(tmp_path / "credit")
    result = runner.invoke(app, ["drill", "rollback", str(system.root), "--who", "tester"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "rollback drill against http://127.0.0.1:" in text
    assert "passed: version 1 served every request" in text
    assert "version 2 is champion again" in text
    assert "Traceback" not in result.output
    ref = registry_ref(system)
    assert champion(ref).version == 2
    recorded = drills(ref)
    assert len(recorded) == 1 and recorded[0].verdict["failed"] == 0
    # a server that is not there is a clear error, exit 2
    url = f"http://{LOOPBACK}:{free_port()}"
    result = runner.invoke(app, ["drill", "rollback", str(system.root), "--url", url])
    assert result.exit_code == 2
    assert "no server answers at" in " ".join(result.output.split())
    assert len(drills(ref)) == 1


def test_keel_drill_rollback_with_a_single_champion_says_to_promote_a_second(tmp_path):
    system = drill_system(tmp_path / "single", champions=1)
    result = runner.invoke(app, ["drill", "rollback", str(system.root)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "no earlier champion to roll back to" in text and "promote a second version" in text
