"""What every foreign-log reader shares: JSON lines with their numbers, unreadable rows as
values (never exceptions), times as ISO-8601, the registered version that served a row, and
NaN or infinite values moved out of the record into `nonfinite` as Keel's server logs them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings


@dataclass(frozen=True)
class Unreadable:
    """A row a reader could not turn into a record: its line (1-based within the data handed
    to the reader; 0 for a whole file) and why. The importer counts it and names it in a
    warning with the file, never stops on it."""

    line: int
    reason: str


def json_lines(data: bytes) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON value or Unreadable) of each non-blank line of `data`."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            yield number, Unreadable(number, f"not JSON ({exc})")


def iso_time(value: Any) -> str:
    """`value` (an ISO-8601 string, a datetime, a pandas Timestamp, or epoch seconds) as an
    ISO-8601 string with an offset (naive means UTC). Raises ValueError when it is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("no time")
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    elif hasattr(value, "to_pydatetime"):
        moment = value.to_pydatetime()
    else:
        raise ValueError(f"not a time: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def served_by(settings: ForeignSettings, name: Any, what: str) -> int:
    """The registered version that served a row whose foreign version is `name` (None when the
    row names none): `[serving] versions[name]`; with no mapping, an integer name as itself,
    else `[serving] model_version`. Raises KeelError rather than make one up."""
    if name is not None and not (isinstance(name, float) and math.isnan(name)):
        key = str(name)
        if key in settings.versions:
            return settings.versions[key]
        if not settings.versions:
            if isinstance(name, int) and not isinstance(name, bool) and name >= 1:
                return name
            if settings.model_version is not None:
                return settings.model_version
        raise KeelError(
            f'[serving] versions has no entry for {what} "{key}" of the {settings.format} log '
            f"(it maps {sorted(settings.versions) or 'nothing'}): add "
            f'"{key}" = <registered version> under [serving] versions, so every row is judged '
            "as the version that served it"
        )
    if settings.model_version is not None:
        return settings.model_version
    raise KeelError(
        f"the {settings.format} log does not say which registered version served its rows: "
        "set [serving] model_version (or [serving] versions for "
        f"{what}); Keel never makes one up"
    )


def _bad(value: Any) -> str | None:
    if isinstance(value, float) and not isinstance(value, bool):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf"
    return None


def plain(value: Any) -> Any:
    """A numpy/pandas scalar as the plain Python value JSON holds; NaN stays a float."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str | bytes):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


def finish(record: dict[str, Any]) -> dict[str, Any]:
    """The record with NaN and infinities of its inputs, model inputs, prediction and
    probabilities replaced by null and listed in `nonfinite` ("outputs.prediction:nan",
    "outputs.proba_1:inf", "inputs.x:nan"), as Keel's server logs them (JSON cannot hold the
    values themselves); numpy scalars made plain."""
    found: list[str] = []
    for where in ("inputs", "model_inputs"):
        values = record.get(where)
        if isinstance(values, dict):
            for key, value in list(values.items()):
                value = plain(value)
                kind = _bad(value)
                if kind:
                    found.append(f"{where}.{key}:{kind}")
                    value = None
                values[key] = value
    prediction = plain(record.get("prediction"))
    kind = _bad(prediction)
    if kind:
        found.append(f"outputs.prediction:{kind}")
        prediction = None
    record["prediction"] = prediction
    probabilities = record.get("probabilities")
    if isinstance(probabilities, dict):
        clean = {}
        for key, value in probabilities.items():
            value = plain(value)
            kind = _bad(value)
            if kind:
                found.append(f"outputs.proba_{key}:{kind}")
                value = None
            clean[str(key)] = value
        record["probabilities"] = clean
    latency = record.get("latency_seconds")
    if latency is None or _bad(plain(latency)):
        record.pop("latency_seconds", None)
    record["nonfinite"] = found
    record.setdefault("route", "champion")
    return record
