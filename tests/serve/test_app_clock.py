"""`ServeSettings.clock`: the time every prediction-log record carries (a simulation of past days
sets its own; by default the wall clock, in UTC)."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import uvicorn
from registries import good_system, named

from keel.data.profile import profile_batches
from keel.data.schema import infer
from keel.log.rollup import query, roll
from keel.log.writer import PredictionLog
from keel.registry.promotion import promote
from keel.serve.app import ServeSettings, create_app
from keel.serve.models import ModelHolder, registry_calls
from keel.training import gate_inputs, registry_ref, train_and_register


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    system = good_system(tmp_path_factory.mktemp("serve-clock"))
    ref = dataclasses.replace(registry_ref(system), model="clock")
    version = train_and_register(named(system, "clock")).version
    assert promote(ref, version, gate_inputs(system)).promoted
    schema = infer(profile_batches(pa.Table.from_pandas(system.raw("train"))), target="y")
    holder = ModelHolder(registry_calls(ref))
    holder.start()
    rows = json.loads(system.raw("eval").head(3)[["x1", "x2", "group"]].to_json(orient="records"))
    return schema, holder, rows


def served_times(folder, schema, holder, rows, settings) -> list[str]:
    """Serve `rows` once through a real uvicorn server; the times their log records carry."""
    log = PredictionLog(folder / "segments")
    app = create_app(schema, holder, log, settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        request = urllib.request.Request(
            f"http://127.0.0.1:{sock.getsockname()[1]}/predict",
            data=json.dumps({"rows": rows}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        log.close()
    roll(folder / "segments", folder / "rolled")
    found = query("select time from predictions order by row", folder / "rolled").to_pylist()
    return [str(r["time"]) for r in found]


def test_a_record_carries_the_clocks_time(parts, tmp_path):
    schema, holder, rows = parts
    then = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    times = served_times(tmp_path, schema, holder, rows, ServeSettings(clock=lambda: then))
    assert len(times) == len(rows)
    assert all(datetime.fromisoformat(t) == then for t in times)


def test_by_default_a_record_carries_the_time_it_was_served(parts, tmp_path):
    schema, holder, rows = parts
    before = datetime.now(UTC)
    times = served_times(tmp_path, schema, holder, rows, ServeSettings())
    after = datetime.now(UTC)
    assert len(times) == len(rows)
    for t in times:
        assert before - timedelta(seconds=1) <= datetime.fromisoformat(t) <= after
