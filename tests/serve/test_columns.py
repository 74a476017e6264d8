"""The columnar hot path builds exactly what the row-by-row path built: the model's frame
(values and dtypes), the logged raw inputs (personal data handled) and the non-finite list,
on arbitrary rows of every feature type, valid or flagged."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.data.pii import apply_handling
from keel.data.schema import Feature, Range, Schema
from keel.serve.columns import (
    array_rows,
    column_arrays,
    frame_arrays,
    log_rows,
    model_frame,
    nonfinite,
    to_frame,
    typed_columns,
)
from keel.serve.validation import RowValidator, _number, parse_datetime

SCHEMA = Schema(
    features={
        "id": Feature(type="string", absent_in=["serving"]),
        "income": Feature(type="float", range=Range(min=0), presence=0.5),
        "debt": Feature(type="float", presence=0.5, allow_nan=True, allow_inf=True),
        "age": Feature(type="int", presence=0.5),
        "region": Feature(type="string", presence=0.5, domain=["north", "south"]),
        "member": Feature(type="bool", presence=0.5),
        "applied_at": Feature(type="datetime", presence=0.5),
        "stamp_text": Feature(type="datetime", presence=0.5, as_text=True),
        "extra": Feature(type="other", presence=0.5),
        "email": Feature(type="string", presence=0.5, pii="hash", pii_kind="email"),
        "phone": Feature(type="string", presence=0.5, pii="drop"),
        "note": Feature(type="string", presence=0.5, pii="redact"),
    }
)
KEY = b"k" * 32

# -- the row-by-row implementation the columnar one replaced, kept as the reference --------

_ARROW = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us"),
}


def reference_frame(schema: Schema, rows: list[Any], checks: list) -> pd.DataFrame:
    bad = {(c.index, p.field) for c in checks for p in c.problems if p.kind in ("type", "missing")}
    series: dict[str, pd.Series] = {}
    for name, feature in schema.features.items():
        if "serving" in feature.absent_in:
            continue
        values = []
        for i, row in enumerate(rows):
            value = row.get(name) if isinstance(row, dict) else None
            if (i, name) in bad:
                value = None
            elif feature.type == "float" and value is not None:
                value = _number(value)
            elif feature.type == "int" and value is not None:
                number = _number(value)
                value = int(number) if number is not None and number.is_integer() else None
            elif feature.type == "datetime" and isinstance(value, str) and not feature.as_text:
                value = parse_datetime(value)
            values.append(value)
        arrow_type = pa.string() if feature.as_text else _ARROW.get(feature.type)
        if arrow_type is None:
            series[name] = pd.Series(values, dtype=object, name=name)
        else:
            series[name] = pa.array(values, arrow_type).to_pandas().rename(name)
    return pd.DataFrame(series, index=range(len(rows)))


def _plain(value: Any) -> Any:
    if value is pd.NaT or value is pd.NA:  # the old path tested this last and logged "NaT"
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return value


def reference_records(frame: pd.DataFrame, schema: Schema, key: bytes) -> list[dict]:
    out = frame.copy()
    for name, feature in schema.features.items():
        if name not in out.columns or feature.pii == "none":
            continue
        handled = apply_handling(out[name], feature.pii, kind=feature.pii_kind, key=key)
        if handled is None:
            out = out.drop(columns=[name])
        else:
            out[name] = handled
    columns = [str(c) for c in out.columns]
    values = [[_plain(v) for v in out.iloc[:, i].tolist()] for i in range(len(columns))]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


# -- rows of every kind ----------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)
TIMES = st.one_of(
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat()),
    st.text(max_size=5),
    st.integers(),
    st.none(),
)
TEXT = st.one_of(
    st.sampled_from(["north", "south", "east"]),
    st.emails(),
    st.text(max_size=12),
    st.integers(),
    st.none(),
)
ROW = st.fixed_dictionaries(
    {},
    optional={
        "income": NUMBERS,
        "debt": NUMBERS,
        "age": NUMBERS,
        "region": TEXT,
        "member": st.one_of(st.booleans(), st.integers(0, 1), st.none()),
        "applied_at": TIMES,
        "stamp_text": TIMES,
        "extra": st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.text()),
        "email": TEXT,
        "phone": TEXT,
        "note": TEXT,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, min_size=1, max_size=6))
def test_the_model_frame_equals_the_row_by_row_frame_in_values_and_dtypes(rows):
    checks = RowValidator(SCHEMA).check(rows)
    expected = reference_frame(SCHEMA, rows, checks)
    got = to_frame(SCHEMA, rows, checks)
    pd.testing.assert_frame_equal(got, expected, check_index_type=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, min_size=1, max_size=6))
def test_the_logged_inputs_equal_the_row_by_row_records(rows):
    checks = RowValidator(SCHEMA).check(rows)
    columns = typed_columns(SCHEMA, rows, checks)
    arrays = column_arrays(SCHEMA, columns)
    expected = reference_records(reference_frame(SCHEMA, rows, checks), SCHEMA, KEY)
    assert log_rows(SCHEMA, columns, arrays, KEY) == expected
    # the model inputs a feature function built go the same way
    built = model_frame(arrays, len(rows))
    assert array_rows(frame_arrays(built), len(rows), SCHEMA, KEY) == expected


def test_the_frame_can_hold_only_the_model_inputs_in_the_model_order():
    rows = [{"age": 30, "income": 1.5, "region": "north"}]
    arrays = column_arrays(SCHEMA, typed_columns(SCHEMA, rows, []))
    frame = model_frame(arrays, 1, ["region", "age"])
    assert frame.columns.tolist() == ["region", "age"]
    assert frame["age"].dtype == np.int64


def test_nonfinite_names_each_column_and_kind_per_row():
    found: list[list[str]] = [[], [], []]
    nonfinite(
        {"a": np.array([1.0, math.nan, math.inf]), "b": np.array([1, 2, 3]), "c": ["x"] * 3},
        "model_inputs",
        found,
    )
    assert found == [[], ["model_inputs.a:nan"], ["model_inputs.a:inf"]]


def test_built_timestamps_of_any_unit_are_logged_as_iso_text():
    stamps = pd.Series(pd.to_datetime(["2026-01-02T03:04:05", None]), name="t")
    for unit in ("ns", "us", "s"):
        frame = stamps.astype(f"datetime64[{unit}]").to_frame()
        assert array_rows(frame_arrays(frame), 2, SCHEMA, KEY) == [
            {"t": "2026-01-02T03:04:05"},
            {"t": None},
        ]


def test_each_model_frame_has_column_names_of_its_own():
    rows = [{"income": 1.0, "region": "north"}]
    checks = RowValidator(SCHEMA).check(rows)
    first = to_frame(SCHEMA, rows, checks)
    first.columns.name = "changed by the feature code"
    second = to_frame(SCHEMA, rows, checks)
    assert second.columns.name is None
    public = pd.DataFrame(
        column_arrays(SCHEMA, typed_columns(SCHEMA, rows, checks)), index=pd.RangeIndex(1)
    )
    pd.testing.assert_frame_equal(second, public)  # the quick way builds the public frame
