"""`keel.serve.workers`: sockets that answer keep-alive requests at once, supervision that
restarts dead workers on a budget per time window, not a lifetime count, and a real
`keel serve --workers 2` whose supervisor hands each connection to the least busy worker."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from crashing import steady_or_crashing
from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app
from keel.serve.process import LOOPBACK, Server, free_port, launch
from keel.serve.workers import Supervisor, bind_socket


def test_listening_sockets_say_they_are_tcp_so_accepted_connections_get_nodelay():
    sock = bind_socket("127.0.0.1", 0, reuse_port=True)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # what asyncio checks before TCP_NODELAY
    finally:
        sock.close()


def test_a_worker_that_keeps_dying_is_restarted_again_once_the_window_has_room():
    said: list[str] = []
    supervisor = Supervisor(
        steady_or_crashing, (1,), 2, max_restarts=2, window=1.5, say=said.append
    )
    supervisor._spawn(0)  # the steady one; the crashing one starts below
    supervisor._spawn(1)

    def watch() -> None:
        deadline = time.monotonic() + 60
        while supervisor.restarts < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        supervisor.stop()

    watcher = threading.Thread(target=watch)
    watcher.start()
    code = supervisor.run()  # in the main thread: it installs signal handlers
    watcher.join()
    assert code == 0  # stopped on request, the steady worker never lost
    # a lifetime count of 2 would have given up after 2 restarts for good
    assert supervisor.restarts >= 4, said
    assert any("waits" in line for line in said), said


# A real `keel serve --workers 2`: the supervisor hands each connection to the least busy worker.


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """A system with a schema and a champion (version 1)."""
    folder = tmp_path_factory.mktemp("workers")
    write_system(folder, binary_frame(600), binary_frame(300, seed=1))
    train = folder / "data" / "train.parquet"
    for args in (
        ["schema", "infer", train, "-o", folder / "keel.schema.yaml", "--config", folder],
        ["train", folder],
        ["promote", "1", folder],
    ):
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    return folder


def two_workers(system) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "keel", "serve", str(system), "--port", str(port)]
    return launch([*argv, "--workers", "2"], url=f"http://{LOOPBACK}:{port}")


@pytest.fixture(scope="module")
def served(system):
    with two_workers(system) as server:
        yield server


ROW = {"x1": 0.5, "x2": 1.5, "group": "a"}


def ask(connection: http.client.HTTPConnection, method: str, path: str, body=None):
    """(status, body) of one request on a kept-alive connection."""
    data = None if body is None else json.dumps(body)
    connection.request(method, path, data, {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def rows_served(connection: http.client.HTTPConnection) -> float:
    """`keel_model_call_rows` of /metrics, from the worker that holds `connection`."""
    _, text = ask(connection, "GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith("keel_model_call_rows "):
            return float(line.split()[1])
    raise AssertionError("no keel_model_call_rows in /metrics")


def one_round(server: Server, connections: int = 8, requests: int = 3) -> dict[int, float]:
    """Open `connections` keep-alive connections at once, send `requests` single-row predictions
    on each, and return each worker's rows over the round from its /metrics, by pid."""
    port = int(server.url.rsplit(":", 1)[1])
    opened = [http.client.HTTPConnection(LOOPBACK, port, timeout=30) for _ in range(connections)]
    try:
        for connection in opened:
            connection.connect()  # all open before the first request
        pids = [json.loads(ask(c, "GET", "/health")[1])["pid"] for c in opened]
        before = {pid: rows_served(c) for pid, c in zip(pids, opened, strict=True)}
        for _ in range(requests):
            for connection in opened:
                status, answer = ask(connection, "POST", "/predict", {"rows": [ROW]})
                assert status == 200, answer
        after = {pid: rows_served(c) for pid, c in zip(pids, opened, strict=True)}
        assert Counter(pids) == {pid: connections / len(before) for pid in before}, pids
    finally:
        for connection in opened:
            connection.close()
    time.sleep(0.5)  # the workers see the closes before the next round opens
    return {pid: after[pid] - before[pid] for pid in before}


def test_eight_keep_alive_connections_on_two_workers_are_split_four_and_four(served):
    for _ in range(3):  # the kernel's hash gave 4/4 about once in four rounds
        shares = one_round(served)
        assert len(shares) == 2, shares  # one_round checked four connections each
        assert sorted(shares.values()) == [12, 12], shares  # 4 connections x 3 rows, /metrics


def test_a_malformed_request_to_a_worker_is_answered_4xx_never_500(served):
    port = int(served.url.rsplit(":", 1)[1])
    bodies = [
        b"not json",
        b'{"rows": [',
        b'{"rows": "x"}',
        b'{"rows": [{"x1": "high", "x2": 1, "group": "a"}]}',
        b"[]",
        b'{"rows": [{"x1": 1e999, "x2": null}]}',
        b"\xff\xfe",
    ]
    for body in bodies:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        assert 400 <= response.status < 500, (body, response.status, answer)
        connection.close()
    with socket.create_connection((LOOPBACK, port), timeout=30) as raw:  # not HTTP at all
        raw.sendall(b"GARBAGE \x00\x01 nonsense\r\n\r\n")
        answer = raw.recv(4096)
    assert not answer.startswith(b"HTTP/1.1 5"), answer


def test_a_worker_killed_with_9_new_connections_are_answered_and_the_split_recovers(system):
    with two_workers(system) as server:
        first = one_round(server)
        dead, alive = sorted(first)
        os.kill(dead, signal.SIGKILL)
        # once the supervisor has seen it die (a worker killed with -9 holds its files a few
        # milliseconds after it exited: a connection handed then is lost, with its own ones)
        said = f"(pid {dead}) exited with code -9"
        deadline = time.monotonic() + 30
        while said not in server.errors.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert said in server.errors.read_text(), server.stderr_tail()
        port = int(server.url.rsplit(":", 1)[1])
        answered = []
        for _ in range(10):  # new connections go to the live worker, none is lost
            connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
            status, body = ask(connection, "POST", "/predict", {"rows": [ROW]})
            assert status == 200, body
            answered.append(json.loads(ask(connection, "GET", "/health")[1])["pid"])
            connection.close()
        assert alive in answered and dead not in answered
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the restarted worker answers
            shares = one_round(server, connections=2, requests=1)
            if set(shares) - {dead, alive}:
                break
        else:
            raise AssertionError(f"no restarted worker answered: {server.stderr_tail()}")
        shares = one_round(server)
        assert alive in shares and dead not in shares and len(shares) == 2, shares
        assert sorted(shares.values()) == [12, 12], shares


def until_gone(pid: int, timeout: float = 10) -> None:
    """Until process `pid` has exited (gone, or a zombie its parent has not reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} still runs")


def test_sigterm_stops_the_supervisor_and_its_workers_cleanly(system):
    server = two_workers(system)
    port = int(server.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    status, _ = ask(connection, "POST", "/predict", {"rows": [ROW]})
    assert status == 200
    pids = set(one_round(server, connections=2, requests=1))
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0, server.stderr_tail()
    for pid in pids:
        until_gone(pid, timeout=5)
    with pytest.raises(OSError):
        socket.create_connection((LOOPBACK, port), timeout=2)
    connection.close()
    errors = server.errors.read_text()
    server.stop()
    assert "Traceback" not in errors, errors
