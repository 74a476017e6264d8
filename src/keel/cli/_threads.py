"""BLAS/OpenMP threads of `keel train`, `keel score` and `keel monitor`, limited as `keel serve`
limits them (`keel.serve.workers`): one thread, unless the user set the thread count.

NumPy's BLAS and scikit-learn's OpenMP loops start one thread per core and spin while they
wait. On a machine that other work keeps busy, those threads fight for the cores: a training
that takes 0.5 s alone took 42 s under load. One thread is never much slower for the small
and medium work Keel does, and it does not collapse under load. A user who sets
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS keeps their setting: Keel then
limits nothing.

The limit is the environment variables (read by pools that load later, and by the
subprocesses a command starts: the smoke test, a server) and threadpoolctl (pools already
loaded). Both are put back when the command ends, so a command run in-process (tests,
notebooks) leaves its caller as it was.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PINNED = "KEEL_ONE_THREAD"  # set with the variables: Keel set them, not the user (as serve)

F = TypeVar("F", bound=Callable[..., Any])


def user_set_threads() -> bool:
    """Whether the user chose a thread count (a thread variable set, and not by Keel)."""
    ours = os.environ.get(PINNED) == "1"
    return not ours and any(name in os.environ for name in THREAD_VARIABLES)


@contextmanager
def one_thread() -> Iterator[bool]:
    """Run the block with BLAS/OpenMP limited to one thread; yields False (and limits
    nothing) when the user set a thread variable. The environment and the pools' limits are
    restored afterwards."""
    if user_set_threads():
        yield False
        return
    from threadpoolctl import threadpool_limits

    saved = {name: os.environ.get(name) for name in (*THREAD_VARIABLES, PINNED)}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    os.environ[PINNED] = "1"
    try:
        with threadpool_limits(1):
            yield True
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def limits_threads(command: F) -> F:
    """A CLI command run under `one_thread` (put it below `@command`)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            return command(*args, **kwargs)

    return run  # type: ignore[return-value]
