"""keel.log.foreign.importer: a foreign source taken into Keel's log exactly once, across
runs, growing files, rotations, kills between its steps and changed files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign.importer import (
    STAGED_SUFFIX,
    Journal,
    _Batch,
    batch_name,
    stage,
    take_foreign,
)
from keel.log.rollup import roll
from keel.log.segments import encode_record, read_segment

COLUMNS = {"time": "t", "prediction": "p", "id": "uid"}


def table(source: Path, **more) -> ForeignSettings:
    return ForeignSettings("table", str(source), model_version=1, columns={**COLUMNS, **more})


def line(i: int, **more) -> str:
    row = {"t": f"2026-10-01T00:{i % 60:02d}:00Z", "p": i % 2, "uid": f"u{i}", "x": i, **more}
    return json.dumps(row) + "\n"


def taken(log: Path) -> list[dict]:
    """Every record in the log's closed segments, by example id order of writing."""
    return [r for p in sorted((log / "segments").glob("*.seg")) for r in read_segment(p)]


def ids(log: Path) -> list[str]:
    return [r["example_id"] for r in taken(log)]


def test_a_source_is_taken_once_across_runs(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text("".join(line(i) for i in range(5)))
    settings = table(source)
    first = take_foreign(settings, tmp_path / "log")
    again = take_foreign(settings, tmp_path / "log")
    assert (first.records, again.records) == (5, 0)
    assert ids(tmp_path / "log") == [f"u{i}" for i in range(5)]
    record = taken(tmp_path / "log")[0]
    assert record["inputs"] == {"x": 0} and record["model_version"] == 1
    assert record["time"] == "2026-10-01T00:00:00+00:00"


def test_a_growing_json_lines_file_is_taken_line_by_complete_line(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text(line(0) + line(1) + line(2)[:10])  # the third line still being written
    settings = table(source)
    assert take_foreign(settings, tmp_path / "log").records == 2
    with open(source, "a") as handle:
        handle.write(line(2)[10:] + line(3))
    assert take_foreign(settings, tmp_path / "log").records == 2
    assert ids(tmp_path / "log") == ["u0", "u1", "u2", "u3"]


def test_a_kill_before_the_journal_discards_the_staged_segment_and_takes_it_again(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text("".join(line(i) for i in range(4)))
    log = tmp_path / "log"
    # what a run killed between writing its segment and its journal leaves behind
    staged = stage(log / "segments", "seg-import-killed", [encode_record({"x": 1})])
    assert staged.name.endswith(STAGED_SUFFIX)
    assert roll(log / "segments", log / "rolled").rows == 0  # the roll-up never takes it
    assert take_foreign(table(source), log).records == 4
    assert not staged.exists()
    assert ids(log) == ["u0", "u1", "u2", "u3"]


def test_a_kill_after_the_journal_publishes_the_staged_segment_once(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text("".join(line(i) for i in range(3)))
    log = tmp_path / "log"
    settings = table(source)
    take_foreign(settings, log)
    with open(source, "a") as handle:
        handle.write(line(3))
    # a run killed after its journal, before the rename: the journal holds the new place
    journal = Journal(log)
    batch = _Batch(journal)
    entry = batch.files[str(source)]
    entry["offset"], entry["lines"] = source.stat().st_size, 4
    name = batch_name(journal.seq + 1, batch.files)
    from keel.log.foreign.table import read

    stage(log / "segments", name, [encode_record(r) for r in read(line(3).encode(), "x", settings)])
    journal.write(batch.files, [name])
    run = take_foreign(settings, log)
    assert run.records == 0  # nothing read again
    assert ids(log) == ["u0", "u1", "u2", "u3"]


def test_a_rolled_import_is_not_taken_again(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text("".join(line(i) for i in range(3)))
    log = tmp_path / "log"
    take_foreign(table(source), log)
    assert roll(log / "segments", log / "rolled").rows == 3
    assert take_foreign(table(source), log).records == 0
    assert roll(log / "segments", log / "rolled").rows == 0


def test_a_changed_parquet_file_is_warned_about_once_and_never_taken_twice(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    frame = pd.DataFrame({"t": ["2026-10-01T00:00:00"] * 3, "p": [0, 1, 0], "uid": list("abc")})
    frame.to_parquet(folder / "day1.parquet")
    log = tmp_path / "log"
    assert take_foreign(table(folder), log).records == 3
    frame.assign(p=1).to_parquet(folder / "day1.parquet")
    os.utime(folder / "day1.parquet", ns=(1, 1))
    changed = take_foreign(table(folder), log)
    assert changed.records == 0
    assert len(changed.warnings) == 1 and "day1.parquet" in changed.warnings[0]
    assert "changed" in changed.warnings[0]
    assert take_foreign(table(folder), log).warnings == []  # said once
    frame.to_parquet(folder / "day2.parquet")
    assert take_foreign(table(folder), log).records == 3
    assert len(taken(log)) == 6


def test_csv_and_a_glob_take_only_matching_files(tmp_path):
    folder = tmp_path / "served"
    (folder / "2026").mkdir(parents=True)
    frame = pd.DataFrame({"t": ["2026-10-01T00:00:00+02:00"], "p": [1], "uid": ["a"], "x": [2]})
    frame.to_csv(folder / "2026" / "one.csv", index=False)
    frame.to_csv(folder / "2026" / "one.txt", index=False)
    run = take_foreign(table(Path(f"{folder}/*/*.csv")), tmp_path / "log")
    assert run.records == 1 and run.files == 1
    assert taken(tmp_path / "log")[0]["time"] == "2026-09-30T22:00:00+00:00"  # the same instant


def test_a_file_url_source_is_read_like_a_path(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text(line(0) + line(1))
    settings = ForeignSettings("table", source.as_uri(), model_version=2, columns=COLUMNS)
    assert take_foreign(settings, tmp_path / "log").records == 2
    assert {r["model_version"] for r in taken(tmp_path / "log")} == {2}


def test_unreadable_lines_are_counted_and_named_never_a_traceback(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text(line(0) + "{not json\n" + json.dumps({"p": 1}) + "\n" + line(3))
    run = take_foreign(table(source), tmp_path / "log")
    assert run.records == 2 and run.unreadable == 2
    assert any("served.jsonl line 2" in w and "not JSON" in w for w in run.warnings)
    assert any("served.jsonl line 3" in w and "time column 't'" in w for w in run.warnings)


def test_rows_without_a_version_are_refused_naming_serving_model_version(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text(line(0))
    settings = ForeignSettings("table", str(source), columns=COLUMNS)
    with pytest.raises(KeelError, match=r"\[serving\] model_version"):
        take_foreign(settings, tmp_path / "log")
    assert taken(tmp_path / "log") == []


def test_a_version_column_is_mapped_and_an_unmapped_name_refused(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text(line(0, v="blue") + line(1, v="green"))
    cols = {**COLUMNS, "model_version": "v"}
    mapped = ForeignSettings("table", str(source), versions={"blue": 3, "green": 4}, columns=cols)
    take_foreign(mapped, tmp_path / "log")
    assert [r["model_version"] for r in taken(tmp_path / "log")] == [3, 4]
    unmapped = ForeignSettings("table", str(source), versions={"blue": 3}, columns=cols)
    with pytest.raises(KeelError, match='no entry for column .v. "green"'):
        take_foreign(unmapped, tmp_path / "other")


def test_a_rotated_log_keeps_its_place_and_the_new_file_is_taken_from_its_start(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "data.0.log").write_text(line(0) + line(1))
    settings = table(folder)
    take_foreign(settings, tmp_path / "log")
    with open(folder / "data.0.log", "a") as handle:
        handle.write(line(2))
    os.replace(folder / "data.0.log", folder / "data.0.log.2026-10-01")  # rotated at midnight
    (folder / "data.0.log").write_text(line(3))
    run = take_foreign(settings, tmp_path / "log")
    assert run.records == 2 and run.warnings == []
    assert sorted(ids(tmp_path / "log")) == ["u0", "u1", "u2", "u3"]


def test_a_json_lines_file_rewritten_under_its_name_is_warned_and_not_taken(tmp_path):
    source = tmp_path / "served.jsonl"
    source.write_text(line(0) + line(1))
    take_foreign(table(source), tmp_path / "log")
    source.write_text(line(5) + line(6) + line(7))
    run = take_foreign(table(source), tmp_path / "log")
    assert run.records == 0 and "changed" in run.warnings[0]
    assert ids(tmp_path / "log") == ["u0", "u1"]


def test_a_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(KeelError, match="no such file or folder"):
        take_foreign(table(tmp_path / "nowhere"), tmp_path / "log")


# -- CloudEvents: pairs across chunks and files, bad lines named ------------------------------


def event(ce_id: str, kind: str, body: dict, second: int = 0) -> str:
    return (
        json.dumps(
            {
                "specversion": "1.0",
                "id": ce_id,
                "type": f"org.kubeflow.serving.inference.{kind}",
                "source": "http://localhost:9081/",
                "time": f"2026-11-02T10:00:{second:02d}Z",
                "data": body,
            }
        )
        + "\n"
    )


def request(ce_id: str, second: int = 0) -> str:
    return event(ce_id, "request", {"instances": [{"x": 1}]}, second)


def response(ce_id: str, second: int = 0) -> str:
    return event(ce_id, "response", {"predictions": [1]}, second)


def events(source: str) -> ForeignSettings:
    return ForeignSettings("cloudevents", source, model_version=1)


def test_a_request_and_its_response_taken_in_two_runs_pair_once(tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_text(request("a") + request("b"))
    log = tmp_path / "log"
    assert take_foreign(events(str(source)), log).records == 0
    assert len(Journal(log).held) == 2  # waiting for their responses, in the journal
    with open(source, "a") as handle:
        handle.write(response("b") + response("a"))
    assert take_foreign(events(str(source)), log).records == 2
    assert take_foreign(events(str(source)), log).records == 0
    assert sorted((r["request_id"], r["prediction"]) for r in taken(log)) == [("a", 1), ("b", 1)]
    assert Journal(log).held == []


def test_a_request_and_its_response_in_two_files_pair(tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "1.jsonl").write_text(request("a") + response("c"))
    (tmp_path / "events" / "2.jsonl").write_text(request("c") + response("a"))
    run = take_foreign(events(str(tmp_path / "events")), tmp_path / "log")
    assert run.records == 2 and not run.warnings
    assert sorted(r["request_id"] for r in taken(tmp_path / "log")) == ["a", "c"]


def test_a_chunk_boundary_between_a_request_and_its_response_pairs_them(tmp_path, monkeypatch):
    import keel.log.foreign.importer as importer

    source = tmp_path / "events.jsonl"
    source.write_text(request("a") + response("a") + request("b") + response("b"))
    monkeypatch.setattr(importer, "CHUNK_BYTES", len(request("a")) + 10)  # one line a chunk
    assert take_foreign(events(str(source)), tmp_path / "log").records == 2


def test_a_bad_event_line_is_named_with_its_file_line_and_field(tmp_path):
    source = tmp_path / "events.jsonl"
    bad = json.loads(request("x"))
    del bad["specversion"]
    source.write_text(request("a") + json.dumps(bad) + "\n" + "{oops\n" + response("a"))
    run = take_foreign(events(str(source)), tmp_path / "log")
    assert run.records == 1 and run.unreadable == 2
    assert any("events.jsonl line 2: not taken" in w and "specversion" in w for w in run.warnings)
    assert any("events.jsonl line 3: not taken: not JSON" in w for w in run.warnings)


def test_a_request_never_answered_is_taken_once_as_rows_without_a_prediction(tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_text(request("lost", 0) + request("a", 40) + response("a", 41))
    log = tmp_path / "log"
    assert take_foreign(events(str(source)), log).records == 2
    assert take_foreign(events(str(source)), log).records == 0
    lost = next(r for r in taken(log) if r["request_id"] == "lost")
    assert lost["prediction"] is None and "no response event within 30 s" in lost["error"]
