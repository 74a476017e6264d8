"""The roll-up's columnar way (keel.log._columnar) against the record-by-record way: same
partitions, same column types, same values (nested fields as equal JSON), whatever the records."""

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from keel.log import rollup
from keel.log._columnar import Unsupported, columnar_tables
from keel.log.quarantine import Damage, kept, quarantine_dir
from keel.log.rollup import query, roll
from keel.log.segments import HEADER, encode_record, scan
from keel.log.writer import PredictionLog

pytestmark = pytest.mark.usefixtures("scan_way")


def _segment(tmp_path, records, name="seg-1-00000001-abcd.seg"):
    path = tmp_path / name
    path.write_bytes(b"".join(encode_record(r) for r in records))
    return path


def _same(fast: pa.Table, slow: pa.Table) -> None:
    assert fast.column_names == slow.column_names
    for name in slow.column_names:
        a, b = fast.column(name), slow.column(name)
        assert a.type == b.type, name
        x, y = a.to_pylist(), b.to_pylist()
        if pa.types.is_string(b.type) and any(
            isinstance(v, str) and v[:1] in "{[" for v in y
        ):  # JSON text: equal as JSON (the columnar way writes it minified, UTF-8)
            x = [None if v is None else json.loads(v) for v in x]
            y = [None if v is None else json.loads(v) for v in y]
        assert x == y, name


def _both(tmp_path, records):
    path = _segment(tmp_path, records)
    return columnar_tables(path)[0], rollup._slow_tables(path)[0]


def _served(i, rng):
    inputs = {f"x{k}": round(rng.gauss(0, 1), rng.randint(0, 17)) for k in range(5)}
    inputs.update(age=rng.randint(18, 90), city=rng.choice(["Zürich", 'a "quoted" {name}', "b"]))
    if i % 7 == 0:
        inputs["x1"] = None
    return {
        "request_id": f"r{i // 3}",
        "row": i % 3,
        "example_id": None if i % 5 == 0 else f"e{i}",
        "time": f"2026-11-0{1 + i // 40}T{(i * 7) % 24:02d}:00:00.{i:06d}+00:00",
        "model_version": 1 + i % 2,
        "route": "champion",
        "inputs": inputs,
        "model_inputs": {**inputs, "tiny": 1e-05 * (i + 1), "huge": 1.5e300, "whole": 3.0},
        "prediction": i % 2,
        "probabilities": {"0": 0.25, "1": 0.75},
        "latency_seconds": 0.001 * i,
        "anomalies": [f"rows[{i}].age: expected a number ≥ 18, got 3"] if i % 9 == 0 else [],
        "nonfinite": ["x1"] if i % 7 == 0 else [],
    }


def test_served_records_roll_the_same_both_ways(tmp_path):
    rng = random.Random(0)
    fast, slow = _both(tmp_path, [_served(i, rng) for i in range(120)])
    assert sorted(fast) == sorted(slow) and len(slow) == 6  # 3 dates x 2 versions
    for key in slow:
        _same(fast[key], slow[key])
    table = next(iter(fast.values()))
    assert table.column("row").type == pa.int64()
    assert table.column("latency_seconds").type == pa.float64()
    assert table.column("inputs").type == pa.string()


def test_mixed_and_odd_fields_roll_the_same_both_ways(tmp_path):
    records = []
    for i in range(12):
        records.append(
            {
                "time": f"2026-11-01T0{i % 10}:00:00+00:00",
                "model_version": 3,
                "mixed": [1, "a", True, 2.5, None, {"k": 1}][i % 6],  # kinds vary: JSON text
                "ints_then_float": 2.5 if i == 11 else i,  # int and float: float64
                "flag": i % 2 == 0,
                "big": 2**70 + i,  # beyond int64: its digits as text
                "nothing": None,
                "quoted": 'say "hi"\n\\',
                "only_some": "x" if i % 4 == 0 else None,
                "empty": {},
            }
        )
    records[5]["late_field"] = [1, 2]  # a field only one record has
    fast, slow = _both(tmp_path, records)
    assert list(fast) == list(slow) == [("2026-11-01", 3)]
    _same(fast[("2026-11-01", 3)], slow[("2026-11-01", 3)])
    table = fast[("2026-11-01", 3)]
    assert table.column("ints_then_float").type == pa.float64()
    assert table.column("flag").type == pa.bool_()
    assert table.column("big").to_pylist()[0] == str(2**70)
    assert pa.types.is_null(table.column("nothing").type)


def test_times_in_other_offsets_and_without_one_go_to_their_utc_date(tmp_path):
    records = [
        {"time": "2026-11-01T23:30:00-02:00", "model_version": 1},  # 2026-11-02 UTC
        {"time": "2026-11-02T00:30:00+05:00", "model_version": 1},  # 2026-11-01 UTC
        {"time": "2026-11-01T10:00:00", "model_version": 1},  # naive: UTC
        {"time": "2026-11-01T10:00:00.1234567+00:00", "model_version": 1},  # 7 digits
    ]
    fast, slow = _both(tmp_path, records)
    assert sorted(fast) == sorted(slow) == [("2026-11-01", 1), ("2026-11-02", 1)]
    for key in slow:
        _same(fast[key], slow[key])


@pytest.mark.parametrize(
    "records",
    [
        [{"time": 5, "model_version": 1}],  # time not a string
        [{"time": "2026-11-01T00:00:00+00:00", "model_version": "1"}],  # version not an int
        [{"time": "2026-11-01T00:00:00+00:00"}],  # no version
        [{"time": "2026-11-01T00:00:00+00:00", "model_version": 1, "A": 1, "a": 2}],
    ],
)
def test_records_the_columnar_way_cannot_take_go_record_by_record(tmp_path, records):
    path = _segment(tmp_path, records)
    with pytest.raises(Unsupported):
        columnar_tables(path)


def test_a_torn_tail_and_a_payload_that_is_not_an_object(tmp_path):
    good = [{"time": "2026-11-01T00:00:00+00:00", "model_version": 1, "i": i} for i in range(3)]
    path = _segment(tmp_path, good)
    with open(path, "ab") as handle:
        handle.write(encode_record(good[0])[: HEADER.size + 5])  # torn: never read
    tables, damaged = columnar_tables(path)
    assert tables[("2026-11-01", 1)].column("i").to_pylist() == [0, 1, 2]
    assert [(g.records, g.exact, len(data)) for g, data in damaged] == [(1, False, HEADER.size + 5)]
    # a framed payload that is JSON but not an object is skipped as a damaged record
    import zlib

    payload = b"[1,2]"
    with open(path, "wb") as handle:
        handle.write(b"".join(encode_record(r) for r in good[:2]))
        handle.write(HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        handle.write(encode_record(good[2]))
    with pytest.raises(Unsupported):
        columnar_tables(path)
    tables, damaged = rollup.segment_tables(path)
    assert tables[("2026-11-01", 1)].column("i").to_pylist() == [0, 1, 2]
    assert [(g.records, data[HEADER.size :]) for g, data in damaged] == [(1, payload)]


def test_roll_hands_back_what_it_wrote_and_sql_reads_json_fields(tmp_path):
    rng = random.Random(1)
    with PredictionLog(tmp_path / "seg") as log:
        log.append([_served(i, rng) for i in range(60)])
    kept = {}
    assert roll(tmp_path / "seg", tmp_path / "out", keep=kept).rows == 60
    assert len(kept) == len(list((tmp_path / "out").glob("**/*.parquet"))) == 4
    for path, table in kept.items():
        assert pq.read_table(path).equals(table)
    got = query(
        "SELECT json_extract(inputs, '$.age')::INT AS age, "
        "json_extract_string(inputs, '$.city') AS city, "
        "json_extract(model_inputs, '$.tiny')::DOUBLE AS tiny FROM predictions ORDER BY row, time",
        tmp_path / "out",
    ).to_pylist()
    assert len(got) == 60 and {g["city"] for g in got} <= {"Zürich", 'a "quoted" {name}', "b"}
    assert sorted(g["tiny"] for g in got) == [1e-05 * (i + 1) for i in range(60)]


def test_a_repeated_field_keeps_the_last_value_as_python_does(tmp_path):
    import zlib

    payload = b'{"time":"2026-11-01T00:00:00+00:00","model_version":1,"x":1,"x":2}'
    path = tmp_path / "seg-1-00000001-abcd.seg"
    path.write_bytes(HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
    with pytest.raises(Unsupported):
        columnar_tables(path)
    assert rollup.segment_tables(path)[0][("2026-11-01", 1)].column("x").to_pylist() == [2]


def test_a_number_arrow_cannot_read_goes_record_by_record(tmp_path):
    import zlib

    payload = b'{"time":"2026-11-01T00:00:00+00:00","model_version":1,"x":NaN}'
    path = tmp_path / "seg-1-00000001-abcd.seg"
    path.write_bytes(HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
    x = rollup.segment_tables(path)[0][("2026-11-01", 1)].column("x").to_pylist()
    assert len(x) == 1 and x[0] != x[0]  # NaN, as Python's json reads it


def test_refused_rows_are_in_rejected_and_records_never_in_predictions(tmp_path):
    rng = random.Random(2)
    served = [_served(i, rng) for i in range(20)]
    refused = [
        {
            **_served(100 + i, rng),
            "route": "rejected",
            "prediction": None,
            "probabilities": None,
            "model_inputs": None,
            "anomalies": [f'rows[0].age: expected an integer, got "{i} years"'],
        }
        for i in range(5)
    ]
    with PredictionLog(tmp_path / "seg") as log:
        log.append(served + refused)
    roll(tmp_path / "seg", tmp_path / "out")
    count = "SELECT count(*) AS n FROM {}"
    assert query(count.format("predictions"), tmp_path / "out").to_pylist() == [{"n": 20}]
    assert query(count.format("rejected"), tmp_path / "out").to_pylist() == [{"n": 5}]
    assert query(count.format("records"), tmp_path / "out").to_pylist() == [{"n": 25}]


def test_a_log_without_routes_has_only_predictions(tmp_path):
    rng = random.Random(3)
    records = [{k: v for k, v in _served(i, rng).items() if k != "route"} for i in range(10)]
    with PredictionLog(tmp_path / "seg") as log:
        log.append(records)
    roll(tmp_path / "seg", tmp_path / "out")
    assert query("SELECT count(*) AS n FROM predictions", tmp_path / "out")[0][0].as_py() == 10
    assert query("SELECT count(*) AS n FROM rejected", tmp_path / "out")[0][0].as_py() == 0


def _damaged_log(tmp_path, n=200, hit=100):
    """A real closed segment of `n` records with record `hit`'s payload overwritten on disk."""
    seg = tmp_path / "seg"
    with PredictionLog(seg) as log:
        log.append(
            [
                {"time": "2026-11-01T00:00:00+00:00", "model_version": 1, "request_id": f"r{i}"}
                for i in range(n)
            ]
        )
    (segment,) = seg.glob("*.seg")
    data = bytearray(segment.read_bytes())
    start, end = scan(data)[0][hit]
    data[start + HEADER.size + 5 : start + HEADER.size + 15] = b"\0" * 10
    segment.write_bytes(data)
    return seg, segment, start, end, bytes(data[start:end])


def test_a_damaged_record_costs_only_itself_and_its_bytes_are_kept_in_quarantine(tmp_path):
    seg, segment, start, end, bad = _damaged_log(tmp_path)
    out = tmp_path / "out"
    result = roll(seg, out)
    # every intact record before and after the damage is rolled, exactly once
    assert result.rows == 199
    got = query("SELECT request_id FROM predictions", out).column("request_id").to_pylist()
    assert sorted(got) == sorted(f"r{i}" for i in range(200) if i != 100)
    damage = Damage(segment.stem, start, end - start, 1, True)
    assert result.damaged == [damage] and kept(seg) == [damage]
    stem = f"{segment.stem}-{start:012d}"
    assert (quarantine_dir(seg) / f"{stem}.bin").read_bytes() == bad
    (warning,) = result.warnings()
    assert segment.stem in warning and "1 record lost" in warning and f"{start:,}" in warning
    assert not list(seg.glob("*.seg"))  # rolled, and its damaged bytes are kept aside
    again = roll(seg, out)
    assert (again.rows, again.damaged) == (0, [])


# -- batches: many small segments, one part; a roll killed mid-batch finishes exactly once ---


def _minute_segments(folder, segments=30, per=20):
    """`segments` closed segments of `per` records each, as a server sealing every minute
    leaves them (one writer, names in order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(segments):
        records = [
            {"time": f"2026-11-01T10:{s:02d}:{i:02d}+00:00", "model_version": 1, "n": s * per + i}
            for i in range(per)
        ]
        _segment(folder, records, name=f"seg-7-{s:08d}-abcd.seg")


def test_many_small_segments_roll_into_one_part_per_date_and_version(tmp_path):
    _minute_segments(tmp_path / "seg")
    assert roll(tmp_path / "seg", tmp_path / "out").rows == 600
    (part,) = (tmp_path / "out").glob("**/*.parquet")
    assert part.name == "part-seg-7-00000000-abcd.parquet"  # named after the batch's first
    assert pq.read_table(part).column("n").to_pylist() == list(range(600))  # in log order
    assert not list((tmp_path / "seg").glob("*.seg"))


def test_a_segment_the_writer_has_just_opened_reads_as_no_records(tmp_path):
    rng = random.Random(3)
    first = _segment(tmp_path, [_served(i, rng) for i in range(5)], "seg-1-00000001-a.seg")
    empty = tmp_path / "seg-1-00000002-a.seg"
    empty.write_bytes(b"")  # opened, nothing written yet
    last = _segment(tmp_path, [_served(i, rng) for i in range(5, 9)], "seg-1-00000003-a.seg")
    tables, damaged = rollup.batch_tables([first, empty, last])
    assert sum(t.num_rows for t in tables.values()) == 9 and not damaged
    tables, damaged = rollup.batch_tables([empty])
    assert not tables and not damaged


def _killed_roll(folder, out):
    """Roll `folder` in a process killed once the batch's parts are in place, before its
    segments are deleted."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import os, signal
        from keel.log.rollup import roll
        def taken(path, table):  # the parts are in place, the segments not yet deleted
            os.kill(os.getpid(), signal.SIGKILL)
        roll({str(folder)!r}, {str(out)!r}, taken=taken)
        """
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == -9
    assert len(list(folder.glob("*.seg"))) == 30  # nothing deleted yet


COUNT = "SELECT count(*) AS n, count(DISTINCT n) AS d FROM records"


def test_a_roll_killed_before_its_segments_went_is_finished_exactly_once(tmp_path):
    _minute_segments(tmp_path / "seg")
    _killed_roll(tmp_path / "seg", tmp_path / "out")
    finished = roll(tmp_path / "seg", tmp_path / "out")  # every part there: segments just go
    assert finished.rows == 0 and not list((tmp_path / "seg").glob("*.seg"))
    assert query(COUNT, tmp_path / "out").to_pylist() == [{"n": 600, "d": 600}]


def test_a_roll_killed_before_a_part_was_written_rolls_the_same_batch_again(tmp_path):
    _minute_segments(tmp_path / "seg")
    _killed_roll(tmp_path / "seg", tmp_path / "out")
    (part,) = (tmp_path / "out").glob("**/*.parquet")
    part.unlink()  # as if killed before this part was in place
    _minute_segments(tmp_path / "later", 3)  # and segments closed since: a batch of their own
    for later in (tmp_path / "later").iterdir():
        later.rename(tmp_path / "seg" / later.name.replace("seg-7-", "seg-8-"))
    again = roll(tmp_path / "seg", tmp_path / "out")
    assert again.rows == 660 and not list((tmp_path / "seg").glob("*.seg"))
    assert sorted(p.name for p in (tmp_path / "out").glob("**/*.parquet")) == [
        "part-seg-7-00000000-abcd.parquet",  # the same name as before: replaced, never doubled
        "part-seg-8-00000000-abcd.parquet",
    ]
    assert query(COUNT, tmp_path / "out").to_pylist() == [{"n": 660, "d": 600}]


def test_a_small_roll_is_cut_into_a_few_batches_and_a_large_one_into_full_ones(tmp_path):
    folder = tmp_path / "seg"
    folder.mkdir()
    for k in range(40):  # 40 segments of 1 MiB: a quarter is 10 MiB
        (folder / f"seg-1-{k:08d}-abcd.seg").write_bytes(b"\0" * 2**20)
    segments = sorted(folder.iterdir())
    assert rollup._batch_bytes(40 * 2**20) == 10 * 2**20
    assert [len(b) for b in rollup.batches(segments)] == [10] * 4
    assert rollup._batch_bytes(4 * 2**20) == rollup.MIN_BATCH_BYTES  # never below it
    assert rollup._batch_bytes(400 * 2**20) == rollup.BATCH_BYTES  # nor above


def test_a_roll_killed_while_rolled_batches_are_deleted_loses_and_doubles_nothing(tmp_path):
    """The segments of rolled batches are deleted in a thread of their own while the next
    batch is rolled: killed in the middle of that, the next roll finishes from the journals."""
    import subprocess
    import sys
    import textwrap

    _minute_segments(tmp_path / "seg")
    size = (tmp_path / "seg" / "seg-7-00000000-abcd.seg").stat().st_size
    script = textwrap.dedent(
        f"""
        import os, signal
        from keel.log import rollup
        rollup.BATCH_BYTES = rollup.MIN_BATCH_BYTES = {size * 4}  # 8 batches
        seen = []
        def taken(path, table):
            seen.append(path)
            if len(seen) == 5:  # four batches handed on, their deletions under way
                os.kill(os.getpid(), signal.SIGKILL)
        rollup.roll({str(tmp_path / "seg")!r}, {str(tmp_path / "out")!r}, taken=taken)
        """
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == -9
    assert len(list((tmp_path / "seg").glob("*.seg"))) >= 30 - 16  # at most 4 batches went
    finished = roll(tmp_path / "seg", tmp_path / "out")
    assert not list((tmp_path / "seg").glob("*.seg"))
    assert not list((tmp_path / "out" / rollup.JOURNAL).glob("*.json"))
    assert query(COUNT, tmp_path / "out").to_pylist() == [{"n": 600, "d": 600}]
    assert finished.rows < 600  # the batches rolled before the kill were not rolled again


def test_no_roll_runs_while_a_reader_holds_rolls_paused(tmp_path):
    import threading
    import time

    from keel.log.rollup import rolls_paused

    _minute_segments(tmp_path / "seg", 3)
    rolled = []
    with rolls_paused(tmp_path / "out"), rolls_paused(tmp_path / "out"):  # readers share it
        worker = threading.Thread(
            target=lambda: rolled.append(roll(tmp_path / "seg", tmp_path / "out").rows)
        )
        worker.start()
        time.sleep(0.5)
        assert rolled == [] and len(list((tmp_path / "seg").glob("*.seg"))) == 3
    worker.join(30)
    assert rolled == [60] and not list((tmp_path / "seg").glob("*.seg"))
