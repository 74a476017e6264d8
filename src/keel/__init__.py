"""Keel: the ML Test Score, automated.

The public API is what `__all__` lists; everything else is private and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from keel.config import KeelConfig, load_config
from keel.errors import CheckError, ConfigError, DataError, KeelError
from keel.evidence import Evidence, RunResult
from keel.rubric import PRACTICES, Practice, Score, score

# The System and the runner pull in pandas, scikit-learn and Fairlearn: load them on first use.
_LAZY = {"System": "keel.system", "run": "keel.checks.runner"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keel' has no attribute {name!r}")


__all__ = [
    "PRACTICES",
    "CheckError",
    "ConfigError",
    "DataError",
    "Evidence",
    "KeelConfig",
    "KeelError",
    "Practice",
    "RunResult",
    "Score",
    "System",
    "__version__",
    "load_config",
    "run",
    "score",
]
