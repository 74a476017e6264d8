"""Evidence values: JSON-safe conversion and display text."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from keel.report.values import format_number, format_value, json_safe


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float64(0.25), 0.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (float("nan"), None),
        (np.float64("inf"), None),
        (-math.inf, None),
        (dt.date(2026, 10, 30), "2026-10-30"),
        (dt.datetime(2026, 10, 30, 9, 5, tzinfo=dt.UTC), "2026-10-30T09:05:00+00:00"),
        (np.datetime64("2026-10-30"), "2026-10-30"),
        (np.datetime64("NaT"), None),
        (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
        ((1, float("nan")), [1, None]),
        ({1: np.float64(2.0)}, {"1": 2.0}),
        ({"b", "a"}, ["a", "b"]),
        (Decimal("1.5"), 1.5),
        (Path("/tmp/x"), "/tmp/x"),
        (None, None),
        ("text", "text"),
    ],
)
def test_json_safe_converts_to_plain_json(value, expected):
    converted = json_safe(value)
    assert converted == expected
    json.dumps(converted, allow_nan=False)


def test_json_safe_turns_unknown_objects_and_deep_nesting_into_text():
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert json_safe(Thing()) == "a thing"
    deep: list = []
    for _ in range(40):
        deep = [deep]
    json.dumps(json_safe(deep), allow_nan=False)


def test_json_safe_maps_pandas_missing_markers_to_null():
    pd = pytest.importorskip("pandas")
    assert json_safe(pd.NaT) is None
    assert json_safe(pd.NA) is None
    assert json_safe(pd.Timestamp("2026-10-30")) == "2026-10-30T00:00:00"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (3.0, "3"),
        (0.5, "0.5"),
        (0.123456, "0.1235"),
        (12000, "12000"),
        (float("nan"), "NaN"),
        (float("inf"), "∞"),
        (True, "true"),
    ],
)
def test_format_number_reads_as_people_write_numbers(value, text):
    assert format_number(value) == text


def test_format_value_shows_nan_but_leaves_none_empty_and_cuts_long_text():
    assert format_value(np.float64("nan")) == "NaN"
    assert format_value(None) == ""
    assert format_value(["a", 1.5, None]) == "[a, 1.5, n/a]"
    assert format_value({"k": np.int64(2)}) == "{k: 2}"
    cut = format_value("x" * 1000, max_chars=50)
    assert len(cut) == 50 and cut.endswith("…")
