"""SageMaker Data Capture: the JSON lines an endpoint writes to S3, one request per line,
under `<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`:

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "0.5,-1.2,a", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "0.83", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "…", "inferenceId": "…", "inferenceTime": "2026-10-01T…Z"},
     "eventVersion": "0"}

`encoding` is CSV, JSON or BASE64 (then `observedContentType` says which). A payload may hold
several rows (CSV lines, a JSON list, `{"instances": […]}`), each its own record.

Inputs: a JSON payload names its values (an object per row); a CSV payload does not, so its
values are named by `ForeignSettings.columns["inputs"]`, the features of `keel.schema.yaml`
in their order (the order the endpoint's model takes them), which Keel's checks pass in.
Outputs: a number or label per row is the prediction; a list per row is the class
probabilities (classes "0", "1", … in order; the prediction is the likeliest); a JSON object
per row may say `predicted_label`/`prediction`/`label` and `probabilities`/`scores` (classes
from `labels`/`classes` when given). Not logged by Data Capture, so never in the records:
latency and the model inputs the container's feature code built.

Ids: `request_id` is the eventId; `example_id` (the id late labels join on) is the
inferenceId when the caller sent one, else the eventId; a row of a payload of several rows
gets `-<row>` appended. The variant (the folder above yyyy/) is the version name `[serving]
versions` maps; with no mapping, `[serving] model_version` served every row.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import Unreadable, finish, iso_time, json_lines, served_by

_HOUR = re.compile(r"/(?P<variant>[^/]+)/\d{4}/\d{2}/\d{2}/\d{2}/[^/]+$")
LABEL_KEYS = ("predicted_label", "prediction", "label", "predicted_class")
PROBA_KEYS = ("probabilities", "probability", "scores")


def variant_of(name: str) -> str | None:
    """The variant of a capture file in SageMaker's layout, or None in another layout."""
    match = _HOUR.search(name.replace("\\", "/"))
    return match.group("variant") if match else None


def _text(part: dict[str, Any]) -> tuple[str, str]:
    """(payload text, "csv" or "json") of an endpointInput/endpointOutput."""
    data, encoding = part["data"], str(part.get("encoding", "")).upper()
    content = str(part.get("observedContentType", "")).lower()
    if encoding == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
        encoding = "JSON" if "json" in content else "CSV"
    if encoding not in ("CSV", "JSON"):
        raise ValueError(f"payload encoding {encoding!r} is not CSV, JSON or BASE64")
    return data, encoding.lower()


def _value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _csv(text: str) -> list[list[Any]]:
    return [[_value(v) for v in row] for row in csv.reader(io.StringIO(text)) if row]


def _rows_of(payload: Any) -> list[Any]:
    if isinstance(payload, dict):
        for key in ("instances", "inputs", "data", "predictions", "outputs"):
            if key in payload and isinstance(payload[key], list):
                return payload[key]
        return [payload]
    return payload if isinstance(payload, list) else [payload]


def _inputs(part: dict[str, Any], settings: ForeignSettings) -> list[dict[str, Any]]:
    text, kind = _text(part)
    if kind == "json":
        rows = _rows_of(json.loads(text))
        if all(isinstance(r, dict) for r in rows):
            return rows
        values = [r if isinstance(r, list) else [r] for r in rows]
    else:
        values = _csv(text)
    names = settings.columns.get("inputs")
    if not isinstance(names, list) or not names:
        raise KeelError(
            "a SageMaker capture with CSV (or unnamed JSON) inputs: Keel names the values by "
            "the features of keel.schema.yaml in order; write one (`keel schema infer`)"
        )
    for row in values:
        if len(row) != len(names):
            raise ValueError(
                f"{len(row)} input values, but keel.schema.yaml names {len(names)} "
                f"features ({', '.join(names[:5])}{', …' if len(names) > 5 else ''})"
            )
    return [dict(zip(names, row, strict=True)) for row in values]


def _argmax(probabilities: dict[str, Any]) -> Any:
    finite = {k: v for k, v in probabilities.items() if isinstance(v, int | float) and v == v}
    return max(finite, key=finite.get) if finite else None


def _output(row: Any) -> tuple[Any, dict[str, Any] | None]:
    """(prediction, probabilities or None) of one row of output."""
    if isinstance(row, list):
        if len(row) == 1:
            return row[0], None
        proba = {str(i): v for i, v in enumerate(row)}
        return _argmax(proba), proba
    if isinstance(row, dict):
        proba = next((row[k] for k in PROBA_KEYS if k in row), None)
        if isinstance(proba, list):
            labels = row.get("labels") or row.get("classes") or range(len(proba))
            proba = {str(k): v for k, v in zip(labels, proba, strict=False)}
        label = next((row[k] for k in LABEL_KEYS if k in row), None)
        if label is None and isinstance(proba, dict):
            label = _argmax(proba)
        return label, proba if isinstance(proba, dict) else None
    return row, None


def _outputs(part: dict[str, Any]) -> list[tuple[Any, dict[str, Any] | None]]:
    text, kind = _text(part)
    rows: list[Any] = _rows_of(json.loads(text)) if kind == "json" else _csv(text)
    return [_output(r) for r in rows]


def records_of(line: Any, variant: str | None, settings: ForeignSettings) -> list[dict]:
    """The Keel records of one captured request; ValueError/KeyError when it is not one."""
    capture, meta = line["captureData"], line.get("eventMetadata") or {}
    try:
        stamp = iso_time(meta.get("inferenceTime"))
    except ValueError as exc:
        raise ValueError(f"eventMetadata.inferenceTime: {exc}") from None
    inputs = _inputs(capture["endpointInput"], settings)
    outputs = _outputs(capture["endpointOutput"])
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} input rows but {len(outputs)} output rows")
    version = served_by(settings, variant, "the SageMaker variant")
    event = meta.get("eventId")
    example = meta.get("inferenceId") or event
    records = []
    for i, (row, (prediction, proba)) in enumerate(zip(inputs, outputs, strict=True)):
        record: dict[str, Any] = {
            "request_id": event,
            "row": i,
            "example_id": None
            if example is None
            else (str(example) if len(inputs) == 1 else f"{example}-{i}"),
            "time": stamp,
            "model_version": version,
            "route": "champion",
            "inputs": row,
            "prediction": prediction,
        }
        if proba is not None:
            record["probabilities"] = proba
        records.append(finish(record))
    return records


def read(data: bytes, name: str, settings: ForeignSettings) -> Iterator[Any]:
    """Keel records of Data Capture lines (see the module docstring); `Unreadable` for a
    line that is not a captured request."""
    variant = variant_of(name)
    for number, line in json_lines(data):
        if isinstance(line, Unreadable):
            yield line
            continue
        try:
            yield from records_of(line, variant, settings)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            yield Unreadable(number, f"not a SageMaker capture record: {what}")
