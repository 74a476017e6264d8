"""Which raw columns the model inputs depend on: the columns a slice search may look at.

The feature code can drop raw columns (parts that add up to the target, notes, identifiers) or
turn them into other inputs (a date into an hour, a category into indicator columns). A column
the model cannot see is no place to look for its weak slices: slicing on the parts of the
target slices on the target itself. A raw column counts as a dependency when it is a model
input under its own name, or when changing it changes the model inputs: each of its values is
replaced by the next distinct value (so every present value changes), the feature code is run
again on a seeded sample of rows, and the inputs are compared with those of the unchanged rows.
At most `MAX_TESTED` such columns are tested one by one (after one run that changes them all
at once: no change, none of them counts); beyond that, and when the feature code cannot run on
the sample at all, a column counts as a dependency, as if every raw column were searched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from keel.model.contract import Build

SAMPLE_ROWS = 500  # rows the feature code is rerun on per column
MAX_TESTED = 200  # raw columns tested one by one at most; the rest count as dependencies


def shifted(series: pd.Series) -> pd.Series:
    """Every present value replaced by the next of the column's distinct values (the largest
    by the smallest); missing values stay missing. A column with one value is returned as is."""
    present = series.dropna()
    try:
        values = sorted(present.unique())
    except TypeError:  # values of mixed types: order them as text
        values = sorted(present.unique(), key=str)
    if len(values) < 2:
        return series
    following = dict(zip(values, values[1:] + values[:1], strict=True))
    moved = series.map(following)
    try:
        return moved.astype(series.dtype)
    except (TypeError, ValueError):
        return moved


def _same(first: pd.DataFrame, second: pd.DataFrame) -> bool:
    """Whether two frames of model inputs hold the same columns and values."""
    if list(first.columns) != list(second.columns) or first.shape != second.shape:
        return False
    return bool(first.reset_index(drop=True).equals(second.reset_index(drop=True)))


def dependencies(
    raw: pd.DataFrame,
    build: Build,
    inputs: Sequence[str],
    candidates: Sequence[str],
    *,
    seed: int = 0,
) -> list[str]:
    """The `candidates` (raw column names) the model `inputs` (their names) depend on through
    `build` (the feature code): inputs under their own name, and the others whose change
    changes the built inputs (module docstring). A column whose change makes the feature code
    fail counts as a dependency: it cannot be told apart."""
    direct = set(inputs)
    others = [c for c in candidates if c not in direct]
    found = {c for c in candidates if c in direct}
    if others:
        pick = np.sort(np.random.default_rng(seed).permutation(len(raw))[:SAMPLE_ROWS])
        sample = raw.iloc[pick]
        found |= _read(sample, build, others)
    return [c for c in candidates if c in found]


def _changes(sample: pd.DataFrame, build: Build, before: pd.DataFrame, names: list[str]) -> bool:
    """Whether shifting the columns `names` of `sample` changes the inputs `build` makes (a
    feature code that fails on the change counts as changed)."""
    changed = sample.copy()
    for name in names:
        changed[name] = shifted(sample[name])
    try:
        after = build(changed)
    except Exception:  # noqa: BLE001 (the feature code reads them: it cannot take a change)
        return True
    return not _same(before, after)


def _read(sample: pd.DataFrame, build: Build, names: list[str]) -> set[str]:
    """Which of the raw columns `names` (not inputs themselves) the feature code reads."""
    try:
        before = build(sample.copy())
    except Exception:  # noqa: BLE001 (cannot run on a sample: every column may matter)
        return set(names)
    if not _changes(sample, build, before, names):
        return set()
    tested, rest = names[:MAX_TESTED], names[MAX_TESTED:]
    return {n for n in tested if _changes(sample, build, before, [n])} | set(rest)
