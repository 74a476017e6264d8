"""MLflow, quietly: no usage telemetry unless asked for, and no warnings or INFO logs.

Imported before MLflow by every registry module: Keel opts no one into MLflow's usage
telemetry (sent from a thread at import); set MLFLOW_DISABLE_TELEMETRY=false to allow it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow without its warnings and INFO logs (database migrations, environment checks)."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
