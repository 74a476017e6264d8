"""The library calls behind `keel profile`, `keel schema` and `keel pii`, for data at a path.

Paths and globs given on the command line are relative to the current folder; every problem is
a `KeelError` naming the argument and the file.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from keel.config import load_config
from keel.data import pii
from keel.data.batches import iter_batches
from keel.data.profile import Profile, profile_source
from keel.data.schema import Anomaly, Schema, infer, load_schema, validate
from keel.errors import ConfigError

PII_SAMPLE_ROWS = 200_000


def profile_path(data: str, *, batch_size: int = 65_536) -> Profile:
    """The profile of the data at a path or glob."""
    return profile_source(data, Path.cwd(), key=f"DATA {data!r}", batch_size=batch_size)


def head(data: str, rows: int = PII_SAMPLE_ROWS) -> pa.Table:
    """The first `rows` rows of the data at a path or glob (enough for a PII scan)."""
    batches, seen = [], 0
    for batch in iter_batches(data, Path.cwd(), key=f"DATA {data!r}"):
        batches.append(batch)
        seen += batch.num_rows
        if seen >= rows:
            break
    return pa.Table.from_batches(batches)


def scan_path(data: str) -> list[pii.PiiFinding]:
    """PII found in the data at a path or glob (scanned on its first rows, sampled)."""
    return pii.scan(head(data))


def _roles(config_path: Path | None) -> dict[str, object]:
    """target, id and sensitive columns from keel.toml, when there is one."""
    try:
        config, _ = load_config(config_path or Path.cwd())
    except ConfigError:
        if config_path is not None:
            raise
        return {}
    return {
        "target": config.system.target,
        "id": config.system.id,
        "sensitive": config.fairness.sensitive,
    }


def infer_path(data: str, *, config: Path | None = None) -> Schema:
    """A schema inferred from the data at a path or glob, with roles from keel.toml if any."""
    return infer(profile_path(data), pii=scan_path(data), **_roles(config))  # type: ignore[arg-type]


def schema_for(schema: Path | None, config: Path | None = None) -> tuple[Schema, Path]:
    """The schema at `schema`, or the one keel.toml names."""
    if schema is None:
        cfg, file = load_config(config or Path.cwd())
        schema = file.parent / cfg.data.schema_file
    return load_schema(schema), schema


def validate_path(
    data: str, schema: Schema, *, environment: str = "training", batch_size: int = 65_536
) -> list[Anomaly]:
    """Anomalies of the data at a path or glob against a schema, streamed in batches."""
    batches = iter_batches(data, Path.cwd(), key=f"DATA {data!r}", batch_size=batch_size)
    return validate(batches, schema, environment=environment)  # type: ignore[arg-type]
