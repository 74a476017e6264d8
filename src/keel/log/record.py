"""The prediction log's record: one served, failed or refused row, as servers write it.

A record is a JSON object. The log itself needs only `time` (ISO-8601, with an offset, or naive
meaning UTC) and `model_version` (an int), which partition the roll-up; `date` is reserved (the
roll-up's partition, taken from `time`). The fields below are what Keel's server writes and what
every reader of served rows may rely on. `format` names the version of this layout: a record
without it is format 1 (the layout before the field existed, identical otherwise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from keel.errors import KeelError

FORMAT = 1
# The route of a row the server refused (on_anomaly = "reject"): logged with its anomalies and
# no prediction; readers of served predictions leave these rows out.
ROUTE_REJECTED = "rejected"
# The scalar fields of a record every reader of served rows may rely on.
FIELDS = (
    "request_id",
    "row",
    "example_id",
    "time",
    "model_version",
    "route",
    "prediction",
    "probabilities",
    "latency_seconds",
    "error",
)


class Record(TypedDict, total=False):
    """One row as the log keeps it (`inputs` and `model_inputs` with personal data handled)."""

    format: int
    request_id: str
    row: int
    example_id: str | None
    time: str
    model_version: int
    route: str  # "champion", "canary", a pinned route, or ROUTE_REJECTED
    inputs: dict[str, Any]
    model_inputs: dict[str, Any]
    prediction: Any
    probabilities: dict[str, float] | None
    latency_seconds: float
    anomalies: list[str]
    nonfinite: list[str]
    error: str


def check_record(record: Any) -> None:
    """Raise KeelError unless `record` has the two fields the log partitions by."""
    if not isinstance(record, dict):
        raise KeelError(f"prediction log: a record must be a dict, got {type(record).__name__}")
    version = record.get("model_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise KeelError(f"prediction log: model_version must be an int, got {version!r}")
    if "date" in record:
        raise KeelError("prediction log: `date` is reserved for the partition taken from `time`")
    stamp = record.get("time")
    try:
        datetime.fromisoformat(stamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise KeelError(f"prediction log: time must be an ISO-8601 string, got {stamp!r}") from None
    fmt = record.get("format", FORMAT)
    if fmt != FORMAT:
        raise KeelError(
            f"prediction log: record format {fmt!r} is not one this Keel writes ({FORMAT})"
        )
