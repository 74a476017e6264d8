"""Record framing and crash recovery of prediction-log segment files."""

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from keel.serve.segments import (
    CLOSED_SUFFIX,
    OPEN_SUFFIX,
    decode_records,
    encode_record,
    read_segment,
    recover,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
records = st.dictionaries(st.text(), json_values, max_size=6)


@given(st.lists(records, max_size=5))
def test_any_json_records_round_trip(items):
    data = b"".join(encode_record(r) for r in items)
    decoded, good = decode_records(data)
    assert good == len(data)
    assert json.dumps(decoded) == json.dumps(items)


@given(st.lists(records, min_size=1, max_size=5), st.data())
def test_truncation_never_yields_a_partial_record(items, data):
    frames = [encode_record(r) for r in items]
    blob = b"".join(frames)
    cut = data.draw(st.integers(0, len(blob)))
    decoded, good = decode_records(blob[:cut])
    ends = [sum(map(len, frames[: i + 1])) for i in range(len(frames))]
    whole = sum(1 for end in ends if end <= cut)
    assert len(decoded) == whole
    assert good == (ends[whole - 1] if whole else 0)
    assert json.dumps(decoded) == json.dumps(items[:whole])


@given(st.lists(records, min_size=1, max_size=4), st.binary(max_size=64))
def test_garbage_after_records_is_a_torn_tail(items, garbage):
    blob = b"".join(encode_record(r) for r in items)
    decoded, good = decode_records(blob + garbage)
    assert json.dumps(decoded[: len(items)]) == json.dumps(items)
    assert good >= len(blob)


def test_a_flipped_byte_ends_the_readable_prefix():
    frames = [encode_record({"i": i}) for i in range(5)]
    blob = bytearray(b"".join(frames))
    blob[len(frames[0]) + len(frames[1]) + 10] ^= 0xFF  # inside the third record
    decoded, good = decode_records(bytes(blob))
    assert decoded == [{"i": 0}, {"i": 1}]
    assert good == len(frames[0]) + len(frames[1])


def test_non_finite_floats_are_refused():
    import pytest

    from keel.errors import KeelError

    with pytest.raises(KeelError, match="not JSON-able"):
        encode_record({"x": math.nan})


def test_recover_cuts_a_torn_tail_of_a_dead_writer(tmp_path):
    frames = [encode_record({"i": i}) for i in range(10)]
    blob = b"".join(frames)
    torn = tmp_path / f"seg-1-00000001-abcd{OPEN_SUFFIX}"
    torn.write_bytes(blob[: len(blob) - 7])
    garbage = tmp_path / f"seg-1-00000002-abcd{OPEN_SUFFIX}"
    garbage.write_bytes(blob + b"\x00\x00\x01\x00garbage")
    empty = tmp_path / f"seg-1-00000003-abcd{OPEN_SUFFIX}"
    empty.write_bytes(b"\x00\x00")
    closed = recover(tmp_path)
    assert sorted(p.name for p in closed) == [
        f"seg-1-00000001-abcd{CLOSED_SUFFIX}",
        f"seg-1-00000002-abcd{CLOSED_SUFFIX}",
    ]
    assert read_segment(closed[0]) == [{"i": i} for i in range(9)]
    assert closed[0].stat().st_size == sum(map(len, frames[:9]))
    assert read_segment(closed[1]) == [{"i": i} for i in range(10)]
    assert closed[1].stat().st_size == len(blob)
    assert not list(tmp_path.glob("*" + OPEN_SUFFIX))
