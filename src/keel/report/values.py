"""Evidence values made plain: JSON-safe data for report.json, short text for people.

Checks put whatever their computation produced into tables, thresholds and facts: NumPy
scalars and arrays, NaN, dates, paths. Every writer goes through this module, so the JSON
report is always strict JSON (no NaN, no Infinity) and the HTML and terminal reports show the
same value the same way.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

# Characters XML 1.0 forbids; evidence text may hold them (terminal colour codes, binary data).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Nesting deeper than this is shown as text: evidence is meant to be small and flat.
_MAX_DEPTH = 16


def json_safe(value: Any, *, _depth: int = 0) -> JsonValue:
    """Convert `value` into something `json.dumps(..., allow_nan=False)` accepts.

    NumPy scalars and arrays become Python numbers and lists, NaN and infinities become None,
    dates and times become ISO 8601 strings, mappings get string keys, and anything else
    becomes its `str`. The conversion never raises, so one odd value cannot lose a report.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if _depth > _MAX_DEPTH:
        return str(value)
    if isinstance(value, np.generic):
        return _numpy_scalar(value, _depth)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if _is_missing_marker(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, numbers.Real | Decimal):
        return json_safe(float(value), _depth=_depth)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist(), _depth=_depth + 1)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, _depth=_depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return [json_safe(v, _depth=_depth + 1) for v in sorted(value, key=repr)]
    return str(value)


def _numpy_scalar(value: np.generic, depth: int) -> JsonValue:
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else str(value)
    return json_safe(value.item(), _depth=depth + 1)


def _is_missing_marker(value: Any) -> bool:
    """True for pandas' NaT and NA, without importing pandas."""
    return type(value).__name__ in ("NaTType", "NAType")


def format_number(value: float | int) -> str:
    """A number as people read it: integers whole, others to four significant digits."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == int(value) and abs(value) < 1e15:
        return format_number(int(value))
    return f"{value:.4g}"


def format_value(value: Any, *, max_chars: int = 300) -> str:
    """A value as short display text; NaN shows as NaN (it is evidence), None as an empty cell."""
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64 | np.timedelta64):
        value = value.item()
    if value is None or _is_missing_marker(value):
        return ""
    if isinstance(value, bool | int | float):
        return format_number(value)
    if isinstance(value, str):
        text = value
    else:
        safe = json_safe(value)
        text = safe if isinstance(safe, str) else _compact(safe)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _compact(value: JsonValue) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool | int | float):
        return format_number(value)
    return str(value)


def xml_text(text: object) -> str:
    """`text` as a string XML 1.0 can hold: the control characters it forbids are dropped."""
    return _NOT_XML.sub("", str(text))
