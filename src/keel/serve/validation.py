"""Each served row checked against the schema, one message per problem, never an exception.

Rules, in the schema's serving environment:
- A feature with `serving` in `absent_in` (the label, the example id) is never required. If it
  is sent anyway it is checked like any other feature (the example id must be well typed for the
  prediction log) but it is not handed to the model: `keel.serve.columns.to_frame` leaves it out.
- missing: a feature with presence 1.0 that is absent or null. Optional features (presence
  below 1.0) may be absent or null and reach the model as NaN / None.
- type: int wants a JSON integer (an integral float such as 5.0 is fine) within 64 bits; float
  wants a number (an int is fine, a boolean is not); string a string; bool true or false;
  datetime an ISO 8601 string; `other` anything.
- nan / inf: a NaN or infinite float where the feature does not allow it.
- domain: a string outside the feature's domain. range: a number below min or above max.
- unknown: a field the schema does not know. Refused by default (`unknown="reject"`), because a
  misspelt optional field would otherwise reach the model silently as missing; with
  `unknown="ignore"` such fields are dropped without a problem.

`on_anomaly` for the server: "reject" turns any problem into a 422 listing all of them
(`refuse_if_any`); "flag" serves the rows with their problems attached
(`keel.serve.columns.to_frame` builds what the model's feature code receives; a value with a
type problem becomes missing there).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from keel.data.schema import Feature, Schema

ProblemKind = Literal["missing", "type", "domain", "range", "nan", "inf", "unknown"]
INT64 = (-(2**63), 2**63 - 1)
_SHOWN = 60  # characters of a value shown in a message


@dataclass(frozen=True)
class Problem:
    """One way one field of one row does not conform: what was expected and what came."""

    field: str
    kind: ProblemKind
    expected: str
    got: str

    def message(self, index: int) -> str:
        """`rows[3].income: expected a number ≥ 0, got -5`."""
        return f"rows[{index}].{clean(self.field)}: expected {self.expected}, got {self.got}"


@dataclass
class RowCheck:
    """The problems of the row at `index` in the request (empty when the row conforms)."""

    index: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def messages(self) -> list[str]:
        return [p.message(self.index) for p in self.problems]


def serving_features(schema: Schema) -> Iterator[tuple[str, Feature, bool]]:
    """Every feature with whether a serving row must carry it (presence 1.0, not absent)."""
    for name, feature in schema.features.items():
        yield name, feature, feature.presence >= 1.0 and "serving" not in feature.absent_in


def clean(text: str) -> str:
    """The text with lone surrogates (JSON allows `\\ud800`, UTF-8 does not) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def show(value: Any) -> str:
    """A value as a client wrote it in JSON, cut short; never raises."""
    try:
        if value is None:
            text = "null"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float) and math.isnan(value):
            text = "NaN"
        elif isinstance(value, float) and math.isinf(value):
            text = "Infinity" if value > 0 else "-Infinity"
        elif isinstance(value, str):
            text = '"' + value + '"'
        elif isinstance(value, list):
            text = f"an array of {len(value)}"
        elif isinstance(value, dict):
            text = f"an object of {len(value)} key(s)"
        else:
            text = repr(value)
    except ValueError:  # an int too long to print
        text = "a very large number"
    text = clean(text)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _number(value: Any) -> float | None:
    """The value as a float if it is a JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _bounds(feature: Feature) -> str:
    r = feature.range
    if r is None:
        return ""
    parts = []
    if r.min is not None:
        parts.append(f"≥ {r.min:g}")
    if r.max is not None:
        parts.append(f"≤ {r.max:g}")
    return " " + " and ".join(parts) if parts else ""


def parse_datetime(value: str) -> datetime | None:
    """An ISO 8601 timestamp as a naive UTC datetime, or None if it is not one."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is not None:
        try:
            when = when.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. year 1 at +01:00 falls before the first representable day
            return None
    return when


class RowValidator:
    """Checks rows against a schema in one environment; `check` never raises on JSON input."""

    def __init__(
        self,
        schema: Schema,
        environment: str = "serving",
        *,
        unknown: Literal["reject", "ignore"] = "reject",
    ) -> None:
        self.schema = schema
        self.environment = environment
        self.unknown = unknown
        self._required = {
            name
            for name, f in schema.features.items()
            if f.presence >= 1.0 and environment not in f.absent_in
        }

    def check(self, rows: Sequence[Any]) -> list[RowCheck]:
        """One `RowCheck` per row, in order."""
        return [RowCheck(i, self.problems(row)) for i, row in enumerate(rows)]

    def problems(self, row: Any) -> list[Problem]:
        """Every problem of one row, in schema order, then unknown fields in row order."""
        if not isinstance(row, dict):
            return [Problem("", "type", "a JSON object", show(row))]
        out: list[Problem] = []
        for name, feature in self.schema.features.items():
            value = row.get(name)
            if value is None:
                if name in self._required:
                    what = "absent" if name not in row else "null"
                    out.append(Problem(name, "missing", _expected(feature), what))
                continue
            problem = _judge(name, feature, value)
            if problem is not None:
                out.append(problem)
        if self.unknown == "reject":
            for key in row:
                if key not in self.schema.features:
                    out.append(
                        Problem(
                            str(key), "unknown", "no such field (not in the schema)", show(row[key])
                        )
                    )
        return out


def _expected(feature: Feature) -> str:
    t = feature.type
    if t == "int":
        return "an integer" + _bounds(feature)
    if t == "float":
        return "a number" + _bounds(feature)
    if t == "string":
        if feature.domain is not None:
            shown = ", ".join(f'"{v}"' for v in feature.domain[:10])
            more = f" (+{len(feature.domain) - 10} more)" if len(feature.domain) > 10 else ""
            return f"one of {shown}{more}"
        return "a string"
    if t == "bool":
        return "true or false"
    if t == "datetime":
        return "an ISO 8601 date-time string"
    return "a value"


def _judge(name: str, feature: Feature, value: Any) -> Problem | None:
    t = feature.type
    if t in ("int", "float"):
        number = _number(value)
        if number is None:
            return Problem(name, "type", _expected(feature), show(value))
        if math.isnan(number):
            return None if feature.allow_nan else Problem(name, "nan", _expected(feature), "NaN")
        if math.isinf(number):
            return (
                None if feature.allow_inf else Problem(name, "inf", _expected(feature), show(value))
            )
        if t == "int" and (
            not number.is_integer()
            or not INT64[0] <= (value if isinstance(value, int) else number) <= INT64[1]
        ):
            return Problem(name, "type", "an integer within 64 bits", show(value))
        r = feature.range
        if r is not None and (
            (r.min is not None and number < r.min) or (r.max is not None and number > r.max)
        ):
            return Problem(name, "range", _expected(feature), show(value))
        return None
    if t == "string":
        if not isinstance(value, str):
            return Problem(name, "type", "a string", show(value))
        if clean(value) != value:
            return Problem(name, "type", "a string of valid Unicode", show(value))
        if feature.domain is not None and value not in feature.domain:
            return Problem(name, "domain", _expected(feature), show(value))
        return None
    if t == "bool":
        return (
            None if isinstance(value, bool) else Problem(name, "type", "true or false", show(value))
        )
    if t == "datetime":
        if isinstance(value, str) and parse_datetime(value) is not None:
            return None
        return Problem(name, "type", _expected(feature), show(value))
    return None


def refuse_if_any(checks: Sequence[RowCheck]) -> tuple[int, str, str | None] | None:
    """For on_anomaly = "reject": (422, every problem one per line, first field), or None."""
    messages = [m for c in checks for m in c.messages()]
    if not messages:
        return None
    first = next(c for c in checks if c.problems)
    return 422, "\n".join(messages), f"rows[{first.index}].{first.problems[0].field}"
