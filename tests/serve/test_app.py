"""`keel serve`'s app on a real uvicorn server on 127.0.0.1, serving a real SQLite registry."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registries import good_system, register_pair

from keel.data.profile import profile_batches
from keel.data.schema import infer
from keel.log.rollup import query, roll
from keel.log.segments import read_segment
from keel.log.writer import PredictionLog
from keel.registry.promotion import promote
from keel.registry.versions import load_model
from keel.serve.app import ServeSettings, create_app
from keel.serve.models import ModelHolder, registry_calls
from keel.training import gate_inputs, registry_ref


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    return good_system(tmp_path_factory.mktemp("serve-app"))


@pytest.fixture(scope="module")
def served(system, tmp_path_factory):
    """A running server for the system's champion, its log folder and its registry."""
    import pyarrow as pa

    strong, _ = register_pair(system, "app")
    ref = dataclasses.replace(registry_ref(system), model="app")
    assert promote(ref, strong, gate_inputs(system)).promoted
    schema = infer(profile_batches(pa.Table.from_pandas(system.raw("train"))), target="y")
    schema.features["group"] = schema.features["group"].model_copy(update={"pii": "drop"})
    folder = tmp_path_factory.mktemp("log")
    log = PredictionLog(folder / "segments")
    holder = ModelHolder(registry_calls(ref))
    holder.start()
    app = create_app(schema, holder, log, ServeSettings(max_batch_rows=50, max_body_bytes=20_000))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield {"url": url, "ref": ref, "version": strong, "folder": folder, "log": log}
    server.should_exit = True
    thread.join(10)
    log.close()


def call(url: str, path: str, body: bytes | None = None) -> tuple[int, dict | str]:
    request = urllib.request.Request(
        url + path, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def rows_of(system, n: int) -> list[dict]:
    frame = system.raw("eval").head(n)[["x1", "x2", "group"]]
    return json.loads(frame.to_json(orient="records"))


def test_served_predictions_equal_the_registered_models_offline_ones(system, served):
    rows = rows_of(system, 30)
    status, answer = call(served["url"], "/predict", json.dumps({"rows": rows}).encode())
    assert status == 200, answer
    assert answer["model_version"] == served["version"] and answer["request_id"]
    offline = load_model(served["ref"], served["version"]).predict(system.raw("eval").head(30))
    got = np.array([p["probabilities"]["1"] for p in answer["predictions"]])
    assert np.allclose(got, offline["proba_1"].to_numpy(), rtol=0, atol=1e-12)
    one = call(served["url"], "/predict", json.dumps(rows[0]).encode())[1]
    assert one["predictions"][0] == answer["predictions"][0]


def test_health_ready_version_and_metrics(served):
    status, health = call(served["url"], "/health")
    assert status == 200 and health["status"] == "ok" and isinstance(health["pid"], int)
    assert call(served["url"], "/ready")[1]["champion"] == served["version"]
    assert call(served["url"], "/version")[1]["champion"] == served["version"]
    status, text = call(served["url"], "/metrics")
    assert status == 200 and "keel_requests_total" in text
    assert "keel_prediction_log_queue_depth" in text
    assert "keel_prediction_log_damaged_records 0.0" in text  # a clean log met no damage


def test_bad_requests_get_a_4xx_naming_the_problem(system, served):
    url = served["url"]
    status, answer = call(url, "/predict", b'{"rows": [')
    assert status == 400 and "JSON" in answer["error"]
    status, answer = call(url, "/predict", b"x" * 30_000)
    assert status == 413
    too_many = json.dumps({"rows": rows_of(system, 51)}).encode()
    assert call(url, "/predict", too_many)[0] == 413
    bad = rows_of(system, 2)
    bad[1]["x1"] = "high"
    status, answer = call(url, "/predict", json.dumps({"rows": bad}).encode())
    assert status == 422 and "rows[1].x1" in answer["error"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.binary(max_size=300)
    | st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode())
)
def test_no_request_body_gets_a_5xx(served, body):
    status, _ = call(served["url"], "/predict", body)
    assert status < 500


def test_a_refused_request_logs_each_row_without_a_prediction_or_personal_values(system, served):
    rows = rows_of(system, 2)
    rows[1]["x1"] = "14 months"
    rows[1]["group"] = "jane.doe@example.com"  # outside the domain, and personal (pii: drop)
    request = urllib.request.Request(
        served["url"] + "/predict",
        data=json.dumps({"rows": rows}).encode(),
        headers={"Content-Type": "application/json", "X-Request-Id": "refused-1"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 422
    refused.value.close()
    served["log"].flush()
    logged = [
        r
        for path in sorted((served["folder"] / "segments").glob("*.open"))
        for r in read_segment(path)
        if r["request_id"] == "refused-1"
    ]
    assert [r["row"] for r in logged] == [0, 1]
    for r in logged:
        assert r["route"] == "rejected" and r["prediction"] is None
        assert r["model_version"] == served["version"] and r["time"]
        assert "group" not in r["inputs"]  # pii = "drop", as for served rows
    assert logged[0]["anomalies"] == [] and logged[0]["inputs"]["x1"] == rows[0]["x1"]
    assert logged[1]["inputs"]["x1"] == "14 months"  # the raw value, as sent
    problems = " ".join(logged[1]["anomalies"])
    assert 'rows[1].x1: expected a number, got "14 months"' in problems
    assert "rows[1].group" in problems and "jane" not in problems


def test_every_served_row_is_logged_once_with_personal_data_dropped(system, served):
    rows = rows_of(system, 7)
    status, answer = call(served["url"], "/predict", json.dumps({"rows": rows}).encode())
    assert status == 200
    served["log"].close()  # closes the open segment, so it can be rolled
    out = served["folder"] / "rolled"
    roll(served["folder"] / "segments", out)
    found = query(
        f"select row, inputs, model_inputs, prediction from predictions "
        f"where request_id = '{answer['request_id']}' order by row",
        out,
    ).to_pylist()
    assert [r["row"] for r in found] == list(range(7))
    assert [r["prediction"] for r in found] == [p["prediction"] for p in answer["predictions"]]
    for record in found:
        assert "group" not in json.loads(record["inputs"])  # pii = "drop" in the schema
        assert "x1_x2" in json.loads(record["model_inputs"])  # what the feature code built


def test_metrics_count_the_damaged_records_met_recovering_the_log_at_start(tmp_path):
    from prometheus_client import generate_latest

    from keel.log.segments import OPEN_SUFFIX, encode_record
    from keel.serve.app import _Metrics

    frames = [
        encode_record({"time": "2026-11-01T00:00:00Z", "model_version": 1, "i": i})
        for i in range(4)
    ]
    blob = bytearray(b"".join(frames))
    blob[len(frames[0]) + 10] ^= 0xFF  # one record of a dead server's segment, on disk
    (tmp_path / f"seg-1-00000001-abcd{OPEN_SUFFIX}").write_bytes(bytes(blob))
    with PredictionLog(tmp_path) as log:
        text = generate_latest(_Metrics(log).registry).decode()
    assert "keel_prediction_log_damaged_records 1.0" in text


def test_metrics_say_two_passes_until_a_version_was_checked_on_rows_then_one(system, served):
    import contextlib

    import pyarrow as pa

    @contextlib.contextmanager
    def running(app):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(10)

    schema = infer(profile_batches(pa.Table.from_pandas(system.raw("train"))))
    unchecked = ModelHolder(registry_calls(served["ref"]))
    unchecked.start()
    checked = ModelHolder(registry_calls(served["ref"]), warm=system.raw("eval").head(500))
    checked.start()
    version = served["version"]
    for holder, passes in ((unchecked, 2), (checked, 1)):
        with running(create_app(schema, holder, None)) as url:
            text = call(url, "/metrics")[1]
        line = f'keel_model_pipeline_passes{{model_version="{version}",route="champion"}}'
        assert f"{line} {passes}.0" in text, text
    model = checked.serving.champion.model.unwrap_python_model()
    inputs, labels, _ = model.predict_arrays(system.raw("eval"))
    np.testing.assert_array_equal(labels, model.estimator.predict(inputs))
