"""Reading the whole prediction log, rolled parts and segments not rolled yet."""

import shutil

from keel.log.read import query_live
from keel.log.rollup import roll
from keel.log.writer import PredictionLog, rolled_dir, segments_dir


def record(rid, **extra):
    return {"time": "2026-11-29T10:00:00Z", "model_version": 1, "request_id": rid, **extra}


def count(root, sql="SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM predictions"):
    return query_live(sql, root).to_pylist()[0]


def test_open_and_closed_unrolled_segments_are_read_with_the_rolled_types(tmp_path):
    segments = segments_dir(tmp_path)
    with PredictionLog(segments) as log:
        log.append([record(f"a{i}", prediction=0.5, inputs={"x": i}) for i in range(5)])
    roll(segments, rolled_dir(tmp_path))
    with PredictionLog(segments) as log:
        log.append([record(f"b{i}", prediction=1.5, inputs={"x": i}) for i in range(4)])
        log.append([record("r", route="rejected", anomalies=["x: bad"])])
        assert count(tmp_path) == {"n": 9, "d": 9}
        rows = query_live(
            "SELECT sum(prediction) AS s, sum(json_extract(inputs, '$.x')::INT) AS x, "
            "CAST(min(date) AS VARCHAR) AS d FROM predictions",
            tmp_path,
        ).to_pylist()
        assert rows == [{"s": 0.5 * 5 + 1.5 * 4, "x": 10 + 6, "d": "2026-11-29"}]
        assert query_live("SELECT count(*) AS n FROM rejected", tmp_path).to_pylist() == [{"n": 1}]
    assert count(tmp_path) == {"n": 9, "d": 9}  # closed, not rolled yet: still read
    assert len(list(rolled_dir(tmp_path).glob("**/*.parquet"))) == 1  # nothing rolled


def test_a_segment_both_rolled_and_still_present_is_counted_once(tmp_path):
    segments = segments_dir(tmp_path)
    with PredictionLog(segments) as log:
        log.append([record(f"r{i}") for i in range(7)])
    (segment,) = segments.glob("*.seg")
    kept = tmp_path / "kept.seg"
    shutil.copy(segment, kept)
    roll(segments, rolled_dir(tmp_path))
    shutil.copy(kept, segment)  # as a roll that stops before deleting its segment leaves it
    assert count(tmp_path) == {"n": 7, "d": 7}


def test_a_record_being_written_is_not_read_until_it_is_whole(tmp_path):
    from keel.log.segments import encode_record

    segments = segments_dir(tmp_path)
    log = PredictionLog(segments)
    log.append([record(f"r{i}") for i in range(3)])
    (live,) = segments.glob("*.open")
    frame = encode_record(record("half"))
    with open(live, "ab") as handle:  # the writer mid-way through its next frame
        handle.write(frame[: len(frame) // 2])
    assert count(tmp_path) == {"n": 3, "d": 3}
    with open(live, "ab") as handle:
        handle.write(frame[len(frame) // 2 :])
    assert count(tmp_path) == {"n": 4, "d": 4}
    log.close()


def test_served_rows_since_a_moment_reads_neither_older_partitions_nor_inputs(tmp_path):
    from keel.log.read import served_rows

    segments = segments_dir(tmp_path)
    old = {"time": "2026-11-01T10:00:00+00:00", "model_version": 1, "inputs": {"x": 1}}
    new = {"time": "2026-11-20T10:00:00+00:00", "model_version": 1, "inputs": {"x": 2}}
    with PredictionLog(segments) as log:
        log.append([{**old, "request_id": f"o{i}"} for i in range(3)])
        log.append([{**new, "request_id": f"n{i}"} for i in range(4)])
    roll(segments, rolled_dir(tmp_path))
    for part in rolled_dir(tmp_path).glob("date=2026-11-01/**/*.parquet"):
        part.write_bytes(b"not parquet")  # read, it would fail the query
    rows = served_rows(tmp_path, since="2026-11-20T00:00:00+00:00")
    assert sorted(rows["request_id"]) == ["n0", "n1", "n2", "n3"]
    assert "inputs" not in rows.columns
