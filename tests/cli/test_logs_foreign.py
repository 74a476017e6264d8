"""`keel logs query` on a project whose served traffic another server logged ([serving]): the
foreign source's new records are taken first, once, and queried like Keel's own."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()


def test_logs_query_takes_a_foreign_table_first_and_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keel.toml").write_text(
        '[system]\nname = "s"\ntask = "binary"\ntarget = "y"\n\n'
        '[data]\ntrain = "train.parquet"\nserving_log = "served"\n\n'
        '[model]\ntrain = "m:train"\n\n'
        '[serving]\nformat = "table"\nsource = "requests.jsonl"\nmodel_version = 2\n\n'
        '[serving.columns]\ntime = "at"\nprediction = "p"\nid = "uid"\n'
    )
    rows = [{"at": "2026-11-29T10:00:00Z", "p": i % 2, "uid": f"u{i}", "x": i} for i in range(5)]
    (tmp_path / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sql = "SELECT count(*) AS n, min(model_version) AS v FROM predictions"
    first = runner.invoke(app, ["logs", "query", sql])
    assert first.exit_code == 0, first.output
    assert "took 5 new table records" in first.output
    assert re.search(r"│\s*5\s*│\s*2\s*│", first.output), first.output
    again = runner.invoke(app, ["logs", "query", sql])
    assert "took 0 new table records" in again.output
    assert re.search(r"│\s*5\s*│\s*2\s*│", again.output), again.output
