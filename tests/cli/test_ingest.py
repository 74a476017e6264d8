"""`keel ingest` as a user runs it: a real receiver on 127.0.0.1 that KServe's logger posts to,
then `keel logs query`, `keel monitor` and the monitor checks on what it wrote; a planted fault
per check fails it, the same traffic without it passes; kill -9 loses no acknowledged row."""

from __future__ import annotations

import http.client
import shutil
import signal
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from kserve_events import Logger, headers
from systems import binary_frame, write_system
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from keel.checks.monitor import monitor_3, monitor_5, monitor_7
from keel.cli import app
from keel.config import load_config, registry_ref
from keel.registry.artefact import predict_raw
from keel.registry.versions import load_model
from keel.serve.process import free_port, get_json, launch
from keel.system import System

runner = CliRunner()
DAY_ROWS = 500
BATCH = 20  # instances per request


def keel(*args, code: int | None = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    if code is not None:
        assert result.exit_code == code, result.output
    return result.output


def with_ids(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.assign(uid=[f"s{seed}-{i}" for i in range(len(frame))])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A trained system with a schema, [system] id, version 1 the champion, served by KServe
    (`[serving] model_version = 1`)."""
    root = tmp_path_factory.mktemp("ingest") / "credit"
    write_system(
        root,
        with_ids(binary_frame(1500), 0),
        with_ids(binary_frame(800, seed=1), 1),
        sections={
            "system": {"id": "uid"},
            "serving": {"model_version": 1},
            "serve": {"seal_seconds": 1.0},
        },
    )
    train = root / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", root / "keel.schema.yaml", "--config", root)
    with threadpool_limits(1):
        keel("train", root)
        keel("promote", "1", root)
    return root


def scenario(base, tmp_path, name: str):
    """The base system copied (its registry too) to a folder of its own."""
    folder = tmp_path / name
    shutil.copytree(base, folder, ignore=shutil.ignore_patterns("logs", "monitor", "ingest"))
    return folder


def start(folder, *extra: str):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "keel", "ingest", str(folder), "--port", str(port), *extra]
    return launch(argv, url=url), url


def post(url: str, ce_id: str, kind: str, body) -> tuple[int, object]:
    with Logger(url) as logger:
        return logger.post(headers(ce_id, kind, "2026-11-03T10:00:00Z"), body)


def stop(server) -> str:
    server.process.send_signal(signal.SIGINT)
    server.process.wait(60)
    tail = server.stderr_tail(20)
    server.stop()
    return tail


def traffic(folder, *, shift: float = 0.0, drift: bool = False, nan_share: float = 0.0):
    """Two days of served rows with the champion's answers: (day, frame, probabilities)."""
    config, _ = load_config(folder)
    model = load_model(registry_ref(config, folder), "champion")
    rng = np.random.default_rng(5)
    days = []
    for day in (1, 2):
        frame = with_ids(binary_frame(DAY_ROWS, seed=40 + day), 40 + day)
        frame["x1"] = frame["x1"] + shift
        if drift and day == 2:
            frame["x1"] = frame["x1"] + 2.0
            frame["group"] = np.where(rng.random(len(frame)) < 0.9, "a", frame["group"])
        proba = (
            predict_raw(model, frame.drop(columns=["y"]))["proba_1"].to_numpy(dtype=float).copy()
        )
        proba[rng.random(len(proba)) < nan_share] = np.nan
        days.append((day, frame, proba))
    return days


def post_days(url: str, days) -> int:
    """Post each batch's request and response events as KServe's logger does; rows sent."""
    logger = Logger(url)
    sent = 0
    try:
        for day, frame, proba in days:
            inputs = frame[["uid", "x1", "x2", "group"]].to_dict(orient="records")
            for start_at in range(0, len(frame), BATCH):
                part = slice(start_at, start_at + BATCH)
                answers = [{"0": 1 - p, "1": p} for p in proba[part]]
                when = f"2026-11-{day:02d}T{(start_at // BATCH) % 24:02d}:00:00Z"
                statuses = logger.pair(f"d{day}-{start_at}", when, inputs[part], answers)
                assert statuses == (200, 200)
                sent += len(answers)
    finally:
        logger.close()
    return sent


def labels(folder, days, *, flip_day: int | None = None) -> None:
    """Late labels for the served rows ([data] labels), 40% flipped on `flip_day`."""
    frames = []
    rng = np.random.default_rng(3)
    for day, frame, _ in days:
        part = frame[["uid", "y"]].copy()
        if day == flip_day:
            flip = rng.random(len(part)) < 0.4
            part.loc[flip, "y"] = 1 - part.loc[flip, "y"]
        frames.append(part)
    pd.concat(frames).to_parquet(folder / "data" / "labels.parquet")
    toml = folder / "keel.toml"
    toml.write_text(
        toml.read_text().replace("[data]\n", '[data]\nlabels = "data/labels.parquet"\n')
    )


def served(base, tmp_path, name: str, **fault) -> System:
    """A scenario's traffic received by a real `keel ingest`, then the system to judge it."""
    folder = scenario(base, tmp_path, name)
    flip_day = fault.pop("flip_day", None)
    days = traffic(folder, **fault)
    labels(folder, days, flip_day=flip_day)
    server, url = start(folder)
    try:
        assert post_days(url, days) == 2 * DAY_ROWS
    finally:
        stop(server)
    return System.from_path(folder)


# -- the receiver as a user runs it ----------------------------------------------------------


def test_ingest_writes_what_kserve_logged_and_keel_monitor_judges_it(base, tmp_path):
    folder = scenario(base, tmp_path, "walkthrough")
    server, url = start(folder)
    try:
        frame = binary_frame(30, seed=9)
        rows = frame[["x1", "x2", "group"]].values.tolist()  # lists: the schema's order
        with Logger(url) as logger:
            for i in range(0, 30, 3):
                status, answer = logger.post(
                    headers(f"r{i}", "request", "2026-11-03T10:00:00Z"),
                    {"instances": rows[i : i + 3]},
                )
                assert (status, answer["held"]) == (200, 1), answer
                status, answer = logger.post(
                    headers(f"r{i}", "response", "2026-11-03T10:00:00Z"), {"predictions": [1, 0, 1]}
                )
                assert (status, answer["rows"]) == (200, 3), answer
        status, page = get_json(url + "/metrics")
        assert status == 200
        assert 'keel_ingest_events_total{type="request"} 10' in page
        assert "keel_ingest_rows_written_total 30" in page
        assert "keel_ingest_held_events 0" in page
    finally:
        tail = stop(server)
    assert "the prediction log is closed" in tail
    output = keel(
        "logs", "query", "select count(*) as n, min(model_version) as v from predictions", folder
    )
    assert "30" in output and "│ 1" in output
    result = runner.invoke(app, ["monitor", str(folder)])
    assert result.exit_code in (0, 1), result.output
    assert "30 served rows taken" in result.output and "Traceback" not in result.output


def test_ingest_without_a_version_setting_exits_2_naming_both(tmp_path):
    write_system(tmp_path, binary_frame(100), binary_frame(50, seed=1))
    result = runner.invoke(app, ["ingest", str(tmp_path), "--port", str(free_port())])
    assert result.exit_code == 2
    assert "[serving] model_version" in result.output and "[serving] versions" in result.output


def test_ingest_on_a_busy_port_exits_2_with_a_clear_error(base, tmp_path):
    import socket

    folder = scenario(base, tmp_path, "busy")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["ingest", str(folder), "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output


def test_held_events_survive_a_graceful_restart(base, tmp_path):
    folder = scenario(base, tmp_path, "restart")
    server, url = start(folder)
    try:
        status, _ = post(url, "held-1", "request", {"instances": [[0.1, 0.2, "a"]]})
        assert status == 200
    finally:
        assert "1 unpaired events kept" in stop(server)
    server, url = start(folder)
    try:
        status, answer = post(url, "held-1", "response", {"predictions": [1]})
        assert (status, answer["rows"]) == (200, 1)
    finally:
        stop(server)
    assert "held-1" in keel("logs", "query", "select request_id from predictions", folder)


def test_kill_9_under_load_loses_no_acknowledged_row(base, tmp_path):
    folder = scenario(base, tmp_path, "kill")
    server, url = start(folder)
    acked: list[str] = []
    halt = threading.Event()

    def client(k: int) -> None:
        with Logger(url, timeout=10) as logger:
            n = 0
            while not halt.is_set():
                ce_id = f"c{k}-{n}"
                n += 1
                try:
                    statuses = logger.pair(ce_id, "2026-11-03T10:00:00Z", [[0.1, 0.2, "a"]], [1])
                except (OSError, http.client.HTTPException):  # killed mid-answer: not acked
                    return
                if statuses == (200, 200):
                    acked.append(ce_id)

    clients = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for c in clients:
        c.start()
    deadline = time.time() + 60
    while len(acked) < 300 and time.time() < deadline:
        time.sleep(0.02)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(30)
    halt.set()
    for c in clients:
        c.join(30)
    server.stop()
    assert len(acked) >= 300
    keel("logs", "query", "select count(*) from predictions", folder)  # recovers and rolls
    from keel.log.rollup import query
    from keel.log.writer import rolled_dir

    logged = query("select request_id from predictions", rolled_dir(folder / ".keel" / "logs"))
    found = {r["request_id"] for r in logged.to_pylist()}
    missing = [a for a in acked if a not in found]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged rows not logged"


# -- a planted fault per check, and the same traffic without it ----------------------------


@pytest.fixture(scope="module")
def healthy(base, tmp_path_factory):
    return served(base, tmp_path_factory.mktemp("healthy"), "healthy")


def test_healthy_traffic_passes_monitor_5_and_7(healthy):
    for check in (monitor_5, monitor_7):
        evidence = check(healthy)
        assert evidence.status == "pass", f"{evidence.practice}: {evidence.summary}"


def test_healthy_traffic_passes_monitor_3_on_distributions_and_says_what_it_could_not_judge(
    healthy,
):
    """KServe logs what the server received, not the model inputs its feature code built: the
    per-example skew part is not_configured, naming them, and never a pass."""
    evidence = monitor_3(healthy)
    assert evidence.status == "not_configured", evidence.summary
    assert "distributed as in training" in evidence.summary and "no drift" in evidence.summary
    assert "no logged model inputs" in evidence.summary
    assert not evidence.facts["training_serving_flagged"] and not evidence.facts["drift_flagged"]


def test_a_skewed_input_fails_monitor_3(base, tmp_path):
    evidence = monitor_3(served(base, tmp_path, "skewed", shift=1.5))
    assert evidence.status == "fail", evidence.summary
    assert "inputs.x1" in evidence.facts["training_serving_flagged"]


def test_a_drifted_input_fails_monitor_3(base, tmp_path):
    evidence = monitor_3(served(base, tmp_path, "drifted", drift=True))
    assert evidence.status == "fail", evidence.summary
    assert {"inputs.x1", "inputs.group"} <= set(evidence.facts["drift_flagged"])


def test_nan_outputs_fail_monitor_5(base, tmp_path):
    evidence = monitor_5(served(base, tmp_path, "nan", nan_share=0.05))
    assert evidence.status == "fail", evidence.summary
    assert "proba_1" in evidence.summary or "proba_1" in str(evidence.facts)


def test_a_quality_drop_on_late_labels_fails_monitor_7(base, tmp_path):
    evidence = monitor_7(served(base, tmp_path, "quality", flip_day=2))
    assert evidence.status == "fail", evidence.summary
    assert "2026-11-02" in evidence.summary
