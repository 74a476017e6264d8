"""`keel.serve.workers`: sockets that answer keep-alive requests at once, and supervision that
restarts dead workers on a budget per time window, not a lifetime count."""

from __future__ import annotations

import socket
import threading
import time

from crashing import steady_or_crashing

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
