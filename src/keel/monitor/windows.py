"""Time windows of served traffic: a logged time falls in exactly one window.

Windows are aligned on the Unix epoch in UTC (a one-day window runs from midnight UTC), so every
process, and every rerun, puts a row in the same window. `window_label` names a window of one
version in evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from keel.monitor.summary import PartSummary


def window_starts(times: pd.Series, seconds: float) -> pd.Series:
    """The start (ISO 8601, UTC) of the window each logged time falls in."""
    stamps = pd.to_datetime(times, utc=True, format="ISO8601")
    epoch = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)  # whole seconds
    start = (np.floor(epoch / seconds) * seconds).astype("int64")
    names = {int(s): datetime.fromtimestamp(int(s), UTC).isoformat() for s in start.unique()}
    return start.map(names)


def window_of(moment: datetime, seconds: float) -> str:
    """The start of the window `moment` falls in."""
    epoch = moment.timestamp()
    return datetime.fromtimestamp(int(epoch // seconds * seconds), UTC).isoformat()


def window_index(times: pa.ChunkedArray, seconds: float) -> tuple[list[str], np.ndarray]:
    """The windows (ISO starts, oldest first) and the window of each row (its index)."""
    try:
        if times.null_count:
            raise pa.ArrowInvalid("a row without a time")
        stamps = pc.cast(pc.cast(times, pa.timestamp("us", "UTC")), pa.int64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a form only pandas reads
        starts = window_starts(times.to_pandas(), seconds).to_numpy()
        labels, which = np.unique(starts.astype(str), return_inverse=True)
        return [str(label) for label in labels], which
    epoch = stamps // 1_000_000  # whole seconds, as `window_starts` counts them
    distinct, which = np.unique(
        (np.floor(epoch / seconds) * seconds).astype("int64"), return_inverse=True
    )
    return [datetime.fromtimestamp(int(s), UTC).isoformat() for s in distinct], which


def window_label(w: PartSummary) -> str:
    """ "2026-11-01T00:00 v3": a window's start (to the minute) and the version it served."""
    return f"{w.window[:16]} v{w.model_version}"


def folder_name(window: str) -> str:
    """A window's ISO start as a folder name (no colon or plus sign)."""
    return window.replace(":", "").replace("+", "Z")
