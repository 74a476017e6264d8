"""keel.log.foreign.parts: imported tables written straight as rolled parts, exactly once
whatever is killed between staging them, the journal and their rename."""

from __future__ import annotations

import json
from pathlib import Path

from keel.log.foreign import ForeignSettings
from keel.log.foreign.importer import Journal, _Batch, batch_name, take_foreign
from keel.log.foreign.parts import STAGED, stage_parts
from keel.log.foreign.sagemaker_columns import read_table
from keel.log.rollup import query
from keel.monitor.intake import rolled_parts

HOUR = "capture/ep/AllTraffic/2026/10/01/13"


def line(i: int) -> str:
    given = {"data": json.dumps({"x1": i}), "encoding": "JSON"}
    answer = {"data": json.dumps({"predicted_label": i % 2}), "encoding": "JSON"}
    meta = {"eventId": f"ev{i}", "inferenceTime": f"2026-10-01T13:00:{i:02d}Z"}
    return (
        json.dumps(
            {
                "captureData": {"endpointInput": given, "endpointOutput": answer},
                "eventMetadata": meta,
            }
        )
        + "\n"
    )


def setup(tmp_path: Path, count: int) -> tuple[Path, ForeignSettings]:
    hour = tmp_path / HOUR
    hour.mkdir(parents=True)
    source = hour / "a.jsonl"
    source.write_text("".join(line(i) for i in range(count)))
    return source, ForeignSettings("sagemaker", str(tmp_path / "capture"), model_version=1)


def ids(log: Path) -> list[str]:
    rows = query("SELECT request_id FROM records ORDER BY time", log / "rolled")
    return rows.column("request_id").to_pylist()


def test_imported_parts_are_what_the_intake_lists_and_never_taken_twice(tmp_path):
    source, settings = setup(tmp_path, 3)
    log = tmp_path / "log"
    assert take_foreign(settings, log).records == 3
    assert take_foreign(settings, log).records == 0
    (part,) = rolled_parts(log / "rolled")
    assert part.parent.name == "model_version=1" and part.parent.parent.name == "date=2026-10-01"
    assert ids(log) == ["ev0", "ev1", "ev2"]


def test_a_kill_before_the_journal_discards_the_staged_parts_and_takes_them_again(tmp_path):
    source, settings = setup(tmp_path, 4)
    log = tmp_path / "log"
    # what a run killed between staging its parts and its journal leaves behind
    table = read_table(source.read_bytes(), str(source), settings)
    staged = stage_parts(log / "rolled", "seg-import-killed", [table])
    assert staged and all(p.name.endswith(STAGED) for p in staged)
    assert rolled_parts(log / "rolled") == []  # the intake never reads a staged part
    assert take_foreign(settings, log).records == 4
    assert not any(p.exists() for p in staged)
    assert ids(log) == ["ev0", "ev1", "ev2", "ev3"]


def test_a_kill_after_the_journal_publishes_the_staged_parts_once(tmp_path):
    source, settings = setup(tmp_path, 3)
    log = tmp_path / "log"
    take_foreign(settings, log)
    with open(source, "a") as handle:
        handle.write(line(3) + line(4))
    # a run killed after its journal, before the rename: the journal holds the new place
    journal = Journal(log)
    batch = _Batch(journal)
    entry = batch.files[str(source)]
    entry["offset"], entry["lines"] = source.stat().st_size, 5
    name = batch_name(journal.seq + 1, batch.files)
    table = read_table((line(3) + line(4)).encode(), str(source), settings)
    stage_parts(log / "rolled", name, [table])
    journal.write(batch.files, [name])
    assert take_foreign(settings, log).records == 0  # nothing read again
    assert ids(log) == ["ev0", "ev1", "ev2", "ev3", "ev4"]
    assert not list((log / "rolled").glob(f"**/*{STAGED}"))
