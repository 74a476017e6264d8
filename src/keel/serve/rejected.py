"""What the prediction log keeps of a row the server refused, and of any row's problems.

With `on_anomaly = "reject"` an invalid row gets its 422 and no prediction, but monitor.2 must
still see it: a producer sending `tenure = "14 months"` is a broken data invariant whether the
server served the row or not. So every row of a refused request becomes one log record:
request id, row, example id, time, route `rejected` (`keel.log.record.ROUTE_REJECTED`), the
model version it would have gone to, the raw values as sent (the schema's fields only; personal
data as the schema's `pii` handling says), no prediction, and its anomalies (empty for a valid
row refused with the invalid rows of its request).

A logged problem never carries a personal value nor the value of a field the schema does not
know (it may be anything, and no handling is declared for it): such a message says
"got a value not logged (…)" instead.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from keel.data.pii import apply_handling
from keel.data.schema import Schema
from keel.log.record import FORMAT as RECORD_FORMAT
from keel.log.record import ROUTE_REJECTED
from keel.serve.validation import Problem, RowCheck

_PERSONAL = "a value not logged (personal data)"
_UNKNOWN = "a value not logged (not in the schema)"


def logged_problems(check: RowCheck, schema: Schema) -> list[str]:
    """The row's problem messages as the log keeps them (personal and unknown values hidden)."""
    out = []
    for problem in check.problems:
        feature = schema.features.get(problem.field)
        got = problem.got
        if feature is None and problem.field:
            got = _UNKNOWN
        elif feature is not None and feature.pii != "none" and problem.kind != "missing":
            got = _PERSONAL
        out.append(Problem(problem.field, problem.kind, problem.expected, got).message(check.index))
    return out


def _plain(value: Any) -> Any:
    """A JSON value as the log can hold it: NaN and infinities (JSON's extensions) as None."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def raw_values(
    rows: list[dict[str, Any]], schema: Schema, key: bytes | None
) -> list[dict[str, Any]]:
    """Each row's fields the schema knows, as sent, personal data handled as declared."""
    names = [n for n in schema.features if any(isinstance(r, dict) and n in r for r in rows)]
    frame = pd.DataFrame(
        {n: pd.Series([_plain(r.get(n)) for r in rows], dtype=object) for n in names},
        index=range(len(rows)),
    )
    for name in names:
        feature = schema.features[name]
        if feature.pii == "none":
            continue
        handled = apply_handling(frame[name], feature.pii, kind=feature.pii_kind, key=key)
        if handled is None:
            frame = frame.drop(columns=[name])
        else:
            frame[name] = handled.astype(object)
    out = []
    for i, row in enumerate(rows):
        sent = row if isinstance(row, dict) else {}
        out.append(
            {
                n: (None if pd.isna(v) else v) if not isinstance(v, list | dict) else v
                for n, v in frame.iloc[i].items()
                if n in sent
            }
        )
    return out


def rejected_records(
    rows: list[dict[str, Any]],
    checks: list[RowCheck],
    schema: Schema,
    *,
    key: bytes | None,
    id_column: str | None,
    request_id: str,
    version: int,
    time: str,
    seconds: float,
) -> list[dict[str, Any]]:
    """One log record per row of a refused request (see the module docstring)."""
    raw = raw_values(rows, schema, key)
    records = []
    for i, row in enumerate(rows):
        example = row.get(id_column) if id_column and isinstance(row, dict) else None
        records.append(
            {
                "format": RECORD_FORMAT,
                "request_id": request_id,
                "row": i,
                "example_id": None if example is None else str(example),
                "time": time,
                "model_version": version,
                "route": ROUTE_REJECTED,
                "inputs": raw[i],
                "prediction": None,
                "latency_seconds": seconds,
                "anomalies": logged_problems(checks[i], schema),
            }
        )
    return records
