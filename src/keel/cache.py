"""A small on-disk cache under `.keel/cache/`, keyed by a hash of everything a result depends on.

A score run trains once; the trained model, its predictions and other costly results are kept
here so a second run with nothing changed reuses them instead of retraining.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from keel.atomic import write_bytes_atomic

T = TypeVar("T")


def digest(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts (anything else by its repr)."""
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """Pickled results in a folder, one file per key."""

    def __init__(self, folder: Path, *, enabled: bool = True) -> None:
        self.folder = folder
        self.enabled = enabled

    def _path(self, name: str, key: str) -> Path:
        return self.folder / f"{name}-{key[:24]}.pkl"

    def get(self, name: str, key: str) -> Any | None:
        """The stored result, or None when absent or unreadable (it is then recomputed)."""
        path = self._path(name, key)
        if not self.enabled or not path.exists():
            return None
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except Exception:  # a stale or corrupt entry is recomputed, never fatal
            return None

    def put(self, name: str, key: str, value: Any) -> None:
        """Store a result atomically."""
        if not self.enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(
            self._path(name, key), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        )

    def memo(self, name: str, key: str, compute: Callable[[], T]) -> T:
        """The cached result for (name, key), computing and storing it when missing."""
        found = self.get(name, key)
        if found is not None:
            return found
        value = compute()
        self.put(name, key, value)
        return value
