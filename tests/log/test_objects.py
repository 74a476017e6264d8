"""Logged JSON objects cut into typed columns (keel.log.objects): the very table pyarrow.json
reads from the same lines, or None when pyarrow.json has to settle a field."""

import io
import json

import pyarrow as pa
import pyarrow.json as pa_json
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.log.objects import object_columns

_NAMES = st.sampled_from(["x", "age", "0", "1", "city", "Zürich", "a b", "Age"])
_PLAIN = st.text("abcdefghijklmnopqrstuvwxyz ABC_-,:{}[]é", max_size=6)
# values of one field: one kind (what a server logs), or several (what it may not)
_KINDS = [
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-5, 5) | st.floats(-5, 5),
    st.booleans(),
    _PLAIN.map(lambda s: "k" + s),
    st.none(),
]
_ANY = st.one_of(*_KINDS) | st.text(max_size=4) | st.lists(st.integers(), max_size=2)


def _read(lines: list[str]) -> pa.Table:
    return pa_json.read_json(io.BytesIO("\n".join(lines).encode()))


@st.composite
def _objects(draw):
    names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
    fields = {n: draw(st.sampled_from(_KINDS) | st.just(_ANY)) for n in names}
    rows = draw(st.lists(st.fixed_dictionaries(fields), min_size=1, max_size=6))
    return [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in rows]


@settings(max_examples=300, deadline=None)
@given(_objects())
def test_objects_are_typed_as_pyarrow_json_reads_them(lines):
    table = object_columns(pa.array(lines, pa.string()))
    if table is None:
        return
    assert table.equals(_read(lines)), (table.schema, _read(lines).schema)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-99, 99),
            st.floats(-1e6, 1e6),
            st.booleans(),
            _PLAIN.map(lambda s: "v" + s),
            st.none() | st.integers(0, 3),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_server_s_plain_inputs_are_always_cut(rows):
    lines = [
        json.dumps(
            {"n": n, "x": x, "b": b, "s": s, "maybe": m}, separators=(",", ":"), ensure_ascii=False
        )
        for n, x, b, s, m in rows
    ]
    table = object_columns(pa.array(lines))
    assert table is not None
    assert table.equals(_read(lines))


def test_fields_pyarrow_json_must_settle_are_left_to_it():
    for lines in [
        ['{"t":"2026-01-01 00:00:00"}', '{"t":"2026-01-02 00:00:00"}'],  # read as a time
        ['{"s":"a\\"b"}'],  # an escape
        ['{"v":1}', '{"v":"one"}'],  # kinds mixed
        ['{"v":true}', '{"v":1}'],
        ['{"v":[1]}'],  # nested
        ['{"v":18446744073709551616}'],  # past 64 bits
        ['{"a":1,"b":2}', '{"b":2,"a":1}'],  # another order
        ['{"a":1}', '{"a":1,"b":2}'],  # a field more
        ['{"a": 1}'],  # not minified
    ]:
        assert object_columns(pa.array(lines)) is None, lines


def test_a_field_null_in_every_object_is_null_typed():
    table = object_columns(pa.array(['{"a":null,"b":1}', '{"a":null,"b":2}']))
    assert table.equals(_read(['{"a":null,"b":1}', '{"a":null,"b":2}']))
    assert pa.types.is_null(table.schema.field("a").type)
