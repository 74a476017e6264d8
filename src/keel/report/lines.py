"""Inline SVG line charts for the monitoring dashboard: values over time windows.

A `LineChart` holds x labels (one per window, oldest first), several named series of values
(None where a series has no value: its line breaks there) and dashed horizontal threshold
lines. `line_chart_svg` draws it as plain SVG text, as `keel.report.svg` draws bar charts:
every piece of text (title, labels, series and threshold names) is escaped, each point carries
a `<title>` a reader sees on hover, and a legend names every line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from keel.report.svg import REFERENCE_COLOURS, _esc, _finite, nice_ticks
from keel.report.values import format_number

WIDTH = 640
HEIGHT = 190  # of the plot area
MAX_X_LABELS = 8
_LEFT = 56
_RIGHT = 40  # room for half of the last x label
_TOP = 30
_MAX_NAME_CHARS = 28
# Distinguishable on white, in an order that keeps neighbours apart (Tableau 10).
SERIES_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


@dataclass
class LineChart:
    """Series of values over the same x labels, with optional threshold lines."""

    title: str
    x_labels: list[str]
    series: dict[str, list[float | None]]
    y_label: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)
    note: str = ""  # one line under the legend, e.g. which series were left out


def line_chart_svg(chart: LineChart, *, domain: tuple[float, float] | None = None) -> str:
    """`chart` as an inline `<svg>` element: y axis with round ticks, x labels (thinned to
    at most MAX_X_LABELS, each point titled with its full label), a line and dots per series,
    a dashed line per threshold, then the legend and the note."""
    labels = [str(x) for x in chart.x_labels]
    series = {str(k): [_finite(v) for v in vs][: len(labels)] for k, vs in chart.series.items()}
    refs = {str(k): v for k, v in chart.thresholds.items() if _finite(v) is not None}
    if domain is None:
        known = [v for vs in series.values() for v in vs if v is not None] + list(refs.values())
        ticks = nice_ticks(min([0.0, *known]), max([0.0, *known]))
    else:
        ticks = nice_ticks(*domain)
    lo, hi = ticks[0], ticks[-1]
    plot_w = WIDTH - _LEFT - _RIGHT
    bottom = _TOP + HEIGHT

    def x(i: int) -> float:
        return _LEFT + (plot_w / 2 if len(labels) < 2 else i * plot_w / (len(labels) - 1))

    def y(value: float) -> float:
        return bottom - (value - lo) / (hi - lo) * HEIGHT

    parts = [f'<text class="chart-title" x="0" y="16">{_esc(chart.title)}</text>']
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line class="gridline" x1="{_LEFT}" y1="{ty:.1f}" x2="{_LEFT + plot_w}" '
            f'y2="{ty:.1f}" stroke="#e3e6ea"/><text x="{_LEFT - 6}" y="{ty + 4:.1f}" '
            f'text-anchor="end" font-size="11" fill="#555">{_esc(format_number(tick))}</text>'
        )
    parts.append(
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + plot_w}" y2="{bottom}" stroke="#888"/>'
    )
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    for i, label in enumerate(labels):
        if i % step == 0:
            parts.append(
                f'<text class="x-label" x="{x(i):.1f}" y="{bottom + 16}" text-anchor="middle" '
                f'font-size="11" fill="#555">{_esc(label)}</text>'
            )
    if not labels or not any(v is not None for vs in series.values() for v in vs):
        parts.append(
            f'<text x="{_LEFT + 8}" y="{_TOP + 16}" font-size="12" fill="#555">No data</text>'
        )
    for j, (name, value) in enumerate(refs.items()):
        colour = REFERENCE_COLOURS[j % len(REFERENCE_COLOURS)]
        if lo <= value <= hi:
            parts.append(
                f'<line class="threshold" x1="{_LEFT}" y1="{y(value):.1f}" x2="{_LEFT + plot_w}" '
                f'y2="{y(value):.1f}" stroke="{colour}" stroke-width="1.5" '
                f'stroke-dasharray="5 3"><title>{_esc(name)}: {_esc(format_number(value))}'
                "</title></line>"
            )
    for k, (name, values) in enumerate(series.items()):
        parts.append(_series(name, values, labels, SERIES_COLOURS[k % len(SERIES_COLOURS)], x, y))

    legend_y = bottom + 20
    if chart.y_label:
        legend_y += 16
        parts.append(
            f'<text x="{_LEFT + plot_w / 2:.1f}" y="{legend_y}" text-anchor="middle" '
            f'font-size="11" fill="#333">{_esc(chart.y_label)}</text>'
        )
    legend, legend_y = _legend(series, refs, legend_y)
    parts.extend(legend)
    if chart.note:
        legend_y += 18
        parts.append(
            f'<text class="note" x="0" y="{legend_y}" font-size="11" fill="#555">'
            f"{_esc(chart.note)}</text>"
        )
    height = legend_y + 8
    return (
        f'<svg class="chart line-chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-label="{_esc(chart.title)}" '
        f'font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{_esc(chart.title)}</title>" + "".join(parts) + "</svg>"
    )


def _series(
    name: str,
    values: list[float | None],
    labels: list[str],
    colour: str,
    x: Callable[[int], float],
    y: Callable[[float], float],
) -> str:
    """One series: a polyline per unbroken run of values, and a titled dot per value."""
    runs: list[list[str]] = [[]]
    dots = []
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        px, py = x(i), y(value)
        runs[-1].append(f"{px:.1f},{py:.1f}")
        dots.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.6" fill="{colour}">'
            f"<title>{_esc(name)} · {_esc(labels[i])}: {_esc(format_number(value))}</title>"
            "</circle>"
        )
    lines = [
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{" ".join(r)}"/>'
        for r in runs
        if len(r) > 1
    ]
    return f'<g class="series"><title>{_esc(name)}</title>' + "".join(lines + dots) + "</g>"


def _legend(
    series: dict[str, list[float | None]], refs: dict[str, float], y: float
) -> tuple[list[str], float]:
    """Legend entries, flowed left to right in rows: series first, then thresholds."""
    entries = [
        (name, SERIES_COLOURS[k % len(SERIES_COLOURS)], False) for k, name in enumerate(series)
    ]
    entries += [
        (f"{name}: {format_number(v)}", REFERENCE_COLOURS[j % len(REFERENCE_COLOURS)], True)
        for j, (name, v) in enumerate(refs.items())
    ]
    parts: list[str] = []
    cursor = WIDTH  # forces a new row for the first entry
    for text, colour, dashed in entries:
        shown = text if len(text) <= _MAX_NAME_CHARS else text[: _MAX_NAME_CHARS - 1] + "…"
        width = 34 + len(shown) * 6.6 + 14
        if cursor + width > WIDTH:
            y += 18
            cursor = 0.0
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(
            f'<g class="legend"><line x1="{cursor:.1f}" y1="{y - 4:.1f}" x2="{cursor + 22:.1f}" '
            f'y2="{y - 4:.1f}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{cursor + 28:.1f}" y="{y:.1f}">{_esc(shown)}<title>{_esc(text)}</title>'
            "</text></g>"
        )
        cursor += width
    return parts, y


def worst(series: dict[str, list[float | None]], n: int) -> dict[str, list[float | None]]:
    """The `n` series with the highest maximum (ties by name), highest first."""

    def peak(values: Sequence[float | None]) -> float:
        known = [v for v in values if v is not None and math.isfinite(v)]
        return max(known, default=-math.inf)

    ranked = sorted(series, key=lambda name: (-peak(series[name]), name))
    return {name: series[name] for name in ranked[:n]}
