"""The compiled scans (keel.log._scan) give what the NumPy ways give: the same frames of a
segment, damaged or not, and a record cut only when every value is one complete JSON value."""

import json
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.log import _columnar, _spans
from keel.log.segments import HEADER

_scan = _spans._scan


def test_the_compiled_scans_are_built_where_keel_is_installed_with_a_compiler():
    assert _scan is not None, "keel.log._scan is not built: `pip install -e .` needs gcc"


def _frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@st.composite
def _segments(draw) -> tuple[bytes, list[int]]:
    """Segments of framed payloads side by side, some bytes of some of them changed."""
    segments = []
    for _ in range(draw(st.integers(1, 4))):
        payloads = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
        data = bytearray(b"".join(_frame(p) for p in payloads))
        for _ in range(draw(st.integers(0, 2))):
            if data:
                at = draw(st.integers(0, len(data) - 1))
                data[at] = draw(st.integers(0, 255))
        if draw(st.booleans()) and data:  # a torn tail
            data = data[: draw(st.integers(0, len(data) - 1))]
        segments.append(bytes(data))
    starts = np.cumsum([0, *map(len, segments)]).tolist()
    return b"".join(segments), starts


@settings(max_examples=300, deadline=None)
@given(_segments())
def test_frames_are_found_and_checked_as_the_python_walk_finds_them(segments):
    data, starts = segments
    buffer = np.frombuffer(data, np.uint8).copy()
    compiled = _columnar._segment_ends(buffer, starts)
    python = []
    for start, end in zip(starts, starts[1:], strict=False):
        ends = _columnar._frame_ends(memoryview(buffer)[start:end])
        python.append(None if ends is None else [e + start for e in ends])
    assert [None if c is None else c.tolist() for c in compiled] == python


def test_a_frame_s_crc_is_zlib_s_over_payloads_of_every_length():
    payloads = [(bytes(range(256)) * 3)[:n] for n in range(1, 700, 7)]
    data = b"".join(_frame(p) for p in payloads)
    out, counts = np.empty(len(payloads) + 1, np.int64), np.empty(1, np.int64)
    assert _scan.frames(data, np.array([0, len(data)]), 1 << 20, out, counts) == len(payloads)
    bad = bytearray(data)
    bad[-1] ^= 1
    assert _scan.frames(bytes(bad), np.array([0, len(bad)]), 1 << 20, out, counts) == 0
    assert counts.tolist() == [-1]


def _split(payloads: list[bytes], names: list[str]):
    data = b"".join(payloads)
    offsets = np.cumsum([0, *map(len, payloads)]).astype(np.int64)
    keys = [f'{{"{names[0]}":'.encode(), *(f',"{n}":'.encode() for n in names[1:])]
    return _scan.split(data, offsets, 0, keys)


@pytest.mark.parametrize(
    "value",
    [
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "tru",
        "nul",
        '"\\q"',
        '"\\u12g4"',
        '"tab\there"',
        '"open',
        "[1,]",
        '{"a":1,}',
        "[1 2]",
        '{"a" 1}',
        "{1:2}",
        "[" * 600 + "]" * 600,  # deeper than the scan follows: left to the parse
        "NaN",
        "1 ",
    ],
)
def test_a_value_that_is_not_one_complete_json_value_is_not_cut(value):
    assert _split([b'{"a":' + value.encode() + b',"b":1}'], ["a", "b"]) is None


@pytest.mark.parametrize(
    "value",
    [
        "-0.5e+3",
        "0",
        "1E-7",
        '"\\u00e9\\n\\"\\\\\\/"',
        '"Zürich"',
        '{ "a" : [ 1 , { } , [ ] ] }',
        "[true,false,null]",
        "[" * 100 + "]" * 100,
    ],
)
def test_every_complete_json_value_is_cut_as_logged(value):
    (a, b) = _split([b'{"a":' + value.encode() + b',"b":null}'], ["a", "b"])
    assert bytes(a[1]) == value.encode()
    assert np.frombuffer(a[0], np.int32).tolist() == [0, len(value.encode())]
    assert b[3] == 1  # `null`: a null
    json.loads(value)  # the cases are JSON indeed


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.binary(max_size=30), min_size=1, max_size=4))
def test_bytes_that_are_not_records_laid_out_alike_are_never_cut(tails):
    # any bytes after the first key: cut only when json.loads reads the very same record
    payloads = [b'{"a":' + t for t in tails]
    found = _split(payloads, ["a"])
    if found is None:
        return
    for payload in payloads:
        record = json.loads(payload)
        assert list(record) == ["a"]
    texts = np.frombuffer(found[0][0], np.int32)
    assert len(texts) == len(payloads) + 1


def test_a_value_repeating_an_earlier_one_is_cut_whole_and_only_whole():
    inputs = b'{"a":[1,{"b":"x"}],"c":2.5}'
    names = ["inputs", "model_inputs", "n"]

    def record(model_inputs: bytes) -> bytes:
        return b'{"inputs":' + inputs + b',"model_inputs":' + model_inputs + b',"n":1}'

    found = _split([record(inputs), record(b'{"a":2}')], names)
    texts = [bytes(found[1][1])[: len(inputs)], bytes(found[1][1])[len(inputs) :]]
    assert texts == [inputs, b'{"a":2}']
    for after in [b"x", b"}", b" ", b"1"]:  # the earlier value's bytes, then more
        assert _split([record(inputs + after)], names) is None, after
    assert _split([record(inputs[:-1])], names) is None  # a prefix of it: not whole


def test_the_crc_table_used_without_zlib_is_zlib_s_crc():
    data = (bytes(range(256)) * 40)[:9_000]
    for n in [0, 1, 7, 8, 9, 63, 64, 1000, 9_000]:
        for start in [0, 1, 5]:
            piece = data[start : start + n]
            assert _scan.table_crc32(piece) == zlib.crc32(piece), (n, start)
