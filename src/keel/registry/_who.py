"""Who acts on the registry, and when: recorded with verdicts, events and abandoned runs."""

from __future__ import annotations

import datetime as dt
import getpass
import os


def now() -> str:
    """The time now, in UTC, as ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def user(who: str | None) -> str:
    """Who acts: as given, else the login name."""
    if who:
        return who
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return os.environ.get("USER") or "unknown"
