"""keel.log.foreign.sagemaker: Data Capture lines as Keel records."""

from __future__ import annotations

import base64
import json

import pytest

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import Unreadable
from keel.log.foreign.sagemaker import read, variant_of

NAME = "s3://bucket/capture/credit-endpoint/Blue/2026/10/01/13/00-00-000-x.jsonl"
SETTINGS = ForeignSettings(
    "sagemaker", "s3://bucket/capture", versions={"Blue": 3}, columns={"inputs": ["x1", "g"]}
)


def capture(given: dict, answer: dict, **meta) -> bytes:
    line = {
        "captureData": {"endpointInput": given, "endpointOutput": answer},
        "eventMetadata": {"eventId": "ev1", "inferenceTime": "2026-10-01T13:00:00Z", **meta},
        "eventVersion": "0",
    }
    return (json.dumps(line) + "\n").encode()


def csv(data: str, mode: str = "INPUT") -> dict:
    return {"observedContentType": "text/csv", "mode": mode, "data": data, "encoding": "CSV"}


def test_csv_rows_are_named_by_the_schema_order_and_the_variant_maps_the_version():
    data = capture(csv("0.5,a\n1.5,b"), csv("0.2\nnan", "OUTPUT"), inferenceId="q7")
    first, second = list(read(data, NAME, SETTINGS))
    assert first["inputs"] == {"x1": 0.5, "g": "a"} and first["model_version"] == 3
    assert (first["example_id"], second["example_id"]) == ("q7-0", "q7-1")
    assert first["request_id"] == "ev1" and first["time"] == "2026-10-01T13:00:00+00:00"
    assert first["prediction"] == 0.2 and "latency_seconds" not in first
    assert "model_inputs" not in first
    assert second["prediction"] is None and second["nonfinite"] == ["outputs.prediction:nan"]


def test_json_payloads_with_names_and_probabilities():
    given = {"observedContentType": "application/json", "encoding": "BASE64"}
    given["data"] = base64.b64encode(json.dumps([{"x1": 2.0, "g": "c"}]).encode()).decode()
    answer = {
        "observedContentType": "application/json",
        "encoding": "JSON",
        "data": json.dumps({"predictions": [{"probabilities": [0.1, 0.9], "labels": ["n", "y"]}]}),
    }
    (record,) = read(capture(given, answer), NAME, SETTINGS)
    assert record["inputs"] == {"x1": 2.0, "g": "c"} and record["example_id"] == "ev1"
    assert record["probabilities"] == {"n": 0.1, "y": 0.9} and record["prediction"] == "y"


def test_a_line_that_is_not_a_capture_is_unreadable_with_its_line():
    data = b'{"captureData": {}}\n' + capture(csv("1,a"), csv("1", "OUTPUT"))
    bad, good = list(read(data, NAME, SETTINGS))
    assert isinstance(bad, Unreadable) and bad.line == 1 and "inferenceTime" in bad.reason
    assert good["prediction"] == 1.0


def test_csv_inputs_without_a_schema_are_refused_naming_it():
    settings = ForeignSettings("sagemaker", "x", model_version=1)
    with pytest.raises(KeelError, match="keel.schema.yaml"):
        list(read(capture(csv("1,a"), csv("1", "OUTPUT")), NAME, settings))


def test_an_unmapped_variant_is_refused_and_the_layout_gives_the_variant():
    assert variant_of(NAME) == "Blue" and variant_of("/tmp/x.jsonl") is None
    settings = ForeignSettings("sagemaker", "x", versions={"Green": 4}, columns=SETTINGS.columns)
    with pytest.raises(KeelError, match='"Blue"'):
        list(read(capture(csv("1,a"), csv("1", "OUTPUT")), NAME, settings))
