"""monitor.2 counts the rows a real `keel serve` app refused (on_anomaly =
"reject"): a partner sending `x1 = "14 months"` in 10% of rows fails monitor.2, while the
served-row judgements (monitor.3, the canary's reader) never see the refused rows."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pyarrow as pa
import pytest
import uvicorn
from registries import good_system

from keel.checks._monitor_state import monitor_state
from keel.checks.monitor import monitor_2, monitor_3
from keel.data.profile import profile_batches
from keel.data.schema import infer, write_schema
from keel.log.read import served_rows
from keel.log.writer import PredictionLog, segments_dir
from keel.registry.promotion import promote
from keel.serve.app import ServeSettings, create_app
from keel.serve.models import ModelHolder, registry_calls
from keel.system import System
from keel.training import gate_inputs, registry_ref, train_and_register

ROWS, INVALID_EVERY = 300, 10  # 10% of the rows invalid


def _post(url: str, row: dict) -> int:
    headers = {"Content-Type": "application/json"}
    body = json.dumps(row).encode()
    request = urllib.request.Request(url + "/predict", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A system whose champion a real server (reject mode) served 300 rows, 30 of them with
    x1 = "14 months"; the statuses it answered."""
    system = good_system(tmp_path_factory.mktemp("rejected"))
    schema = infer(profile_batches(pa.Table.from_pandas(system.raw("train"))), target="y")
    write_schema(schema, system.root / "keel.schema.yaml")
    version = train_and_register(system).version
    assert promote(registry_ref(system), version, gate_inputs(system)).promoted
    holder = ModelHolder(registry_calls(registry_ref(system)))
    holder.start()
    log = PredictionLog(segments_dir(system.root / system.config.data.serving_log))
    app = create_app(schema, holder, log, ServeSettings(on_anomaly="reject"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    statuses = []
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        raw = system.raw("eval")[["x1", "x2", "group"]].head(ROWS)
        for i, row in enumerate(json.loads(raw.to_json(orient="records"))):
            if i % INVALID_EVERY == 0:
                row["x1"] = "14 months"
            statuses.append(_post(url, row))
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        log.close()
    return System.from_path(system.root), statuses


def test_monitor_2_fails_on_rows_the_server_refused_naming_the_input(served):
    system, statuses = served
    assert statuses.count(422) == ROWS // INVALID_EVERY and statuses.count(200) == 270
    e = monitor_2(system)
    assert e.status == "fail", e.summary
    assert e.facts["inputs_over"] == ["x1"]
    assert "x1 in" in e.summary and "10.0%" in e.summary and "30 of 300 rows" in e.summary
    assert 'got "14 months"' in e.summary  # the problem as the server logged it
    assert e.facts["refused_rows"] == 30 and e.facts["served_rows"] == 270


def test_refused_rows_are_not_served_predictions(served):
    system, _ = served
    state = monitor_state(system)
    assert sum(w.rows for w in state.windows.values()) == 270
    assert sum(w.rejected for w in state.windows.values()) == 30
    assert monitor_3(system).facts["skew_compared_rows"] == 270
    rows = served_rows(system.root / system.config.data.serving_log)
    assert len(rows) == 270 and rows["prediction"].notna().all()
