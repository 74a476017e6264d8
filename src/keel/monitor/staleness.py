"""monitor.4: how old the data a model learnt from is, as plain functions."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

__all__ = ["age_days"]


def age_days(newest: str, now: datetime) -> float:
    """Days from `newest` (ISO 8601; a time without a zone is UTC) to `now` (aware)."""
    stamp = pd.Timestamp(newest)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return (pd.Timestamp(now) - stamp).total_seconds() / 86_400
