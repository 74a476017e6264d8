"""The team view's charts, as inline SVG: a score sparkline, a section history, a status grid.

Like the HTML report's figures (`keel.report.svg`, `keel.report.lines`) they are plain SVG
text, so the pages run no script; the history is a `keel.report.lines` line chart, and the
sparkline draws only numbers. Every `<svg>` has a width and a height.
"""

from __future__ import annotations

import math

from keel.report.lines import LineChart, line_chart_svg
from keel.report.svg import LOWEST_COLOUR
from keel.report.values import format_number

SPARK_W = 120
SPARK_H = 28


def sparkline(values: list[float | None]) -> str:
    """Final scores oldest first (0–7) as a small line with the newest point marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    shown = "no score yet" if not points else ", ".join(format_number(v) for _, v in points)
    head = (
        f'<svg class="chart spark" role="img" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" aria-label="final score trend: {shown}">'
        f"<title>final score, oldest first: {shown}</title>"
        f'<line x1="0" y1="{SPARK_H - 2}" x2="{SPARK_W}" y2="{SPARK_H - 2}" stroke="#e3e6ea"/>'
    )
    if not points:
        return head + "</svg>"
    step = (SPARK_W - 8) / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 4 + i * step, SPARK_H - 3 - (min(max(v, 0.0), 7.0) / 7.0) * (SPARK_H - 6)

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in points))
    x, y = xy(*points[-1])
    return (
        head
        + f'<polyline points="{line}" fill="none" stroke="{LOWEST_COLOUR}" stroke-width="1.5"/>'
        + f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{LOWEST_COLOUR}"/></svg>'
    )


def section_history(labels: list[str], series: dict[str, list[float | None]]) -> str:
    """The final and section scores of a system's runs (oldest first) on the 0–7 scale."""
    chart = LineChart(
        title=f"Score per section over the last {len(labels)} runs",
        x_labels=labels,
        series=series,
        y_label="points (0–7)",
    )
    return line_chart_svg(chart, domain=(0.0, 7.0))
