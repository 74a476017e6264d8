"""A table another service writes: Parquet, CSV or JSON lines, one served row per row, read
with the column mapping of `[serving.columns]` (`ForeignSettings.columns`).

Columns: `time` (ISO-8601 text, a timestamp, or epoch seconds; naive means UTC) and
`prediction` are required; `id` (the example id late labels join on), `model_version` (mapped
through `[serving] versions`, or a registered version number as it is), `probabilities` (a
JSON object per row, class -> probability), `latency` (in `latency_unit`, "s" or "ms"),
`inputs` (a list of flat columns, the name of one JSON column, or None: every column the
mapping does not name) and `model_inputs` (a JSON column of what the model was given) are
optional. A row without a readable time is `Unreadable`, never a made-up one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import Unreadable, finish, iso_time, json_lines, plain, served_by

MAPPED = ("time", "prediction", "id", "model_version", "probabilities", "latency", "model_inputs")


def _rows(data: bytes, name: str) -> Iterator[tuple[int, Any]]:
    """(row number, row dict or Unreadable): JSON lines by line, Parquet and CSV by row."""
    import pyarrow as pa

    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        yield from json_lines(data)
        return
    try:
        if suffix == ".csv":
            import pyarrow.csv as pa_csv

            table = pa_csv.read_csv(pa.BufferReader(data))
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        yield 0, Unreadable(0, f"not a readable {suffix[1:]} file ({exc})")
        return
    yield from enumerate(table.to_pylist(), start=1)


def _json(value: Any, column: str) -> Any:
    """A JSON column's value: text parsed, a struct or map as it is."""
    if isinstance(value, str):
        return json.loads(value)
    if isinstance(value, list) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return dict(value)  # an Arrow map
    if value is None or isinstance(value, dict):
        return value
    raise ValueError(f"column {column!r} holds {type(value).__name__}, not a JSON object")


def _inputs(row: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
    chosen = columns.get("inputs")
    if isinstance(chosen, list):
        return {c: plain(row.get(c)) for c in chosen}
    if isinstance(chosen, str):
        found = _json(row.get(chosen), chosen)
        return dict(found or {})
    named = {columns.get(k) for k in MAPPED} - {None}
    return {k: plain(v) for k, v in row.items() if k not in named}


def record_of(
    row: dict[str, Any], number: int, name: str, settings: ForeignSettings
) -> dict[str, Any]:
    """One row as a Keel record; ValueError (and KeyError) for a row that is not one."""
    columns = settings.columns
    if not isinstance(row, dict):
        raise ValueError("not an object")
    try:
        stamp = iso_time(row.get(columns["time"]))
    except ValueError as exc:
        raise ValueError(f"time column {columns['time']!r}: {exc}") from None
    example = row.get(columns["id"]) if columns.get("id") else None
    version_column = columns.get("model_version")
    version = served_by(
        settings,
        plain(row.get(version_column)) if version_column else None,
        f"column {version_column!r}" if version_column else "its rows",
    )
    record: dict[str, Any] = {
        "request_id": f"{PurePosixPath(name).name}:{number}",
        "row": 0,
        "example_id": None if example is None else str(plain(example)),
        "time": stamp,
        "model_version": version,
        "route": "champion",
        "inputs": _inputs(row, columns),
        "prediction": plain(row.get(columns["prediction"])),
    }
    if columns.get("model_inputs"):
        logged = _json(row.get(columns["model_inputs"]), columns["model_inputs"])
        if logged is not None:
            record["model_inputs"] = dict(logged)
    if columns.get("probabilities"):
        proba = _json(row.get(columns["probabilities"]), columns["probabilities"])
        if proba is not None:
            record["probabilities"] = {str(k): v for k, v in proba.items()}
    if columns.get("latency"):
        latency = plain(row.get(columns["latency"]))
        if isinstance(latency, int | float) and not isinstance(latency, bool):
            scale = 0.001 if columns.get("latency_unit") == "ms" else 1.0
            record["latency_seconds"] = float(latency) * scale
    return finish(record)


def read(data: bytes, name: str, settings: ForeignSettings) -> Iterator[Any]:
    """Keel records of a table's rows (see the module docstring); `Unreadable` for a row
    that is not one."""
    whole = PurePosixPath(name).suffix.lower() in (".parquet", ".pq", ".csv")
    for number, row in _rows(data, name):
        if isinstance(row, Unreadable):
            yield row
            continue
        try:
            yield record_of(row, number, name, settings)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            yield Unreadable(0, f"row {number}: {exc}") if whole else Unreadable(number, str(exc))
