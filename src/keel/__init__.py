"""Keel: the ML Test Score, automated.

The public API is what `__all__` lists; everything else is private and may change.

Every public name is loaded on first use (PEP 562): `import keel` imports nothing else of
Keel's, so a process that only loads a registered model (which imports
`keel.registry.artefact`) never loads the configuration, the rubric, the checks or their
dependencies.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Where each public name lives.
_LAZY = {
    "PRACTICES": "keel.rubric",
    "CheckError": "keel.errors",
    "ConfigError": "keel.errors",
    "DataError": "keel.errors",
    "Evidence": "keel.evidence",
    "KeelConfig": "keel.config",
    "KeelError": "keel.errors",
    "Practice": "keel.rubric",
    "RunResult": "keel.evidence",
    "Score": "keel.rubric",
    "System": "keel.system",
    "load_config": "keel.config",
    "run": "keel.checks.runner",
    "score": "keel.rubric",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
