"""Which inputs could be dropped together without loss (data.2, data.3), and the proof of it.

An input that barely moves the metric when shuffled alone is a *candidate*, not yet useless:
it may stand in for other inputs, or they for it. Advice to drop inputs is given only for a
set that passes two measurements, in this order:

1. Shuffled together, on the evaluation rows of permutation importance (`search_droppable`):
   - the candidates of each group of associated inputs (`keel.model.clusters`) are shuffled
     together (one row permutation for the whole group); when the metric drops above noise,
     they carry signal the model reads from one or another of them, and they are kept;
   - the candidates left are ranked by their own importance (least first) and the longest
     prefix whose members, shuffled all together, do not move the metric above noise is
     found by bisection; the rest are kept (weak alone, they help together).
2. Retrained without them (`check_drop`): the user's training function is run with the same
   seed on the training rows (a seeded sample of at most `DROP_ROWS`, fewer for wide data)
   without the set, and the primary metric on at most `DROP_EVAL_ROWS` evaluation rows must
   be at most `max_drop` below the model's with every input (the trained model when every
   training row was used, else a training on the same sample). Retraining that would take
   more than the training budget, or that fails, leaves the set unverified: it is reported,
   never advised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import CheckError
from keel.model.budget import affordable_rows
from keel.model.clusters import correlated_groups
from keel.model.contract import Dataset, Fit, Predict, PredictWith
from keel.model.importance import InputImportance, group_drops, sample_rows
from keel.model.metrics import compute

MAX_GROUP_TESTS = 96  # correlated groups shuffled together; more are kept untested
DROP_ROWS = 20_000  # training rows of the retraining without the inputs (cells bind too)
DROP_EVAL_ROWS = 20_000


@dataclass
class GroupTest:
    """The drops of the metric when some inputs are shuffled together."""

    members: list[str]
    drops: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.drops))

    @property
    def helps(self) -> bool:
        """Above noise, by the rule of single inputs (`InputImportance.above_noise`)."""
        return InputImportance("", self.drops).above_noise


@dataclass
class DropSearch:
    """The candidates for dropping, how they were shuffled together, and the set left."""

    candidates: list[str]
    groups: list[GroupTest] = field(default_factory=list)  # candidates of each correlated group
    together: GroupTest | None = None  # the droppable set, shuffled all together
    droppable: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # candidate: why it is not droppable
    group_of: dict[str, GroupTest] = field(default_factory=dict)  # kept for its group

    def group_share(self, name: str) -> float:
        """An equal part of the drop of the helping group the input was kept for (0 if none)."""
        test = self.group_of.get(name)
        return max(test.mean, 0.0) / len(test.members) if test else 0.0


def search_droppable(
    predict: Predict,
    inputs: pd.DataFrame,
    target: pd.Series | np.ndarray,
    candidates: list[str],
    importance: dict[str, float],
    *,
    metric: str,
    repeats: int,
    min_association: float,
    seed: int = 0,
) -> DropSearch:
    """Step 1 of the module docstring on the evaluation rows `inputs`, `target`.

    `candidates`: the inputs not above noise alone; `importance`: the order of the bisection,
    least useful first: every candidate's upper bound of its drop when shuffled alone (mean
    plus as many standard deviations as the noise rule takes), so an input that never moves
    the metric comes before one whose drops are noise around zero.
    """
    found = DropSearch(list(candidates))
    if not candidates:
        return found
    y = np.asarray(target)
    frame = inputs.reset_index(drop=True)
    baseline = compute(metric, y, predict(frame))

    def shuffled(members: list[str]) -> GroupTest:
        drops = group_drops(
            predict, frame, y, baseline, members, metric=metric, repeats=repeats, seed=seed
        )
        return GroupTest(members, drops)

    groups = correlated_groups(frame[candidates], min_association=min_association, seed=seed)
    for index, members in enumerate(groups):
        if index >= MAX_GROUP_TESTS:
            for name in members:
                found.kept[name] = (
                    f"associated with {len(members) - 1} other candidate(s); not shuffled "
                    f"with them (more than {MAX_GROUP_TESTS} groups)"
                )
            continue
        test = shuffled(members)
        found.groups.append(test)
        if test.helps:
            for name in members:
                found.kept[name] = (
                    f"stands in for {len(members) - 1} associated input(s): shuffled together, "
                    f"{metric} drops {test.mean:.4g}"
                )
                found.group_of[name] = test
    left = sorted((c for c in candidates if c not in found.kept), key=lambda c: importance[c])
    if not left:
        return found
    tests: dict[int, GroupTest] = {len(left): shuffled(left)}
    low, high = 0, len(left)
    if not tests[high].helps:
        low = high
    while high - low > 1:  # prefix `low` does not help (or is empty), prefix `high` does
        middle = (low + high) // 2
        tests[middle] = shuffled(left[:middle])
        low, high = (low, middle) if tests[middle].helps else (middle, high)
    found.droppable = left[:low]
    found.together = tests.get(low)
    whole = tests[len(left)]
    for name in left[low:]:
        found.kept[name] = (
            f"weak alone, but the {len(left)} weak inputs shuffled together drop {metric} by "
            f"{whole.mean:.4g} (the {low} weakest of them, by none above noise)"
        )
    return found


@dataclass
class DropCheck:
    """The model retrained without some inputs, against the model with every input."""

    dropped: list[str]
    metric: str
    max_drop: float
    with_all: float | None = None
    without: float | None = None
    train_rows: int = 0
    eval_rows: int = 0
    seconds: float = 0.0
    stopped: str = ""  # why it was not retrained, or why the retraining failed

    @property
    def verified(self) -> bool:
        return not self.stopped and self.with_all is not None and self.without is not None

    @property
    def loss(self) -> float:
        """How much the metric fell without the inputs (negative: it rose)."""
        if self.with_all is None or self.without is None:
            return float("nan")
        return self.with_all - self.without

    @property
    def holds(self) -> bool:
        """Retrained without the inputs, the metric is at most `max_drop` lower."""
        return self.verified and self.loss <= self.max_drop + 1e-12

    def describe(self, *, named: bool = False) -> str:
        """The outcome in words, for summaries and tables; `named`: the inputs left out are
        named rather than called "them"."""
        if not self.verified:
            return f"not verified: {self.stopped}"
        them = ", ".join(self.dropped[:10]) + (" …" if len(self.dropped) > 10 else "")
        change = f"{self.metric} {self.with_all:.4g} → {self.without:.4g}"
        done = f"retrained without {them if named else 'them'}: {change}"
        if self.holds:
            return f"{done}, within [importance] max_drop {self.max_drop:g}"
        return f"{done}, a loss of {self.loss:.4g} > [importance] max_drop {self.max_drop:g}"


def check_drop(
    fit: Fit,
    predict: PredictWith,
    train: Dataset,
    evaluation: Dataset,
    dropped: list[str],
    *,
    metric: str,
    seed: int,
    max_drop: float,
    max_seconds: float,
    deep: bool,
    train_seconds: float,
    trained: Any | None = None,
) -> DropCheck:
    """Step 2 of the module docstring: retrain without `dropped` and compare.

    `trained`: the model trained with every input on every training row (with `seed`), used as
    the comparison when the sample holds every row; `train_seconds`: how long that training
    took, to estimate the retraining against `max_seconds` (no limit when `deep`).
    """
    found = DropCheck(list(dropped), metric, max_drop)
    start = time.perf_counter()
    width = train.inputs.shape[1]
    rows = sample_rows(len(train.inputs), affordable_rows(DROP_ROWS, width), seed=seed)
    eval_rows = sample_rows(len(evaluation.inputs), DROP_EVAL_ROWS, seed=seed)
    every_row = len(rows) == len(train.inputs)
    trainings = 1 if every_row and trained is not None else 2
    estimate = trainings * train_seconds * len(rows) / max(len(train.inputs), 1)
    found.train_rows, found.eval_rows = len(rows), len(eval_rows)
    if not deep and estimate > max_seconds:
        found.stopped = (
            f"retraining without them would take about {estimate:.0f} s ({trainings} "
            f"training(s) on {len(rows):,} rows; the model's own took {train_seconds:.1f} s), "
            f"over the {max_seconds:g} s of [importance] max_seconds"
        )
        return found
    x_train, y_train = train.inputs.iloc[rows], train.target.iloc[rows]
    x_eval, y_eval = (
        evaluation.inputs.iloc[eval_rows],
        np.asarray(evaluation.target.iloc[eval_rows]),
    )
    kept = [c for c in x_train.columns if str(c) not in set(dropped)]
    if not kept:
        found.stopped = "no input would be left"
        return found

    def score(estimator: Any, columns: list[Any]) -> float:
        return compute(metric, y_eval, predict(estimator, x_eval[columns]))

    everything = list(x_train.columns)
    try:
        baseline = trained if trainings == 1 else fit(x_train, y_train, seed=seed)
        found.with_all = score(baseline, everything)
        found.without = score(fit(x_train[kept], y_train, seed=seed), kept)
    except CheckError as exc:
        found.stopped = f"training without them failed: {exc}"
    found.seconds = time.perf_counter() - start
    return found


def unverified_hint(check: DropCheck) -> str:
    """How to get a set of inputs verified that Keel could not retrain without."""
    if "max_seconds" in check.stopped:
        return (
            "Keel did not retrain without them: run `keel score --deep`, or raise [importance] "
            "max_seconds, so it checks that the model holds its quality without them."
        )
    return (
        "Retrain without them yourself and compare the metric before dropping them; make the "
        "training function accept any subset of the inputs so Keel can check it."
    )
