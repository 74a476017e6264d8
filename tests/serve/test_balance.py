"""`keel.serve.balance`: the supervisor's accept thread hands each connection to the least busy
ready worker, over real sockets (a listening TCP socket, Unix socket pairs), no processes."""

from __future__ import annotations

import multiprocessing
import select
import socket
import threading
import time

import pytest

from keel.serve.balance import Balancer, least_busy, receive


def test_the_least_busy_worker_has_the_fewest_open_connections_then_requests_then_its_turn():
    assert least_busy([3, 1, 2], [0, 9, 0], after=0) == 1
    assert least_busy([2, 2, 2], [1, 0, 1], after=1) == 1  # tie on connections: fewest requests
    assert least_busy([2, 2, 2], [0, 0, 0], after=0) == 1  # full tie: the next in turn
    assert least_busy([2, 2, 2], [0, 0, 0], after=2) == 0


@pytest.fixture
def balancer():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    made = Balancer(listener, multiprocessing.get_context("spawn"), 2)
    given = []  # the workers' ends, closed at the end as a worker's exit would
    made.inbox = lambda index, inbox=made.inbox: given.append(inbox(index)) or given[-1]
    yield made
    made.close()
    for inbox in given:
        inbox.channel.close()


def connect(balancer: Balancer) -> socket.socket:
    return socket.create_connection(balancer.listener.getsockname(), timeout=5)


def arrived(inbox, expected: int, timeout: float = 5.0) -> int:
    """How many connections were handed to `inbox` until `expected` came (or `timeout`)."""
    got = handed(inbox, expected, timeout)
    for connection in got:
        connection.close()
    return len(got)


def handed(inbox, expected: int, timeout: float = 5.0) -> list[socket.socket]:
    """The connections handed to `inbox` until `expected` have come (or `timeout`)."""
    got: list[socket.socket] = []
    inbox.channel.setblocking(False)
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        select.select([inbox.channel], [], [], 0.05)
        got += receive(inbox.channel) or []
    return got


def test_eight_connections_opened_at_once_are_split_four_and_four(balancer):
    inboxes = [balancer.inbox(0), balancer.inbox(1)]
    balancer.ready(0)
    balancer.ready(1)
    balancer.start()
    clients = [connect(balancer) for _ in range(8)]
    # no worker has looked at its inbox yet: the split comes from the supervisor's own count
    time.sleep(0.3)
    got = [handed(inbox, 4) for inbox in inboxes]
    assert [len(h) for h in got] == [4, 4]
    assert balancer.open_connections() == [4, 4]
    # the handed socket is the client's connection, with Nagle's algorithm off
    got[1][0].sendall(b"x")
    assert any(select.select(clients, [], [], 2)[0])
    assert got[1][0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    # worker 0 closes three of its connections: the next three go to it
    for _ in range(3):
        inboxes[0].closed_one()
    more = [connect(balancer) for _ in range(3)]
    assert arrived(inboxes[0], 3) == 3
    assert balancer.open_connections() == [4, 4]
    for s in clients + more + got[0] + got[1]:
        s.close()


def test_a_tie_on_connections_goes_to_the_worker_with_fewer_requests_in_flight(balancer):
    inboxes = [balancer.inbox(0), balancer.inbox(1)]
    balancer.ready(0)
    balancer.ready(1)
    balancer.start()
    inboxes[0].busy(1)  # worker 0 is answering a request
    clients = [connect(balancer)]
    assert arrived(inboxes[1], 1) == 1
    inboxes[0].busy(-1)
    for s in clients:
        s.close()


def test_a_dead_worker_gets_nothing_and_its_restart_gets_connections_again(balancer):
    inboxes = [balancer.inbox(0), balancer.inbox(1)]
    balancer.ready(0)
    balancer.ready(1)
    balancer.start()
    inboxes[0].channel.close()  # worker 0 died: its end of the pair is closed
    clients = [connect(balancer) for _ in range(4)]
    assert arrived(inboxes[1], 4) == 4  # the failed send moved each to the live worker
    restarted = balancer.inbox(0)  # the supervisor restarts it: a fresh pair, a zeroed slot
    more = [connect(balancer) for _ in range(2)]
    time.sleep(0.2)
    assert arrived(restarted, 1, timeout=0.3) == 0  # not ready yet: nothing for it
    assert arrived(inboxes[1], 2) == 2
    balancer.ready(0)
    newest = [connect(balancer) for _ in range(2)]
    assert arrived(restarted, 2) == 2  # 0 open against 6: both to the restarted worker
    for s in clients + more + newest:
        s.close()


def test_a_connection_accepted_while_no_worker_is_ready_waits_for_one(balancer):
    inboxes = [balancer.inbox(0), balancer.inbox(1)]
    balancer.start()
    client = connect(balancer)
    threading.Timer(0.3, balancer.ready, args=(1,)).start()
    assert arrived(inboxes[1], 1) == 1
    client.close()


def test_after_close_the_port_refuses_connections(balancer):
    balancer.inbox(0)
    balancer.ready(0)
    balancer.start()
    address = balancer.listener.getsockname()
    balancer.close()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2)
