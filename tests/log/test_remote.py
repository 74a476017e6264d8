"""The prediction log at a URL (here file://, fast; S3 in tests/cli/test_object_storage.py):
sealed segments uploaded once under the host's name, mirrored once, never counted twice,
and no credential ever shown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from keel.errors import KeelError
from keel.log.remote import (
    JOURNAL,
    Uploader,
    host_name,
    is_url,
    local_log_root,
    location_problem,
    mirror_root,
    open_store,
    put,
    scrub,
    shown,
    spool_root,
    sync,
    take_remote,
)
from keel.log.rollup import query, roll
from keel.log.writer import PredictionLog, rolled_dir, segments_dir

SRC = str(Path(__file__).resolve().parents[2] / "src")


def record(rid: str) -> dict:
    return {"time": "2026-11-29T10:00:00+00:00", "model_version": 1, "request_id": rid}


def written(spool: Path, prefix: str, segments: int, rows: int = 5) -> set[str]:
    """`segments` sealed segments of `rows` records each in the spool; their request ids."""
    ids = set()
    for s in range(segments):
        with PredictionLog(segments_dir(spool)) as log:
            batch = [record(f"{prefix}-{s}-{r}") for r in range(rows)]
            log.append(batch)
            ids |= {b["request_id"] for b in batch}
    return ids


def objects(bucket: Path) -> list[str]:
    folder = bucket / "segments"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def counted(root: Path) -> list[str]:
    """The request ids the roll-up of the local log `root` holds (rolling first)."""
    roll(segments_dir(root), rolled_dir(root))
    if not rolled_dir(root).is_dir():
        return []
    return query("SELECT request_id FROM predictions", rolled_dir(root)).column(0).to_pylist()


def test_urls_are_told_from_folders_and_bad_ones_are_named():
    assert is_url("s3://bucket/prefix") and is_url("file:///tmp/x") and is_url("gs://b")
    assert not is_url(".keel/logs") and not is_url("/mnt/logs")
    assert location_problem(".keel/logs") is None and location_problem("s3://b/p") is None
    assert "not supported" in location_problem("http://example.com/logs")
    assert "bucket" in location_problem("s3:///prefix")
    assert "absolute path" in location_problem("file://relative/path")
    with pytest.raises(KeelError, match="serving_log"):
        open_store("ftp://host/x")


def test_a_url_is_shown_without_credentials_and_errors_are_scrubbed(monkeypatch):
    assert shown("s3://AKIDEXAMPLE:wJalrXUtnFEMI@bucket/prefix/?region=x") == "s3://bucket/prefix"
    assert shown("abfs://logs:accountkey@acct.dfs.core.windows.net/p") == (
        "abfs://logs@acct.dfs.core.windows.net/p"
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-123")
    text = "denied for very-secret-value-123 and AKIDEXAMPLE and tok3n-value"
    url = "s3://AKIDEXAMPLE:pw@b/p?session_token=tok3n-value"
    assert scrub(text, url) == "denied for *** and *** and ***"


def test_local_folders_read_as_before_and_urls_through_a_mirror_of_their_own(tmp_path):
    assert local_log_root(tmp_path, ".keel/logs") == tmp_path / ".keel/logs"
    a, b = "s3://bucket/a", "s3://bucket/b"
    assert local_log_root(tmp_path, a) == mirror_root(tmp_path, a) != mirror_root(tmp_path, b)
    assert spool_root(tmp_path, a) != mirror_root(tmp_path, a)
    # the same log under other credentials is the same log
    assert mirror_root(tmp_path, "s3://K:S@bucket/a") == mirror_root(tmp_path, a)
    assert take_remote(tmp_path, ".keel/logs") is None  # a local folder: nothing to fetch


def test_the_host_name_comes_from_keel_host_name_made_safe_for_object_names(monkeypatch):
    monkeypatch.setenv("KEEL_HOST_NAME", "web 1/eu")
    assert host_name() == "web_1_eu"
    monkeypatch.delenv("KEEL_HOST_NAME")
    assert host_name()


def test_each_sealed_segment_is_uploaded_once_under_the_host_s_name_then_deleted(tmp_path):
    spool, bucket = tmp_path / "spool", tmp_path / "bucket"
    ids = written(spool, "a", 3)
    uploader = Uploader(bucket.as_uri(), spool, host="web-1", every=0.05)
    deadline = time.monotonic() + 20
    while uploader.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    uploader.close()
    names = objects(bucket)
    assert len(names) == 3 and all(n.startswith("web-1-seg-") for n in names)
    assert uploader.uploaded == 3 and uploader.pending() == 0
    assert not list(segments_dir(spool).glob("*.seg")) and not list(spool.glob("outbox/*"))
    mirror = tmp_path / "mirror"
    assert sync(bucket.as_uri(), mirror).objects == 3
    assert sorted(counted(mirror)) == sorted(ids)


def test_a_segment_put_before_a_crash_is_not_put_twice_and_a_second_put_is_harmless(tmp_path):
    spool, bucket = tmp_path / "spool", tmp_path / "bucket"
    written(spool, "a", 1)
    uploader = Uploader(bucket.as_uri(), spool, host="h", every=3600)
    uploader.close()  # the first pass ran; now the state a crash after the put leaves:
    (name,) = objects(bucket)
    data = (bucket / "segments" / name).read_bytes()
    (spool / "outbox" / name).write_bytes(data)  # uploaded, not deleted yet
    before = (bucket / "segments" / name).stat().st_mtime_ns
    again = Uploader(bucket.as_uri(), spool, host="other", every=3600)
    again.close()
    assert objects(bucket) == [name] and not list(spool.glob("outbox/*"))
    assert (bucket / "segments" / name).stat().st_mtime_ns == before  # not put again
    put(open_store(bucket.as_uri()), data, name)  # a re-upload under the same name
    assert objects(bucket) == [name]
    assert len(counted_sync(bucket, tmp_path / "mirror")) == 5


def counted_sync(bucket: Path, mirror: Path) -> list[str]:
    sync(bucket.as_uri(), mirror)
    return counted(mirror)


def test_sync_takes_each_object_once_even_after_the_roll_up_deleted_it(tmp_path):
    spool, bucket, mirror = tmp_path / "spool", tmp_path / "bucket", tmp_path / "mirror"
    ids = written(spool, "a", 2)
    Uploader(bucket.as_uri(), spool, host="h", every=3600).close()
    assert sync(bucket.as_uri(), mirror).objects == 2
    assert sync(bucket.as_uri(), mirror).objects == 0  # journaled
    assert sorted(counted(mirror)) == sorted(ids)
    assert not list(segments_dir(mirror).glob("*.seg"))  # rolled and deleted
    assert sync(bucket.as_uri(), mirror).objects == 0  # the journal, not the files, says so
    ids |= written(spool, "b", 1)
    Uploader(bucket.as_uri(), spool, host="h", every=3600).close()
    assert sync(bucket.as_uri(), mirror).objects == 1
    assert sorted(counted(mirror)) == sorted(ids)  # every row once


def test_a_crash_between_fetch_and_journal_fetches_again_but_counts_once(tmp_path):
    spool, bucket, mirror = tmp_path / "spool", tmp_path / "bucket", tmp_path / "mirror"
    ids = written(spool, "a", 2)
    Uploader(bucket.as_uri(), spool, host="h", every=3600).close()
    sync(bucket.as_uri(), mirror)
    assert sorted(counted(mirror)) == sorted(ids)
    (mirror / JOURNAL).write_text("")  # the journal lost its lines: a crash before them
    assert sync(bucket.as_uri(), mirror).objects == 2
    assert sorted(counted(mirror)) == sorted(ids)  # the same parts, replaced: no row twice


def test_half_written_and_foreign_objects_are_never_taken(tmp_path):
    bucket, mirror = tmp_path / "bucket", tmp_path / "mirror"
    (bucket / "segments").mkdir(parents=True)
    (bucket / "segments" / ".h-seg-1-00000001-abcd.seg.x1.tmp").write_bytes(b"half")
    (bucket / "segments" / "h-seg-1-00000002-abcd.seg.1.part").write_bytes(b"half")
    (bucket / "segments" / "notes.txt").write_text("not a segment")
    assert sync(bucket.as_uri(), mirror).objects == 0


def test_two_uploaders_on_one_spool_upload_every_segment_exactly_once(tmp_path):
    spool, bucket = tmp_path / "spool", tmp_path / "bucket"
    ids = written(spool, "a", 12)
    ups = [Uploader(bucket.as_uri(), spool, host=f"w{i}", every=0.01) for i in range(2)]
    deadline = time.monotonic() + 20
    while ups[0].pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    for up in ups:
        up.close()
    assert sum(up.uploaded for up in ups) == 12 and len(objects(bucket)) == 12
    assert sorted(counted_sync(bucket, tmp_path / "mirror")) == sorted(ids)


def test_an_unwritable_store_is_retried_and_said_once_and_nothing_is_lost(tmp_path):
    spool, bucket = tmp_path / "spool", tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "segments").write_text("a file where the folder should be")
    ids = written(spool, "a", 2)
    said: list[str | None] = []
    uploader = Uploader(bucket.as_uri(), spool, host="h", every=0.05, on_problem=said.append)
    deadline = time.monotonic() + 20
    while uploader.failures < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uploader.pending() == 2 and uploader.uploaded == 0
    assert len(said) == 1 and "uploading" in said[0] and str(bucket.as_uri()) in said[0]
    (bucket / "segments").unlink()  # repaired
    while uploader.pending() and time.monotonic() < deadline + 90:
        time.sleep(0.05)
    uploader.close()
    assert said[-1] is None and uploader.uploaded == 2
    assert sorted(counted_sync(bucket, tmp_path / "mirror")) == sorted(ids)


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from keel.log.writer import PredictionLog

    log = PredictionLog(sys.argv[1])
    log.append([{"time": "2026-11-29T10:00:00Z", "model_version": 1, "request_id": f"k-{i}"}
                for i in range(50)])
    print("acknowledged", flush=True)
    sys.stdin.read()
    """
)


def test_a_killed_writer_s_open_segment_is_uploaded_by_the_next_start(tmp_path):
    spool, bucket = tmp_path / "spool", tmp_path / "bucket"
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    child = subprocess.Popen(
        [sys.executable, str(script), str(segments_dir(spool))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert child.stdout.readline().strip() == "acknowledged"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert list(segments_dir(spool).glob("*.open"))  # never sealed
    Uploader(bucket.as_uri(), spool, host="h", every=3600).close()
    assert len(objects(bucket)) == 1
    assert sorted(counted_sync(bucket, tmp_path / "mirror")) == sorted(f"k-{i}" for i in range(50))


def test_concurrent_syncs_of_one_mirror_take_each_object_once(tmp_path):
    spool, bucket, mirror = tmp_path / "spool", tmp_path / "bucket", tmp_path / "mirror"
    written(spool, "a", 6)
    Uploader(bucket.as_uri(), spool, host="h", every=3600).close()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(sync(bucket.as_uri(), mirror).objects))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 6]
    assert len((mirror / JOURNAL).read_text().splitlines()) == 6


def test_a_missing_folder_at_a_file_url_is_an_empty_log(tmp_path):
    assert sync((tmp_path / "nothing").as_uri(), tmp_path / "mirror").objects == 0
