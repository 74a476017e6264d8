"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Used for reports, profiles, schemas and the cache. A file is written to a temporary file in
the destination folder (same file system, so the rename cannot turn into a copy), flushed to
disk, then renamed over the destination with `os.replace`, which is atomic on POSIX and
Windows. On any failure the temporary file is
removed and the previous file, if any, is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# What Keel writes is meant to be read by others (CI artefacts, a team's web server).
_MODE = 0o644


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically and return `path`."""
    return write_atomic(path, lambda handle: handle.write(data))


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Atomically make `path` the file `write(handle)` writes (into a binary file handle)."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` as UTF-8 to `path` atomically and return `path`.

    A lone surrogate (text decoded with `surrogateescape` from bytes that were not UTF-8)
    is written as "?" rather than failing the whole report.
    """
    return write_bytes_atomic(path, text.encode("utf-8", errors="replace"))
