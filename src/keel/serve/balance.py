"""The supervisor accepts connections and hands each to the least busy worker.

`Balancer` runs in the supervisor of `keel serve --workers N`: one thread accepts on the one
listening socket and passes each accepted socket to a worker over a Unix socket pair of its
own (SCM_RIGHTS, `socket.send_fds`; SOCK_SEQPACKET, so one message is one connection and a
dead worker's end answers EPIPE). The supervisor then closes its copy: the connection lives in
the worker alone, which serves it (`keel.serve.handed`) until the client or the worker closes
it. The accept thread runs once per new connection, not per request.

Which worker: the one with the fewest open connections; ties go to the fewest requests in
flight, then in turn from the worker after the last one chosen (so fresh connections opened
one after another alternate). Open connections are counted without a race: the supervisor
counts the connections it sent to each worker, the worker counts those it closed, each in its
own memory, and open = sent - closed. Each worker publishes its closed count and its requests
in flight in a slot of shared memory (`Loads`: two int64 per worker, each written by its
worker only, read by the supervisor). Counting at hand-over time means a burst of new
connections (a client opening eight at once) is spread before any worker has seen one.

A worker is given connections once it said it is ready, and no longer once it died (seen by
the supervisor, or at the first send that fails: EPIPE once the dead worker's end is closed).
A worker killed with -9 keeps its files open for a few milliseconds after it exited (its event
loop's io_uring threads share its file table and go asynchronously): a connection handed to it
in that moment is lost with the ones it held, as a connection waiting in a dead worker's own
listening socket would be. A restarted worker gets a fresh socket pair and a zeroed slot.
While no worker is ready, an accepted connection waits for one (at most `WAIT_SECONDS`, then
it is closed).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from typing import Any

WAIT_SECONDS = 30.0  # an accepted connection waits this long for a ready worker
_CLOSED, _BUSY = 0, 1  # a worker's slot: connections it closed, requests in flight


def least_busy(open_: list[int], in_flight: list[int], after: int) -> int:
    """Index of the worker to give a new connection: fewest open connections, then fewest
    requests in flight, then the first in turn from `after + 1`."""
    count = len(open_)
    return min(range(count), key=lambda i: (open_[i], in_flight[i], (i - after - 1) % count))


class Loads:
    """Per worker, in shared memory: connections closed since it started, requests in flight.

    Created by the supervisor before the workers (a `multiprocessing` RawArray, inherited by
    spawned processes); each slot is written by its worker only, so no lock is needed."""

    def __init__(self, context: Any, count: int) -> None:
        self.values = context.RawArray("q", 2 * count)

    def closed(self, index: int) -> int:
        return int(self.values[2 * index + _CLOSED])

    def in_flight(self, index: int) -> int:
        return int(self.values[2 * index + _BUSY])

    def reset(self, index: int) -> None:
        """Zero a worker's slot (before it starts; the process that wrote it is gone)."""
        self.values[2 * index + _CLOSED] = 0
        self.values[2 * index + _BUSY] = 0


@dataclass
class Inbox:
    """A worker's end: the socket its connections arrive on, and its slot of `Loads`."""

    channel: socket.socket
    loads: Loads
    index: int

    def closed_one(self) -> None:
        """A connection this worker served is closed."""
        self.loads.values[2 * self.index + _CLOSED] += 1

    def busy(self, change: int) -> None:
        """A request started (+1) or ended (-1)."""
        self.loads.values[2 * self.index + _BUSY] += change


def receive(channel: socket.socket) -> list[socket.socket] | None:
    """The connections waiting on a worker's `channel` (non-blocking), or None once the
    supervisor's end is closed."""
    found: list[socket.socket] = []
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, 1, 1)
        except BlockingIOError:
            return found
        except OSError:
            return found or None
        if not data and not fds:
            return found or None
        found += [socket.socket(fileno=fd) for fd in fds]


class Balancer:
    """The supervisor's accept thread and its worker table (see the module docstring)."""

    def __init__(self, listener: socket.socket, context: Any, count: int) -> None:
        self.listener = listener
        self.count = count
        self.loads = Loads(context, count)
        self._sent = [0] * count
        self._channels: list[socket.socket | None] = [None] * count
        self._ready = [False] * count
        self._last = count - 1
        self._lock = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def inbox(self, index: int) -> Inbox:
        """A fresh socket pair and a zeroed slot for worker `index`, about to be (re)started;
        the returned end goes to the worker (the caller closes its copy once it has started)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        with self._lock:
            self._drop(index)
            self._channels[index] = ours
            self._sent[index] = 0
            self.loads.reset(index)
        return Inbox(theirs, self.loads, index)

    def ready(self, index: int) -> None:
        """Worker `index` serves: give it connections."""
        with self._lock:
            if self._channels[index] is not None:
                self._ready[index] = True
                self._lock.notify_all()

    def lost(self, index: int) -> None:
        """Worker `index` exited: give it nothing more."""
        with self._lock:
            self._drop(index)

    def _drop(self, index: int) -> None:
        self._ready[index] = False
        channel, self._channels[index] = self._channels[index], None
        if channel is not None:
            channel.close()

    def open_connections(self) -> list[int]:
        """Connections open in each worker now (sent minus closed)."""
        with self._lock:
            return [self._sent[i] - self.loads.closed(i) for i in range(self.count)]

    def start(self) -> None:
        """Listen and start accepting (once the workers are ready)."""
        self.listener.listen(2048)
        self._thread = threading.Thread(target=self._accept, name="keel-accept", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting: new connections are refused from now on. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        with contextlib.suppress(OSError):  # not listening yet
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self.listener.close()
        with self._lock:
            for index in range(self.count):
                self._drop(index)

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                if self._closed:
                    return
                threading.Event().wait(0.01)  # out of file descriptors: let some close
                continue
            with connection:
                try:
                    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:  # already reset by the client
                    continue
                self.hand(connection)

    def hand(self, connection: socket.socket) -> int | None:
        """Send `connection` to the least busy ready worker; its index, or None when no worker
        took it within `WAIT_SECONDS` (the caller closes its copy either way)."""
        full: set[int] = set()  # workers whose channel is full for this connection
        with self._lock:
            while not self._closed:
                ready = [i for i in range(self.count) if self._ready[i] and i not in full]
                if not ready:
                    if full:  # busy, not dead: try them again shortly
                        full.clear()
                        self._lock.wait(0.001)
                    elif not self._lock.wait(WAIT_SECONDS):
                        return None
                    continue
                index = self._choose(ready)
                channel = self._channels[index]
                assert channel is not None
                try:
                    socket.send_fds(channel, [b"c"], [connection.fileno()])
                except BlockingIOError:
                    full.add(index)
                    continue
                except OSError:  # the worker died: its end is closed
                    self._drop(index)
                    continue
                self._sent[index] += 1
                self._last = index
                return index
        return None

    def _choose(self, candidates: list[int]) -> int:
        huge = 1 << 62
        open_ = [huge] * self.count
        in_flight = [huge] * self.count
        for i in candidates:
            open_[i] = self._sent[i] - self.loads.closed(i)
            in_flight[i] = self.loads.in_flight(i)
        return least_busy(open_, in_flight, self._last)
