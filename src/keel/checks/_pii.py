"""Personal data found in a system's columns, as data.5 reads the scanner's findings and shows
them in its evidence."""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
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


def log_findings(system: Any, schema: Any) -> tuple[list[list[Any]], list[str], int]:
    """Personal data the prediction log holds raw: (table rows, problems, rows scanned).

    Every logged row (served or refused) is scanned once, when the monitor intake takes its
    part (`keel.monitor.intake`), and the findings are kept with the window summaries; this
    reads them, after taking any new parts. Only values count (an email address, a card
    number found in a logged field), never a field's name: a hashed `email` is named like
    personal data but holds none.
    """
    from keel.checks._monitor_state import log_root, monitor_state
    from keel.errors import KeelError

    try:
        windows = list(monitor_state(system).windows.values())
    except KeelError as exc:  # not scanned is not clean
        return [], [f"the prediction log at {log_root(system)} could not be scanned: {exc}"], 0
    found: dict[str, dict[str, dict[str, Any]]] = {}
    values: dict[str, int] = {}
    scanned = unscanned = 0
    for w in windows:
        if w.pii_rows is None:
            unscanned += w.received
            continue
        scanned += w.pii_rows
        for name, count in w.pii_values.items():
            values[name] = values.get(name, 0) + count
        for name, kinds in w.pii.items():
            for kind, hit in kinds.items():
                slot = found.setdefault(name, {}).setdefault(kind, {**hit, "matches": 0})
                slot["matches"] += hit["matches"]
    rows: list[list[Any]] = []
    problems: list[str] = []
    for name, kinds in sorted(found.items()):
        kind, hit = max(kinds.items(), key=lambda k: k[1]["matches"])
        column = name.split(".", 1)[1]
        declared = schema.features.get(column) if schema else None
        handling = declared.pii if declared else "undeclared"
        share = hit["matches"] / values[name] if values.get(name) else None
        found_how = f"{hit['matches']:,} of the {values.get(name, 0):,} logged values"
        rows.append([name, kind, found_how, share, hit["example"], handling])
        problems.append(f"the prediction log holds {kind} values raw in {name}")
    if unscanned:
        problems.append(
            f"{unscanned:,} logged rows were taken by an older Keel that did not scan them for "
            f"personal data: remove {Path(monitor_state(system).state_dir)} to take the log again"
        )
    return rows, problems, scanned


def log_table(rows: list[list[Any]]) -> Table:
    """data.5's table of the personal data found raw in the prediction log."""
    columns = ["logged field", "kind", "found", "share", "masked example", "declared handling"]
    return Table("Personal data found raw in the prediction log", columns, rows)
