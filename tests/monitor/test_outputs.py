"""The served rows the intake keeps per window: exactly once, compacted, refused rows left out."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from keel.monitor.outputs import COMPACT_AT, fingerprint, keep_outputs, read_outputs

DAY = 86_400.0


def _part(tmp_path, name, n, day=1, route="champion"):
    table = pa.table(
        {
            "request_id": [f"{name}-{i}" for i in range(n)],
            "row": list(range(n)),
            "example_id": [f"{name}-{i}" for i in range(n)],
            "time": [f"2026-11-{day:02d}T{i % 24:02d}:00:00+00:00" for i in range(n)],
            "route": [route] * n,
            "inputs": ['{"x": 1}'] * n,
            "prediction": [i % 2 for i in range(n)],
            "probabilities": ['{"0": 0.4, "1": 0.6}'] * (n - 1) + ['{"0": 1, "1": 0}'],
            "latency_seconds": [0.001] * n,
        }
    )
    path = tmp_path / "rolled" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def test_each_window_keeps_its_own_rows_without_inputs_or_refused_rows(tmp_path):
    path = _part(tmp_path, "a", 10)
    table = pq.read_table(path)
    two_days = pa.concat_tables([table, pq.read_table(_part(tmp_path, "b", 4, day=2))])
    refused = pq.read_table(_part(tmp_path, "c", 3, day=2, route="rejected"))
    keep_outputs(tmp_path / "state", path, "ab", 1, DAY, pa.concat_tables([two_days, refused]))
    day1 = read_outputs(tmp_path / "state", [("2026-11-01T00:00:00+00:00", 1)])
    day2 = read_outputs(tmp_path / "state", [("2026-11-02T00:00:00+00:00", 1)])
    assert len(day1) == 10 and len(day2) == 4
    assert "inputs" not in day1.columns
    assert (day1["proba:0"].iloc[0], day1["proba:1"].iloc[0]) == (0.4, 0.6)
    assert set(day2["route"]) == {"champion"}


def test_many_parts_of_a_window_are_compacted_and_read_exactly_once(tmp_path):
    state = tmp_path / "state"
    window = ("2026-11-01T00:00:00+00:00", 1)
    for i in range(COMPACT_AT + 5):
        path = _part(tmp_path, f"p{i:02d}", 3)
        keep_outputs(state, path, f"p{i:02d}", 1, DAY)
    files = fingerprint(state, *window)
    assert len(files) < COMPACT_AT
    rows = read_outputs(state, [window])
    assert len(rows) == 3 * (COMPACT_AT + 5)
    assert rows["request_id"].is_unique


def test_a_part_taken_again_overwrites_its_rows_instead_of_adding_them(tmp_path):
    state = tmp_path / "state"
    path = _part(tmp_path, "a", 5)
    keep_outputs(state, path, "a", 1, DAY)
    keep_outputs(state, path, "a", 1, DAY)  # a run killed before the marker: taken again
    assert len(read_outputs(state, [("2026-11-01T00:00:00+00:00", 1)])) == 5


def test_a_part_file_left_beside_the_compacted_file_holding_it_is_not_read_twice(tmp_path):
    state = tmp_path / "state"
    window = ("2026-11-01T00:00:00+00:00", 1)
    keep_outputs(state, _part(tmp_path, "p00", 3), "p00", 1, DAY)
    folder = next((state / "outputs").glob("*/v1"))
    shutil.copy(folder / "p00.parquet", tmp_path / "p00.copy")
    for i in range(1, COMPACT_AT + 2):
        keep_outputs(state, _part(tmp_path, f"p{i:02d}", 3), f"p{i:02d}", 1, DAY)
    shutil.copy(tmp_path / "p00.copy", folder / "p00.parquet")  # a crash before its removal
    rows = read_outputs(state, [window])
    assert len(rows) == 3 * (COMPACT_AT + 2) and rows["request_id"].is_unique


def test_kept_ids_and_times_are_stored_without_a_dictionary_routes_with_one(tmp_path):
    path = _part(tmp_path, "a", 300)  # ids and times that hardly repeat, one route
    keep_outputs(tmp_path / "state", path, "a", 1, DAY)
    (kept,) = (tmp_path / "state").rglob("a.parquet")
    meta = pq.ParquetFile(kept).metadata
    encodings = {
        meta.schema.column(i).name: meta.row_group(0).column(i).encodings
        for i in range(meta.num_columns)
    }
    assert not any("DICTIONARY" in e for e in encodings["example_id"])
    assert any("DICTIONARY" in e for e in encodings["route"])
    rows = read_outputs(tmp_path / "state", [("2026-11-01T00:00:00+00:00", 1)])
    assert list(rows["example_id"]) == [f"a-{i}" for i in range(300)]
