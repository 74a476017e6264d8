"""The monitoring dashboard: one self-contained HTML page of served traffic over time.

`keel monitor --html FILE` writes it (and `keel serve` shows the latest at `/dashboard`). Like
report.html (`keel.report.html`) it holds everything inline, CSS and SVG, fetches nothing and
runs no script. It shows, window by window (x = the monitor's time windows, oldest first):
served and refused rows, anomaly rate per input (of the rows received), drift per input from
the previous window, per-example skew per model input, latency p50/p99, the prediction
distribution, quality (monitor.7's own figures and tables), then the alert history (newest
first) and every monitoring practice's verdict with its tables and bar charts.

Every value from the log or from evidence (input names, summaries, alert text) reaches the page
through the autoescaping template or through the SVG builders, which escape their own text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from keel.atomic import write_text_atomic
from keel.evidence import Evidence, RunResult
from keel.monitor.alerts import read_history
from keel.monitor.summary import PartSummary
from keel.report.display import practice_views
from keel.report.html import _practice, _table, _when, environment
from keel.report.lines import LineChart, line_chart_svg
from keel.report.svg import bar_chart_svg
from keel.report.timeline import (
    NO_TRAFFIC,
    Timeline,
    anomaly_chart,
    class_chart,
    drift_chart,
    finite_or_none,
    latency_chart,
    prediction_chart,
    rows_chart,
    skew_chart,
)
from keel.rubric import MONITORING as MONITOR_PRACTICES

MAX_ALERTS = 200


@dataclass(frozen=True)
class Panel:
    """One chart on the page, or the sentence saying why there is none and what to do."""

    key: str
    title: str
    about: str
    charts: list[Markup]
    empty: str = ""
    note: str = ""


def render_dashboard(
    result: RunResult,
    windows: dict[tuple[str, int], PartSummary],
    alerts: list[dict[str, Any]] | None = None,
) -> str:
    """The dashboard as one HTML page. `alerts` is the alert history oldest first
    (`keel.monitor.alerts.read_history`); by default the system's .keel/monitor/alerts.jsonl."""
    if alerts is None:
        alerts = read_history(Path(result.root) / ".keel" / "monitor" / "alerts.jsonl")
    template = environment().get_template("dashboard.html.j2")
    return template.render(**_context(result, windows, alerts))


def write_dashboard(
    result: RunResult,
    windows: dict[tuple[str, int], PartSummary],
    path: str | Path,
    alerts: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the dashboard to `path` atomically (its folder created) and return `path`."""
    path = Path(path)
    text = render_dashboard(result, windows, alerts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, text)


def _context(
    result: RunResult, windows: dict[tuple[str, int], PartSummary], alerts: list[dict[str, Any]]
) -> dict[str, Any]:
    evidence = {e.practice: e for e in result.evidence if e.practice in MONITOR_PRACTICES}
    timeline = Timeline.of(windows) if windows else None
    verdicts = [
        _practice(view)
        for view in practice_views(result)
        if view.id in MONITOR_PRACTICES and view.evidence.status != "left_out"
    ]
    latest = max(windows, default=None)
    return {
        "system": result.system,
        "keel_version": result.keel_version,
        "generated": _when(result.started_at),
        "generated_iso": str(result.started_at),
        "windows": len(timeline.starts) if timeline else 0,
        "rows": sum(s.rows for s in windows.values()),
        "refused": sum(s.rejected for s in windows.values()),
        "versions": ", ".join(f"v{v}" for v in timeline.versions) if timeline else "",
        "latest": _when(latest[0]) if latest else "",
        "no_traffic": NO_TRAFFIC,
        "panels": _panels(timeline, evidence) if timeline else [],
        "quality": _quality(evidence.get("monitor.7")),
        "alerts": _alerts(alerts),
        "alert_total": len(alerts),
        "verdicts": verdicts,
        "tiles": verdicts,
    }


def _svg(chart: LineChart, *, domain: tuple[float, float] | None = None) -> Markup:
    # line_chart_svg escapes every piece of text it is given (see keel.report.lines).
    return Markup(line_chart_svg(chart, domain=domain))


def _threshold(evidence: Evidence | None, key: str) -> float | None:
    return None if evidence is None else finite_or_none((evidence.thresholds or {}).get(key))


def _panels(t: Timeline, evidence: dict[str, Evidence]) -> list[Panel]:
    m2, m3 = evidence.get("monitor.2"), evidence.get("monitor.3")
    anomalies, no_anomaly = anomaly_chart(t, _threshold(m2, "max_anomaly_rate"))
    drift_refs = {k: v for k in ("drift_linf", "drift_js") if (v := _threshold(m3, k)) is not None}
    if len(set(drift_refs.values())) == 1:
        drift_refs = {"drift threshold": next(iter(drift_refs.values()))}
    drift, no_drift = drift_chart(t, drift_refs)
    skew, no_skew = skew_chart(t, _threshold(m3, "max_skewed_share"))
    latency, no_latency = latency_chart(t)
    prediction, no_prediction = prediction_chart(t)
    classes = class_chart(t)
    share = (0.0, 1.0)

    panel = Panel
    return [
        panel(
            "rows",
            "Traffic",
            "Rows served per window (each model version when several served), and the rows "
            "the server refused for a schema problem.",
            [_svg(rows_chart(t))],
        ),
        Panel(
            "anomalies",
            "Data invariants",
            "The share of each window's rows, served or refused, whose schema check at serving "
            "time found a problem in the input (monitor.2).",
            [_svg(anomalies)],
            note=no_anomaly,
        ),
        panel(
            "drift",
            "Drift",
            "How far each input's distribution moved from the window before: L-infinity "
            "distance of the value shares for categorical inputs, Jensen-Shannon divergence "
            "for numeric ones (monitor.3).",
            [_svg(drift)] if drift else [],
            no_drift,
        ),
        panel(
            "skew",
            "Training/serving skew",
            "Logged examples whose model inputs the model's own feature code, rerun on the logged "
            "raw inputs, computes differently (monitor.3).",
            [_svg(skew)] if skew else [],
            no_skew,
        ),
        panel(
            "latency",
            "Latency",
            "Median and 99th percentile of the time to answer, per model version (monitor.6).",
            [_svg(latency)] if latency else [],
            no_latency,
        ),
        panel(
            "predictions",
            "Predictions",
            "The prediction distribution per window: the mean predicted probability (or "
            "prediction) per model version"
            + (", and the share of each predicted class." if classes else "."),
            ([_svg(prediction)] if prediction else [])
            + ([_svg(classes, domain=share)] if classes else []),
            no_prediction if not classes else "",
        ),
    ]


@dataclass(frozen=True)
class Quality:
    status: str
    summary: str
    hint: str
    figures: list[Markup]
    tables: list[Any]


def _quality(evidence: Evidence | None) -> Quality | None:
    """monitor.7's figures and tables (quality per window), as its check drew them."""
    if evidence is None or evidence.status == "left_out":
        return None
    return Quality(
        evidence.status,
        evidence.summary,
        evidence.hint,
        [Markup(bar_chart_svg(f)) for f in evidence.figures],
        [_table(t) for t in evidence.tables],
    )


def _alerts(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The alert history, newest first, as display text."""
    rows = []
    for entry in reversed(history[-MAX_ALERTS:]):
        results = entry.get("results") or {}
        delivered = (
            "yes" if entry.get("delivered") else ("recorded (no webhook)" if not results else "no")
        )
        failures = "; ".join(f"{u}: {r}" for u, r in results.items() if r != "delivered")
        rows.append(
            {
                "when": _when(str(entry.get("when", ""))),
                "practice": str(entry.get("practice", "")),
                "window": _when(str(entry.get("window", ""))),
                "cause": str(entry.get("cause", "")),
                "delivered": delivered,
                "failures": failures,
                "summary": str(entry.get("summary", "")),
            }
        )
    return rows


__all__ = ["MONITOR_PRACTICES", "render_dashboard", "write_dashboard"]
