"""`keel.monitor.alerts` against a small local HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keel.monitor.alerts import Alert, AlertSettings, read_history, send_alerts


class Receiver:
    """A webhook receiver: records bodies; answers `fail_first` 503s before a 200."""

    def __init__(self, fail_first: int = 0, status: int = 200):
        self.bodies: list[dict] = []
        self.fail_first = fail_first
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self.send_response(503)
                else:
                    self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


DRIFT = Alert("monitor.3", "drift:income", "2026-11-20T00:00:00+00:00", "income drifted", "credit")


def no_sleep(seconds):
    pass


def test_an_alert_is_posted_once_per_cause_and_window(tmp_path, receiver):
    settings = AlertSettings(webhooks=(receiver.url,))
    history = tmp_path / "alerts.jsonl"
    sent = send_alerts([DRIFT], settings, history, sleep=no_sleep)
    assert sent[0].delivered and receiver.bodies[0]["practice"] == "monitor.3"
    assert send_alerts([DRIFT], settings, history, sleep=no_sleep) == []  # same window: once
    later = Alert(DRIFT.practice, DRIFT.cause, "2026-11-21T00:00:00+00:00", "again", "credit")
    assert send_alerts([later], settings, history, sleep=no_sleep)[0].delivered
    assert len(receiver.bodies) == 2 and len(read_history(history)) == 2


def test_a_failing_receiver_is_retried_with_backoff_then_delivered(tmp_path):
    receiver = Receiver(fail_first=2)
    waits = []
    try:
        settings = AlertSettings(webhooks=(receiver.url,), retries=3)
        sent = send_alerts([DRIFT], settings, tmp_path / "a.jsonl", sleep=waits.append)
        assert sent[0].delivered and len(receiver.bodies) == 3
        assert waits == [0.5, 1.0]
    finally:
        receiver.close()


def test_an_undeliverable_alert_is_recorded_and_retried_on_the_next_run(tmp_path):
    receiver = Receiver(fail_first=10)
    try:
        settings = AlertSettings(webhooks=(receiver.url,), retries=1)
        history = tmp_path / "a.jsonl"
        first = send_alerts([DRIFT], settings, history, sleep=no_sleep)
        assert not first[0].delivered and first[0].results[receiver.url] == "HTTP 503"
        receiver.fail_first = 0
        second = send_alerts([DRIFT], settings, history, sleep=no_sleep)
        assert second[0].delivered
    finally:
        receiver.close()


def test_a_closed_port_is_an_error_recorded_not_raised(tmp_path):
    settings = AlertSettings(webhooks=("http://127.0.0.1:9/hook",), retries=0, timeout_seconds=1)
    sent = send_alerts([DRIFT], settings, tmp_path / "a.jsonl", sleep=no_sleep)
    assert not sent[0].delivered and "Error" in sent[0].results["http://127.0.0.1:9/hook"]


def test_a_4xx_is_not_retried(tmp_path):
    receiver = Receiver(status=400)
    try:
        settings = AlertSettings(webhooks=(receiver.url,), retries=3)
        sent = send_alerts([DRIFT], settings, tmp_path / "a.jsonl", sleep=no_sleep)
        assert sent[0].results[receiver.url] == "HTTP 400" and len(receiver.bodies) == 1
    finally:
        receiver.close()


def test_slack_format_sends_text(tmp_path, receiver):
    settings = AlertSettings(webhooks=(receiver.url,), format="slack")
    send_alerts([DRIFT], settings, tmp_path / "a.jsonl", sleep=no_sleep)
    assert receiver.bodies[0] == {
        "text": "[credit] monitor.3 failed (2026-11-20T00:00:00+00:00): income drifted"
    }


def test_without_webhooks_alerts_are_recorded_once(tmp_path):
    history = tmp_path / "a.jsonl"
    assert len(send_alerts([DRIFT], AlertSettings(), history)) == 1
    assert send_alerts([DRIFT], AlertSettings(), history) == []
    assert read_history(history)[0]["key"] == DRIFT.key
