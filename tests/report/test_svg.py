"""Inline SVG bar charts: one bar per label, escaped text, flags, references."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from keel.evidence import BarChart
from keel.report.svg import (
    FLAG_COLOUR,
    LOWEST_COLOUR,
    MAX_BARS,
    bar_chart_svg,
    nice_ticks,
    section_scores_svg,
)


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("rect") if "bar" in r.get("class", "").split()]


def _chart(**changes) -> BarChart:
    chart = BarChart(
        title="Importance",
        labels=["income", "age", "zip"],
        values=[0.3, 0.1, 0.001],
        x_label="drop in roc_auc",
        reference={"noise": 0.01},
        flagged=[False, False, True],
    )
    for key, value in changes.items():
        setattr(chart, key, value)
    return chart


def test_chart_has_one_bar_per_label():
    root = _svg(bar_chart_svg(_chart()))
    assert len(_bars(root)) == 3
    labels = [t.text for t in root.iter("text") if t.get("class") == "label"]
    assert labels == ["income", "age", "zip"]


def test_bar_lengths_follow_the_values():
    widths = [float(r.get("width")) for r in _bars(_svg(bar_chart_svg(_chart())))]
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[0] / widths[1] == pytest.approx(3, rel=0.01)


def test_labels_and_title_are_escaped():
    chart = _chart(title="<b>T</b>", labels=["<script>x</script>", "a&b", 'q"uote'])
    markup = bar_chart_svg(chart)
    assert "<script" not in markup and "<b>" not in markup
    assert "&lt;script&gt;x&lt;/script&gt;" in markup
    root = _svg(markup)  # still well-formed
    labels = [t.text for t in root.iter("text") if t.get("class") == "label"]
    assert labels == ["<script>x</script>", "a&b", 'q"uote']


def test_xml_forbidden_characters_are_dropped():
    _svg(bar_chart_svg(_chart(labels=["a\x00b", "c\x1bd", "e"])))


def test_flagged_bars_use_the_warning_colour():
    bars = _bars(_svg(bar_chart_svg(_chart())))
    assert [b.get("fill") == FLAG_COLOUR for b in bars] == [False, False, True]
    assert "flagged by the check" in bar_chart_svg(_chart())


def test_reference_lines_are_drawn_with_a_legend():
    root = _svg(bar_chart_svg(_chart(reference={"noise": 0.01, "max": 0.2})))
    lines = [line for line in root.iter("line") if line.get("class") == "reference"]
    assert len(lines) == 2
    legend = " ".join(t.text or "" for g in root.iter("g") if g.get("class") == "legend" for t in g)
    assert "noise: 0.01" in legend and "max: 0.2" in legend


def test_values_are_written_beside_the_bars():
    root = _svg(bar_chart_svg(_chart()))
    values = [t.text for t in root.iter("text") if t.get("class") == "value"]
    assert values == ["0.3", "0.1", "0.001"]


def test_missing_and_non_finite_values_show_as_na():
    root = _svg(bar_chart_svg(_chart(values=[float("nan"), float("inf")])))
    assert len(_bars(root)) == 3
    values = [t.text for t in root.iter("text") if t.get("class") == "value"]
    assert values == ["n/a", "n/a", "n/a"]


def test_negative_values_grow_left_of_zero():
    bars = _bars(_svg(bar_chart_svg(_chart(values=[0.2, -0.1, 0.0]))))
    assert float(bars[1].get("x")) < float(bars[0].get("x"))


def test_empty_chart_says_no_data():
    markup = bar_chart_svg(BarChart(title="Nothing", labels=[], values=[]))
    assert _bars(_svg(markup)) == []
    assert "No data" in markup


def test_many_bars_are_capped_and_say_so():
    n = MAX_BARS + 15
    chart = BarChart("Many", [f"f{i}" for i in range(n)], [float(i) for i in range(n)])
    markup = bar_chart_svg(chart)
    assert len(_bars(_svg(markup))) == MAX_BARS
    assert f"Showing the first {MAX_BARS} of {n} bars" in markup


def test_section_chart_marks_the_lowest_sections():
    markup = section_scores_svg({"data": 3.5, "model": 4.5, "infra": 3.5, "monitor": 4.0}, 3.5)
    bars = _bars(_svg(markup))
    assert [b.get("fill") == LOWEST_COLOUR for b in bars] == [True, False, True, False]
    ticks = [t.text for t in _svg(markup).iter("text") if t.get("text-anchor") == "middle"]
    assert ticks[:8] == [str(i) for i in range(8)]


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (0, 0.087), (-0.3, 0.9), (0, 123), (5, 5)])
def test_nice_ticks_cover_the_range_in_round_steps(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1


def test_braces_in_reference_names_are_plain_text():
    markup = bar_chart_svg(_chart(reference={"{y} {0}": 0.1}))
    assert "{y} {0}: 0.1" in markup
