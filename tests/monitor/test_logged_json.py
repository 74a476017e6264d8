"""Logged JSON objects as Arrow tables (keel.monitor.logged_json): parsed in bulk, and fields
whose values change kind between rows settled field by field, never a crash."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from keel.monitor.logged_json import json_table


def _texts(objects):
    return pa.array([None if o is None else json.dumps(o) for o in objects], pa.string())


def test_a_field_of_text_and_numbers_comes_out_as_text_the_others_typed():
    objects = [{"age": 30, "city": "Lyon"}] * 3 + [{"age": 31.5, "city": 7}]
    table = json_table(_texts(objects))
    assert table.column("age").type == pa.float64()
    assert table.column("age").to_pylist() == [30.0, 30.0, 30.0, 31.5]
    assert table.column("city").to_pylist() == ["Lyon", "Lyon", "Lyon", "7"]


def test_a_field_of_objects_and_numbers_comes_out_as_json_text():
    table = json_table(_texts([{"x": {"a": 1}}, {"x": 2}, {"x": None}]))
    assert table.column("x").to_pylist() == ['{"a": 1}', "2", None]


def test_rows_without_a_logged_object_keep_their_place_as_nulls():
    table = json_table(_texts([{"x": 1, "y": "a"}, None, {"x": "b"}]))
    assert table.num_rows == 3
    assert table.column("x").to_pylist() == ["1", None, "b"]
    assert table.column("y").to_pylist() == ["a", None, None]


def test_lists_that_start_with_a_null_come_out_whole():
    # Arrow's JSON reader builds these lists with their items missing
    table = json_table(_texts([{"a": [None, "0"]}, {"a": [None, None]}]))
    assert table.column("a").to_pylist() == ['[null, "0"]', "[null, null]"]


_SCALAR = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=5)
_VALUE = _SCALAR | st.floats(allow_nan=False) | st.lists(_SCALAR, max_size=2)


@given(st.lists(st.dictionaries(st.sampled_from("abc"), _VALUE, max_size=3), min_size=1))
def test_any_logged_objects_come_out_one_row_each(objects):
    table = json_table(_texts(objects))
    assert table is None or table.num_rows == len(objects)
