"""Personal data found in a system's columns, as data.5 reads the scanner's findings and shows
them in its evidence."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import pandas as pd

from keel.checks._format import name_list
from keel.data import pii
from keel.evidence import Table


def one_per_column(findings: list[pii.PiiFinding]) -> list[pii.PiiFinding]:
    """The strongest finding of each column: a kind of value before a name-like column name."""
    best: dict[str, pii.PiiFinding] = {}
    for f in findings:
        seen = best.get(f.column)
        if seen is None or (seen.kind == "name_like_column" and f.kind != "name_like_column"):
            best[f.column] = f
    return list(best.values())


def to_review(f: pii.PiiFinding) -> bool:
    """A column found by its name alone, whose values do not bear the name out."""
    return f.kind == "name_like_column" and not getattr(f, "confirmed", True)


def found_in(f: pii.PiiFinding) -> str:
    """How a finding was found: by the column's name, or how many sampled values match."""
    if f.kind == "name_like_column":
        return "by its name" + ("" if to_review(f) else ", values vary like identifiers")
    return f"{f.matches} of the sampled values"


def scan_columns(frame: pd.DataFrame) -> tuple[list[pii.PiiFinding], list[pii.PiiFinding]]:
    """The personal data in a frame's columns, one finding per column: (the columns that hold
    it, the columns only named like it, to review)."""
    found = one_per_column(pii.scan(frame))
    return [f for f in found if not to_review(f)], [f for f in found if to_review(f)]


def finding_row(f: pii.PiiFinding, handling: str, model_input: str, verdict: str) -> list[Any]:
    """A row of the findings table: the column, what was found, its handling and verdict."""
    return [f.column, f.kind, found_in(f), f.share, f.example, handling, model_input, verdict]


def review_row(f: pii.PiiFinding, inputs: Container[str]) -> list[Any]:
    """A row of the findings table for a column only named like personal data."""
    return [
        f.column,
        f.kind,
        found_in(f),
        None,
        f.example,
        "n/a",
        "yes" if f.column in inputs else "no",
        "review: the name suggests personal data, the values do not (few distinct "
        "values, no personal data found in them)",
    ]


def findings_table(rows: list[list[Any]]) -> Table:
    """data.5's table of the personal data found, one row per column."""
    columns = ["column", "kind", "found", "share", "masked example", "declared handling"]
    return Table(
        "Personal data found in the training data", [*columns, "model input", "verdict"], rows
    )


def to_review_note(review: list[pii.PiiFinding]) -> str:
    """The end of data.5's summary naming the columns to review ("" when there are none)."""
    if not review:
        return ""
    return (
        f"; {len(review)} column(s) named like personal data to review: "
        f"{name_list([f.column for f in review])}"
    )


def log_findings(log_root: Any, schema: Any) -> tuple[list[list[Any]], list[str], int]:
    """Personal data the prediction log holds raw: (table rows, problems, rows scanned).

    Only values count here (an email address, a card number found in a logged field), never a
    field's name: a hashed `email` is named like personal data but holds none.
    """
    from keel.errors import KeelError
    from keel.serve.logread import logged_inputs

    rows: list[list[Any]] = []
    problems: list[str] = []
    try:
        raw, built = logged_inputs(log_root)
    except KeelError as exc:  # not scanned is not clean
        return rows, [f"the prediction log at {log_root} could not be scanned: {exc}"], 0
    for where, frame in (("inputs", raw), ("model_inputs", built)):
        if frame.empty:
            continue
        for f in one_per_column(pii.scan(frame)):
            if f.kind == "name_like_column":
                continue
            declared = schema.features.get(f.column) if schema else None
            handling = declared.pii if declared else "undeclared"
            rows.append([f"{where}.{f.column}", f.kind, found_in(f), f.share, f.example, handling])
            problems.append(f"the prediction log holds {f.kind} values raw in {where}.{f.column}")
    return rows, problems, len(raw)


def log_table(rows: list[list[Any]]) -> Table:
    """data.5's table of the personal data found raw in the prediction log."""
    columns = ["logged field", "kind", "found", "share", "masked example", "declared handling"]
    return Table("Personal data found raw in the prediction log", columns, rows)
