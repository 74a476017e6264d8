"""Example ids held by more than one row (data.1).

`[system] id` names one example: it joins serving logs, late labels and skew checks to one row.
"""

from __future__ import annotations

from typing import Any

from keel.evidence import Table

DUPLICATES_SHOWN = 5


def duplicate_ids(frames: dict[str, Any], column: str) -> tuple[Table, list[str]]:
    """Values of the id `column` held by more than one row, within a split or across splits.

    An example id joins serving logs, late labels and skew checks to one row: an id on two
    rows makes every one of those joins ambiguous, and an id in both training and evaluation
    data means the model was evaluated on an example it was trained on. Returns a table
    (split, id, rows) of at most `DUPLICATES_SHOWN` ids per kind of problem, and one line per
    problem found.
    """
    rows: list[list[Any]] = []
    problems: list[str] = []
    seen: dict[str, set[str]] = {}
    for split, frame in frames.items():
        ids = frame[column].dropna().astype(str)
        counts = ids.value_counts()
        repeated = counts[counts > 1]
        seen[split] = set(ids.unique())
        if len(repeated):
            extra = int(repeated.sum() - len(repeated))
            shown = [f"{i!r} ({n} rows)" for i, n in repeated.head(DUPLICATES_SHOWN).items()]
            problems.append(
                f"{len(repeated)} id(s) of {column} repeat in the {split} data "
                f"({extra} extra row(s)), e.g. {', '.join(shown)}"
            )
            rows.extend([split, i, int(n)] for i, n in repeated.head(DUPLICATES_SHOWN).items())
    if len(seen) == 2:
        both = sorted(seen["train"] & seen["eval"])
        if both:
            problems.append(
                f"{len(both)} id(s) of {column} are in both the training and the evaluation "
                f"data, e.g. {', '.join(map(repr, both[:DUPLICATES_SHOWN]))}"
            )
            rows.extend(["train and eval", i, None] for i in both[:DUPLICATES_SHOWN])
    table = Table(f"Repeated values of [system] id = {column}", ["split", "id", "rows"], rows)
    return table, problems


def unique_id_hint(column: str | None) -> str:
    """How to make the id column name one row per example."""
    return (
        f"Make [system] id = {column!r} unique: one row per example, with an id no other "
        "row (in either split) has; de-duplicate the data or choose a column that is an id."
    )
