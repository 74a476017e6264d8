"""monitor.7: prediction quality on served traffic, judged in the newest windows.

With late labels, each window's primary metric on its labelled rows against the version's
offline metric; without them, the CBPE-estimated drop (classifiers) and the prediction drift
from the evaluation data or the version's first window (`keel.monitor.quality`). Windows are
judged from the served rows the intake kept and each judgement is stored with what it rests on
(`keel.monitor.online`). The verdict: any window failing fails; labels that join no served row
fail, naming both sides' ids; estimates of a poorly calibrated champion are no pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keel.evidence import BarChart, Evidence, Table
from keel.monitor.gates import nothing_served
from keel.monitor.online import RECENT, Labels, judge_windows, labelled_ids
from keel.monitor.quality import (
    MAX_ECE,
    Calibration,
    Limits,
    Reference,
    WindowQuality,
    distrust_estimates,
    estimated_metric,
)
from keel.monitor.state import MonitorState, not_yet_served


@dataclass(frozen=True)
class QualityInputs:
    """What monitor.7 judges from, gathered by its adapter: the windows taken, the limits,
    the late labels, each version's stored offline metric, the champion's evaluation
    reference (with a fingerprint) and CBPE's calibration there."""

    state: MonitorState
    limits: Limits
    labels: Labels
    labels_arrived: bool  # configured, with [system] id, and some file matched
    labels_note: str  # what to say when the configured labels path matches nothing yet
    id_column: str | None
    offline: dict[int, float]
    references: dict[int, tuple[Reference, str]]
    calibration: Calibration | None

    def thresholds(self) -> dict[str, Any]:
        m = self.limits
        drift = "drift_js" if m.task == "regression" else "drift_linf"
        return {
            "quality_tolerance": m.tolerance,
            "min_labels": m.min_labels,
            "min_rows": m.min_rows,
            drift: m.max_distance,
            "max_ece": MAX_ECE,
        }


def recent_keys(state: MonitorState) -> list[tuple[str, int]]:
    """The (window, version)s of the newest RECENT windows the intake took, oldest first."""
    newest = set(sorted({w for w, _ in state.windows})[-RECENT:])
    return sorted(k for k in state.windows if k[0] in newest)


def version_windows(state: MonitorState) -> dict[int, list[str]]:
    """Each version's windows, oldest first."""
    out: dict[int, list[str]] = {}
    for window, version in sorted(state.windows):
        out.setdefault(version, []).append(window)
    return out


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def quality_table(judged: list[WindowQuality], metric: str) -> Table:
    rows = []
    for w in judged:
        drop = (
            "—" if w.drop is None else f"{w.drop.value:.4f} [{w.drop.low:.4f}, {w.drop.high:.4f}]"
        )
        rows.append(
            [
                w.window,
                w.version,
                w.rows,
                w.labelled,
                fmt(w.online),
                fmt(w.offline),
                fmt(w.estimated.value if w.estimated else None),
                drop,
                fmt(w.distance),
                w.verdict,
                "; ".join(w.reasons),
            ]
        )
    columns = ["window", "version", "rows", "labelled", f"online {metric}", f"offline {metric}"]
    columns += ["estimated", "estimated drop [95%]", "prediction drift", "verdict", "why"]
    return Table(f"Quality per window ({metric})", columns, rows)


def quality_chart(judged: list[WindowQuality], metric: str) -> BarChart | None:
    shown = [w for w in judged if w.online is not None or w.estimated is not None]
    if not shown:
        return None
    values = [w.online if w.online is not None else w.estimated.value for w in shown]  # type: ignore[union-attr]
    reference = {f"offline v{w.version}": w.offline for w in shown if w.offline is not None}
    return BarChart(
        f"{metric} per window: online (labels) or estimated, against offline",
        [f"{w.window[:16]} v{w.version} ({w.mode})" for w in shown],
        [float(v) for v in values],
        x_label=metric,
        reference=reference,
        flagged=[w.verdict == "fail" for w in shown],
    )


HINT_7 = (
    "Set [data] labels (a source with the [system] id and target columns) so served rows are "
    "judged on their labels; serve at least [monitor] min_rows rows per window; run "
    "`keel score` again."
)


def _calibration_note(calibration: Calibration | None, metric: str) -> str:
    if calibration is None:
        return ""
    c = calibration
    said = "poorly calibrated, so CBPE's estimates are unreliable" if c.poor else "calibrated"
    said += f" (ECE limit {MAX_ECE:g}, estimate within {c.max_gap:g} of the actual)"
    return (
        f"; the champion's probabilities are {said} (ECE {c.ece:.3f} on the evaluation data; "
        f"{metric} estimated {c.estimated:.4f}, actual {c.actual:.4f})"
    )


def judge_quality(inputs: QualityInputs) -> Evidence:
    """monitor.7: the newest windows judged (`keel.monitor.online.judge_windows`). Labels that
    join no served row fail (naming the join); windows of the champion judged only by CBPE
    while its probabilities are poorly calibrated are unjudged, not a pass."""
    state, limits = inputs.state, inputs.limits
    empty = nothing_served("monitor.7", state) or not_yet_served(
        "monitor.7", state, limits.min_rows
    )
    if empty is not None:
        return empty
    judged = judge_windows(
        state.state_dir,
        recent_keys(state),
        first_windows={v: ws[0] for v, ws in version_windows(state).items()},
        references=inputs.references,
        labels=inputs.labels,
        offline=inputs.offline,
        limits=limits,
    )
    metric, task, calibration = limits.metric, limits.task, inputs.calibration
    has_labels, thresholds = inputs.labels_arrived, inputs.thresholds()
    estimated = estimated_metric(metric) if task != "regression" else None
    champion = None if state.champion is None else state.champion.version
    if calibration is not None and calibration.poor and champion is not None:
        why = f"its probabilities are poorly calibrated, so the estimated {estimated} is unreliable"
        judged = distrust_estimates(judged, champion, why)
    failed = [w for w in judged if w.verdict == "fail"]
    ok = [w for w in judged if w.verdict == "ok"]
    by_labels = sum(1 for w in judged if w.verdict != "unjudged" and w.online is not None)
    facts: dict[str, Any] = {
        "windows": len(judged),
        "judged": len(failed) + len(ok),
        "failed": len(failed),
        "judged_by_labels": by_labels,
        "labels_configured": has_labels,
        "metric": metric,
    }
    if calibration is not None:
        facts |= {"ece": calibration.ece, "poorly_calibrated": calibration.poor}
    tables = [quality_table(judged, metric)]
    chart = quality_chart(judged, metric)
    figures = [chart] if chart is not None else []
    note = _calibration_note(calibration, estimated or metric)
    if task == "regression" and by_labels < len(failed) + len(ok):
        note += "; without labels the quality of a regression cannot be estimated: prediction "
        note += "drift only"
    note += inputs.labels_note
    unjoined = unjoined_labels(inputs, judged)
    if unjoined is not None:
        return Evidence(
            "monitor.7",
            "fail",
            unjoined + note,
            f"Make the labels' {inputs.id_column} column hold the ids the clients send "
            "as [system] id (same values, same spelling), or point [data] labels at the right "
            "source; run `keel score` again.",
            tables=tables,
            figures=figures,
            thresholds=thresholds,
            facts=facts | {"labels_joined": 0},
        )
    if not failed and not ok:
        reasons = sorted({r for w in judged for r in w.reasons}) or ["nothing to judge"]
        poor = calibration is not None and calibration.poor
        return Evidence(
            "monitor.7",
            "not_configured",
            f"no recent window could be judged ({'; '.join(reasons[:3])})" + note,
            (
                "The champion's probabilities are poorly calibrated, so quality cannot be "
                "estimated without labels: calibrate them (e.g. scikit-learn's "
                "CalibratedClassifierCV) or let labels arrive. "
                if poor
                else ""
            )
            + HINT_7,
            tables=tables if judged else [],
            thresholds=thresholds,
            facts=facts,
        )
    if failed:
        shown = "; ".join(
            f"window {w.window} v{w.version} ({w.rows:,} rows): {'; '.join(w.reasons)}"
            for w in failed[:3]
        )
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        return Evidence(
            "monitor.7",
            "fail",
            f"quality dropped in {len(failed)} of {len(judged)} recent windows: {shown}{more}"
            + note,
            "Look at what changed in those windows (monitor.2, monitor.3: inputs and skew), "
            "retrain on recent data, or roll back with `keel rollback`.",
            tables=tables,
            figures=figures,
            thresholds=thresholds,
            facts=facts,
        )
    summary = (
        f"quality held in {len(ok)} judged recent window(s): {by_labels} on labelled rows "
        f"against the offline {metric}, {len(ok) - by_labels} by "
        + ("prediction drift" if task == "regression" else f"estimated {estimated} and drift")
    )
    return Evidence(
        "monitor.7",
        "pass",
        summary + note,
        "" if has_labels else HINT_7,
        tables=tables,
        figures=figures,
        thresholds=thresholds,
        facts=facts,
    )


def unjoined_labels(inputs: QualityInputs, judged: list[WindowQuality]) -> str | None:
    """What is wrong when [data] labels holds labels and none joins a served row of the
    judged windows on [system] id (examples of both sides' ids); None when some join or none
    are configured."""
    if any(w.labelled for w in judged) or not inputs.labels_arrived:
        return None
    found = inputs.labels.value()
    if found is None or not len(found):
        return None
    ids = labelled_ids(inputs.state.state_dir, recent_keys(inputs.state))
    if ids.isin(found.index).any():
        return None
    column = inputs.id_column
    theirs = ", ".join(repr(v) for v in found.index[:3])
    ours = ", ".join(repr(v) for v in ids.unique()[:3]) or "none: the served rows carry no id"
    return (
        f"[data] labels holds {len(found):,} labels but none joins any of the {len(ids):,} "
        f"served rows on [system] id = {column!r} (label ids: {theirs}; served ids: {ours}), "
        "so quality was not measured on labels"
    )
