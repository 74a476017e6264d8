"""`keel.serve.handed`: uvicorn serving connections handed over a worker's inbox, counting
their closes and its requests in flight for the supervisor (a real Balancer and uvicorn, in a
thread of this process)."""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing
import socket
import threading
import time

import pytest
import uvicorn

from keel.serve.balance import Balancer
from keel.serve.handed import HandedServer

RELEASE = threading.Event()


async def app(scope, receive, send):
    """Answers the path; /slow waits until RELEASE is set."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/slow":
        while not RELEASE.is_set():
            await asyncio.sleep(0.01)
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def served():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    balancer = Balancer(listener, multiprocessing.get_context("spawn"), 1)
    inbox = balancer.inbox(0)
    server = HandedServer(uvicorn.Config(app, log_level="warning", lifespan="off"), inbox)
    thread = threading.Thread(target=server.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    balancer.ready(0)
    balancer.start()
    RELEASE.clear()
    yield balancer, server
    RELEASE.set()
    balancer.close()
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_a_handed_connection_is_served_with_keep_alive_and_its_close_is_counted(served):
    balancer, _ = served
    port = balancer.listener.getsockname()[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for path in ("/one", "/two"):  # one connection, two requests
        connection.request("GET", path)
        assert connection.getresponse().read() == path.encode()
    assert balancer.open_connections() == [1]
    connection.close()
    assert until(lambda: balancer.loads.closed(0) == 1)
    assert balancer.open_connections() == [0]


def test_requests_in_flight_are_counted_while_they_run(served):
    balancer, _ = served
    port = balancer.listener.getsockname()[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    waiting = threading.Thread(target=lambda: connection.request("GET", "/slow"))
    waiting.start()
    assert until(lambda: balancer.loads.in_flight(0) == 1)
    RELEASE.set()
    waiting.join()
    assert connection.getresponse().read() == b"/slow"
    assert until(lambda: balancer.loads.in_flight(0) == 0)
    connection.close()


def test_on_shutdown_an_open_idle_connection_is_closed_and_a_request_finishes(served):
    balancer, server = served
    port = balancer.listener.getsockname()[1]
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    idle.request("GET", "/idle")
    idle.getresponse().read()
    busy = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    busy.request("GET", "/slow")
    assert until(lambda: balancer.loads.in_flight(0) == 1)
    server.should_exit = True  # what SIGTERM does
    threading.Timer(0.3, RELEASE.set).start()
    response = busy.getresponse()  # the request under way is answered
    assert response.status == 200 and response.read() == b"/slow"
    assert until(lambda: balancer.loads.closed(0) == 2)  # both connections closed by the worker
    idle.close()
    busy.close()
