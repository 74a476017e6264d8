"""A real `keel ui` server on 127.0.0.1 for the team view's tests: a subprocess on a free port,
over a database URL, with an admin token made through the CLI; HTTP helpers around urllib."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from postgres import free_port

SRC = Path(__file__).resolve().parents[1] / "src"


def keel(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m keel ARGS` with this worktree's sources."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "keel", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check and done.returncode != 0:
        raise AssertionError(f"keel {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


class UiServer:
    """`keel ui --db URL --port P` in its own session; `stop()` ends it."""

    def __init__(self, db_url: str, port: int | None = None) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> UiServer:
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "keel", "ui", "--db", self.db_url, "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"keel ui exited: {self.process.stderr.read().decode()}")
            try:
                urllib.request.urlopen(self.url + "/login", timeout=2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("keel ui did not answer within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def token(self, role: str, name: str) -> str:
        """A new token of `role`, made with `keel ui token create`."""
        done = keel("ui", "token", "create", "--role", role, "--name", name, "--db", self.db_url)
        return done.stdout.strip()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request; never raises for an HTTP error status."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if isinstance(body, dict):
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, _, body = self.request(method, path, **kwargs)
        return status, json.loads(body) if body else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
