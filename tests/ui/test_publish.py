"""Publishing to a real `keel ui` on 127.0.0.1: delivered when it is up, queued when it is down
and delivered with the next publish, refused (4xx) said once and not retried."""

import json

import pytest
from postgres import free_port
from ui_reports import report
from ui_server import UiServer, keel

from keel.ui.publish import pending, publish_run


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'ui.db'}"


def names(server) -> set[str]:
    status, rows = server.json("GET", "/api/systems", token=server.admin)
    return {r["system"] for r in rows}


def test_a_run_is_delivered_when_the_server_is_up_and_queued_when_it_is_down(tmp_path, db):
    keel_dir = tmp_path / "system" / ".keel"
    server = UiServer(db, free_port())
    token = None
    down = publish_run(report("first"), kind="score", keel_dir=keel_dir, url=server.url,
                       token="keel_whatever")  # fmt: skip
    assert (down.sent, down.queued) == (0, 1)
    assert "could not take this run now" in down.lines[0]
    [queued] = pending(keel_dir / "outbox")
    assert json.loads(queued.read_text())["system"] == "first"
    server.start()
    try:
        server.admin = server.token("admin", "admin")
        token = server.token("publish", "ci")
        up = publish_run(report("second"), kind="score", keel_dir=keel_dir, url=server.url,
                         token=token, team="risk", owner="ana")  # fmt: skip
        assert (up.sent, up.queued, up.refused) == (2, 0, 0)
        assert "queued" in up.lines[0] and "this run sent" in up.lines[1]  # the older one first
        assert pending(keel_dir / "outbox") == []
        assert names(server) == {"first", "second"}
    finally:
        server.stop()


def test_a_refused_publish_is_said_and_not_retried(tmp_path, db):
    keel_dir = tmp_path / ".keel"
    server = UiServer(db).start()
    try:
        server.admin = server.token("admin", "admin")
        bad = publish_run(report("s"), kind="score", keel_dir=keel_dir, url=server.url,
                          token="keel_not-a-token")  # fmt: skip
        assert bad.refused == 1 and "refused this run (401" in bad.lines[0]
        assert pending(keel_dir / "outbox") == []
        assert len(list((keel_dir / "outbox" / "refused").glob("*.json"))) == 1
        token = server.token("publish", "ci")
        good = publish_run(report("s"), kind="score", keel_dir=keel_dir, url=server.url,
                           token=token)  # fmt: skip
        assert (good.sent, good.refused) == (1, 0)  # the refused one was not sent again
    finally:
        server.stop()


def test_without_a_token_the_run_waits_in_the_outbox(tmp_path, monkeypatch):
    monkeypatch.delenv("KEEL_UI_TOKEN", raising=False)
    outcome = publish_run(report(), kind="score", keel_dir=tmp_path, url="http://127.0.0.1:9",
                          token=None)  # fmt: skip
    assert outcome.queued == 1 and "no token" in outcome.lines[0]
    assert len(pending(tmp_path / "outbox")) == 1


def test_publish_pending_sends_the_outbox_from_the_command_line(tmp_path, db):
    system = tmp_path / "system"
    system.mkdir()
    (system / "keel.toml").write_text("[system]\nname = 's'\n")
    server = UiServer(db, free_port())
    publish_run(report("queued"), kind="monitor", keel_dir=system / ".keel", url=server.url,
                token="keel_x")  # fmt: skip
    server.start()
    try:
        server.admin = server.token("admin", "admin")
        token = server.token("publish", "ci")
        done = keel("ui", "publish-pending", str(system), "--url", server.url, "--token", token)
        assert "sent" in done.stdout
        assert pending(system / ".keel" / "outbox") == []
        assert names(server) == {"queued"}
    finally:
        server.stop()


def test_the_cli_helper_never_fails_the_run(tmp_path, capsys):
    from keel.cli._publish import publish_run as cli_publish

    cli_publish({"not": "a report"}, "score", tmp_path, "http://127.0.0.1:9", "keel_x",
                team=None, owner=None)  # fmt: skip
    assert "publish: not sent" in capsys.readouterr().err
