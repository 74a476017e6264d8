"""`keel serve` as a user runs it: a real process on 127.0.0.1, then `keel logs query`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()


def keel(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_without_a_schema_exits_2_and_says_how_to_write_one(tmp_path):
    write_system(tmp_path, binary_frame(300), binary_frame(200, seed=1))
    result = runner.invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 2
    assert "keel schema infer" in result.output and "Traceback" not in result.output


def test_serve_on_a_busy_port_exits_2_naming_the_port_without_a_traceback(tmp_path):
    write_system(tmp_path, binary_frame(300), binary_frame(200, seed=1))
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for workers in ("1", "2"):
            argv = ["serve", str(tmp_path), "--port", str(port), "--workers", workers]
            result = runner.invoke(app, argv)
            assert result.exit_code == 2, result.output
            assert f"cannot listen on 127.0.0.1:{port}" in result.output
            assert "--port 0" in result.output and "Traceback" not in result.output


def test_serve_answers_predictions_and_logs_them_for_keel_logs_query(tmp_path):
    write_system(tmp_path, binary_frame(600), binary_frame(300, seed=1))
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    keel("train", tmp_path)
    keel("promote", "1", tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        rows = binary_frame(5, seed=7)[["x1", "x2", "group"]].to_dict(orient="records")
        request = urllib.request.Request(
            url + "/predict",
            data=json.dumps({"rows": rows}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(exc.read().decode()) from None
        assert answer["model_version"] == 1 and len(answer["predictions"]) == 5
    finally:
        server.send_signal(signal.SIGINT)  # a clean stop closes the log's open segment
        output, _ = server.communicate(timeout=60)
    assert "serving version 1" in output
    text = keel("logs", "query", "select count(*) as n from predictions", tmp_path)
    assert "5" in text.split("n")[-1]


def test_kill_9_under_load_loses_no_acknowledged_prediction_and_tears_none(tmp_path):
    import threading

    write_system(tmp_path, binary_frame(600), binary_frame(300, seed=1))
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    keel("train", tmp_path)
    keel("promote", "1", tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", str(tmp_path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2):
                break
        except OSError:
            time.sleep(0.1)
    acked: list[tuple[str, int]] = []
    stop = threading.Event()

    def client(seed: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            rows = binary_frame(1 + n % 3, seed=seed * 1000 + n)[["x1", "x2", "group"]]
            body = json.dumps({"rows": rows.to_dict(orient="records")}).encode()
            request = urllib.request.Request(
                url + "/predict", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.loads(response.read())
            except OSError:
                return  # the server is gone: this request was never acknowledged
            acked.append((answer["request_id"], len(answer["predictions"])))

    clients = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for c in clients:
        c.start()
    deadline = time.time() + 60
    while len(acked) < 150 and time.time() < deadline:
        time.sleep(0.05)
    server.send_signal(signal.SIGKILL)
    server.wait(30)
    stop.set()
    for c in clients:
        c.join(30)
    assert len(acked) >= 150
    keel("logs", "query", "select count(*) from predictions", tmp_path)  # recovers and rolls
    from keel.log.rollup import query
    from keel.log.writer import rolled_dir

    table = query(
        "select request_id, count(*) as n, count(distinct row) as d from predictions "
        "group by request_id",
        rolled_dir(tmp_path / ".keel" / "logs"),
    )
    logged = {r["request_id"]: (r["n"], r["d"]) for r in table.to_pylist()}
    for request_id, rows in acked:
        assert logged.get(request_id) == (rows, rows), (
            f"request {request_id} acknowledged with {rows} rows, logged (records, distinct rows)"
            f" = {logged.get(request_id)}; {len(acked)} acknowledged, {len(logged)} logged"
        )


def trained(tmp_path):
    """A system with a schema and a champion (version 1)."""
    write_system(tmp_path, binary_frame(600), binary_frame(300, seed=1))
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    keel("train", tmp_path)
    keel("promote", "1", tmp_path)
    return tmp_path


def test_the_warm_rows_are_the_first_evaluation_rows_in_the_serving_columns(tmp_path):
    import pandas as pd

    from keel.cli.serve import WARM_ROWS, server_parts

    write_system(tmp_path, binary_frame(300), binary_frame(200, seed=1))
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    parts = server_parts(tmp_path)
    expected = pd.read_parquet(tmp_path / "data" / "eval.parquet").head(WARM_ROWS)
    pd.testing.assert_frame_equal(parts["warm"], expected[["x1", "x2", "group"]])  # no target
    assert parts["cold"] is None
    (tmp_path / "data" / "eval.parquet").unlink()
    parts = server_parts(tmp_path)
    assert parts["warm"] is None and "eval.parquet" in parts["cold"]


def test_serve_with_two_workers_spreads_keep_alive_connections_and_logs_each_request_once(
    tmp_path,
):
    import http.client
    import threading

    system = trained(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", str(system), "--port", "0", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        for line in server.stdout:  # the real port is printed once both workers are ready
            if "serving version" in line:
                break
        assert "2 workers" in line, line
        port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
        pids: set[int] = set()
        acked: list[tuple[str, int]] = []
        lock = threading.Lock()

        def client(seed: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for n in range(15):  # one keep-alive connection for all of them
                connection.request("GET", "/health")
                pid = json.loads(connection.getresponse().read())["pid"]
                rows = binary_frame(1 + n % 3, seed=seed * 100 + n)[["x1", "x2", "group"]]
                body = json.dumps({"rows": rows.to_dict(orient="records")})
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = json.loads(response.read())
                assert response.status == 200, answer
                with lock:
                    pids.add(pid)
                    acked.append((answer["request_id"], len(answer["predictions"])))
            connection.close()

        clients = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(120)
        assert len(acked) == 16 * 15
        assert len(pids) == 2, f"every connection went to {pids}"
        os.kill(min(pids), signal.SIGKILL)  # a worker dies: the supervisor starts another
        deadline, now = time.time() + 120, set()
        while time.time() < deadline and not (now - pids):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    now.add(json.loads(r.read())["pid"])
            except OSError:
                time.sleep(0.2)
        assert now - pids, "no restarted worker answered"
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert f"(pid {min(pids)}) exited with code -9" in output and "restarting worker" in output
    from keel.log.rollup import query
    from keel.log.writer import rolled_dir

    keel("logs", "query", "select count(*) from predictions", system)  # rolls the segments
    table = query(
        "select request_id, count(*) as n, count(distinct row) as d from predictions "
        "group by request_id",
        rolled_dir(system / ".keel" / "logs"),
    )
    logged = {r["request_id"]: (r["n"], r["d"]) for r in table.to_pylist()}
    assert len(logged) == len(acked)
    for request_id, rows in acked:
        assert logged.get(request_id) == (rows, rows)
