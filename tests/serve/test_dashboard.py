"""GET /dashboard on a real uvicorn server: the latest page, or how to produce it."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from keel.serve.dashboard import add_dashboard_route


@contextmanager
def serving(html: Path) -> Iterator[str]:
    """A real uvicorn server with only the dashboard route; yields its base URL."""
    app = FastAPI()
    add_dashboard_route(app, html)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(tmp_path):
    html = tmp_path / "monitor" / "dashboard.html"
    with serving(html) as base:
        yield base, html


def _get(url: str) -> tuple[int, str, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return (
            response.status,
            response.headers["content-type"],
            response.headers.get("content-security-policy", ""),
            response.read().decode("utf-8"),
        )


def test_without_a_dashboard_the_page_says_how_to_write_one(server):
    base, html = server
    status, kind, _, body = _get(base + "/dashboard")
    assert status == 200 and kind.startswith("text/html")
    assert "No monitoring dashboard yet" in body
    assert f"keel monitor --html {html}" in body


def test_the_latest_dashboard_is_served_as_written(server):
    base, html = server
    html.parent.mkdir(parents=True)
    html.write_text("<!DOCTYPE html><title>first</title>", encoding="utf-8")
    status, kind, policy, body = _get(base + "/dashboard")
    assert status == 200 and kind.startswith("text/html") and body.endswith("first</title>")
    assert "default-src 'none'" in policy  # no script runs, nothing is fetched
    html.write_text("<!DOCTYPE html><title>second · ünïcode</title>", encoding="utf-8")
    assert _get(base + "/dashboard")[3].endswith("second · ünïcode</title>")


def test_the_missing_page_escapes_the_path(tmp_path):
    with serving(tmp_path / "<b>x</b>.html") as base:
        status, _, _, body = _get(base + "/dashboard")
    assert status == 200 and "&lt;b&gt;x&lt;/b&gt;.html" in body and "<b>" not in body
