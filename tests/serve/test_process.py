"""The helpers that talk to a server (keel.serve.process): what a client sees when the server
dies while it answers."""

from __future__ import annotations

import socket
import threading

from keel.serve.process import LOOPBACK, post_json


def test_post_json_reports_an_answer_cut_short_as_no_answer():
    """A worker killed with -9 between an answer's head and its body: the client got a
    Content-Length and fewer bytes. That is a failed connection (status 0), not an exception
    from deep in http.client."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(1)

    def cut_short() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"predictions"'
            )

    server = threading.Thread(target=cut_short)
    server.start()
    try:
        status, text = post_json(f"http://{LOOPBACK}:{listener.getsockname()[1]}/predict", {})
    finally:
        server.join()
        listener.close()
    assert status == 0, (status, text)
