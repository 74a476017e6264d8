"""From a raw HTTP body to rows the server may serve, and the JSON Schema of that body.

Request shape: a JSON object is one row; `{"rows": [object, ...]}` (an object whose only key
is `rows`, holding an array) is a batch. A schema feature literally named `rows` is therefore
read as a batch when it is the only key and holds an array; Keel schemas seldom have one.

Every way a body can be wrong becomes a `RequestError` with a 4xx status and a message naming
where and what was expected; nothing here raises anything else, so the server never answers
5xx for a bad body. JSON's non-standard NaN, Infinity and -Infinity tokens (and numbers too
large for a float, such as 1e400) are accepted as floats on purpose: the row validator judges
them against the feature's `allow_nan` / `allow_inf`, so the client learns which field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from keel.data.schema import Schema
from keel.errors import KeelError
from keel.serve.validation import RowCheck, refuse_if_any, serving_features


class RequestError(KeelError):
    """A request the server refuses: the HTTP status, a message for the client, the field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _decode(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            400, f"body is not UTF-8: invalid byte at position {exc.start}"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(
            400, f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise RequestError(400, "body is not acceptable JSON: nested too deeply") from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise RequestError(400, f"body is not acceptable JSON: {exc}") from None


def parse_body(body: bytes, *, max_bytes: int, max_rows: int) -> list[dict[str, Any]]:
    """The rows of a request body: one object is one row, `{"rows": [...]}` a batch.

    413 when the body is over `max_bytes` or holds more than `max_rows` rows; 400 when it is not
    UTF-8 or not JSON (naming the position); 422 when the JSON is not of the expected shape.
    """
    if len(body) > max_bytes:
        raise RequestError(413, f"body is {len(body)} bytes; the limit is {max_bytes} bytes")
    value = _decode(body)
    if not isinstance(value, dict):
        raise RequestError(
            422,
            'expected a JSON object (one row) or {"rows": [objects]} (a batch), got '
            + _json_kind(value),
        )
    if list(value) != ["rows"] or not isinstance(value["rows"], list):
        if "rows" in value and isinstance(value["rows"], list):
            extra = ", ".join(sorted(k for k in value if k != "rows"))
            raise RequestError(
                422,
                f'a batch is {{"rows": [objects]}} and nothing else; unexpected key(s): {extra}',
            )
        return [value]
    rows = value["rows"]
    if len(rows) > max_rows:
        raise RequestError(
            413, f"batch has {len(rows)} rows; the limit is {max_rows} rows per request", "rows"
        )
    if not rows:
        raise RequestError(422, "rows: expected at least one row, got an empty array", "rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(
                422, f"rows[{i}]: expected a JSON object, got {_json_kind(row)}", f"rows[{i}]"
            )
    return rows


def reject_invalid(checks: Sequence[RowCheck]) -> None:
    """For `on_anomaly = "reject"`: a 422 listing every problem of every row, if there is one."""
    refusal = refuse_if_any(checks)
    if refusal is not None:
        raise RequestError(*refusal)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# -- the request's JSON Schema (for the OpenAPI document) --------------------------------------

_JSON_TYPE = {
    "int": "integer",
    "float": "number",
    "string": "string",
    "bool": "boolean",
    "datetime": "string",
}


def row_json_schema(schema: Schema, *, unknown: str = "reject") -> dict[str, Any]:
    """The JSON Schema of one row in the serving environment."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, feature, needed in serving_features(schema):
        prop: dict[str, Any] = {}
        if feature.description:
            prop["description"] = feature.description
        json_type = _JSON_TYPE.get(feature.type)
        if json_type is not None:
            prop["type"] = [json_type, "null"] if not needed else json_type
        if feature.type == "datetime":
            prop["format"] = "date-time"
        if feature.domain is not None and feature.type == "string":
            prop["enum"] = [*feature.domain, *([None] if not needed else [])]
        if feature.range is not None and feature.type in ("int", "float"):
            if feature.range.min is not None:
                prop["minimum"] = feature.range.min
            if feature.range.max is not None:
                prop["maximum"] = feature.range.max
        properties[name] = prop
        if needed:
            required.append(name)
    row: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        row["required"] = required
    if unknown == "reject":
        row["additionalProperties"] = False
    return row


def request_json_schema(
    schema: Schema, *, max_rows: int | None = None, unknown: str = "reject"
) -> dict[str, Any]:
    """The JSON Schema of a request body: one row, or `{"rows": [rows]}` up to `max_rows`.

    NaN and infinity cannot be written in JSON Schema (nor in standard JSON); the server's
    validator judges them. Fields absent in serving are optional properties. The document has
    no `$ref`, so it can be placed anywhere in an OpenAPI document as it is.
    """
    row = row_json_schema(schema, unknown=unknown)
    rows: dict[str, Any] = {"type": "array", "items": row, "minItems": 1}
    if max_rows is not None:
        rows["maxItems"] = max_rows
    batch = {
        "type": "object",
        "properties": {"rows": rows},
        "required": ["rows"],
        "additionalProperties": False,
    }
    return {"anyOf": [row, batch]}
