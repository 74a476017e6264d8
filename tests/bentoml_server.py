"""A real BentoML server on 127.0.0.1 for the BentoML tests: BentoML installed from the registry
into a virtualenv of its own under the cache folder (never into Keel's environment: it pins its
own dependencies), a small service that logs each row with `bentoml.monitor`, and its
monitoring output where BentoML writes it (`<cwd>/monitoring/<name>/data/data.<worker>.log`)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "keel-tests" / "bentoml"
REQUIREMENT = "bentoml==1.4.*"

SERVICE = """
import bentoml


@bentoml.service
class Credit:
    @bentoml.api
    def predict(self, rows: list[dict], monitor: str) -> list[dict]:
        out = []
        for row in rows:
            # the model's output, computed beside the test (Keel's registered model), so this
            # environment needs BentoML alone; null stands for NaN, which JSON cannot carry
            p = float("nan") if row["proba"] is None else float(row["proba"])
            label = None if p != p else int(p > 0.5)
            with bentoml.monitor(monitor) as mon:
                mon.log(row["uid"], name="uid", role="id", data_type="categorical")
                mon.log(row["x1"], name="x1", role="feature", data_type="numerical")
                mon.log(row["x2"], name="x2", role="feature", data_type="numerical")
                mon.log(row["group"], name="group", role="feature", data_type="categorical")
                mon.log(label, name="prediction", role="prediction", data_type="categorical")
                mon.log({"0": 1 - p, "1": p}, name="probabilities", role="prediction",
                        data_type="numerical")
            out.append({"prediction": label})
        return out
"""


def bentoml_python() -> tuple[Path | None, str]:
    """The virtualenv's python with BentoML, made on first use; (None, why) when the registry
    cannot be reached."""
    import fcntl

    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "bentoml.lock", "w") as lock:  # one installer across test workers
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _installed()


def _installed() -> tuple[Path | None, str]:
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if stamp.exists():
        return python, ""
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", REQUIREMENT],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        why = done.stderr[-500:]
        return None, f"installing {REQUIREMENT} failed (registry unreachable?): {why}"
    stamp.touch()
    return python, ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BentoServer:
    """`bentoml serve` of SERVICE in `folder`, on a free port of 127.0.0.1."""

    def __init__(self, python: Path, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "service.py").write_text(SERVICE)
        self.port = _free_port()
        env = {
            **os.environ,
            "BENTOML_HOME": str(folder / "home"),
            "BENTOML_DO_NOT_TRACK": "true",
            "TZ": "UTC",
        }
        bentoml = python.parent / "bentoml"
        self._log = open(folder / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(bentoml), "serve", "service:Credit", "--host", "127.0.0.1"]
            + ["--port", str(self.port)],
            cwd=folder,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"bentoml serve did not start: {(folder / 'serve.log').read_text()}")

    def predict(self, rows: list[dict[str, Any]], monitor: str) -> list[dict[str, Any]]:
        clean = [{**r, "proba": None if math.isnan(r["proba"]) else r["proba"]} for r in rows]
        body = json.dumps({"rows": clean, "monitor": monitor}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/predict",
            data=body,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def monitoring(self, name: str) -> Path:
        """Where BentoML writes the monitor `name`'s output."""
        return self.folder / "monitoring" / name

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
