"""A server in a process of its own on a loopback port, and questions asked of it over HTTP.

infra.3's serving step, the first step of a canary and the rollback drill all need the same
thing: a real `keel serve` (not the model called in-process) started fresh, asked for
predictions over HTTP, and stopped. `launch` starts one and waits for `/ready`; `pinned_argv`
is the command for a server of one fixed version (it follows no alias and logs nothing);
`predict_over_http` sends rows and returns the answers in order; `served_frame` turns them back
into the frame a Keel model's `predict` returns, so served and offline output compare directly.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from keel.errors import KeelError
from keel.registry.ref import RegistryRef

LOOPBACK = "127.0.0.1"


class ServeError(KeelError):
    """A server could not be started, or did not answer as a server should."""


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on now (the kernel's pick; free until someone binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process and its URL; `stop()` (or leaving a `with` block) ends it."""

    process: subprocess.Popen[bytes]
    url: str
    errors: Path  # the process's stderr, kept for messages
    owned: list[Path] = field(default_factory=list)  # files to remove on stop

    def stderr_tail(self, lines: int = 5) -> str:
        try:
            text = self.errors.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        for path in self.owned:
            path.unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def get_json(url: str, timeout: float = 10) -> tuple[int, Any]:
    """(status, parsed JSON body or text) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    except (OSError, ValueError):
        return 0, None
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def launch(
    argv: Sequence[str],
    *,
    url: str,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    """Start `argv` (a server that will listen at `url`) and wait until `url/ready` says 200.

    Raises ServeError with the end of the process's stderr when it exits or is not ready
    within `timeout` seconds.
    """
    handle, name = tempfile.mkstemp(prefix="keel-serve-", suffix=".log")
    errors = Path(name)
    with os.fdopen(handle, "wb") as sink:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    server = Server(process, url.rstrip("/"), errors, [errors])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.stderr_tail()
            server.stop()
            raise ServeError(f"the server exited with code {process.returncode}: {tail}")
        status, _ = get_json(server.url + "/ready", timeout=2)
        if status == 200:
            return server
        time.sleep(0.1)
    tail = server.stderr_tail()
    server.stop()
    raise ServeError(f"the server was not ready within {timeout:g} s: {tail}")


def pinned_argv(
    ref: RegistryRef,
    version: int,
    schema_file: Path,
    *,
    port: int,
    id_column: str | None = None,
    host: str = LOOPBACK,
) -> list[str]:
    """The command for a server of `version` alone: no alias followed, no log written."""
    argv = [
        sys.executable,
        "-m",
        "keel.serve.pinned",
        "--uri",
        ref.uri,
        "--root",
        str(ref.root),
        "--model",
        ref.model,
        "--state",
        str(ref.state),
        "--version",
        str(version),
        "--schema",
        str(schema_file),
        "--host",
        host,
        "--port",
        str(port),
    ]
    if id_column:
        argv += ["--id-column", id_column]
    return argv


def serve_version(
    ref: RegistryRef,
    version: int,
    schema_file: Path,
    *,
    id_column: str | None = None,
    timeout: float = 180,
) -> Server:
    """A fresh process serving `version` of `ref` on a free loopback port, ready."""
    port = free_port()
    argv = pinned_argv(ref, version, schema_file, port=port, id_column=id_column)
    return launch(argv, url=f"http://{LOOPBACK}:{port}", timeout=timeout)


def json_value(value: Any) -> Any:
    """A cell as JSON sends it: NumPy scalars as Python, timestamps as ISO text, missing as
    null."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if value is pd.NaT or value is pd.NA or value is None:
        return None
    return value


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of `frame` as a client would send them to /predict."""
    columns = [str(c) for c in frame.columns]
    return [
        {c: json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def post_json(url: str, body: Any, timeout: float = 60) -> tuple[int, Any]:
    """(status, parsed answer) of a JSON POST; status 0 when the connection failed or the
    answer was cut short (a server killed while it answered)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    except (OSError, ValueError, http.client.HTTPException) as exc:  # no (whole) answer
        return 0, str(exc)
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def predict_over_http(
    url: str, rows: list[dict[str, Any]], *, batch: int = 100, timeout: float = 60
) -> list[dict[str, Any]]:
    """The server's answers for `rows`, in order, sent `batch` rows per request."""
    answers: list[dict[str, Any]] = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        status, answer = post_json(url.rstrip("/") + "/predict", {"rows": chunk}, timeout)
        if status != 200 or not isinstance(answer, dict):
            detail = answer.get("error") if isinstance(answer, dict) else answer
            raise ServeError(
                f"POST /predict for rows {start}..{start + len(chunk) - 1} answered "
                f"{status or 'nothing'}: {str(detail)[:300]}"
            )
        answers += answer["predictions"]
    return answers


def served_frame(answers: list[dict[str, Any]]) -> pd.DataFrame:
    """Answers as the frame a Keel model's `predict` returns: `prediction`, `proba_<class>`."""
    frame = pd.DataFrame({"prediction": [a["prediction"] for a in answers]})
    classes = list((answers[0].get("probabilities") or {}) if answers else {})
    for label in classes:
        frame[f"proba_{label}"] = [
            math.nan if a["probabilities"][label] is None else a["probabilities"][label]
            for a in answers
        ]
    return frame


@dataclass
class FreshCheck:
    """A version served by a fresh process compared with the same version predicting in this
    one: rows compared, labels equal or not, the largest probability difference."""

    version: int
    rows: int
    same_labels: bool
    max_difference: float
    url: str

    @property
    def ok(self) -> bool:
        return self.same_labels and self.max_difference <= 1e-12

    def describe(self) -> str:
        if self.ok:
            return (
                f"version {self.version} served by a fresh process ({self.url}) answered "
                f"{self.rows} rows exactly as it predicts offline"
            )
        return (
            f"version {self.version} served by a fresh process differs from offline on "
            f"{self.rows} rows: labels equal {self.same_labels}, largest probability "
            f"difference {self.max_difference:.3g}"
        )


def fresh_process_check(
    ref: RegistryRef,
    version: int,
    schema_file: Path,
    raw: pd.DataFrame,
    *,
    id_column: str | None = None,
    timeout: float = 180,
) -> FreshCheck:
    """Serve `version` from a fresh process, send it `raw` (serving rows) over HTTP, and
    compare with the version's own predictions in this process."""
    import numpy as np

    from keel.registry.versions import load_model

    offline = load_model(ref, version).predict(raw.reset_index(drop=True))
    with serve_version(ref, version, schema_file, id_column=id_column, timeout=timeout) as server:
        served = served_frame(predict_over_http(server.url, json_rows(raw)))
    same = len(served) == len(offline) and bool(
        np.array_equal(
            served["prediction"].astype(str).to_numpy(),
            offline["prediction"].astype(str).to_numpy(),
        )
    )
    columns = [c for c in offline.columns if str(c).startswith("proba_")]
    difference = 0.0
    for column in columns:
        if column not in served.columns:
            difference = math.inf
            break
        gap = np.abs(served[column].to_numpy(float) - offline[column].to_numpy(float))
        difference = max(difference, float(np.nanmax(gap)) if len(gap) else 0.0)
    if offline["prediction"].dtype.kind == "f":  # regression: values must match exactly too
        gap = np.abs(served["prediction"].to_numpy(float) - offline["prediction"].to_numpy(float))
        difference = max(difference, float(np.nanmax(gap)) if len(gap) else 0.0)
    return FreshCheck(int(version), len(raw), same, difference, server.url)
