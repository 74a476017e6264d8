"""Rows the user's model cannot predict: found once, reported once, left out of the other checks.

A model that raises on some real rows (blank strings turned into NaN by the feature code, say,
and an estimator that refuses NaN) is a finding about the system, not a crash of Keel. The rows
that raise are found by splitting the evaluation rows until each failing row is isolated, so
the other checks can run on the rows the model does predict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Most model calls spent isolating failing rows; rows still unresolved then are left out too.
MAX_CALLS = 4_000


@dataclass
class Unpredictable:
    """Evaluation rows on which the model raises, and what they have in common."""

    rows: list[int]  # positions in the full evaluation frame
    total: int  # evaluation rows in all
    error: str  # the first error raised, "Type: message"
    ids: list[Any] | None = None  # their `[system] id` values
    inputs: dict[str, int] = field(default_factory=dict)  # input -> failing rows missing it
    unresolved: int = 0  # rows left out without being isolated (search budget spent)

    def kept(self) -> np.ndarray:
        """A mask over the full evaluation frame: True for the rows the model predicts."""
        keep = np.ones(self.total, dtype=bool)
        keep[self.rows] = False
        return keep

    def summary(self) -> str:
        """One line: how many rows, which ids and inputs, and the error."""
        n = len(self.rows)
        shown = ""
        if self.ids:
            first = ", ".join(map(str, self.ids[:5]))
            shown = f" (ids {first}{', …' if n > 5 else ''})"
        why = ""
        if self.inputs:
            top = sorted(self.inputs.items(), key=lambda kv: -kv[1])[:5]
            why = "; missing or blank in them: " + ", ".join(f"{c} ({k})" for c, k in top)
        return f"the model raises on {n} of {self.total} evaluation rows{shown}{why}: {self.error}"


def _missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cell: missing (None, NaN) or a blank string."""
    missing = frame.isna()
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            blank = values.map(lambda v: isinstance(v, str) and not v.strip())
            missing[column] = missing[column] | blank.astype(bool)
    return missing


def find_unpredictable(
    predict: Callable[[pd.DataFrame], Any], inputs: pd.DataFrame
) -> tuple[np.ndarray, int]:
    """Positions of the rows `predict` raises on, and how many were left out unresolved.

    Rows are grouped by which inputs are missing (the usual cause), then each group that
    raises is split in halves until the failing rows are isolated.
    """
    missing = _missing(inputs)
    patterns = missing.to_numpy().view(np.uint8) if len(missing.columns) else None
    if patterns is None:
        groups = [np.arange(len(inputs))]
    else:
        keys = pd.Series([p.tobytes() for p in np.atleast_2d(patterns)])
        groups = [np.asarray(idx) for idx in keys.groupby(keys).indices.values()]
    bad: list[np.ndarray] = []
    unresolved = 0
    calls = 0
    stack = sorted(groups, key=len)
    while stack:
        idx = stack.pop()
        if calls >= MAX_CALLS:
            bad.append(idx)
            unresolved += len(idx)
            continue
        calls += 1
        try:
            predict(inputs.iloc[idx])
            continue
        except Exception:
            pass
        if len(idx) == 1:
            bad.append(idx)
        else:
            mid = len(idx) // 2
            stack.extend([idx[mid:], idx[:mid]])
    rows = np.sort(np.concatenate(bad)) if bad else np.array([], dtype=int)
    return rows, unresolved


def describe_unpredictable(
    rows: np.ndarray,
    unresolved: int,
    inputs: pd.DataFrame,
    raw: pd.DataFrame,
    error: BaseException,
    id_column: str | None,
) -> Unpredictable:
    """The report of the failing rows: ids, inputs missing more often in them, the error."""
    mask = np.zeros(len(inputs), dtype=bool)
    mask[rows] = True
    missing = _missing(inputs)
    in_bad = missing[mask].sum()
    rate_bad = in_bad / max(int(mask.sum()), 1)
    rate_good = missing[~mask].sum() / max(int((~mask).sum()), 1)
    blamed = {
        str(c): int(in_bad[c]) for c in missing.columns if in_bad[c] and rate_bad[c] > rate_good[c]
    }
    ids = None
    if id_column and id_column in raw.columns:
        ids = [v.item() if hasattr(v, "item") else v for v in raw[id_column].iloc[rows]]
    text = f"{type(error).__name__}: {error}".splitlines()[0][:300]
    return Unpredictable(
        rows=[int(r) for r in rows],
        total=len(inputs),
        error=text,
        ids=ids,
        inputs=blamed,
        unresolved=unresolved,
    )
