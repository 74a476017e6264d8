"""How the checks write values in their evidence: lists of names, numbers, shares, settings.

One place for the wording every check shares, so "a, b and 3 more", "n/a" for an undefined
metric and the thresholds read from a keel.toml section read the same in every practice.
`name_list` and `pct` live in `keel.wording`, below the checks, so the monitoring judgements
word their evidence the same way.
"""

from __future__ import annotations

import math
from typing import Any

from keel.wording import name_list, pct  # shared with the monitoring judgements

__all__ = ["name_list", "num", "pct", "plain", "setting", "settings"]


def num(value: float | None) -> str:
    """A metric in a summary: four significant digits, "n/a" when undefined (None or NaN)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.4g}"


def plain(value: float) -> float | None:
    """A float for facts: None where undefined (facts are JSON)."""
    return None if math.isnan(value) else float(value)


def setting(value: object) -> str:
    """A hyperparameter value as written in a summary: floats to four significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def settings(section: object, *keys: str) -> dict[str, Any]:
    """The values of `keys` in a keel.toml section, in that order: a check's thresholds."""
    return {key: getattr(section, key) for key in keys}
