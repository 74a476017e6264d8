"""The durable prediction log: group commit, async drops, roll-up, recovery, kill -9."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from keel.errors import KeelError
from keel.log.rollup import query, roll
from keel.log.segments import CLOSED_SUFFIX, OPEN_SUFFIX
from keel.log.writer import PredictionLog, rolled_dir, segments_dir

SRC = str(Path(__file__).resolve().parents[2] / "src")


def record(rid, *, version=1, stamp="2026-11-29T10:00:00+00:00", **extra):
    return {"time": stamp, "model_version": version, "request_id": rid, **extra}


def ids(out):
    table = query("SELECT request_id FROM predictions", out)
    return table.column("request_id").to_pylist()


def test_round_trip_partitions_by_utc_date_and_version(tmp_path):
    seg, out = tmp_path / "seg", tmp_path / "out"
    with PredictionLog(seg) as log:
        log.append(
            [
                record("a", version=1, inputs={"age": 3, "city": "Oslo"}, proba=[0.2, 0.8]),
                record("b", version=2, stamp="2026-11-29T23:30:00-02:00", inputs={"age": None}),
                record("c", version=2, stamp="2026-11-30T01:00:00Z", prediction=1.5),
            ]
        )
    assert roll(seg, out).rows == 3
    parts = sorted(str(p.relative_to(out).parent) for p in out.glob("**/*.parquet"))
    # one part per segment and partition: b and c share theirs (b is 01:30 UTC on the 30th)
    assert parts == ["date=2026-11-29/model_version=1", "date=2026-11-30/model_version=2"]
    rows = query(
        "SELECT request_id, model_version, CAST(date AS VARCHAR) AS d, "
        "json_extract(inputs, '$.age')::INT AS age, prediction FROM predictions ORDER BY 1",
        out,
    ).to_pylist()
    assert rows == [
        {"request_id": "a", "model_version": 1, "d": "2026-11-29", "age": 3, "prediction": None},
        {"request_id": "b", "model_version": 2, "d": "2026-11-30", "age": None, "prediction": None},
        {"request_id": "c", "model_version": 2, "d": "2026-11-30", "age": None, "prediction": 1.5},
    ]
    assert not list(seg.iterdir())  # rolled segments are gone


def test_records_without_time_or_version_are_refused_whole(tmp_path):
    with PredictionLog(tmp_path) as log:
        for bad in (
            {"model_version": 1},
            {"time": "yesterday", "model_version": 1},
            {"time": "2026-11-29T10:00:00Z", "model_version": "3"},
            record("x", blob=object()),
            record("x", date="2026-01-01"),
        ):
            with pytest.raises(KeelError):
                log.append([record("ok"), bad])
        assert log.records_written == 0 and log.queue_depth() == 0


def test_concurrent_appends_all_present_once_and_grouped(tmp_path):
    seg, out = tmp_path / "seg", tmp_path / "out"
    # a slow disk: every fsync takes 2 ms, so callers pile up behind it
    log = PredictionLog(seg, segment_bytes=4096, on_fsync=lambda s: time.sleep(0.002))

    def work(t):
        for j in range(25):
            log.append([record(f"{t}-{j}-{k}") for k in range(2)])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.records_written == 16 * 25 * 2
    assert 0 < log.fsyncs < 16 * 25 / 2  # group commit: far fewer fsyncs than appends
    assert len(log.fsync_seconds) == log.fsyncs
    log.close()
    assert len(list(seg.glob("*" + CLOSED_SUFFIX))) > 1  # segment_bytes rotated
    roll(seg, out)
    got = ids(out)
    assert sorted(got) == sorted(
        f"{t}-{j}-{k}" for t in range(16) for j in range(25) for k in range(2)
    )


def test_ack_append_returns_after_fsync(tmp_path):
    synced = []
    log = PredictionLog(tmp_path, on_fsync=synced.append)
    log.append([record("a")])
    assert len(synced) == 1 and log.records_written == 1
    log.close()


def test_async_full_queue_drops_and_counts(tmp_path):
    seg, out = tmp_path / "seg", tmp_path / "out"
    entered, release = threading.Event(), threading.Event()

    def stall(seconds):
        entered.set()
        release.wait(10)

    log = PredictionLog(seg, durability="async", queue_rows=5, on_fsync=stall)
    log.append([record("first")])
    assert entered.wait(10)  # the writer is stuck in its fsync hook
    log.append([record(f"q{i}") for i in range(5)])
    assert log.queue_depth() == 5
    log.append([record("dropped-1"), record("dropped-2")])
    assert log.dropped == 2 and log.queue_depth() == 5
    release.set()
    log.flush()
    assert log.records_written == 6 and log.queue_depth() == 0
    log.close()
    roll(seg, out)
    assert sorted(ids(out)) == sorted(["first", *(f"q{i}" for i in range(5))])


def test_closed_log_refuses_appends(tmp_path):
    log = PredictionLog(tmp_path)
    log.close()
    with pytest.raises(KeelError, match="closed"):
        log.append([record("late")])


def test_roll_is_idempotent_and_a_crash_before_delete_re_rolls_the_same_parts(tmp_path):
    seg, out = tmp_path / "seg", tmp_path / "out"
    with PredictionLog(seg) as log:
        log.append([record(str(i), version=i % 3) for i in range(30)])
    (segment,) = seg.glob("*" + CLOSED_SUFFIX)
    saved = tmp_path / "saved"
    shutil.copy(segment, saved)
    assert roll(seg, out).rows == 30
    parts = sorted(out.glob("**/*.parquet"))
    assert roll(seg, out).rows == 0
    # a crash after the parts were written but before the segment was deleted
    shutil.copy(saved, segment)
    assert roll(seg, out).rows == 30
    assert sorted(out.glob("**/*.parquet")) == parts
    assert sorted(ids(out), key=int) == [str(i) for i in range(30)]


def test_query_errors_name_the_problem(tmp_path):
    with pytest.raises(KeelError, match="no rolled records"):
        query("SELECT 1", tmp_path)
    with PredictionLog(tmp_path / "seg") as log:
        log.append([record("a")])
    roll(tmp_path / "seg", tmp_path / "out")
    with pytest.raises(KeelError, match="query failed"):
        query("SELEC nonsense", tmp_path / "out")
    with pytest.raises(KeelError, match="query failed"):
        query("SELECT no_such_column FROM predictions", tmp_path / "out")


def test_recovery_keeps_live_segments_of_another_log(tmp_path):
    live = PredictionLog(tmp_path)
    live.append([record("live")])
    (open_segment,) = tmp_path.glob("*" + OPEN_SUFFIX)
    other = PredictionLog(tmp_path)  # its start-up recovery must not close `live`'s segment
    assert open_segment.exists()
    live.append([record("still-live")])
    assert roll(tmp_path, tmp_path / "out").rows == 0  # a live segment is not rolled
    assert open_segment.exists()
    other.close()
    live.close()
    roll(tmp_path, tmp_path / "out")
    assert sorted(ids(tmp_path / "out")) == ["live", "still-live"]


def test_log_folder_layout():
    assert segments_dir("x") == Path("x/segments") and rolled_dir("x") == Path("x/rolled")


WRITER = textwrap.dedent(
    """
    import sys, threading
    from keel.log.writer import PredictionLog

    folder, prefix, count, close = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    log = PredictionLog(folder, durability="ack", segment_bytes=2048)
    lock = threading.Lock()

    def work(t):
        for j in range(count):
            rid = f"{prefix}-{t}-{j}"
            log.append([{"time": "2026-11-29T10:00:00Z", "model_version": 1 + j % 2,
                         "request_id": rid, "inputs": {"j": j, "pad": "x" * (j % 50)}}])
            with lock:
                print(rid, flush=True)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if close == "close":
        log.close()
    """
)


def _writer(tmp_path, folder, prefix, count, close="close"):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, str(script), str(folder), prefix, str(count), close],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_kill_9_loses_no_acknowledged_record_and_shows_no_torn_one(tmp_path):
    seg, out = tmp_path / "seg", tmp_path / "out"
    child = _writer(tmp_path, seg, "k", 100_000, close="no")
    printed = []
    for line in child.stdout:
        printed.append(line.strip())
        if len(printed) >= 600:
            break
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    printed += [line for line in rest.splitlines() if line.strip()]
    assert child.returncode == -signal.SIGKILL
    rolled = roll(seg, out).rows  # recovers the dead writer's segment first
    got = ids(out)
    assert rolled == len(got)
    assert len(got) == len(set(got))  # nothing duplicated
    assert set(printed) <= set(got)  # every acknowledged record is there
    assert all(rid.startswith("k-") and rid.count("-") == 2 for rid in got)  # none torn
    assert not list(seg.glob("seg-*"))  # every segment rolled (a torn tail is in quarantine)


def test_two_processes_write_one_folder(tmp_path):
    seg, out = tmp_path / "seg", tmp_path / "out"
    children = [_writer(tmp_path, seg, prefix, 80) for prefix in ("p", "q")]
    for child in children:
        child.communicate(timeout=60)
        assert child.returncode == 0
    roll(seg, out)
    got = ids(out)
    expected = {f"{p}-{t}-{j}" for p in "pq" for t in range(6) for j in range(80)}
    assert len(got) == len(expected) and set(got) == expected


def test_a_restarted_writer_counts_the_damaged_records_of_a_dead_writers_segment(tmp_path):
    from keel.log.quarantine import kept
    from keel.log.segments import encode_record

    frames = [encode_record(record(f"d{i}")) for i in range(6)]
    blob = bytearray(b"".join(frames))
    blob[len(frames[0]) + 12] ^= 0xFF  # the second record, on disk
    dead = tmp_path / f"seg-1-00000001-abcd{OPEN_SUFFIX}"  # no live writer holds its lock
    dead.write_bytes(bytes(blob) + frames[0][:9])  # and a torn tail
    with PredictionLog(tmp_path) as log:
        assert log.damaged_records == 2  # the damaged record and the torn one
    assert [d.offset for d in kept(tmp_path)] == [len(blob)]  # the tail is kept aside now
    result = roll(tmp_path, tmp_path / "out")
    assert result.rows == 5 and [d.offset for d in result.damaged] == [len(frames[0])]
    assert sorted(ids(tmp_path / "out")) == [f"d{i}" for i in range(6) if i != 1]


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_an_idle_open_segment_is_sealed_by_age_and_the_next_row_opens_a_new_one(tmp_path):
    with PredictionLog(tmp_path, seal_seconds=1) as log:
        log.append([record("a"), record("b")])
        assert len(list(tmp_path.glob("*" + OPEN_SUFFIX))) == 1  # written, not sealed yet
        # no further traffic: the writer seals it by age (1 s), well within the timeout
        assert _wait_for(lambda: list(tmp_path.glob("*" + CLOSED_SUFFIX)))
        (first,) = tmp_path.glob("*" + CLOSED_SUFFIX)
        assert not list(tmp_path.glob("*" + OPEN_SUFFIX))
        time.sleep(1.5)  # idle with no open segment: nothing written, no empty segment
        assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [first.name]
        log.append([record("c")])  # after sealing: a new segment
        (second,) = tmp_path.glob("*" + OPEN_SUFFIX)
        assert second.stem != first.stem
        assert roll(tmp_path, tmp_path / "out").rows == 2  # the sealed one rolls, live stays
        assert log.records_written == 3 and log.fsyncs == 2
    assert not list(tmp_path.glob("*" + OPEN_SUFFIX))  # close seals the second
    assert roll(tmp_path, tmp_path / "out").rows == 1
    assert sorted(ids(tmp_path / "out")) == ["a", "b", "c"]


def test_a_busy_segment_is_sealed_once_its_first_row_is_seal_seconds_old(tmp_path):
    with PredictionLog(tmp_path, seal_seconds=1) as log:
        start = time.monotonic()
        while time.monotonic() - start < 2.6:  # steady traffic, never idle long
            log.append([record(f"r{time.monotonic()}")])
            time.sleep(0.05)
        assert len(list(tmp_path.glob("*" + CLOSED_SUFFIX))) >= 2
    assert roll(tmp_path, tmp_path / "out").rows == log.records_written


def test_seal_seconds_must_be_positive(tmp_path):
    with pytest.raises(KeelError, match="seal_seconds"):
        PredictionLog(tmp_path, seal_seconds=0)


def test_append_async_completes_once_on_disk_and_groups_concurrent_callers(tmp_path):
    import asyncio

    log = PredictionLog(tmp_path / "segments", durability="ack")

    async def main():
        await asyncio.gather(*(log.append_async([record(f"a{i}")]) for i in range(50)))
        return log.records_written, log.fsyncs

    written, fsyncs = asyncio.run(main())
    assert written == 50  # every awaited record was written (and fsynced) before the await ended
    assert fsyncs < 50  # callers that arrived together shared an fsync
    log.close()
    roll(tmp_path / "segments", tmp_path / "rolled")
    assert sorted(ids(tmp_path / "rolled")) == sorted(f"a{i}" for i in range(50))


def test_append_async_refuses_bad_records_and_reports_a_failed_writer(tmp_path):
    import asyncio

    def disk_full(seconds):
        raise OSError("No space left on device")

    log = PredictionLog(tmp_path / "segments", durability="ack", on_fsync=disk_full)
    with pytest.raises(KeelError, match="model_version"):
        asyncio.run(log.append_async([{"time": "2026-11-29T10:00:00+00:00"}]))

    async def one():
        await log.append_async([record("lost")])

    with pytest.raises(KeelError, match="writing failed: No space left"):
        asyncio.run(asyncio.wait_for(one(), 10))  # woken with the error, not left waiting


def _fsync_threads(monkeypatch, delay: float = 0.0) -> list[str]:
    """The names of the threads that fsync the log's segments, from now on; each fsync takes
    at least `delay` seconds (a slow disk)."""
    from keel.log.segments import SegmentWriter

    seen: list[str] = []
    real = SegmentWriter.fsync

    def fsync(self):
        seen.append(threading.current_thread().name)
        time.sleep(delay)
        real(self)

    monkeypatch.setattr(SegmentWriter, "fsync", fsync)
    return seen


@pytest.fixture
def quick_disk(monkeypatch):
    """Any fsync counts as quick: the loop's own commits, however busy the machine's disk."""
    import keel.log.writer

    monkeypatch.setattr(keel.log.writer, "INLINE_FSYNC_SECONDS", 60.0)


def _on_one_loop(log, batches):
    """Await each batch of `append_async` calls in turn, all of a batch together, on one loop."""
    import asyncio

    async def main():
        for batch in batches:
            await asyncio.gather(*(log.append_async([record(rid)]) for rid in batch))

    asyncio.run(main())


@pytest.mark.usefixtures("quick_disk")
def test_quick_fsyncs_let_the_event_loop_commit_its_own_group(tmp_path, monkeypatch):
    seen = _fsync_threads(monkeypatch)
    log = PredictionLog(tmp_path / "segments", durability="ack")
    _on_one_loop(log, [[f"w{i}"] for i in range(5)])  # the first fsyncs: the writer thread
    assert set(seen) == {"keel-predlog"}
    seen.clear()
    _on_one_loop(log, [[f"a{i}" for i in range(20)], [f"b{i}" for i in range(20)]])
    # each turn of the loop: its callers' records written and fsynced once, on the loop
    assert seen == ["MainThread", "MainThread"]
    assert log.records_written == 45
    log.close()
    roll(tmp_path / "segments", tmp_path / "rolled")
    assert len(ids(tmp_path / "rolled")) == 45


def test_slow_fsyncs_stay_on_the_writer_thread(tmp_path, monkeypatch):
    seen = _fsync_threads(monkeypatch, delay=0.003)  # a disk slower than the loop may wait for
    log = PredictionLog(tmp_path / "segments", durability="ack")
    _on_one_loop(log, [[f"w{i}"] for i in range(10)])
    assert set(seen) == {"keel-predlog"}
    log.close()


@pytest.mark.usefixtures("quick_disk")
def test_a_segment_the_event_loop_opened_is_sealed_by_age(tmp_path, monkeypatch):
    seen = _fsync_threads(monkeypatch)
    folder = tmp_path / "segments"
    with PredictionLog(folder, durability="ack", seal_seconds=0.5) as log:
        _on_one_loop(log, [[f"w{i}"] for i in range(5)])
        assert _wait_for(lambda: list(folder.glob("*" + CLOSED_SUFFIX)))  # the first, by age
        assert not list(folder.glob("*" + OPEN_SUFFIX))
        seen.clear()
        _on_one_loop(log, [["late"]])  # the writer thread waits with no deadline now
        assert seen == ["MainThread"] and list(folder.glob("*" + OPEN_SUFFIX))
        # the loop opened a segment: the writer thread still seals it by its age
        assert _wait_for(lambda: len(list(folder.glob("*" + CLOSED_SUFFIX))) == 2)
        assert not list(folder.glob("*" + OPEN_SUFFIX))


@pytest.mark.usefixtures("quick_disk")
def test_a_failed_write_on_the_event_loop_fails_its_callers_and_the_log(tmp_path, monkeypatch):
    import asyncio

    failing = [False]

    def disk_full(seconds):
        if failing[0]:
            raise OSError("No space left on device")

    seen = _fsync_threads(monkeypatch)
    log = PredictionLog(tmp_path / "segments", durability="ack", on_fsync=disk_full)
    _on_one_loop(log, [[f"w{i}"] for i in range(5)])
    failing[0] = True
    with pytest.raises(KeelError, match="writing failed: No space left"):
        _on_one_loop(log, [["lost"]])
    assert seen[-1] == "MainThread"
    with pytest.raises(KeelError, match="writing failed"):  # the log stays failed
        asyncio.run(log.append_async([record("after")]))
