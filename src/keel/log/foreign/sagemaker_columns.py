"""SageMaker Data Capture lines read column by column: a whole chunk of a capture file into
one Arrow table of Keel records, never a Python dict per line.

`read_table(data, name, settings, check)` is the fast way of `keel.log.foreign.sagemaker.read`
for the common shapes: the lines parsed once by `pyarrow.json` (eventMetadata.inferenceTime,
eventId, inferenceId, captureData.endpointInput/endpointOutput data and encoding), the input
payloads parsed once more the same way (JSON objects of scalars) or split vectorised (CSV
values named by `settings.columns["inputs"]`), the output payloads (a number or label, CSV
values, or a JSON object with one of `sagemaker.LABEL_KEYS` and/or a list under one of
`sagemaker.PROBA_KEYS`) turned into the prediction and the probabilities' JSON text. The
table holds the columns the roll-up gives Keel's own records (`keel.log.rollup`): request_id,
row, example_id, time (ISO-8601 with its offset), model_version, route, inputs (JSON text),
prediction, probabilities (JSON text), nonfinite, anomalies (when `check` is given).

It returns None whenever the chunk holds anything else (a line that is not JSON or not a
capture, a missing time, BASE64, a payload of several rows, a NaN, a quoted CSV value, ...):
the importer then reads that chunk line by line with `sagemaker.read`, which names each
unreadable line. Either way the records are the same values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import served_by
from keel.log.foreign.sagemaker import LABEL_KEYS, PROBA_KEYS, variant_of

_PAYLOAD = pa.struct([("data", pa.string()), ("encoding", pa.string())])
_LINE = pa.schema(
    [
        ("captureData", pa.struct([("endpointInput", _PAYLOAD), ("endpointOutput", _PAYLOAD)])),
        (
            "eventMetadata",
            pa.struct(
                [
                    ("eventId", pa.string()),
                    ("inferenceId", pa.string()),
                    ("inferenceTime", pa.string()),
                ]
            ),
        ),
    ]
)
_BLOCK = 2 << 20  # pyarrow.json block size: its threads take a block each
_NUMBER = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
_SCALARS = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_boolean)

Check = Callable[[dict[str, Any]], list[str]]


class _Other(Exception):
    """The chunk is not in a shape read here: read it line by line."""


def read_table(
    data: bytes, name: str, settings: ForeignSettings, check: Check | None = None
) -> pa.Table | None:
    """The Keel records of complete capture lines as one table (see the module docstring), or
    None when the chunk is not all in the shapes read here. Raises KeelError as
    `sagemaker.read` does (a variant `[serving] versions` does not map, CSV inputs without a
    schema)."""
    try:
        return _records(data, name, settings, check)
    except (_Other, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _json(lines: bytes | pa.Buffer, schema: pa.Schema | None = None) -> pa.Table:
    options = pa_json.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="ignore" if schema else "infer"
    )
    return pa_json.read_json(
        pa.BufferReader(lines),
        read_options=pa_json.ReadOptions(block_size=_BLOCK),
        parse_options=options,
    )


def _texts(texts: pa.Array, wrap: bool = False) -> pa.Table:
    """Each text (one JSON value, no newline in it) parsed; `wrap` parses `{"v": <text>}`."""
    if pc.any(pc.match_substring(texts, "\n")).as_py():
        raise _Other("a payload spans lines")
    n = len(texts)
    if wrap:
        texts = pc.binary_join_element_wise('{"v":', texts, "}", "")
    lines = pc.binary_join_element_wise(texts, "\n", "")
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset : lines.offset + n + 1]
    body = lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    table = _json(body)
    if table.num_rows != len(texts):
        raise _Other("a payload is not one JSON value")
    return table


def _column(table: pa.Table, path: str) -> pa.Array:
    value: Any = table.column(path.split(".")[0]).combine_chunks()
    for part in path.split(".")[1:]:
        value = pc.struct_field(value, part)
    return value


def _records(
    data: bytes, name: str, settings: ForeignSettings, check: Check | None
) -> pa.Table | None:
    lines = _json(data, _LINE)
    n = lines.num_rows
    if n == 0 or n != data.count(b"\n"):
        raise _Other("blank lines (the line-by-line way numbers the lines)")
    times = _column(lines, "eventMetadata.inferenceTime")
    if times.null_count or lines.column("captureData").null_count:
        raise _Other("a line without eventMetadata.inferenceTime or captureData")
    # asked once the lines are captures, as the line-by-line way asks for each capture
    version = served_by(settings, variant_of(name), "the SageMaker variant")
    moments = pc.cast(times, pa.timestamp("us", "UTC"))
    stamp = pc.binary_join_element_wise(pc.strftime(moments, "%Y-%m-%dT%H:%M:%S"), "+00:00", "")
    event = _column(lines, "eventMetadata.eventId")
    inference = _column(lines, "eventMetadata.inferenceId")
    example = pc.if_else(pc.fill_null(pc.equal(inference, ""), True), event, inference)
    inputs = _inputs(_payload(lines, "endpointInput"), settings)
    prediction, probabilities = _outputs(_payload(lines, "endpointOutput"))
    columns: dict[str, pa.Array] = {
        "request_id": event,
        "row": pa.array(np.zeros(n, np.int64)),
        "example_id": example,
        "time": stamp,
        "model_version": pa.array(np.full(n, version, np.int64)),
        "route": pa.array(["champion"] * n, pa.string()),
        "inputs": inputs,
        "prediction": prediction,
    }
    if probabilities is not None:
        columns["probabilities"] = probabilities
    columns["nonfinite"] = pa.array(["[]"] * n, pa.string())
    if check is not None:
        problems = [check(json.loads(text)) for text in inputs.to_pylist()]
        columns["anomalies"] = pa.array(
            [json.dumps(p, ensure_ascii=False, separators=(",", ":")) for p in problems],
            pa.string(),
        )
    return pa.table(columns)


def _payload(lines: pa.Table, which: str) -> tuple[pa.Array, str]:
    """(payload texts, "json" or "csv") of endpointInput/endpointOutput; one encoding only."""
    texts = _column(lines, f"captureData.{which}.data")
    encodings = pc.utf8_upper(_column(lines, f"captureData.{which}.encoding"))
    kinds = pc.unique(encodings).to_pylist()
    if texts.null_count or len(kinds) != 1 or kinds[0] not in ("JSON", "CSV"):
        raise _Other(f"{which}: no data, BASE64 or mixed encodings")
    return texts, kinds[0].lower()


def _finite(values: pa.Array) -> None:
    if (
        pa.types.is_floating(values.type)
        and not pc.all(pc.fill_null(pc.is_finite(values), True)).as_py()
    ):
        raise _Other("a NaN or infinite value (the line-by-line way lists it)")


def _number_text(values: pa.Array) -> pa.Array:
    """JSON text of numbers: a float keeps a point (1.0, as Python's json writes it)."""
    text = pc.cast(values, pa.string())
    if pa.types.is_floating(values.type):
        plain = pc.match_substring_regex(text, "[.eE]")
        text = pc.if_else(plain, text, pc.binary_join_element_wise(text, ".0", ""))
    return text


def _inputs(payload: tuple[pa.Array, str], settings: ForeignSettings) -> pa.Array:
    """The inputs column (JSON text of one object per row)."""
    texts, kind = payload
    if kind == "json":
        parsed = _texts(texts)
        for field in parsed.schema:
            if not any(test(field.type) for test in _SCALARS) and not pa.types.is_null(field.type):
                raise _Other(f"input {field.name} is not a scalar (or a payload of rows)")
            _finite(parsed.column(field.name).combine_chunks())
        if pc.any(pc.invert(pc.starts_with(pc.utf8_ltrim_whitespace(texts), "{"))).as_py():
            raise _Other("an input payload that is not an object")
        return texts
    names = settings.columns.get("inputs")
    if not isinstance(names, list) or not names:
        raise KeelError(
            "a SageMaker capture with CSV (or unnamed JSON) inputs: Keel names the values by "
            "the features of keel.schema.yaml in order; write one (`keel schema infer`)"
        )
    values = _csv(texts, len(names))
    pieces: list[Any] = []
    for i, (label, column) in enumerate(zip(names, values, strict=True)):
        pieces += [("{" if i == 0 else ",") + json.dumps(str(label)) + ":", _csv_json(column)]
    return pc.binary_join_element_wise(*pieces, "}", "")


def _csv(texts: pa.Array, width: int) -> list[pa.Array]:
    """The values of one-row CSV payloads of `width` values each, column by column."""
    texts = pc.utf8_rtrim(texts, "\r\n")
    if pc.any(pc.match_substring_regex(texts, '["\n\r]')).as_py():
        raise _Other("quoted CSV values or several rows")
    split = pc.split_pattern(texts, ",")
    lengths = pc.list_value_length(split)
    if pc.min(lengths).as_py() != width or pc.max(lengths).as_py() != width:
        raise _Other("a CSV payload with another number of values")
    flat = pc.list_flatten(split)
    return [flat.take(pa.array(np.arange(i, len(flat), width))) for i in range(width)]


def _csv_json(values: pa.Array) -> pa.Array:
    """JSON text of CSV values as `sagemaker._value` reads them: a number when Python's
    float() reads it, else the text (quoted)."""
    number = pc.match_substring_regex(values, _NUMBER)
    others = pc.unique(values.filter(pc.invert(number))).to_pylist()
    for text in others:
        try:
            float(text)
        except ValueError:
            continue
        raise _Other(f"{text!r}: a number only Python reads (nan, inf, 1_000)")
    if any(('"' in t or "\\" in t or not t.isprintable()) for t in others):
        raise _Other("a CSV text that JSON must escape")
    if not others:
        return _number_text(pc.cast(values, pa.float64()))
    numbers = _number_text(pc.cast(pc.if_else(number, values, "0"), pa.float64()))
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    return pc.if_else(number, numbers, quoted)


def _outputs(payload: tuple[pa.Array, str]) -> tuple[pa.Array, pa.Array | None]:
    """(prediction, probabilities as JSON text or None) per row."""
    texts, kind = payload
    if kind == "csv":
        values = pc.utf8_rtrim(texts, "\r\n")
        if pc.any(pc.match_substring_regex(values, '["\n\r]')).as_py():
            raise _Other("quoted CSV outputs or several rows")
        split = pc.split_pattern(values, ",")
        flat = pc.list_flatten(split)
        if not pc.all(pc.match_substring_regex(flat, _NUMBER)).as_py():
            raise _Other("a CSV output that is not a number")
        numbers = pc.cast(flat, pa.float64())
        _finite(numbers)
        lengths = pc.list_value_length(split)
        width = pc.max(lengths).as_py()
        if pc.min(lengths).as_py() != width:
            raise _Other("CSV outputs of several widths")
        if width == 1:
            return numbers, None
        return _probabilities(numbers, width, None)
    value = _texts(texts, wrap=True).column("v").combine_chunks()
    kind_of = value.type
    if any(test(kind_of) for test in _SCALARS):
        _finite(value)
        return value, None
    if not pa.types.is_struct(kind_of):
        raise _Other("an output of several rows (a list), or of no known shape")
    fields = [kind_of.field(i).name for i in range(kind_of.num_fields)]
    labels = [f for f in fields if f in LABEL_KEYS]
    probas = [f for f in fields if f in PROBA_KEYS]
    if set(fields) - set(labels) - set(probas) or len(labels) > 1 or len(probas) > 1:
        raise _Other("an output object with other fields")
    label = pc.struct_field(value, labels[0]) if labels else None
    if label is not None:
        if label.null_count or not any(test(label.type) for test in _SCALARS):
            raise _Other("a missing or non-scalar label")
        _finite(label)
    if not probas:
        if label is None:
            raise _Other("an output object without a label")
        return label, None
    proba = pc.struct_field(value, probas[0])
    if not pa.types.is_list(proba.type) or proba.null_count:
        raise _Other("probabilities that are not a list")
    lengths = pc.list_value_length(proba)
    width = pc.max(lengths).as_py()
    if pc.min(lengths).as_py() != width or not width:
        raise _Other("probability lists of several lengths")
    flat = pc.list_flatten(proba)
    if not (pa.types.is_floating(flat.type) or pa.types.is_integer(flat.type)):
        raise _Other("probabilities that are not numbers")
    if flat.null_count:
        raise _Other("a missing probability")
    return _probabilities(flat, width, label)


def _probabilities(flat: pa.Array, width: int, label: pa.Array | None) -> tuple[pa.Array, pa.Array]:
    """(prediction, probabilities JSON text) of `width` class probabilities per row (classes
    "0", "1", ...); the prediction is `label`, or the likeliest class as `_argmax` picks."""
    _finite(flat)
    text = _number_text(flat) if pa.types.is_floating(flat.type) else pc.cast(flat, pa.string())
    pieces: list[Any] = []
    for k in range(width):
        column = text.take(pa.array(np.arange(k, len(flat), width)))
        pieces += [("{" if k == 0 else ",") + f'"{k}":', column]
    joined = pc.binary_join_element_wise(*pieces, "}", "")
    if label is None:
        matrix = flat.to_numpy(zero_copy_only=False).reshape(-1, width)
        label = pc.cast(pa.array(np.argmax(matrix, axis=1)), pa.string())
    return label, joined
