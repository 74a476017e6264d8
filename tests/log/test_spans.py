"""The roll's fields cut out of the logged payloads (keel.log._spans) without a JSON parser:
each value's text exactly as logged when every record is laid out as the first, and None
(the caller parses instead) whenever one is not."""

import json
import zlib

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.log import _spans as spans
from keel.log import rollup
from keel.log._columnar import _payloads
from keel.log._spans import cut
from keel.log.segments import HEADER, encode_record

pytestmark = pytest.mark.usefixtures("scan_way")

_KEYS = st.sampled_from(["a", "b", "time", "inputs", "model_inputs", "x_1", "A", "prediction"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS | st.text(max_size=4), inner),
    max_leaves=8,
)


@st.composite
def _records(draw) -> list[dict]:
    """Records mostly laid out alike (the same fields in the same order), sometimes not."""
    names = draw(st.lists(_KEYS, min_size=1, max_size=5, unique=True))
    alike = st.fixed_dictionaries({n: _VALUES for n in names})
    other = st.dictionaries(_KEYS, _VALUES, min_size=1)
    return draw(st.lists(alike | other, min_size=1, max_size=5))


def _framed(tmp_path, payloads: list[bytes]):
    path = tmp_path / "seg-1-00000001-abcd.seg"
    path.write_bytes(b"".join(HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads))
    return _payloads([path])[0]


def _cut(tmp_path, records):
    path = tmp_path / "seg-1-00000001-abcd.seg"
    path.write_bytes(b"".join(encode_record(r) for r in records))
    return cut(_payloads([path])[0], HEADER.size)


def _nested_keys(value) -> set:
    """Every key of the objects inside `value`, at any depth."""
    if isinstance(value, dict):
        return set(value).union(*(_nested_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_nested_keys(v) for v in value))
    return set()


def _logged(value):
    return None if value is None else json.dumps(value, separators=(",", ":"))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=_records())
def test_a_cut_is_each_value_as_logged_or_nothing(tmp_path, scan_way, records):
    texts = _cut(tmp_path, records)
    same_layout = all(list(r) == list(records[0]) for r in records)
    names = {k.lower() for k in records[0]}
    inside = set().union(*(_nested_keys(v) for r in records for v in r.values()))
    # laid out alike: always cut (by the compiled scan even with a field's name nested inside)
    if same_layout and len(names) == len(records[0]):
        assert texts is not None or (scan_way == "numpy" and inside & set(records[0]))
    if texts is None:
        return
    assert same_layout and list(texts) == list(records[0])
    for name, text in texts.items():
        assert text.to_pylist() == [_logged(r[name]) for r in records], name


def test_served_records_are_cut_with_their_logged_text(tmp_path, scan_way):
    record = {
        "time": "2026-11-01T00:00:00+00:00",
        "model_version": 1,
        "inputs": {"tiny": 1e-05, "city": "Zürich", "time": 'x,"y":'},
        "prediction": 1,
        "probabilities": {"0": 0.25, "1": 0.75},
        "anomalies": [],
    }
    texts = _cut(tmp_path, [record, {**record, "prediction": None}])
    assert texts["inputs"].to_pylist()[0] == _logged(record["inputs"])  # 1e-05, \u00fc kept
    assert texts["prediction"].to_pylist() == ["1", None]
    nested = {**record, "inputs": {**record["inputs"], "prediction": 3}}  # a later field's name
    texts = _cut(tmp_path, [nested])
    if scan_way == "numpy":  # the searching cut leaves it to the parse; the compiled one reads it
        assert texts is None
    else:
        assert texts["inputs"].to_pylist() == [_logged(nested["inputs"])]


def test_rolled_parts_keep_the_nested_fields_text_as_logged(tmp_path):
    records = [
        {"time": "2026-11-01T00:00:00+00:00", "model_version": 1, "inputs": {"x": 1e-05 * i}}
        for i in range(1, 4)
    ]
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "seg-1-00000001-abcd.seg").write_bytes(
        b"".join(encode_record(r) for r in records)
    )
    rollup.roll(tmp_path / "seg", tmp_path / "out")
    (part,) = (tmp_path / "out").glob("**/*.parquet")
    assert pq.read_table(part).column("inputs").to_pylist() == [
        _logged(r["inputs"]) for r in records
    ]  # DuckDB's parse wrote them back as 0.00001, 0.00002, ...


def test_payloads_not_laid_out_alike_are_not_cut(tmp_path):
    first = b'{"time":"t","model_version":1,"inputs":{"a":1},"prediction":2}'
    for other in [
        b'{"time":"t","model_version":1,"inputs":{"a":1},"prediction":2,"more":3}',
        b'{"time":"t","model_version":1,"prediction":2,"inputs":{"a":1}}',  # order
        b'{"time":"t","model_version":1,"inputs":{"a":1}}',  # a field less
        b'{"time":"t","model_version":1,"inputs":{"a":1},"prediction":2,"prediction":3}',
        b'{"time": "t","model_version":1,"inputs":{"a":1},"prediction":2}',  # whitespace
        b'{"time":"t","model_version":1,"inputs":{"a":1,"prediction":2}}',  # nested only
        b'{"time":"t","model_version":1,"inputs":{"a":1},"prediction":02}',
        b'{"time":"t\x01","model_version":1,"inputs":{"a":1},"prediction":2}',
        b'{"time":"t","model_version":1,"inputs":{"a":1},"prediction":2',
        b"[1,2]",
    ]:
        assert cut(_framed(tmp_path, [first, other]), HEADER.size) is None, other
    assert cut(_framed(tmp_path, [first, first]), HEADER.size) is not None


def test_names_that_differ_only_in_case_are_left_to_the_parse(tmp_path):
    record = {"time": "t", "model_version": 1, "A": 1, "a": 2}
    assert _cut(tmp_path, [record]) is None


def _served(inputs: dict, model_inputs: dict) -> dict:
    return {
        "time": "2026-11-01T00:00:00+00:00",
        "model_version": 1,
        "inputs": inputs,
        "model_inputs": model_inputs,
        "prediction": 1,
    }


def test_long_model_inputs_as_long_as_the_inputs_are_cut_right_whatever_follows(
    tmp_path, monkeypatch, scan_way
):
    wide = {f"feature_{k}": k / 7 for k in range(8)}  # past the length a plain search takes
    same = _served(wide, wide)
    shorter = _served(wide, {**wide, "feature_0": 1})  # the guessed end falls past its end
    longer = _served(wide, {**wide, "feature_0": 10.5})  # ... before its end
    # the guessed end lands on a `,"prediction":` inside the model inputs (a nested key)
    trap_inputs = {"note": "x" * 60}
    trap = _served(trap_inputs, {"note": "x" * 61, "prediction": 1, "b": "y"})
    logged = _logged(trap["model_inputs"])
    assert logged.index(',"prediction":') == len(_logged(trap_inputs))
    untrapped = _served(trap_inputs, trap_inputs)
    for records, always in ([same, shorter, longer], True), ([untrapped, trap], False):
        texts = _cut(tmp_path, records)
        assert texts is not None or scan_way == "numpy"  # the compiled scan is never misled
        if texts is None:  # left to the parse: never a wrong cut
            assert not always
            continue
        for name in records[0]:
            assert texts[name].to_pylist() == [_logged(r[name]) for r in records], name
    if scan_way == "compiled":
        return  # below: how the NumPy cut finds the model inputs' end
    searched = []
    search = spans.pc.find_substring_regex
    monkeypatch.setattr(
        spans.pc,
        "find_substring_regex",
        lambda text, key: searched.append(key) or search(text, key),
    )
    texts = _cut(tmp_path, [same, same])
    assert texts is not None
    assert texts["model_inputs"].to_pylist() == [_logged(wide)] * 2
    assert searched == [',"model_inputs":']  # its end taken from the inputs', not searched for


def test_short_values_of_many_lengths_are_cut_right_tried_or_searched(
    tmp_path, monkeypatch, scan_way
):
    # ids of more lengths than are tried: the records no length fits are searched for
    records = [{"id": "x" * (1 + k % 7), "n": k, "tail": [k]} for k in range(40)]
    assert len({1 + k % 7 for k in range(40)}) > spans._TRIES
    searched = []
    search = spans.pc.find_substring
    monkeypatch.setattr(
        spans.pc,
        "find_substring",
        lambda text, key: searched.append(len(text)) or search(text, key),
    )
    texts = _cut(tmp_path, records)
    assert texts is not None
    for name in ("id", "n", "tail"):
        assert texts[name].to_pylist() == [_logged(r[name]) for r in records], name
    # NumPy: only the records no length fitted are searched
    assert scan_way == "compiled" or searched and max(searched) < len(records)
    # the first record's length puts the next key where it stands nested in a later value:
    # never a wrong cut (a value cut there is not whole, so the payloads are parsed instead)
    trap = [{"id": "x" * 12, "n": 1}, {"id": "x", "n": {"a": 1, "n": 2}}]
    assert _logged(trap[1])[len('{"id":') + 14 :].startswith(',"n":')
    texts = _cut(tmp_path, trap)
    assert texts is not None or scan_way == "numpy"
    if texts is not None:
        for name in ("id", "n"):
            assert texts[name].to_pylist() == [_logged(r[name]) for r in trap], name
