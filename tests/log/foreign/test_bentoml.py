"""keel.log.foreign.bentoml: BentoML's monitoring output as Keel records, fields by the roles
its schema log gives (the layout found by running BentoML 1.4: tests/bentoml_server.py)."""

from __future__ import annotations

import json

import pytest

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign.bentoml import read

ROW = {
    "uid": "u1",
    "x1": 0.1,
    "group": "a",
    "prediction": 1,
    "probabilities": {"0": 0.3, "1": 0.7},
    "tag": "credit:abc",
    "y": 1,
    "timestamp": "2026-10-01T12:00:04.976225",
    "request_id": "106",
    "trace_id": "57",
}
ROLES = [
    ("uid", "id"),
    ("x1", "feature"),
    ("group", "feature"),
    ("prediction", "prediction"),
    ("probabilities", "prediction"),
    ("tag", "model_version"),
    ("y", "target"),
]


def monitoring(tmp_path, row=ROW):
    data = tmp_path / "monitoring" / "credit" / "data" / "data.1.log"
    schema = tmp_path / "monitoring" / "credit" / "schema" / "schema.1.log"
    data.parent.mkdir(parents=True)
    schema.parent.mkdir(parents=True)
    columns = [{"name": n, "role": r, "type": "numerical"} for n, r in ROLES]
    schema.write_text(json.dumps({"meta_data": {}, "columns": columns}) + "\n")
    data.write_text(json.dumps(row) + "\n")
    return data


def test_fields_are_taken_by_their_roles_and_the_tag_maps_the_version(tmp_path):
    data = monitoring(tmp_path)
    settings = ForeignSettings("bentoml", str(tmp_path), versions={"credit:abc": 5})
    (record,) = read(data.read_bytes(), str(data), settings)
    assert record["inputs"] == {"x1": 0.1, "group": "a"}
    assert record["example_id"] == "u1" and record["request_id"] == "106"
    assert record["prediction"] == 1 and record["probabilities"] == {"0": 0.3, "1": 0.7}
    assert record["model_version"] == 5 and record["time"] == "2026-10-01T12:00:04.976225+00:00"
    assert "latency_seconds" not in record and "model_inputs" not in record


def test_an_unmapped_model_tag_is_refused(tmp_path):
    data = monitoring(tmp_path)
    settings = ForeignSettings("bentoml", str(tmp_path), versions={"credit:old": 4})
    with pytest.raises(KeelError, match="credit:abc"):
        list(read(data.read_bytes(), str(data), settings))
