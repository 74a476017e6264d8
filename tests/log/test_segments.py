"""Record framing and crash recovery of prediction-log segment files."""

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from keel.log.quarantine import Damage, kept, quarantine_dir
from keel.log.segments import (
    CLOSED_SUFFIX,
    HEADER,
    OPEN_SUFFIX,
    Gap,
    decode,
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


def test_a_flipped_byte_costs_only_its_own_record():
    frames = [encode_record({"i": i}) for i in range(5)]
    blob = bytearray(b"".join(frames))
    third = len(frames[0]) + len(frames[1])
    blob[third + 10] ^= 0xFF  # inside the third record's payload
    decoded, good = decode_records(bytes(blob))
    assert decoded == [{"i": 0}, {"i": 1}, {"i": 3}, {"i": 4}]
    assert good == len(blob)
    # the length header held: exactly one record lost, the range is exactly that frame
    assert decode(bytes(blob))[1] == [Gap(third, third + len(frames[2]), 1, True)]


def test_a_damaged_header_resyncs_on_the_next_valid_frame():
    frames = [encode_record({"i": i, "text": "x" * 30}) for i in range(6)]
    blob = bytearray(b"".join(frames))
    start = sum(map(len, frames[:2]))
    end = start + len(frames[2]) + 5  # the third record's header on, into the fourth's header
    blob[start:end] = b"\xff" * (end - start)
    records, gaps = decode(bytes(blob))
    assert [r["i"] for r in records] == [0, 1, 4, 5]
    (gap,) = gaps
    assert (gap.start, gap.end) == (start, start + len(frames[2]) + len(frames[3]))
    assert gap.records >= 1 and not gap.exact  # no header to count by: a lower bound


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


def test_recover_keeps_the_records_after_a_damaged_middle_and_quarantines_the_torn_tail(
    tmp_path,
):
    frames = [encode_record({"i": i}) for i in range(10)]
    blob = bytearray(b"".join(frames))
    middle = sum(map(len, frames[:4]))
    blob[middle + HEADER.size + 2] ^= 0xFF  # the fifth record's payload
    tail = frames[0][:7]
    dead = tmp_path / f"seg-1-00000001-abcd{OPEN_SUFFIX}"
    dead.write_bytes(bytes(blob) + tail)
    met = []
    (closed,) = recover(tmp_path, met)
    assert read_segment(closed) == [{"i": i} for i in range(10) if i != 4]
    assert closed.stat().st_size == len(blob)  # only the torn tail is cut
    middle_damage = Damage(dead.stem, middle, len(frames[4]), 1, True)
    tail_damage = Damage(dead.stem, len(blob), len(tail), 1, False)
    assert met == [middle_damage, tail_damage]
    assert kept(tmp_path) == [tail_damage]  # the middle is kept aside when it is rolled
    stem = f"{dead.stem}-{len(blob):012d}"
    assert (quarantine_dir(tmp_path) / f"{stem}.bin").read_bytes() == tail
