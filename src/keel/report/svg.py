"""Inline SVG charts for the HTML report: pure functions from numbers to markup.

The HTML report must open offline and stay small, so figures are drawn here as plain SVG
text rather than by a plotting library or a script. Every piece of text that comes from
evidence (titles, labels, reference names) is escaped, so a label cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from keel.evidence import BarChart
from keel.report.values import format_number, xml_text
from keel.rubric import SECTIONS

WIDTH = 640
MAX_BARS = 60
_ROW = 22
_BAR = 14
_TOP = 30
_RIGHT = 70
_CHAR_PX = 6.6
_MAX_LABEL_CHARS = 32

BAR_COLOUR = "#4a78b5"
FLAG_COLOUR = "#e8590c"
LOWEST_COLOUR = "#1d3f73"
SECTION_COLOUR = "#9db8dc"
REFERENCE_COLOURS = ("#1b1b1b", "#7a3fb0", "#0b7a75", "#b5487a", "#8a6d00")


def bar_chart_svg(chart: BarChart, *, domain: tuple[float, float] | None = None) -> str:
    """A horizontal bar chart of `chart` as an inline `<svg>` element.

    One bar per label with its value at the bar's end, an x axis with ticks, one dashed
    vertical line per reference value with a legend, and flagged bars in a warning colour.
    Values that are missing or not finite get an empty bar and the label "n/a". A `domain`
    fixes the axis (a score's 0–7, say) instead of fitting it to the values.
    """
    extra: dict[str, object] = {}
    if domain is not None:
        extra = {"domain": domain, "ticks": [float(t) for t in range(int(domain[1]) + 1)]}
    return _bars(
        _Spec(
            title=chart.title,
            labels=[str(label) for label in chart.labels],
            values=list(chart.values),
            x_label=chart.x_label,
            reference=dict(chart.reference),
            flagged=[bool(f) for f in chart.flagged],
            flag_colour=FLAG_COLOUR,
            flag_legend="flagged by the check",
            flag_note="flagged",
            **extra,  # type: ignore[arg-type]
        )
    )


def section_scores_svg(sections: dict[str, float], final: float) -> str:
    """The four section scores on the rubric's 0–7 scale, the lowest (the final score) marked."""
    labels = [SECTIONS.get(key, key) for key in sections]
    values = [float(v) for v in sections.values()]
    return _bars(
        _Spec(
            title="Section scores (0–7); the final score is the lowest",
            labels=labels,
            values=values,
            x_label="points",
            reference={},
            flagged=[math.isclose(v, final) for v in values],
            flag_colour=LOWEST_COLOUR,
            flag_legend=f"lowest section: sets the final score, {format_number(final)}",
            flag_note="lowest section",
            bar_colour=SECTION_COLOUR,
            domain=(0.0, 7.0),
            ticks=[float(t) for t in range(8)],
        )
    )


@dataclass
class _Spec:
    title: str
    labels: list[str]
    values: list[float]
    x_label: str
    reference: dict[str, float]
    flagged: list[bool]
    flag_colour: str
    flag_legend: str
    flag_note: str
    bar_colour: str = BAR_COLOUR
    domain: tuple[float, float] | None = None
    ticks: list[float] | None = None


def _bars(spec: _Spec) -> str:
    total = len(spec.labels)
    labels = spec.labels[:MAX_BARS]
    values = [_finite(v) for v in spec.values[: len(labels)]]
    values += [None] * (len(labels) - len(values))
    flagged = (spec.flagged + [False] * len(labels))[: len(labels)]
    refs = [(str(name), _finite(v)) for name, v in spec.reference.items()]

    if spec.domain is not None:
        lo, hi = spec.domain
        ticks = spec.ticks or nice_ticks(lo, hi)
    else:
        known = [v for v in values if v is not None] + [v for _, v in refs if v is not None]
        ticks = nice_ticks(min([0.0, *known]), max([0.0, *known]))
        lo, hi = ticks[0], ticks[-1]

    longest = max((len(_short(label)) for label in labels), default=4)
    left = int(min(_MAX_LABEL_CHARS * _CHAR_PX, max(60.0, longest * _CHAR_PX)) + 14)
    plot_w = WIDTH - left - _RIGHT

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * plot_w

    rows_h = max(len(labels), 1) * _ROW
    axis_y = _TOP + rows_h
    parts: list[str] = [f'<text class="chart-title" x="0" y="16">{_esc(spec.title)}</text>']

    for tick in ticks:
        tx = x(tick)
        parts.append(
            f'<line class="gridline" x1="{tx:.1f}" y1="{_TOP}" x2="{tx:.1f}" y2="{axis_y}" '
            f'stroke="#e3e6ea"/>'
            f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" font-size="11" '
            f'fill="#555">{_esc(format_number(tick))}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#888"/>'
    )
    if not labels:
        parts.append(
            f'<text x="{left + 8}" y="{_TOP + 15}" font-size="12" fill="#555">No data</text>'
        )

    zero = x(min(max(0.0, lo), hi))
    for i, (label, value, flag) in enumerate(zip(labels, values, flagged, strict=True)):
        parts.append(_bar(i, label, value, flag, zero=zero, x=x, left=left, spec=spec))

    for j, (name, value) in enumerate(refs):
        if value is None or not lo <= value <= hi:
            continue
        colour = REFERENCE_COLOURS[j % len(REFERENCE_COLOURS)]
        rx = x(value)
        parts.append(
            f'<line class="reference" x1="{rx:.1f}" y1="{_TOP - 4}" x2="{rx:.1f}" '
            f'y2="{axis_y}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 3">'
            f"<title>{_esc(name)}: {_esc(format_number(value))}</title></line>"
        )

    y = axis_y + 20
    if spec.x_label:
        y += 16
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{y}" text-anchor="middle" font-size="11" '
            f'fill="#333">{_esc(spec.x_label)}</text>'
        )
    if total > len(labels):
        y += 18
        parts.append(
            f'<text x="0" y="{y}" font-size="11" fill="#555">Showing the first {len(labels)} '
            f"of {total} bars; report.json holds them all.</text>"
        )
    legend, y = _legend(refs, any(flagged), spec, y)
    parts.extend(legend)

    height = y + 8
    return (
        f'<svg class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-label="{_esc(spec.title)}" font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{_esc(spec.title)}</title>" + "".join(parts) + "</svg>"
    )


def _bar(
    i: int,
    label: str,
    value: float | None,
    flag: bool,
    *,
    zero: float,
    x: Callable[[float], float],
    left: int,
    spec: _Spec,
) -> str:
    mid = _TOP + i * _ROW + _ROW / 2
    colour = spec.flag_colour if flag else spec.bar_colour
    if value is None:
        x0, width, shown = zero, 0.0, "n/a"
    else:
        end = x(value)
        x0, width, shown = min(zero, end), abs(end - zero), format_number(value)
    # A negative bar grows left from zero, so its value sits just right of the zero line.
    after = zero + 4 if value is not None and value < 0 else x0 + width + 4
    weight = ' font-weight="700"' if flag else ""
    note = f" ({spec.flag_note})" if flag else ""
    return (
        f'<g class="row"><text class="label" x="{left - 8}" y="{mid + 4:.1f}" '
        f'text-anchor="end" fill="#222">{_esc(_short(label))}<title>{_esc(label)}</title></text>'
        f'<rect class="bar{" flagged" if flag else ""}" x="{x0:.1f}" y="{mid - _BAR / 2:.1f}" '
        f'width="{width:.1f}" height="{_BAR}" fill="{colour}" rx="2">'
        f"<title>{_esc(label)}: {_esc(shown)}{_esc(note)}</title></rect>"
        f'<text class="value" x="{after:.1f}" y="{mid + 4:.1f}" text-anchor="start" '
        f'fill="{colour if flag else "#222"}"{weight}>{_esc(shown)}</text></g>'
    )


def _legend(
    refs: list[tuple[str, float | None]], flagged: bool, spec: _Spec, y: float
) -> tuple[list[str], float]:
    """Legend rows below the axis: one per reference line, one for flagged bars."""
    parts: list[str] = []
    for j, (name, value) in enumerate(refs):
        y += 18
        colour = REFERENCE_COLOURS[j % len(REFERENCE_COLOURS)]
        shown = "n/a" if value is None else format_number(value)
        parts.append(
            f'<g class="legend"><line x1="0" y1="{y - 4:.1f}" x2="22" y2="{y - 4:.1f}" '
            f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 3"/>'
            f'<text x="30" y="{y:.1f}">{_esc(name)}: {_esc(shown)}</text></g>'
        )
    if flagged:
        y += 18
        parts.append(
            f'<g class="legend"><rect x="0" y="{y - 9:.1f}" width="22" height="10" '
            f'fill="{spec.flag_colour}" rx="2"/>'
            f'<text x="30" y="{y:.1f}">{_esc(spec.flag_legend)}</text></g>'
        )
    return parts, y


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL_CHARS else label[: _MAX_LABEL_CHARS - 1] + "…"


def _esc(text: object) -> str:
    """Text escaped for SVG/HTML content and attributes, with XML-forbidden characters removed."""
    return escape(xml_text(text), quote=True)
