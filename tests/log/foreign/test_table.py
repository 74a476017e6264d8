"""keel.log.foreign.table: rows of a table as Keel records, by [serving.columns]."""

from __future__ import annotations

import io
import json

import pandas as pd

from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import Unreadable
from keel.log.foreign.table import read


def settings(**columns) -> ForeignSettings:
    base = {"time": "t", "prediction": "p"}
    return ForeignSettings("table", "x", model_version=2, columns={**base, **columns})


def test_every_unmapped_column_is_an_input_by_default_and_latency_in_ms_is_seconds():
    frame = pd.DataFrame({"t": [1_790_000_000], "p": [1.0], "a": [3], "b": ["z"], "ms": [25]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    (record,) = read(buffer.getvalue(), "x.parquet", settings(latency="ms", latency_unit="ms"))
    assert record["inputs"] == {"a": 3, "b": "z"} and record["latency_seconds"] == 0.025
    assert record["time"].endswith("+00:00") and record["model_version"] == 2


def test_inputs_from_one_json_column_and_nan_probabilities_listed():
    line = {"t": "2026-10-01T00:00:00", "p": 1, "in": json.dumps({"x": 1}), "pr": {"1": "NaN"}}
    text = json.dumps(line).replace('"NaN"', "NaN")
    (record,) = read(text.encode() + b"\n", "x.jsonl", settings(inputs="in", probabilities="pr"))
    assert record["inputs"] == {"x": 1}
    assert record["probabilities"] == {"1": None}
    assert record["nonfinite"] == ["outputs.proba_1:nan"]


def test_a_csv_row_without_its_time_is_unreadable_naming_the_row():
    data = b"t,p,x\n2026-10-01T00:00:00,1,2\n,0,3\n"
    good, bad = list(read(data, "x.csv", settings()))
    assert good["inputs"] == {"x": 2}
    assert isinstance(bad, Unreadable) and "row 2" in bad.reason and "'t'" in bad.reason
