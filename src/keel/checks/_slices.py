"""model.6's slices as a table, a chart and facts for its evidence, how a slice reads in a
summary, what a failing verdict says, and why nothing was judged when nothing was.

A regression's slices are judged on their error against the whole's (`keel.model.slice_error`):
the table and chart show that error and its ratio, with the primary metric (R²) beside.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from keel.checks._format import num
from keel.errors import CheckError
from keel.evidence import BarChart, Evidence, Table
from keel.system import System

if TYPE_CHECKING:
    from keel.config import SlicesSection
    from keel.model.slices import SliceReport, SliceResult


def slices_table(found: SliceReport, metric: str, overall: float) -> Table:
    """The metric of every displayed slice, its gap to the overall metric and its verdict (and
    for a regression, first the slice's error and its ratio to the whole's)."""
    rule = found.error_rule
    if rule is not None:
        return Table(
            f"{rule.kind} per slice against the whole's (overall {rule.kind} "
            f"{num(rule.overall)}, {metric} {num(overall)})",
            ["slice", "source", "rows", rule.kind, f"{rule.kind} ÷ overall", metric, "verdict"],
            [
                [
                    r.slice.name,
                    r.slice.source,
                    r.size,
                    r.error,
                    r.ratio,
                    r.metric,
                    r.verdict + (f": {r.note}" if r.note else ""),
                ]
                for r in found.results
            ],
        )
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
    rule = found.error_rule
    if rule is not None:
        return BarChart(
            f"{rule.kind} per slice ÷ the whole's {rule.kind}",
            [r.slice.name for r in shown],
            [r.ratio for r in shown],
            x_label=f"{rule.kind} ÷ overall",
            reference={"overall": 1.0, "max_error_ratio": rule.max_ratio},
            flagged=[r.verdict == "fail" for r in shown],
        )
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
    if found.error_rule is not None:
        facts["error"] = found.error_rule.kind
        facts["overall_error"] = found.error_rule.overall
    return facts


def worst_of(found: SliceReport, judged: list[SliceResult]) -> dict[str, object]:
    """The facts of the worst judged slice (the largest error ratio for a regression)."""
    worst = min(judged, key=lambda r: r.standing)
    facts: dict[str, object] = {
        "worst_slice": worst.slice.name,
        "worst_metric": worst.metric,
        "worst_gap": worst.gap,
    }
    if found.error_rule is not None:
        facts.update(worst_error=worst.error, worst_error_ratio=worst.ratio)
    return facts


def worst_text(
    worst: SliceResult, metric: str, overall: float, found: SliceReport | None = None
) -> str:
    """The worst slice in a summary: its metric against the overall one, gap and size (for a
    regression, its error against the whole's first, its metric beside)."""
    rule = found.error_rule if found is not None else None
    if rule is not None:
        beside = "" if math.isnan(worst.metric) else f"; {metric} {num(worst.metric)}"
        return (
            f"worst slice {worst.slice.name}: {rule.kind} {num(worst.error)} vs "
            f"{num(rule.overall)} overall (×{worst.ratio:.3g}{beside} vs {num(overall)}, "
            f"{worst.size} rows)"
        )
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
    found: SliceReport,
) -> Evidence:
    """model.6's failing verdict: how many slices fail, the worst, and what to do."""
    judged, failing = found.judged, found.failing
    worst = min(judged, key=lambda r: r.standing)
    evidence.facts.update(worst_of(found, judged))
    evidence.status = "fail"
    evidence.summary = f"{len(failing)} slice(s) fail; {worst_text(worst, metric, overall, found)}"
    failing = sorted(failing, key=lambda r: r.standing)
    names = ", ".join(r.slice.name for r in failing[:3]) + (" …" if len(failing) > 3 else "")
    limits = []
    rule = found.error_rule
    if rule is not None:
        limits.append(
            f"{rule.kind} at most {rule.max_ratio:g}× the whole's ([slices] max_error_ratio)"
        )
    elif cfg.max_gap is not None:
        limits.append(f"{metric} at most {cfg.max_gap:g} below overall ([slices] max_gap)")
    if cfg.min_metric is not None:
        limits.append(f"{metric} at least {cfg.min_metric:g} ([slices] min_metric)")
    evidence.hint = (
        f"Improve the model on {names} so that every slice has {' and '.join(limits)}: "
        "collect more or cleaner labelled data for those rows, add features that explain "
        "them, or weight them in training. Loosen the limits only if the gap is acceptable."
    )
    return evidence


def search_frame(
    system: System, raw: pd.DataFrame, inputs: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """The evaluation rows as model.6 slices them, and the raw columns it leaves out.

    The frame holds the configured [slices] columns, the raw columns the model inputs depend on
    (`keel.model.dependence`), and the model inputs the feature code derives (not in the raw
    data). Raw columns the model cannot see (dropped by the feature code) are not searched:
    they are returned, to be named.
    """
    from keel.model.dependence import dependencies

    s = system.config.system
    roles = {c for c in (s.target, s.id, s.timestamp) if c}
    configured = list(system.config.slices.columns)
    candidates = [c for c in raw.columns if c not in roles and c not in configured]
    kept = list(inputs.columns)

    def build(rows: pd.DataFrame) -> pd.DataFrame:
        return system.inputs(rows)[kept]

    used = dependencies(raw, build, kept, candidates) if system.features_function else candidates
    unused = [c for c in candidates if c not in set(used)]
    derived = [c for c in kept if c not in raw.columns and c not in roles]
    frame = pd.concat(
        [raw[[c for c in raw.columns if c not in set(unused)]], inputs[derived]], axis=1
    )
    return frame, unused


def nothing_judged(
    found: SliceReport, cfg: SlicesSection, metric: str, eval_rows: int, unjudged: list[str]
) -> tuple[str, str]:
    """(summary, hint) of model.6 when no slice, or no slice of a configured column, was
    judged: the real reason, from what the configured slices and the search found."""
    size = f"at least {cfg.min_size} rows ([slices] min_size)"
    if unjudged:
        return (
            f"too little data to judge: [slices] columns {', '.join(unjudged)}: no slice has "
            f"{size} with a defined {metric}, out of {eval_rows:,} evaluation rows",
            f"Evaluate on more rows (each slice needs {cfg.min_size}), or lower [slices] "
            f"min_size (now {cfg.min_size}) if fewer rows per slice are enough to judge it; or "
            f"name slice columns whose values each cover enough rows (now "
            f"{', '.join(unjudged)}).",
        )
    searched = found.searched
    reported = [r for r in searched if r.verdict == "reported"]
    undefined = [r for r in searched if r.verdict == "undefined"]
    why = []
    if not cfg.columns:
        why.append("no [slices] columns are configured")
    if not cfg.search:
        why.append("the search is off ([slices] search = false)")
    elif not found.searched_columns:
        why.append("the search found no column to slice")
    else:
        if reported:
            columns = len({r.slice.column for r in reported})
            why.append(
                f"the search's {len(reported)} slice(s) with {size} are ranges or values of "
                f"{columns} numeric column(s), which are reported, not judged"
            )
        if undefined:
            why.append(f"{metric} is undefined on {len(undefined)} searched slice(s)")
        if found.small_slices:
            why.append(
                f"{found.small_slices} searched slice(s) have fewer than {cfg.min_size} rows"
            )
    summary = "no slice was judged: " + "; ".join(why) + f" ({eval_rows:,} evaluation rows)"
    hint = (
        'Name the slices that matter in [slices] columns (e.g. columns = ["region"]): a '
        "configured column is judged on every value (a numeric one on every value, or quantile "
        "bin when it has many)"
    )
    if found.small_slices and not reported:
        hint += (
            f"; or evaluate on more rows, or lower [slices] min_size (now {cfg.min_size}) if "
            "fewer rows per slice are enough to judge it"
        )
    return summary, hint + "."
