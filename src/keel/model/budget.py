"""How many rows a check's repeated trainings may use, so wide data stays affordable.

Checks that retrain the user's model many times (model.3's sweep, model.4's windows) train on
a sample. On narrow data the sample size in keel.toml (or the check's default) binds; on wide
data the cost of a training grows with rows × inputs, so the sample is also held to
`TRAIN_CELLS` cells, never below `MIN_ROWS` rows. A sample size the user set explicitly in
keel.toml is honoured as it is.
"""

from __future__ import annotations

TRAIN_CELLS = 4_000_000  # rows × model inputs per training, for checks that train many times
MIN_ROWS = 2_000  # the cell budget never samples below this many rows


def affordable_rows(size: int, inputs: int, *, explicit: bool = False) -> int:
    """At most `size` rows, and (unless `explicit`) at most `TRAIN_CELLS` / `inputs`, but never
    fewer than `MIN_ROWS` (or `size`, when that is smaller)."""
    if explicit or inputs <= 0:
        return size
    return min(size, max(MIN_ROWS, TRAIN_CELLS // inputs))


def budget_note(rows: int, available: int, inputs: int, size: int) -> str:
    """Why a training sample is smaller than asked ("" when the cell budget did not bind)."""
    if rows >= min(size, available):
        return ""
    return (
        f"trained on {rows:,} of {available:,} rows: {inputs:,} inputs, and at most "
        f"{TRAIN_CELLS:,} cells (rows × inputs) per training"
    )


def over_budget(first: float, more: int, budget: float, *, deep: bool, key: str) -> str:
    """Why the `more` trainings after a first one of `first` CPU seconds are not run in a
    default run ("" when they are: within `budget` CPU seconds, or `keel score --deep`).

    The estimate is the first training's CPU time (all threads) times the trainings left; CPU
    time, not wall time, so that a busy machine does not change the verdict.
    """
    estimate = first * more
    if deep or more <= 0 or estimate <= budget:
        return ""
    return (
        f"one training took {first:.1f} CPU s, so the {more} more it needs would take about "
        f"{estimate:.0f} CPU s, over the {budget:g} s of {key}"
    )
