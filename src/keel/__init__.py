"""Keel: the ML Test Score, automated.

The public API is what `__all__` lists; everything else is private and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from keel.config import KeelConfig, load_config
from keel.errors import CheckError, ConfigError, DataError, KeelError
from keel.evidence import Evidence, RunResult
from keel.rubric import PRACTICES, Practice, Score, score

__all__ = sorted(
    [
        "CheckError",
        "ConfigError",
        "DataError",
        "Evidence",
        "KeelConfig",
        "KeelError",
        "PRACTICES",
        "Practice",
        "RunResult",
        "Score",
        "__version__",
        "load_config",
        "score",
    ]
)
