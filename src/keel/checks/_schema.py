"""The schema file of a system as the data checks read it: where it is, how to write it when it
is missing, the rows it judges, and data.1's tables of the data validated against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keel.data.schema import Anomaly
from keel.evidence import Evidence, Table, not_configured
from keel.system import System


def schema_path(system: System) -> Path:
    """The system's schema file ([data] schema), whether or not it exists."""
    return system.root / system.config.data.schema_file


def no_schema(practice: str, system: System, why: str) -> Evidence:
    """`not_configured` evidence for a practice that needs the schema file, saying how to
    write one."""
    name = system.config.data.schema_file
    return not_configured(
        practice,
        f"no schema file {name}: {why}",
        f"Infer one with `keel schema infer {train_hint(system)} -o {name}`, review it (domains, "
        "presence, PII handling, owners) and commit it.",
    )


def train_hint(system: System) -> str:
    """The training data as `keel schema infer` takes it: its path, or DATA for a SQL query."""
    train = system.config.data.train
    return train if isinstance(train, str) else "DATA"


def all_raw(system: System, split: str) -> Any:
    """Every raw row of a split, rows the model cannot predict included (data.1 judges data)."""
    try:
        return system.raw(split, all_rows=True)  # type: ignore[call-arg, arg-type]
    except TypeError:  # a System without the all_rows option
        return system.raw(split)  # type: ignore[arg-type]


def validation_tables(counts: list[list[Any]], anomalies: list[tuple[str, Anomaly]]) -> list[Table]:
    """Rows and anomalies per split ([split, rows, anomalies]), and every anomaly found."""
    return [
        Table("Validation against the schema", ["split", "rows", "anomalies"], counts),
        Table(
            "Anomalies",
            ["split", "column", "kind", "count", "message"],
            [[s, a.column, a.kind, a.count, a.message] for s, a in anomalies],
        ),
    ]
