"""Worker targets for `keel.serve.workers.Supervisor` tests (importable by spawned workers)."""

from __future__ import annotations

import os
import time
from typing import Any


def steady_or_crashing(index: int, ready: Any, crash: int) -> None:
    """Worker `crash` dies at once, every time; the others report ready and stay up."""
    if index == crash:
        os._exit(3)
    ready.put((index, os.getpid(), None))
    time.sleep(600)
