"""`Behind`: the intake's summaries run in order in a thread of their own, a bounded number of
jobs behind the roll, and a failure on either side leaves nothing half-done."""

from __future__ import annotations

import threading

import pytest

from keel.monitor.behind import Behind


def test_jobs_run_in_order_in_another_thread() -> None:
    seen: list[tuple[int, str]] = []
    with Behind() as behind:
        for i in range(20):
            behind.submit(lambda i: seen.append((i, threading.current_thread().name)), i)
    assert [i for i, _ in seen] == list(range(20))
    assert all(name != threading.current_thread().name for _, name in seen)


def test_the_caller_is_held_when_the_backlog_is_full() -> None:
    release = threading.Event()
    started = threading.Event()
    behind = Behind(backlog=1)
    behind.submit(lambda: (started.set(), release.wait(5)))
    started.wait(5)
    second = threading.Thread(target=behind.submit, args=(lambda: None,))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waits for the first job: at most one pending
    release.set()
    second.join(5)
    assert not second.is_alive()
    behind.wait()


def test_a_jobs_error_reaches_the_caller() -> None:
    def fails() -> None:
        raise ValueError("damaged part")

    with pytest.raises(ValueError, match="damaged part"), Behind() as behind:
        behind.submit(fails)
        for _ in range(3):
            behind.submit(lambda: None)


def test_a_failing_caller_drops_the_jobs_not_started_and_finishes_the_running_one() -> None:
    release = threading.Event()
    started = threading.Event()
    ran: list[str] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        ran.append("slow")

    with pytest.raises(KeyboardInterrupt), Behind(backlog=3) as behind:
        behind.submit(slow)
        behind.submit(lambda: ran.append("later"))
        started.wait(5)
        threading.Timer(0.2, release.set).start()
        raise KeyboardInterrupt
    assert ran == ["slow"]
