"""The rows of a window whose model inputs are recomputed: a uniform sample over the whole window.

Rerunning the feature code on every served row would cost as much as serving them, so monitor.3
recomputes a sample. The sample must catch a fault wherever it sits in the window (in the tail
of one part, in one of many parts), so it is drawn uniformly over every row of the window:
each served row gets a key, uniform in [0, 1) and reproducible (seeded by the name of the
rolled part it is in and its position there), and a window's sample is the `SAMPLE_SIZE` rows
with the smallest keys (a "bottom-k" sample). Bottom-k samples merge: the smallest keys of the
union of two parts' samples are the smallest keys of the two parts together, so each part is
sampled once, when the intake takes it, and the window's sample is exact whatever the number
of parts.

`SAMPLE_SIZE` = ceil(ln 0.01 / ln 0.99) = 459: a fault in 1% of the rows is in the sample with
99% probability. `missed_share` gives the largest share of faulty rows a sample of a given size
from a window of a given size misses with at least 1% probability: what the evidence says the
sample could have missed.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

CONFIDENCE = 0.99
SAMPLE_SIZE = math.ceil(math.log(1 - CONFIDENCE) / math.log(1 - 0.01))  # 459


def row_keys(part: str, rows: int) -> np.ndarray:
    """The sampling key of each row of the rolled part named `part` (the same every run)."""
    seed = zlib.crc32(part.encode("utf-8"))
    return np.random.default_rng(seed).random(rows)


def smallest(keys: np.ndarray, size: int = SAMPLE_SIZE) -> np.ndarray:
    """The positions of the `size` smallest keys, smallest first."""
    if len(keys) <= size:
        return np.argsort(keys, kind="stable")
    picked = np.argpartition(keys, size - 1)[:size]
    return picked[np.argsort(keys[picked], kind="stable")]


def _log_miss(faulty: int, sampled: int, rows: int) -> float:
    """ln P(a sample of `sampled` of `rows` rows, drawn without replacement, holds none of
    `faulty` faulty rows)."""
    if faulty > rows - sampled:
        return -math.inf
    return sum(math.log1p(-faulty / (rows - i)) for i in range(sampled))


def missed_share(sampled: int, rows: int, confidence: float = CONFIDENCE) -> float:
    """The largest share of a window's `rows` rows that could be faulty while a uniform sample
    of `sampled` of them shows none, with probability at least 1 - `confidence`. 0 when every
    row was sampled; 1 when none was."""
    if rows <= 0 or sampled >= rows:
        return 0.0
    if sampled <= 0:
        return 1.0
    floor = math.log(1 - confidence)
    low, high = 0, rows - sampled  # P(miss) >= 1 - confidence at `low`, not above `high`
    while low < high:
        middle = (low + high + 1) // 2
        if _log_miss(middle, sampled, rows) >= floor:
            low = middle
        else:
            high = middle - 1
    return low / rows
