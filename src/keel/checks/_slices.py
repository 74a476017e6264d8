"""model.6's slices as a table, a chart and facts for its evidence, how a slice reads in a
summary, and what a failing verdict says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.checks._format import num
from keel.errors import CheckError
from keel.evidence import BarChart, Evidence, Table
from keel.system import System

if TYPE_CHECKING:
    from keel.config import SlicesSection
    from keel.model.slices import SliceReport, SliceResult


def slices_table(found: SliceReport, metric: str, overall: float) -> Table:
    """The metric of every displayed slice, its gap to the overall metric and its verdict."""
    return Table(
        f"{metric} per slice (overall {num(overall)})",
        ["slice", "source", "rows", metric, "gap to overall", "verdict"],
        [
            [
                r.slice.name,
                r.slice.source,
                r.size,
                r.metric,
                r.gap,
                r.verdict + (f": {r.note}" if r.note else ""),
            ]
            for r in found.results
        ],
    )


def slices_chart(found: SliceReport, metric: str, overall: float, cfg: SlicesSection) -> BarChart:
    """The metric of every displayed slice with a value, against the overall metric and limits."""
    shown = [r for r in found.results if r.verdict in ("pass", "fail", "reported")]
    reference = {"overall": overall}
    if cfg.max_gap is not None:
        reference["overall − max_gap"] = overall - cfg.max_gap
    if cfg.min_metric is not None:
        reference["min_metric"] = cfg.min_metric
    return BarChart(
        f"{metric} per slice",
        [r.slice.name for r in shown],
        [r.metric for r in shown],
        x_label=metric,
        reference=reference,
        flagged=[r.verdict == "fail" for r in shown],
    )


def slices_facts(
    found: SliceReport, metric: str, overall: float, eval_rows: int
) -> dict[str, object]:
    """How many slices were configured, searched, judged, failing, too small or undefined."""
    facts: dict[str, object] = {
        "metric": metric,
        "overall": overall,
        "eval_rows": eval_rows,
        "judged_slices": len(found.judged),
        "configured_slices": len(found.configured),
        "searched_columns": len(found.searched_columns),
        "searched_slices": found.searched_slices,
        "failing_slices": len(found.failing),
        "too_small": sum(r.verdict == "too small" for r in found.configured + found.searched),
        "undefined": sum(r.verdict == "undefined" for r in found.configured + found.searched),
        "shown_slices": len(found.results),
    }
    if found.skipped_columns:
        facts["skipped_numeric_columns"] = len(found.skipped_columns)
        facts["search_note"] = found.screen
    return facts


def worst_text(worst: SliceResult, metric: str, overall: float) -> str:
    """The worst slice in a summary: its metric against the overall one, gap and size."""
    return (
        f"worst slice {worst.slice.name}: {metric} {num(worst.metric)} vs {num(overall)} "
        f"overall (gap {worst.gap:+.4g}, {worst.size} rows)"
    )


def slice_columns_error(system: System, frame_columns: list[str], missing: str) -> CheckError:
    """The error for a [slices] column the evaluation data does not have."""
    configured = ", ".join(f'"{c}"' for c in system.config.slices.columns)
    shown = ", ".join(map(str, frame_columns[:30]))
    return CheckError(
        f'keel.toml: [slices] columns = [{configured}]: column "{missing}" is not in the '
        f"evaluation data; columns are: {shown}"
    )


def slices_fail(
    evidence: Evidence,
    cfg: SlicesSection,
    metric: str,
    overall: float,
    judged: list[SliceResult],
    failing: list[SliceResult],
) -> Evidence:
    """model.6's failing verdict: how many slices fail, the worst, and what to do."""
    worst = min(judged, key=lambda r: r.metric)
    evidence.facts.update(
        worst_slice=worst.slice.name, worst_metric=worst.metric, worst_gap=worst.gap
    )
    evidence.status = "fail"
    evidence.summary = f"{len(failing)} slice(s) fail; {worst_text(worst, metric, overall)}"
    failing = sorted(failing, key=lambda r: r.metric)
    names = ", ".join(r.slice.name for r in failing[:3]) + (" …" if len(failing) > 3 else "")
    limits = []
    if cfg.max_gap is not None:
        limits.append(f"{metric} at most {cfg.max_gap:g} below overall ([slices] max_gap)")
    if cfg.min_metric is not None:
        limits.append(f"{metric} at least {cfg.min_metric:g} ([slices] min_metric)")
    evidence.hint = (
        f"Improve the model on {names} so that every slice has {' and '.join(limits)}: "
        "collect more or cleaner labelled data for those rows, add features that explain "
        "them, or weight them in training. Loosen the limits only if the gap is acceptable."
    )
    return evidence
