"""keel.log.foreign.sagemaker_columns: capture chunks read column by column hold the same
values as the line-by-line reader's records after the roll-up, and any chunk it does not take
goes line by line (its unreadable lines named)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from keel.log.foreign import ForeignSettings
from keel.log.foreign.importer import take_foreign
from keel.log.foreign.sagemaker import read
from keel.log.foreign.sagemaker_columns import read_table
from keel.log.rollup import query, roll

HOUR = "capture/ep/AllTraffic/2026/10/01/23"
SETTINGS = {"model_version": 2, "columns": {"inputs": ["x1", "g"]}}


def payload(data: str, encoding: str) -> dict:
    kind = "application/json" if encoding == "JSON" else "text/csv"
    return {"observedContentType": kind, "data": data, "encoding": encoding}


def capture(i: int, given: dict, answer: dict, **meta) -> str:
    second = i % 60
    stamp = (
        f"2026-10-0{1 + i % 2}T23:59:{second:02d}.{i:06d}Z"
        if i % 3
        else f"2026-10-02T01:00:{second:02d}+02:00"
    )
    line = {
        "captureData": {"endpointInput": given, "endpointOutput": answer},
        "eventMetadata": {"eventId": f"ev{i}", "inferenceTime": stamp, **meta},
        "eventVersion": "0",
    }
    return json.dumps(line) + "\n"


SHAPES = {
    "json object in, label and probabilities out": lambda i: capture(
        i,
        payload(json.dumps({"x1": i * 0.5, "g": f"c{i % 3}", "n": i}), "JSON"),
        payload(json.dumps({"predicted_label": i % 2, "probabilities": [0.25, 0.75]}), "JSON"),
        inferenceId=f"q{i}",
    ),
    "csv in (numbers and text), one csv number out": lambda i: capture(
        i, payload(f"{i}.5,c{i % 3}", "CSV"), payload(f"0.{i}", "CSV")
    ),
    "csv in, csv probabilities out": lambda i: capture(
        i, payload(f"{i},1e-05", "CSV"), payload(f"0.{i},0.9", "CSV")
    ),
    "json in, a bare number out": lambda i: capture(
        i, payload(json.dumps({"x1": i}), "JSON"), payload(str(i % 2), "JSON")
    ),
    "json in, probabilities only (the likeliest predicted)": lambda i: capture(
        i,
        payload(json.dumps({"x1": 1.0, "g": None}), "JSON"),
        payload(json.dumps({"scores": [0.1 * (i % 9), 0.5]}), "JSON"),
    ),
    "json in, a text label out": lambda i: capture(
        i, payload(json.dumps({"g": "é"}), "JSON"), payload('"yes"', "JSON")
    ),
}


def source(folder: Path, lines: list[str]) -> Path:
    hour = folder / HOUR
    hour.mkdir(parents=True)
    (hour / "00-00-000-a.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder / "capture"


def rows(log: Path) -> list[dict]:
    """The rolled rows, values parsed as a reader of the log reads them, by request id."""
    roll(log / "segments", log / "rolled")
    table = query("SELECT * FROM records", log / "rolled").to_pylist()
    for row in table:
        row["time"] = datetime.fromisoformat(row["time"])
        for name in ("inputs", "probabilities", "nonfinite", "anomalies"):
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
        row["date"] = str(row["date"])
    return sorted(table, key=lambda r: int(r["request_id"][2:]))


def parts_of(log: Path, tag: str) -> list[Path]:
    return sorted(p for p in (log / "rolled").glob("**/*.parquet") if tag in p.name)


def check(inputs: dict) -> list[str]:
    return [f"{k}: checked" for k in sorted(inputs) if k == "x1"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_chunk_read_column_by_column_holds_what_the_line_reader_holds(tmp_path, shape):
    capture_dir = source(tmp_path, [SHAPES[shape](i) for i in range(1, 40)])
    settings = ForeignSettings("sagemaker", str(capture_dir), **SETTINGS)
    fast = take_foreign(settings, tmp_path / "fast", check=check)
    slow = take_foreign(settings, tmp_path / "slow", reader=read, check=check)
    assert fast.records == slow.records == 39 and not fast.warnings
    assert parts_of(tmp_path / "fast", "-columns") and not parts_of(tmp_path / "slow", "-columns")
    assert not list((tmp_path / "fast" / "segments").glob("*.seg"))  # no segment to roll
    assert rows(tmp_path / "fast") == rows(tmp_path / "slow")


def test_the_column_types_are_the_roll_ups(tmp_path):
    make = SHAPES["json object in, label and probabilities out"]
    capture_dir = source(tmp_path, [make(i) for i in range(3, 9)])
    settings = ForeignSettings("sagemaker", str(capture_dir), **SETTINGS)
    take_foreign(settings, tmp_path / "fast")
    take_foreign(settings, tmp_path / "slow", reader=read)
    roll(tmp_path / "slow" / "segments", tmp_path / "slow" / "rolled")
    import pyarrow.parquet as pq

    (fast,) = {pq.read_schema(p) for p in parts_of(tmp_path / "fast", "")}
    (slow,) = {pq.read_schema(p) for p in parts_of(tmp_path / "slow", "")}
    assert fast.remove_metadata() == slow.remove_metadata()


@pytest.mark.parametrize(
    "odd",
    [
        payload(json.dumps({"x1": float("nan")}), "JSON"),  # listed in nonfinite, line by line
        payload("nan,a", "CSV"),
        payload('"quoted, text",a', "CSV"),
        payload(json.dumps([{"x1": 1}, {"x1": 2}]), "JSON"),  # two rows
    ],
)
def test_a_chunk_of_another_shape_is_read_line_by_line(tmp_path, odd):
    make = SHAPES["json object in, label and probabilities out"]
    out = payload(json.dumps({"predicted_label": 1}), "JSON")
    lines = [make(1), capture(2, odd, out), make(3)]
    capture_dir = source(tmp_path, lines)
    settings = ForeignSettings("sagemaker", str(capture_dir), **SETTINGS)
    assert read_table("".join(lines).encode(), str(capture_dir / HOUR / "a"), settings) is None
    fast = take_foreign(settings, tmp_path / "fast")
    slow = take_foreign(settings, tmp_path / "slow", reader=read)
    assert fast.records == slow.records and not parts_of(tmp_path / "fast", "-columns")
    assert rows(tmp_path / "fast") == rows(tmp_path / "slow")


def test_an_unreadable_line_is_still_named_with_its_file_and_line(tmp_path):
    make = SHAPES["csv in (numbers and text), one csv number out"]
    lines = [make(1), "{not json\n", make(3), '{"captureData": {}}\n']
    capture_dir = source(tmp_path, lines)
    run = take_foreign(ForeignSettings("sagemaker", str(capture_dir), **SETTINGS), tmp_path / "l")
    assert run.records == 2 and run.unreadable == 2
    assert any("a.jsonl line 2: not taken: not JSON" in w for w in run.warnings)
    assert any("a.jsonl line 4: not taken: not a SageMaker capture" in w for w in run.warnings)
