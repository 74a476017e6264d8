"""The lineage of a registered version: what produced it, as plain data, and its tags.

The lineage of a trained model is everything needed to say what produced it and to notice
when any of it changes (model.1, monitor.1, monitor.6): the git commit of the system's code,
the SHA-256 of keel.toml, the hash of the code that defines the model, a fingerprint of the
training and evaluation data (source, row count, a hash of the schema, a hash of the content,
the newest timestamp), the model parameters and seed, the time training took, the peak memory
of the process, model.4's staleness limit when it was computed, and the versions of the
packages the pickled model needs with every distribution they require, transitively (the
environment). Metrics are kept apart from the lineage: the overall metrics
of the task and the primary metric of every configured slice, named with `metric_name`.

A version keeps its lineage three ways: the whole record as JSON in its `keel.lineage` tag
(read back by `read_lineage`) and in `keel/lineage.json` beside the artefact, and the facts
one per `keel.*` tag (`lineage_tags`), searchable in MLflow. The caller gathers the record
(`keel.training.lineage` from a System); nothing here reads a system or a store.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypedDict

__all__ = ["DataFacts", "Lineage", "lineage_tags", "metric_name", "read_lineage"]

LINEAGE_TAG = "keel.lineage"
_NAME_UNSAFE = re.compile(r"[^\w.\- ]")


class DataFacts(TypedDict):
    """One split of the data a model was trained or evaluated on."""

    source: str
    rows: int
    columns: int
    schema_hash: str
    content_hash: str
    newest: str | None  # the newest [system] timestamp (ISO 8601), None without one


class Lineage(TypedDict):
    """Where a trained model came from (JSON-ready; see the module docstring)."""

    system: str
    task: str
    primary_metric: str
    git_commit: str | None
    # the model's code and keel.toml not committed at registration (None: not in a repository)
    git_uncommitted: list[str] | None
    config_sha256: str
    code_hash: str
    code_files: list[str]
    code_hashes: dict[str, str]  # SHA-256 per file of the code predictions depend on
    data: dict[str, DataFacts]
    train_entry: str
    features_entry: str | None
    params: dict[str, Any]
    seed: int
    train_seconds: float
    peak_memory_mb: float | None
    staleness_limit_days: float | None
    keel_version: str
    python: str
    requirements: list[str]
    environment: dict[str, str]  # every distribution in the requirements' closure: version


def lineage_tags(record: Lineage) -> dict[str, str]:
    """The lineage as flat `keel.*` tags: one value per tag, searchable in MLflow."""
    tags = {
        "keel.system": record["system"],
        "keel.task": record["task"],
        "keel.primary_metric": record["primary_metric"],
        "keel.git_commit": record["git_commit"] or "none (not a git repository)",
        "keel.git_clean": _clean(record.get("git_uncommitted")),
        "keel.config_sha256": record["config_sha256"],
        "keel.code_hash": record["code_hash"],
        "keel.seed": str(record["seed"]),
        "keel.train_seconds": f"{record['train_seconds']:g}",
        "keel.peak_memory_mb": str(record["peak_memory_mb"]),
        "keel.staleness_limit_days": str(record.get("staleness_limit_days")),
        "keel.keel_version": record["keel_version"],
    }
    for split, facts in record["data"].items():
        for key, value in facts.items():
            tags[f"keel.data.{split}.{key}"] = str(value)
    return tags


def _clean(uncommitted: list[str] | None) -> str:
    if uncommitted is None:
        return "none (not a git repository)"
    return "yes" if not uncommitted else "no: " + ", ".join(uncommitted)[:4000]


def read_lineage(tags: dict[str, str]) -> dict[str, Any]:
    """The lineage recorded on a version, from its tags (empty when it has none).

    A plain dict rather than a `Lineage`: versions registered by earlier Keel versions may
    lack some keys.
    """
    return json.loads(tags.get(LINEAGE_TAG, "{}"))


def metric_name(*parts: str) -> str:
    """An MLflow metric name from parts: characters MLflow refuses become underscores."""
    return ".".join(_NAME_UNSAFE.sub("_", p) for p in parts)
