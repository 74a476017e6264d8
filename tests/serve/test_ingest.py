"""The `keel ingest` app on a real uvicorn server on 127.0.0.1: binary, structured and batch
events, what a 200 guarantees, the memory bound, and 400 (never 500) for any malformed event."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kserve_events import Logger, headers

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.read import query_live
from keel.log.writer import PredictionLog, segments_dir
from keel.serve.ingest import IngestSettings, Receiver

FOREIGN = ForeignSettings(
    "cloudevents", "", model_version=2, columns={"inputs": ["x1", "x2", "group"], "id": "uid"}
)
WHEN = "2026-11-03T10:00:00Z"


class Running:
    """A Receiver served by uvicorn in a thread of this process."""

    def __init__(self, root: Path, settings: IngestSettings | None = None) -> None:
        self.root = root
        self.log = PredictionLog(segments_dir(root), seal_seconds=60)
        self.app = Receiver(FOREIGN, self.log, settings)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def rows(self) -> list[dict]:
        try:
            table = query_live("select * from records order by request_id, row", self.root)
        except KeelError as exc:  # nothing written yet
            assert "no records" in str(exc)
            return []
        return table.to_pylist()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.log.close()
        self.sock.close()


@pytest.fixture
def receiver(tmp_path):
    running = Running(tmp_path / "log")
    yield running
    running.stop()


def test_a_request_is_held_and_its_response_writes_the_rows_before_answering(receiver):
    with Logger(receiver.url) as logger:
        status, answer = logger.post(
            headers("a", "request", WHEN), {"instances": [[1.0, 2.0, "a"], [3.0, 4.0, "b"]]}
        )
        assert (status, answer) == (200, {"rows": 0, "held": 1})
        assert receiver.rows() == []  # held in memory only
        status, answer = logger.post(headers("a", "response", WHEN), {"predictions": [0, 1]})
        assert (status, answer) == (200, {"rows": 2, "held": 0})
    rows = receiver.rows()  # on disk when the 200 came: the open segment holds them
    assert [(r["request_id"], r["row"], r["prediction"]) for r in rows] == [
        ("a", 0, 0),
        ("a", 1, 1),
    ]
    assert json.loads(rows[1]["inputs"]) == {"x1": 3.0, "x2": 4.0, "group": "b"}
    assert rows[0]["model_version"] == 2
    assert receiver.log.fsyncs >= 1


def test_structured_and_batch_events_pair_like_binary_ones(receiver):
    def structured(ce_id, kind, data):
        return {
            "specversion": "1.0",
            "id": ce_id,
            "type": f"org.kubeflow.serving.inference.{kind}",
            "source": "http://localhost:9081/",
            "time": WHEN,
            "data": data,
        }

    with Logger(receiver.url) as logger:
        one = structured("s1", "request", {"instances": [{"x1": 1, "uid": "u1"}]})
        status, _ = logger.post({"Content-Type": "application/cloudevents+json"}, one)
        assert status == 200
        batch = [
            structured("s1", "response", {"predictions": [1]}),
            structured("s2", "request", {"instances": [{"x1": 2, "uid": "u2"}]}),
            structured("s2", "response", {"predictions": [0]}),
        ]
        status, answer = logger.post({"Content-Type": "application/cloudevents-batch+json"}, batch)
        assert (status, answer) == (200, {"rows": 2, "held": 0})
    assert [r["example_id"] for r in receiver.rows()] == ["u1", "u2"]


def test_a_batch_with_one_malformed_event_is_refused_whole(receiver):
    good = {
        "specversion": "1.0",
        "id": "b1",
        "type": "org.kubeflow.serving.inference.request",
        "source": "x",
        "data": {"instances": [[1, 2, "a"]]},
    }
    with Logger(receiver.url) as logger:
        status, answer = logger.post(
            {"Content-Type": "application/cloudevents-batch+json"}, [good, {**good, "id": ""}]
        )
    assert status == 400 and answer["field"] == "[1].id"
    assert len(receiver.app.pairing) == 0


def test_an_oversized_body_is_413(tmp_path):
    running = Running(tmp_path / "log", IngestSettings(max_body_bytes=100))
    try:
        with Logger(running.url) as logger:
            status, answer = logger.post(
                headers("big", "request", WHEN), {"instances": [[1.0, 2.0, "a"]] * 20}
            )
        assert status == 413 and "100 bytes" in answer["error"]
    finally:
        running.stop()


def test_requests_held_too_long_become_rows_without_a_prediction_and_lone_responses_go(tmp_path):
    now = [1000.0]
    running = Running(tmp_path / "log", IngestSettings(pair_seconds=5, clock=lambda: now[0]))
    try:
        with Logger(running.url) as logger:
            logger.post(headers("late", "request", WHEN), {"instances": [[1, 2, "a"]]})
            logger.post(headers("lone", "response", WHEN), {"predictions": [1]})
            now[0] += 10  # both older than pair_seconds: the next event lets them go
            status, answer = logger.post(
                headers("new", "request", WHEN), {"instances": [[1, 2, "c"]]}
            )
            assert answer["held"] == 1
        deadline = time.time() + 10
        while not running.rows() and time.time() < deadline:
            time.sleep(0.05)
        (row,) = running.rows()
        assert row["request_id"] == "late" and row["prediction"] is None
        assert "no response event within 5 s" in row["error"]
        metrics = running.app.metrics_text()
        assert (
            'keel_ingest_dropped_events_total{reason="response without its request"} 1' in metrics
        )
        assert "keel_ingest_unanswered_rows_total 1" in metrics
        assert "keel_ingest_held_events 1" in metrics
    finally:
        running.stop()


def test_held_events_beyond_the_memory_bound_leave_oldest_first(tmp_path):
    running = Running(tmp_path / "log", IngestSettings(max_held_bytes=200))
    try:
        with Logger(running.url) as logger:
            for i in range(10):
                logger.post(headers(f"m{i}", "request", WHEN), {"instances": [[i, 2.0, "a"]]})
        held = running.app.pairing
        assert held.held_bytes <= 200 and len(held) < 10
        assert held.held()[-1].id == "m9"
    finally:
        running.stop()


def test_health_metrics_and_methods(receiver):
    with Logger(receiver.url) as logger:
        logger.connection.request("GET", "/health")
        answer = logger.connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["status"] == "ok"
        logger.connection.request("GET", "/metrics")
        answer = logger.connection.getresponse()
        assert answer.status == 200 and b"keel_ingest_held_events 0" in answer.read()
        logger.connection.request("PUT", "/")
        answer = logger.connection.getresponse()
        answer.read()
        assert answer.status == 405


HEADER_NAMES = st.sampled_from(
    ["ce-id", "ce-type", "ce-specversion", "ce-source", "ce-time", "content-type", "ce-endpoint"]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ASCII = st.characters(min_codepoint=33, max_codepoint=126)
BODY_KEYS = st.sampled_from(["instances", "inputs", "predictions", "outputs", "data", "x"])


@st.composite
def events(draw):
    head = headers(draw(st.text(ASCII, min_size=1, max_size=6)), "request", WHEN)
    if draw(st.booleans()):
        head["ce-type"] = head["ce-type"].replace("request", "response")
    for name in draw(st.lists(HEADER_NAMES, max_size=3)):
        head[name] = draw(st.text(ASCII, max_size=12))
    if draw(st.booleans()):
        head["Content-Type"] = draw(
            st.sampled_from(
                ["application/cloudevents+json", "application/cloudevents-batch+json", "text/plain"]
            )
        )
    kind = draw(st.sampled_from(["json", "bytes", "structured"]))
    if kind == "bytes":
        body = draw(st.binary(max_size=60))
    elif kind == "json":
        body = json.dumps({draw(BODY_KEYS): draw(JSONISH)}).encode()
    else:
        body = json.dumps(draw(st.lists(st.dictionaries(st.text(max_size=8), JSONISH), max_size=2)))
        body = body.encode()
    return {k: v for k, v in head.items() if v != ""}, body


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=events())
def test_any_event_is_taken_or_refused_with_400_naming_a_field_never_500(receiver, event):
    head, body = event
    with Logger(receiver.url) as logger:
        status, answer = logger.post(head, body)
    assert status in (200, 400), (status, answer)
    if status == 400:
        assert answer["field"] and answer["error"]
