"""`keel.cli._app`: every command joins the app through `command`, with Keel's error handling."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from keel.cli import app
from keel.cli._app import command, group
from keel.errors import KeelError


def _commands(typer_app: typer.Typer):
    for info in typer_app.registered_commands:
        yield info.name or info.callback.__name__, info.callback
    for sub in typer_app.registered_groups:
        for name, callback in _commands(sub.typer_instance):
            yield f"{sub.name} {name}", callback


def test_every_command_of_keel_has_the_error_handling():
    found = dict(_commands(app))
    assert {"score", "rubric", "init", "profile", "explain", "train", "promote"} <= set(found)
    assert {"schema infer", "schema validate", "pii scan", "registry list"} <= set(found)
    unwrapped = [name for name, callback in found.items() if not hasattr(callback, "__wrapped__")]
    assert not unwrapped


def test_a_keel_error_exits_2_with_its_message_and_ctrl_c_exits_130():
    local = typer.Typer()
    sub = typer.Typer()
    local.add_typer(sub, name="group")

    @command("fails", under=sub)
    def fails() -> None:
        raise KeelError("keel.toml: [model] train is missing")

    @command("stops", under=sub)
    def stops() -> None:
        raise KeyboardInterrupt

    runner = CliRunner()
    failed = runner.invoke(local, ["group", "fails"])
    assert failed.exit_code == 2
    assert "error: keel.toml: [model] train is missing" in failed.output
    assert "Traceback" not in failed.output
    stopped = runner.invoke(local, ["group", "stops"])
    assert stopped.exit_code == 130
    assert "interrupted" in stopped.output


def test_group_adds_a_subcommand_group_to_the_app():
    sub = group("test-only-group", "A group for this test.")
    try:
        assert any(g.typer_instance is sub for g in app.registered_groups)
    finally:
        app.registered_groups[:] = [g for g in app.registered_groups if g.typer_instance is not sub]
