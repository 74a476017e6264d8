"""What infra.2's smoke test and the evaluation rows the model raises on show in its evidence."""

from __future__ import annotations

from typing import Any

from keel.evidence import Table
from keel.model.smoke import EdgeRows
from keel.system import System


def well_formed(system: System, has_proba: bool) -> str:
    """What the smoke test checked of the predictions, in the task's words."""
    if system.task == "regression":
        return "one finite number per row"
    if has_proba:
        return "shape, trained classes, finite probabilities summing to 1"
    return "shape, trained classes"


def edge_tables(edge: EdgeRows) -> list[Table]:
    rows = [[p.label, p.kind, p.input or "", error] for p, error in edge.raising[:50]]
    rows += [[p.label, p.kind, p.input or "", "NaN or infinity"] for p in edge.not_finite[:50]]
    if edge.unresolved:
        rows.append(
            [f"{edge.unresolved} more rows", "", "", f"not narrowed down: {edge.unresolved_error}"]
        )
    if not rows:
        return []
    return [
        Table(
            f"Rows of the {edge.rows} edge rows (real, missing, blank, seen values) on which "
            "the trained model fails",
            ["row", "kind", "input changed", "what happened"],
            rows,
        )
    ]


def unpredictable_of(system: System) -> Any:
    """The lead's record of evaluation rows the trained model cannot predict, if any."""
    try:
        return getattr(system, "unpredictable", None)
    except Exception:  # the model could not be trained or evaluated: other findings say so
        return None


def unpredictable_table(unpredictable: Any) -> Table:
    """Evaluation rows the trained model raises on: how many, the error, inputs to blame."""
    rows: list[list[Any]] = [
        ["evaluation rows that raise", getattr(unpredictable, "total", None)],
        ["error", getattr(unpredictable, "error", "")],
    ]
    ids = getattr(unpredictable, "ids", None)
    positions = getattr(unpredictable, "rows", None)
    shown = ids if ids is not None else positions
    if shown is not None:
        rows.append(["rows (first 10)", ", ".join(map(str, list(shown)[:10]))])
    for name, count in (getattr(unpredictable, "inputs", None) or {}).items():
        rows.append([f"missing or blank {name} in failing rows", count])
    return Table("Evaluation rows the trained model cannot predict", ["measure", "value"], rows)
