"""Durations in keel.toml and on the command line: seconds, or "30s", "10m", "2h", "1d"."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """Seconds of a duration written as a number of seconds or as "30s", "10m", "2h", "1d"."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as 600, "10m" or "2h"')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(
                f'expected a duration such as 600, "30s", "10m", "2h" or "1d", got {value!r}'
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds > 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
