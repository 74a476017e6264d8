"""Several worker processes on one port, one BLAS/OpenMP thread each, supervised.

One thread per worker. NumPy's BLAS and scikit-learn's OpenMP loops start one thread per core
by default. A server predicts many small batches concurrently, so every worker would start a
full pool on every call: with two workers on two cores that is four busy threads fighting for
two cores, plus the spin-waits of idle OpenMP threads, and small predictions get slower, not
faster. Parallelism across requests comes from the workers (and the micro-batching inside
each); inside a worker one thread is the fastest. `one_thread_per_worker` therefore sets
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS to 1 (read when those libraries
load, so call it before the model is loaded; spawned workers inherit the environment) and
limits the pools already loaded with threadpoolctl, unless the user set OMP_NUM_THREADS
(then their choice stands).

One listening socket, in the supervisor, and each connection to the least busy worker. A
keep-alive connection stays with the worker that accepted it. `uvicorn --workers N` shares one
listening socket among the workers and under long-lived connections one worker ended up with
all of them; one SO_REUSEPORT socket per worker (the kernel hashes each connection to one)
still split eight connections 6/2, and the busier worker queued while the other idled. Here
the supervisor listens and accepts, and hands each accepted socket to the worker with the
fewest open connections (ties: fewest requests in flight, then in turn) over a Unix socket pair
per worker (`keel.serve.balance`); the worker serves it with uvicorn's own HTTP protocol
(`keel.serve.handed`). The supervisor's accept thread runs once per new connection, never per
request. The command binds the port before the workers load (port 0 picks a free one), and the
supervisor listens once they are all ready. With one worker there is no supervisor: the server
listens in the command's own process.

`Supervisor` starts the workers with the "spawn" start method (fresh interpreters: no forked
threads, no inherited model), waits until each reports ready, forwards SIGTERM/SIGINT as
SIGTERM (after it stopped accepting), reports a worker that died on stderr and restarts it (the
dead worker's connections drop; new ones go to the live workers, and to the restarted one once
it is ready), and returns when they have all exited. Restarts have a budget per time window,
as process supervisors do (systemd's StartLimitBurst in StartLimitIntervalSec): a worker that
dies now and then over a long life is restarted every time; one that keeps dying waits until
the window has room again, and when every worker is dead and none may restart, the server
stops.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from keel.serve.balance import Balancer

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_PINNED = "KEEL_ONE_THREAD"


def one_thread_per_worker() -> bool:
    """Limit BLAS/OpenMP to one thread in this process (see the module docstring); False when
    the user set OMP_NUM_THREADS and their setting stands. Safe to call again (after a model
    load brought new pools), in this process and in the workers that inherit its environment."""
    ours = os.environ.get(_PINNED) == "1"
    if "OMP_NUM_THREADS" in os.environ and not ours:
        return False
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    os.environ[_PINNED] = "1"  # set by Keel, not by the user
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # pools already loaded; the variables cover those loaded later
    return True


def bind_socket(host: str, port: int, *, reuse_port: bool, listen: bool = True) -> socket.socket:
    """A TCP socket bound to host:port (SO_REUSEPORT when `reuse_port`), listening if asked."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says it is TCP. Without it, Nagle's algorithm meets the client's
    # delayed ACK and every answer after the first on a keep-alive connection waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def exit_with_parent(on_exit: Callable[[], None], every: float = 1.0) -> threading.Thread:
    """Call `on_exit` once this process's parent is gone (a supervisor killed with -9)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        on_exit()

    thread = threading.Thread(target=watch, name="keel-watch-parent", daemon=True)
    thread.start()
    return thread


class Supervisor:
    """Runs `target(index, ready, *args)` in `count` spawned processes (see module docstring).

    A worker calls `ready.put((index, os.getpid(), None))` once it accepts connections, or
    `ready.put((index, pid, message))` when it cannot start. With a `listener` (a bound TCP
    socket, not listening yet) the supervisor accepts its connections and hands them to the
    workers: the target is then called as `target(index, ready, inbox, *args)` with its
    `keel.serve.balance.Inbox`.
    """

    def __init__(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...],
        count: int,
        *,
        max_restarts: int = 5,
        window: float = 60.0,
        say: Callable[[str], None] | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        self.target = target
        self.args = args
        self.count = count
        self.max_restarts = max_restarts  # at most this many restarts ...
        self.window = window  # ... in any `window` seconds
        self._recent: deque[float] = deque()
        self._waiting: set[int] = set()  # dead workers waiting for the restart budget
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self._context = multiprocessing.get_context("spawn")
        self._ready: Any = self._context.Queue()
        self._workers: list[Any] = [None] * count
        self.balancer = None if listener is None else Balancer(listener, self._context, count)
        self._stopping = threading.Event()
        self._stop_at = 0.0
        self.restarts = 0
        self._previous: dict[int, Any] = {}  # signal handlers before ours

    def _spawn(self, index: int) -> None:
        inbox = None if self.balancer is None else self.balancer.inbox(index)
        first = () if inbox is None else (inbox,)
        process = self._context.Process(
            target=self.target,
            args=(index, self._ready, *first, *self.args),
            name=f"keel-serve-{index}",
            daemon=False,
        )
        try:
            process.start()
        finally:
            if inbox is not None:
                inbox.channel.close()  # the worker has its own copy
        self._workers[index] = process

    def _is_ready(self, index: int, pid: int) -> None:
        process = self._workers[index]
        if self.balancer is not None and process is not None and process.pid == pid:
            self.balancer.ready(index)

    def _forward_signals(self) -> None:
        """From now on SIGTERM/SIGINT stop the workers (not this process alone)."""
        if not self._previous:
            self._previous = {
                s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)
            }

    def start(self, timeout: float = 600.0) -> list[int]:
        """Start the workers and wait until each is ready; their pids. Raises RuntimeError
        with the worker's message when one cannot start. SIGTERM/SIGINT are forwarded from
        here on (a server told to stop as soon as it listens stops its workers too)."""
        for index in range(self.count):
            self._spawn(index)
        pids: dict[int, int] = {}
        deadline = time.monotonic() + timeout
        while len(pids) < self.count:
            try:
                index, pid, problem = self._ready.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in self._workers if p.exitcode is not None]
                if dead or time.monotonic() > deadline:
                    self.stop()
                    why = f"exited with code {dead[0].exitcode}" if dead else "did not start"
                    raise RuntimeError(f"a worker {why}") from None
                continue
            if problem is not None:
                self.stop()
                raise RuntimeError(problem)
            pids[index] = pid
            self._is_ready(index, pid)
        self._forward_signals()
        if self.balancer is not None:
            self.balancer.start()
        return [pids[i] for i in range(self.count)]

    def stop(self, *_: Any) -> None:
        """Stop accepting, then ask every worker to finish (SIGTERM: they drain and close
        their logs)."""
        if not self._stopping.is_set():
            self._stop_at = time.monotonic()
        self._stopping.set()
        if self.balancer is not None:
            self.balancer.close()
        for process in self._workers:
            if process is not None and process.exitcode is None:
                process.terminate()

    def run(self) -> int:
        """Forward SIGTERM/SIGINT, restart dead workers, return once all have exited: 0 after
        a requested stop, 1 when every worker died faster than the restart budget allows."""
        self._forward_signals()
        failed = False
        try:
            while True:
                alive = [p for p in self._workers if p is not None and p.exitcode is None]
                if self._stopping.is_set():
                    if not alive:
                        return 1 if failed else 0
                    if time.monotonic() - self._stop_at > 60:  # stuck: stop waiting for it
                        for process in alive:
                            process.kill()
                    time.sleep(0.1)
                    continue
                for index, process in enumerate(self._workers):
                    if process is None or process.exitcode is None:
                        continue
                    if self.balancer is not None:  # before it is said: nothing more for it
                        self.balancer.lost(index)
                    self.say(
                        f"worker {index} (pid {process.pid}) exited with code {process.exitcode}"
                    )
                    if self._may_restart():
                        self.restarts += 1
                        self.say(
                            f"restarting worker {index} (restart {self.restarts}; "
                            f"{len(self._recent)} of {self.max_restarts} allowed in "
                            f"{self.window:g} s)"
                        )
                        self._spawn(index)
                    else:
                        self.say(
                            f"worker {index} waits: {self.max_restarts} restarts in the last "
                            f"{self.window:g} s; it restarts once the budget allows"
                        )
                        self._workers[index] = None
                        self._waiting.add(index)
                for index in sorted(self._waiting):
                    if any(p is not None for p in self._workers) and self._may_restart():
                        self._waiting.discard(index)
                        self.restarts += 1
                        self.say(f"restarting worker {index} (restart {self.restarts})")
                        self._spawn(index)
                if not any(p is not None for p in self._workers):
                    self.say("every worker has exited; stopping")
                    failed = True
                    self._stopping.set()
                self._drain_ready()
                self._stopping.wait(0.2)
        finally:
            if self.balancer is not None:
                self.balancer.close()
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous = {}

    def _may_restart(self) -> bool:
        """Take one restart from the budget of the last `window` seconds, if any is left."""
        now = time.monotonic()
        while self._recent and now - self._recent[0] > self.window:
            self._recent.popleft()
        if len(self._recent) >= self.max_restarts:
            return False
        self._recent.append(now)
        return True

    def _drain_ready(self) -> None:
        """Read restarted workers' ready messages (reporting one that cannot start)."""
        while True:
            try:
                index, pid, problem = self._ready.get_nowait()
            except queue.Empty:
                return
            if problem is not None:
                self.say(f"worker {index} (pid {pid}) cannot start: {problem}")
            else:
                self._is_ready(index, pid)
