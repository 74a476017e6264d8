"""How many rows a check's repeated trainings may use, so wide data stays affordable.

Checks that retrain the user's model many times (model.3's sweep, model.4's windows) train on
a sample. On narrow data the sample size in keel.toml (or the check's default) binds; on wide
data the cost of a training grows with rows × inputs, so the sample is also held to
`TRAIN_CELLS` cells, never below `MIN_ROWS` rows. A sample size the user set explicitly in
keel.toml is honoured as it is.
"""

from __future__ import annotations

import time

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


def clock() -> tuple[float, float]:
    """Now, as (wall, CPU) seconds, for `seconds_since`."""
    return time.perf_counter(), time.process_time()


def seconds_since(start: tuple[float, float]) -> float:
    """Seconds since `start` (from `clock`): the smaller of wall and CPU time (all threads).

    Wall time grows on a busy machine and CPU time with threads that spin while they wait;
    the smaller of the two is the steadier measure of what a training costs.
    """
    return min(time.perf_counter() - start[0], time.process_time() - start[1])


def over_budget(first: float, more: int, budget: float, *, deep: bool, key: str) -> str:
    """Why the `more` trainings after a first one of `first` seconds (`seconds_since`) are not
    run in a default run ("" when they are: within `budget` seconds, or `keel score --deep`)."""
    estimate = first * more
    if deep or more <= 0 or estimate <= budget:
        return ""
    return (
        f"one training took {first:.1f} s, so the {more} more it needs would take about "
        f"{estimate:.0f} s, over the {budget:g} s of {key}"
    )
