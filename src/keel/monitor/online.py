"""Quality on served traffic judged window by window from what the intake kept, each judgement
stored with what it rests on.

monitor.7 judges the newest windows; model.2 measures each version on the newest windows it
served. Both read the served rows the intake kept (`keel.monitor.outputs`) of those windows
only, and store each window's judgement under `quality/` beside them with its key: the kept
files it read (names and sizes), the labels' fingerprint, the reference and the limits. A
window whose key is unchanged is not read again; a window that took new rows, or whose late
labels arrived since (the labels' fingerprint changed), is judged again from its kept rows.
So a run costs what changed since the last one, never what the log has gathered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from keel.atomic import write_text_atomic
from keel.monitor.outputs import fingerprint, read_outputs
from keel.monitor.quality import (
    Estimate,
    Limits,
    Reference,
    WindowQuality,
    assess_window,
    online_metric,
    reference_window,
)
from keel.monitor.windows import folder_name

RECENT = 7  # windows monitor.7 judges, and each version's windows model.2 measures: the newest


@dataclass
class Labels:
    """Late labels by example id (as text), read only when a judgement needs them.
    `fingerprint` changes whenever what `read` returns may have changed."""

    fingerprint: str
    read: Callable[[], pd.Series | None]
    _value: Any = field(default=None, repr=False)
    _done: bool = field(default=False, repr=False)

    def value(self) -> pd.Series | None:
        if not self._done:
            self._value, self._done = self.read(), True
        return self._value


NO_LABELS = Labels("none", lambda: None)


def _memo_path(state_dir: Path, kind: str, window: str, version: int) -> Path:
    return state_dir / "quality" / kind / folder_name(window) / f"v{version}.json"


def _key(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load(path: Path, key: str) -> dict[str, Any] | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored.get("value") if isinstance(stored, dict) and stored.get("key") == key else None


def _store(path: Path, key: str, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"key": key, "value": value}))


def _quality_of(data: dict[str, Any]) -> WindowQuality:
    data = dict(data)
    for name in ("estimated", "drop"):
        if data.get(name) is not None:
            data[name] = Estimate(**data[name])
    return WindowQuality(**data)


def served_rows(state_dir: Path, keys: list[tuple[str, int]]) -> pd.DataFrame:
    """The kept rows of the given windows that have a prediction (errors left out)."""
    rows = read_outputs(state_dir, keys)
    ok = rows["error"].isna() & rows["prediction"].notna() & rows["time"].notna()
    return rows[ok].reset_index(drop=True)


def judge_windows(
    state_dir: str | Path,
    keys: list[tuple[str, int]],
    *,
    first_windows: dict[int, str],
    references: dict[int, tuple[Reference, str]],
    labels: Labels,
    offline: dict[int, float],
    limits: Limits,
) -> list[WindowQuality]:
    """Each (window, version) of `keys` judged (`keel.monitor.quality.assess_window`) against
    its version's reference: `references` (the reference and a fingerprint of it), else the
    version's first window (`first_windows`). Judgements whose key is unchanged are read back,
    not recomputed."""
    state_dir = Path(state_dir)
    out: list[WindowQuality] = []
    firsts: dict[int, Reference] = {}
    for window, version in sorted(keys):
        given = references.get(version)
        first = first_windows.get(version, window)
        ref_key = given[1] if given else ["window", first, fingerprint(state_dir, first, version)]
        key = _key(
            fingerprint(state_dir, window, version),
            labels.fingerprint,
            ref_key,
            offline.get(version),
            asdict(limits),
        )
        path = _memo_path(state_dir, "windows", window, version)
        stored = _load(path, key)
        if stored is not None:
            out.append(_quality_of(stored))
            continue
        if given is not None:
            ref = given[0]
        else:
            if version not in firsts:
                firsts[version] = reference_window(
                    served_rows(state_dir, [(first, version)]), first
                )
            ref = firsts[version]
        rows = served_rows(state_dir, [(window, version)])
        judged = assess_window(
            rows, window, version, ref, labels.value(), offline.get(version), limits
        )
        _store(path, key, asdict(judged))
        out.append(judged)
    return out


@dataclass(frozen=True)
class VersionQuality:
    """One version's primary metric on the labelled rows of the newest windows it served."""

    version: int
    labelled: int
    online: float | None
    windows: int


def measure_versions(
    state_dir: str | Path,
    windows: dict[int, list[str]],
    *,
    labels: Labels,
    task: str,
    metric: str,
) -> list[VersionQuality]:
    """Each version's online metric on the labelled rows of its newest RECENT windows
    (`windows`: each version's windows, oldest first), stored with its key as `judge_windows`
    stores window judgements."""
    state_dir = Path(state_dir)
    out = []
    for version, mine in sorted(windows.items()):
        newest = mine[-RECENT:]
        keys = [(w, version) for w in newest]
        key = _key([fingerprint(state_dir, w, version) for w in newest], labels.fingerprint, metric)
        path = _memo_path(state_dir, "versions", newest[-1], version)
        stored = _load(path, key)
        if stored is None:
            given = labels.value()
            if given is None or not len(given):  # nothing to join: the rows are not read
                n, value = 0, None
            else:
                rows = served_rows(state_dir, keys)
                n, value = online_metric(rows, given, task=task, metric=metric)
            stored = asdict(VersionQuality(version, n, value, len(newest)))
            _store(path, key, stored)
        out.append(VersionQuality(**stored))
    return out


def labelled_ids(state_dir: str | Path, keys: list[tuple[str, int]]) -> pd.Series:
    """The example ids (as text) of the kept served rows of `keys`: the side of the label join
    that a misspelt id column leaves unmatched."""
    rows = read_outputs(state_dir, keys)
    return rows["example_id"].dropna().astype(str)
