"""What infra.2's smoke test, the evaluation rows the model raises on and the tests of the
training code show in its evidence."""

from __future__ import annotations

from typing import Any

from keel.checks._coverage import SuiteRun
from keel.evidence import Table
from keel.model.smoke import EdgeRows, Smoke
from keel.system import System


def well_formed(system: System, has_proba: bool) -> str:
    """What the smoke test checked of the predictions, in the task's words."""
    if system.task == "regression":
        return "one finite number per row"
    if has_proba:
        return "shape, trained classes, finite probabilities summing to 1"
    return "shape, trained classes"


def edge_tables(edge: EdgeRows) -> list[Table]:
    """The edge rows the trained model raises on or predicts NaN or infinity for, if any."""
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


def smoke_tables(result: Smoke) -> list[Table]:
    """Each step of the smoke test, then the edge rows the trained model fails on."""
    tables = [
        Table(
            f"Smoke test: {result.rows} rows synthesised from {result.source}, then edge rows",
            ["step", "outcome", "detail"],
            [[s.step, s.outcome, s.detail] for s in result.steps],
        )
    ]
    if result.edge is not None:
        tables += edge_tables(result.edge)
    return tables


def smoke_facts(
    result: Smoke, files: list[str], runs: list[SuiteRun], unpredictable: Any
) -> dict[str, Any]:
    """The smoke test's size and failures, the edge rows, the training tests, and how many
    evaluation rows the trained model raises on."""
    edge = result.edge
    return {
        "rows": result.rows,
        "source": result.source,
        "steps_failed": len(result.failed),
        "seconds": result.seconds,
        "edge_rows": edge.rows if edge else 0,
        "edge_rows_raising": (len(edge.raising) + edge.unresolved) if edge else 0,
        "edge_inputs_failing": ", ".join(edge.inputs()) if edge else "",
        "training_test_files": len(files),
        "training_tests_passed": sum(r.passed for r in runs),
        "training_tests_failed": sum(r.failed + r.errors for r in runs),
        "unpredictable_eval_rows": getattr(unpredictable, "total", 0) if unpredictable else 0,
    }
