"""Everything the prediction log holds so far, rolled into Parquet or still in segments.

A canary's comparison (and any reader that cannot wait for a segment to close) needs the rows
running servers logged a moment ago. `served_rows` rolls what is closed (exactly once, see
`keel.log.rollup`), reads the rolled Parquet for the period asked, then adds the complete
records of the segments still being written (a reader stops at a torn tail, so a record being
appended is either whole or not seen). A roll by another process between the two reads can
show a record twice or not at all for that one read; nothing stored changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from keel.log.record import FIELDS, ROUTE_REJECTED
from keel.log.rollup import query, roll
from keel.log.segments import OPEN_SUFFIX, read_segment
from keel.log.writer import rolled_dir, segments_dir


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _roll_and_read_live(log_root: Path, *, newest_first: bool = False, last: int | None = None):
    """Roll what is closed, then the complete records of the segments still being written
    (each segment's `last` records when given): (rolled folder, live records)."""
    segments, rolled = segments_dir(log_root), rolled_dir(log_root)
    live: list[dict[str, Any]] = []
    if segments.is_dir():
        roll(segments, rolled)
        for path in sorted(segments.glob("*" + OPEN_SUFFIX), reverse=newest_first):
            try:
                records = read_segment(path)
            except FileNotFoundError:  # closed meanwhile; seen by the next read
                continue
            live += records if last is None else records[-last:]
    return rolled, live


def _has_rolled(rolled: Path) -> bool:
    return rolled.is_dir() and any(rolled.glob("**/*.parquet"))


def served_rows(log_root: str | Path, since: str | None = None) -> pd.DataFrame:
    """One row per logged prediction at or after `since` (ISO time; None: all), with FIELDS;
    rows the server refused (route "rejected") are not predictions and are left out.

    `probabilities` is a dict per row (or None); `time` is text as logged; a field a record
    lacks (an `error` when none occurred) is None.
    """
    rolled, live = _roll_and_read_live(Path(log_root))
    frames = []
    if _has_rolled(rolled):
        frames.append(query("SELECT * FROM predictions", rolled).to_pandas())
    live = [r for r in live if r.get("route") != ROUTE_REJECTED]
    if live:
        frames.append(pd.DataFrame(live))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for name in FIELDS:
        if name not in frame.columns:
            frame[name] = None
    frame = frame[list(FIELDS)].copy()
    frame["probabilities"] = frame["probabilities"].map(_parsed)
    frame["model_version"] = pd.to_numeric(frame["model_version"], errors="coerce")
    if since is not None and len(frame):
        times = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
        frame = frame[times >= pd.Timestamp(since).tz_convert("UTC")].reset_index(drop=True)
    return frame
