"""`keel.report.lines`: line charts as inline SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from keel.report.lines import MAX_X_LABELS, LineChart, line_chart_svg, worst

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_series_thresholds_and_legend_are_drawn_and_titled():
    chart = LineChart(
        "Anomaly rate",
        ["d1", "d2", "d3"],
        {"age": [0.0, 0.02, 0.05], "<b>income</b>": [0.01, None, 0.03]},
        y_label="share",
        thresholds={"max_anomaly_rate": 0.04},
        note="Showing 2 of 2.",
    )
    svg = line_chart_svg(chart)
    root = _parse(svg)
    assert root.find(f"{SVG}title").text == "Anomaly rate"
    series = root.findall(f"{SVG}g[@class='series']")
    assert [g.find(f"{SVG}title").text for g in series] == ["age", "<b>income</b>"]
    assert len(series[0].findall(f"{SVG}polyline")) == 1
    assert series[1].findall(f"{SVG}polyline") == []  # a gap: no two neighbouring values
    assert len(series[1].findall(f"{SVG}circle")) == 2
    threshold = root.find(f"{SVG}line[@class='threshold']")
    assert threshold.get("stroke-dasharray") == "5 3"
    legend = [
        t.find(f"{SVG}title").text
        for t in root.iter(f"{SVG}text")
        if t.find(f"{SVG}title") is not None
    ]
    assert "max_anomaly_rate: 0.04" in legend and "age" in legend
    assert "<b>" not in svg and "&lt;b&gt;income" in svg
    assert "Showing 2 of 2." in svg


def test_many_windows_thin_the_x_labels_and_empty_charts_say_so():
    labels = [f"w{i}" for i in range(40)]
    svg = line_chart_svg(LineChart("rows", labels, {"all": [float(i) for i in range(40)]}))
    shown = [t for t in _parse(svg).iter(f"{SVG}text") if t.get("class") == "x-label"]
    assert 2 <= len(shown) <= MAX_X_LABELS + 1 and shown[0].text == "w0"
    assert "No data" in line_chart_svg(LineChart("rows", [], {}))
    assert "No data" in line_chart_svg(LineChart("rows", ["a"], {"s": [None]}))


def test_worst_keeps_the_series_with_the_highest_peaks():
    series = {"a": [0.1, 0.9], "b": [0.5, None], "c": [None, None], "d": [0.95, 0.0]}
    assert list(worst(series, 2)) == ["d", "a"]
