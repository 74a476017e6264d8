"""Request parsing and row validation for `keel serve`: every bad body is a 4xx naming the
field and what was expected; valid rows pass; nothing raises on arbitrary input."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.data.schema import Feature, Range, Schema, load_schema
from keel.serve.columns import to_frame
from keel.serve.requests import RequestError, parse_body, reject_invalid, request_json_schema
from keel.serve.validation import RowValidator, refuse_if_any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"

SCHEMA = Schema(
    features={
        "id": Feature(type="string", absent_in=["serving"]),
        "income": Feature(type="float", range=Range(min=0)),
        "debt": Feature(type="float", presence=0.9, allow_nan=True),
        "ratio": Feature(type="float", presence=0.5, allow_inf=True),
        "age": Feature(type="int", range=Range(min=18, max=100)),
        "region": Feature(type="string", domain=["north", "south"]),
        "member": Feature(type="bool"),
        "applied_at": Feature(type="datetime"),
        "notes": Feature(type="string", presence=0.0),
        "label": Feature(type="int", absent_in=["serving"]),
    }
)
VALID = {
    "income": 1200.5,
    "age": 40,
    "region": "north",
    "member": False,
    "applied_at": "2025-03-01T12:00:00",
}


def parse(body: bytes, max_bytes: int = 10_000, max_rows: int = 5) -> list[dict]:
    return parse_body(body, max_bytes=max_bytes, max_rows=max_rows)


def problems(row: dict, **kw) -> list[tuple[str, str]]:
    return [(p.field, p.kind) for p in RowValidator(SCHEMA, **kw).problems(row)]


def messages(row: dict) -> list[str]:
    return RowValidator(SCHEMA).check([row])[0].messages()


# -- parse_body ---------------------------------------------------------------------------------


def test_one_object_is_one_row_and_rows_is_a_batch():
    assert parse(b'{"income": 1}') == [{"income": 1}]
    assert parse(b'{"rows": [{"a": 1}, {"a": 2}]}') == [{"a": 1}, {"a": 2}]


def test_oversized_body_is_413_before_parsing():
    with pytest.raises(RequestError) as e:
        parse(b"{" * 101, max_bytes=100)
    assert e.value.status == 413 and "100 bytes" in e.value.message


def test_too_many_rows_is_413_naming_the_limit():
    with pytest.raises(RequestError) as e:
        parse(json.dumps({"rows": [{}] * 6}).encode(), max_rows=5)
    assert e.value.status == 413 and "limit is 5 rows" in e.value.message


@pytest.mark.parametrize(
    ("body", "where"),
    [(b'{"a": 1,}', "line 1 column 9"), (b"\xff{}", "position 0"), (b'{"a":\n tru}', "line 2")],
)
def test_malformed_body_is_400_naming_the_position(body, where):
    with pytest.raises(RequestError) as e:
        parse(body)
    assert e.value.status == 400 and where in e.value.message


def test_deep_nesting_and_huge_integers_are_400():
    for body in (b"[" * 100_000, b'{"a": ' + b"9" * 5000 + b"}"):
        with pytest.raises(RequestError) as e:
            parse(body, max_bytes=10**6)
        assert e.value.status == 400


@pytest.mark.parametrize("body", [b"[1, 2]", b'"row"', b"3", b"null", b"true"])
def test_a_non_object_body_is_422_saying_what_was_expected(body):
    with pytest.raises(RequestError) as e:
        parse(body)
    assert e.value.status == 422 and '{"rows": [objects]}' in e.value.message


def test_a_row_that_is_not_an_object_is_422_naming_its_index():
    with pytest.raises(RequestError) as e:
        parse(b'{"rows": [{}, {}, 7]}')
    assert e.value.status == 422 and e.value.field == "rows[2]"
    assert "rows[2]: expected a JSON object, got a number" in e.value.message


def test_a_batch_with_other_keys_or_no_rows_is_422():
    for body in (b'{"rows": [{}], "x": 1}', b'{"rows": []}'):
        with pytest.raises(RequestError) as e:
            parse(body)
        assert e.value.status == 422


def test_nan_and_infinity_tokens_reach_the_validator_as_floats():
    (row,) = parse(b'{"income": NaN, "debt": NaN, "ratio": -Infinity, "age": 1e400}')
    assert math.isnan(row["income"]) and row["ratio"] == -math.inf and row["age"] == math.inf
    assert problems({**VALID, **row}) == [("income", "nan"), ("age", "inf")]


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_a_4xx_request_error(body):
    try:
        rows = parse(body, max_bytes=200, max_rows=3)
    except RequestError as e:
        assert 400 <= e.status < 500 and e.message
    else:
        assert all(isinstance(r, dict) for r in rows) and 1 <= len(rows) <= 3


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=[]), max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=[]), max_size=8), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@given(JSON)
def test_arbitrary_json_text_only_ever_raises_a_4xx_request_error(value):
    try:
        parse(json.dumps(value).encode(), max_bytes=10_000, max_rows=2)
    except RequestError as e:
        assert 400 <= e.status < 500


# -- RowValidator -------------------------------------------------------------------------------


def test_a_valid_row_has_no_problems_and_optional_fields_may_be_absent_or_null():
    assert problems(VALID) == []
    assert problems({**VALID, "debt": None, "ratio": None, "notes": None}) == []


def test_a_required_field_absent_or_null_is_missing():
    row = {k: v for k, v in VALID.items() if k != "age"} | {"income": None}
    assert problems(row) == [("income", "missing"), ("age", "missing")]
    assert "rows[0].age: expected an integer ≥ 18 and ≤ 100, got absent" in messages(row)
    assert "rows[0].income: expected a number ≥ 0, got null" in messages(row)


def test_fields_absent_in_serving_are_never_required_and_are_checked_when_sent():
    assert "label" not in RowValidator(SCHEMA)._required
    assert problems({**VALID, "id": "a-1", "label": 1}) == []
    assert problems({**VALID, "label": "yes"}) == [("label", "type")]
    training = RowValidator(SCHEMA, environment="training")
    assert [p.field for p in training.problems(VALID)] == ["id", "label"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("income", "12", 'rows[0].income: expected a number ≥ 0, got "12"'),
        ("income", True, "rows[0].income: expected a number ≥ 0, got true"),
        ("age", 40.5, "rows[0].age: expected an integer within 64 bits, got 40.5"),
        (
            "age",
            2**70,
            "rows[0].age: expected an integer within 64 bits, got 1180591620717411303424",
        ),
        ("region", 3, "rows[0].region: expected a string, got 3"),
        ("member", 1, "rows[0].member: expected true or false, got 1"),
        (
            "applied_at",
            "yesterday",
            'rows[0].applied_at: expected an ISO 8601 date-time string, got "yesterday"',
        ),
        (
            "applied_at",
            [1],
            "rows[0].applied_at: expected an ISO 8601 date-time string, got an array of 1",
        ),
    ],
)
def test_type_problems_name_the_field_and_the_expectation(field, value, message):
    assert messages({**VALID, field: value}) == [message]
    assert problems({**VALID, field: value}) == [(field, "type")]


def test_odd_strings_and_timestamps_do_not_raise():
    (row,) = parse(b'{"region": "\\ud800", "applied_at": "0001-01-01T00:00:00+01:00"}')
    assert messages({**VALID, **row}) == [
        'rows[0].region: expected a string of valid Unicode, got "\\ud800"',
        "rows[0].applied_at: expected an ISO 8601 date-time string, got "
        '"0001-01-01T00:00:00+01:00"',
    ]
    assert problems({**VALID, "applied_at": "2025-03-01T12:00:00-05:00"}) == []
    (row,) = parse(b'{"notes": "a\\udc00", "\\ud800": 1}')
    row = {**VALID, **row}
    assert messages(row) == [
        'rows[0].notes: expected a string of valid Unicode, got "a\\udc00"',
        "rows[0].\\ud800: expected no such field (not in the schema), got 1",
    ]
    assert all(m.encode("utf-8") for m in messages(row))
    assert to_frame(SCHEMA, [row], RowValidator(SCHEMA).check([row]))["notes"].isna().all()


@given(st.datetimes(timezones=st.timezones()))
def test_any_timestamp_with_a_zone_never_raises(when):
    row = {**VALID, "applied_at": when.isoformat()}
    to_frame(SCHEMA, [row], RowValidator(SCHEMA).check([row]))


def test_ints_are_fine_for_floats_and_integral_floats_for_ints():
    assert problems({**VALID, "income": 5, "age": 40.0}) == []


def test_domain_and_range():
    assert messages({**VALID, "region": "east"}) == [
        'rows[0].region: expected one of "north", "south", got "east"'
    ]
    assert messages({**VALID, "income": -5}) == ["rows[0].income: expected a number ≥ 0, got -5"]
    assert problems({**VALID, "age": 17, "region": "East"}) == [
        ("age", "range"),
        ("region", "domain"),
    ]
    assert problems({**VALID, "age": 101}) == [("age", "range")]
    assert problems({**VALID, "age": 18}) == problems({**VALID, "age": 100}) == []


def test_nan_and_inf_follow_allow_nan_and_allow_inf():
    assert problems({**VALID, "debt": math.nan, "ratio": math.inf}) == []
    assert problems({**VALID, "debt": math.inf, "ratio": math.nan}) == [
        ("debt", "inf"),
        ("ratio", "nan"),
    ]
    assert messages({**VALID, "income": math.nan}) == [
        "rows[0].income: expected a number ≥ 0, got NaN"
    ]


def test_unknown_fields_are_refused_by_default_or_ignored_on_request():
    assert messages({**VALID, "incme": 5}) == [
        "rows[0].incme: expected no such field (not in the schema), got 5"
    ]
    assert problems({**VALID, "incme": 5}, unknown="ignore") == []


def test_reject_lists_every_problem_of_every_row():
    checks = RowValidator(SCHEMA).check(
        [VALID, {**VALID, "age": 5}, {**VALID, "region": 1, "x": 0}]
    )
    assert [c.ok for c in checks] == [True, False, False]
    status, message, field = refuse_if_any(checks)
    assert status == 422 and field == "rows[1].age"
    assert message.splitlines() == [
        "rows[1].age: expected an integer ≥ 18 and ≤ 100, got 5",
        "rows[2].region: expected a string, got 1",
        "rows[2].x: expected no such field (not in the schema), got 0",
    ]
    assert refuse_if_any(checks[:1]) is None
    reject_invalid(checks[:1])
    with pytest.raises(RequestError) as e:
        reject_invalid(checks)
    assert (e.value.status, e.value.message, e.value.field) == (status, message, field)


def test_flag_frame_has_the_schema_types_and_missing_as_nan():
    rows = [
        {**VALID, "id": "a", "label": 1, "debt": 3},
        {
            **VALID,
            "age": "old",
            "income": -1,
            "member": True,
            "applied_at": "2025-03-01T12:00:00+01:00",
        },
    ]
    frame = to_frame(SCHEMA, rows, RowValidator(SCHEMA).check(rows))
    assert list(frame.columns) == [
        "income", "debt", "ratio", "age", "region", "member", "applied_at", "notes"
    ]  # fmt: skip
    assert frame["income"].tolist() == [1200.5, -1.0]  # a range problem keeps its value
    assert frame["debt"].dtype == "float64" and math.isnan(frame["debt"][1])
    assert math.isnan(frame["age"][1]) and frame["age"][0] == 40  # a type problem is missing
    assert frame["member"].tolist() == [False, True]
    assert pd.api.types.is_datetime64_any_dtype(frame["applied_at"])
    assert frame["applied_at"][1] == pd.Timestamp("2025-03-01T11:00:00")
    assert frame["notes"].isna().all() and frame["region"].tolist() == ["north", "north"]


def test_flag_frame_of_complete_rows_keeps_integer_columns():
    frame = to_frame(SCHEMA, [VALID], RowValidator(SCHEMA).check([VALID]))
    assert frame["age"].dtype == "int64" and frame["member"].dtype == "bool"


@given(st.lists(JSON, max_size=4))
def test_arbitrary_json_rows_never_raise(rows):
    validator = RowValidator(SCHEMA)
    checks = validator.check(rows)
    assert len(checks) == len(rows)
    for check in checks:
        assert all(isinstance(m, str) for m in check.messages())
    dict_rows = [r for r in rows if isinstance(r, dict)]
    to_frame(SCHEMA, dict_rows, validator.check(dict_rows))


@given(st.dictionaries(st.sampled_from(list(SCHEMA.features)), JSON, max_size=10))
def test_arbitrary_values_of_known_fields_never_raise(row):
    validator = RowValidator(SCHEMA)
    checks = validator.check([row])
    to_frame(SCHEMA, [row], checks)


# -- rows generated from the schema -------------------------------------------------------------


def value_strategy(feature: Feature) -> st.SearchStrategy:
    """Values a serving row may carry for the feature, per its type, domain, range, NaN/inf."""
    r = feature.range or Range()
    if feature.type == "int":
        lo = int(r.min) if r.min is not None else -(2**63)
        hi = int(r.max) if r.max is not None else 2**63 - 1
        return st.integers(lo, hi)
    if feature.type == "float":
        return (
            st.floats(r.min, r.max, allow_nan=feature.allow_nan, allow_infinity=feature.allow_inf)
            if r.min is not None or r.max is not None
            else st.floats(allow_nan=feature.allow_nan, allow_infinity=feature.allow_inf)
        )
    if feature.type == "string":
        return st.sampled_from(feature.domain) if feature.domain else st.text(max_size=20)
    if feature.type == "bool":
        return st.booleans()
    if feature.type == "datetime":
        return st.datetimes().map(lambda d: d.isoformat())
    return JSON


@st.composite
def valid_rows(draw, schema: Schema):
    row = {}
    for name, feature in schema.features.items():
        needed = feature.presence >= 1.0 and "serving" not in feature.absent_in
        choice = "value" if needed else draw(st.sampled_from(["value", "null", "absent"]))
        if choice == "value":
            row[name] = draw(value_strategy(feature))
        elif choice == "null":
            row[name] = None
    return row


@given(valid_rows(SCHEMA))
def test_a_row_generated_from_the_schema_has_no_problems(row):
    assert RowValidator(SCHEMA).problems(row) == []
    assert len(to_frame(SCHEMA, [row], RowValidator(SCHEMA).check([row]))) == 1


@pytest.fixture(scope="module")
def credit():
    spec = importlib.util.spec_from_file_location("credit_generate", EXAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.generate(rows=300).drop(columns=["defaulted"])
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    return load_schema(EXAMPLE / "keel.schema.yaml"), rows


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(data=st.data())
def test_example_schema_generated_rows_pass(credit, data):
    schema, _ = credit
    assert RowValidator(schema).problems(data.draw(valid_rows(schema))) == []


def test_the_example_rows_pass_the_validator_and_the_json_schema(credit):
    schema, rows = credit
    assert all(c.ok for c in RowValidator(schema).check(rows))
    body = {"rows": rows[:100]}
    document = request_json_schema(schema, max_rows=100)
    jsonschema.Draft202012Validator.check_schema(document)
    jsonschema.validate(body, document, cls=jsonschema.Draft202012Validator)
    jsonschema.validate(rows[0], document, cls=jsonschema.Draft202012Validator)
    rows_of = parse_body(json.dumps(body).encode(), max_bytes=10**7, max_rows=100)
    frame = to_frame(schema, rows_of, RowValidator(schema).check(rows_of))
    assert len(frame) == 100 and "defaulted" not in frame and "application_id" not in frame


def test_json_schema_states_types_enums_ranges_required_and_the_batch():
    document = request_json_schema(SCHEMA, max_rows=7)
    row = document["anyOf"][0]
    assert document["anyOf"][1]["properties"]["rows"]["items"] == row
    assert "$ref" not in json.dumps(document)
    assert row["required"] == ["income", "age", "region", "member", "applied_at"]
    assert row["properties"]["income"] == {"type": "number", "minimum": 0}
    assert row["properties"]["age"] == {"type": "integer", "minimum": 18, "maximum": 100}
    assert row["properties"]["region"] == {"type": "string", "enum": ["north", "south"]}
    assert row["properties"]["debt"] == {"type": ["number", "null"]}
    assert row["properties"]["applied_at"] == {"type": "string", "format": "date-time"}
    assert row["properties"]["label"] == {"type": ["integer", "null"]}
    assert row["additionalProperties"] is False
    check = jsonschema.Draft202012Validator(document)
    assert check.is_valid(VALID) and check.is_valid({"rows": [VALID] * 7})
    for bad in ({"rows": [VALID] * 8}, {"rows": []}, {**VALID, "age": 17}, {**VALID, "x": 1},
                {**VALID, "region": "east"}, {"income": 1}):  # fmt: skip
        assert not check.is_valid(bad)
    assert "additionalProperties" not in request_json_schema(SCHEMA, unknown="ignore")["anyOf"][0]


def test_a_timestamp_the_training_data_holds_as_text_is_served_as_the_same_text():
    schema = Schema(features={"at": Feature(type="datetime", as_text=True)})
    rows = [{"at": "2024-03-01T10:00:00"}, {"at": "2024-03-02T11:30:00"}]
    assert RowValidator(schema).check([{"at": "yesterday"}])[0].problems  # still checked
    frame = to_frame(schema, rows, RowValidator(schema).check(rows))
    assert frame["at"].tolist() == ["2024-03-01T10:00:00", "2024-03-02T11:30:00"]


def test_as_text_is_refused_on_a_feature_that_is_not_a_datetime():
    with pytest.raises(ValueError, match="as_text is for datetime features; this one is string"):
        Feature(type="string", as_text=True)
