"""`keel.monitor.intake`: the prediction log read exactly once, summarised per window."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from served_logs import DAY, rebuild, record, write_log

from keel.log.segments import HEADER, scan
from keel.log.writer import segments_dir
from keel.monitor.intake import intake, load_windows
from keel.monitor.sampling import SAMPLE_SIZE, missed_share


def test_every_row_is_summarised_once_per_window_and_version(tmp_path):
    records = [record(i, day=1 + i // 300) for i in range(600)]
    write_log(tmp_path / "log", records)
    run = intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    windows = load_windows(tmp_path / "state")
    assert run.rows == 600 and sum(w.rows for w in windows.values()) == 600
    assert {k[1] for k in windows} == {1, 2} and len({k[0] for k in windows}) == 2
    again = intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    assert again.rows == 0 and again.skipped == run.parts
    first = windows[("2026-11-01T00:00:00+00:00", 1)]
    assert first.inputs["x1"].count == 150 and first.outputs["proba_1"].count == 150
    assert first.anomalies == {"x1": 30} and first.nonfinite == {"model_inputs.x1": 6}  # even i


def test_new_rows_are_taken_incrementally(tmp_path):
    write_log(tmp_path / "log", [record(i) for i in range(100)])
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    write_log(tmp_path / "log", [record(i) for i in range(100, 250)])
    run = intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    assert run.rows == 150
    assert sum(w.rows for w in load_windows(tmp_path / "state").values()) == 250


def test_per_example_skew_counts_the_rows_the_feature_code_computes_differently(tmp_path):
    records = [record(i, skewed=i % 4 == 0) for i in range(200)]
    write_log(tmp_path / "log", records)
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY, rebuild=rebuild)
    windows = load_windows(tmp_path / "state").values()
    x1 = [w.skew["x1"] for w in windows]
    assert sum(s.compared for s in x1) == 200 and sum(s.skewed for s in x1) == 50
    assert all(s.skewed == 0 for w in windows for s in [w.skew["group"]])
    assert x1[0].examples and x1[0].examples[0].startswith("e")


def test_killed_mid_run_then_rerun_counts_every_row_once(tmp_path):
    write_log(tmp_path / "log", [record(i, day=1 + i // 100) for i in range(500)], 2_000)
    script = textwrap.dedent(
        f"""
        import os, signal
        from keel.monitor.intake import intake
        def progress(done, total):
            if done == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        intake({str(tmp_path / "log")!r}, {str(tmp_path / "state")!r}, window_seconds=86400.0,
               progress=progress)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == -9
    taken = len(list((tmp_path / "state" / "parts").glob("**/*.done")))
    assert taken == 3
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    windows = load_windows(tmp_path / "state")
    assert sum(w.rows for w in windows.values()) == 500
    ids = json.dumps(sorted(p for w in windows.values() for p in w.parts))
    assert len(json.loads(ids)) == len(set(json.loads(ids)))


def test_anomalies_keep_one_logged_problem_per_input_and_rows_without_a_field_are_null(tmp_path):
    records = [record(i) for i in range(40)]
    for r in records[::4]:
        del r["model_inputs"]  # an older server that did not log them
    records[3]["anomalies"] = ["rows[0].group: expected one of a, b, got 'z'"]
    write_log(tmp_path / "log", records)
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    windows = {v: w for (_, v), w in load_windows(tmp_path / "state").items()}
    even, odd = windows[1], windows[2]  # model_version = 1 + i % 2
    assert even.anomalies == {"x1": 4} and odd.anomalies == {"group": 1}
    assert odd.anomaly_examples == {"group": "expected one of a, b, got 'z'"}
    assert even.anomaly_examples == {"x1": "expected a number ≥ 0, got -1"}
    assert even.model_inputs["x1"].count == 20 and even.model_inputs["x1"].nulls == 10


# -- the per-example skew sample: uniform over the whole window ----------------------------


def _one_window(n: int, skewed: range) -> list[dict]:
    return [
        {**record(i, skewed=i in skewed), "model_version": 1, "time": "2026-11-01T10:00:00+00:00"}
        for i in range(n)
    ]


def test_the_skew_sample_finds_skewed_rows_anywhere_in_the_window(tmp_path):
    # 200 skewed rows at positions 2,500-2,699 of 3,990: past the first 2,000 of the window
    write_log(tmp_path / "log", _one_window(3_990, range(2_500, 2_700)), 10**8)
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY, rebuild=rebuild)
    (w,) = load_windows(tmp_path / "state").values()
    assert w.skew["x1"].compared == SAMPLE_SIZE == 459
    assert w.skew_population == 3_990
    assert 0 < w.skew["x1"].skewed < 60  # about 5% of 459
    assert all(e in {f"e{i}" for i in range(2_500, 2_700)} for e in w.skew["x1"].examples)


def test_the_window_sample_is_one_sample_over_every_part_and_reproducible(tmp_path):
    rows = _one_window(2_000, range(0, 2_000, 10))
    for start in range(0, 2_000, 250):  # served and taken a bit at a time: a part each time
        write_log(tmp_path / "log", rows[start : start + 250], segment_bytes=40_000)
        intake(tmp_path / "log", tmp_path / "a", window_seconds=DAY, rebuild=rebuild)
    intake(tmp_path / "log", tmp_path / "b", window_seconds=DAY, rebuild=rebuild)  # all at once
    a, b = (next(iter(load_windows(tmp_path / s).values())) for s in ("a", "b"))
    assert len(a.parts) > 5  # many parts, one sample of the window
    assert a.skew["x1"].compared == len(a.skew_sample) == SAMPLE_SIZE
    assert a.skew_population == 2_000
    assert a.skew_sample == b.skew_sample  # the same rows every time
    assert 20 < a.skew["x1"].skewed < 75  # 10% of the rows skewed: about 46 of 459


def test_a_window_smaller_than_the_sample_is_recomputed_whole(tmp_path):
    write_log(tmp_path / "log", _one_window(300, range(299, 300)))
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY, rebuild=rebuild)
    (w,) = load_windows(tmp_path / "state").values()
    assert w.skew["x1"].compared == 300 and w.skew["x1"].skewed == 1


def test_what_the_sample_could_have_missed():
    assert missed_share(SAMPLE_SIZE, 10**7) == pytest.approx(0.01, abs=2e-4)
    assert missed_share(300, 300) == 0.0
    assert missed_share(0, 300) == 1.0
    # without replacement, a sample of most of the window misses little
    assert missed_share(459, 500) < 0.01


def test_a_damaged_record_is_left_out_and_named_in_the_run(tmp_path):
    write_log(tmp_path / "log", [record(i) for i in range(100)])
    segment = sorted(segments_dir(tmp_path / "log").glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    start, _ = scan(data)[0][1]
    data[start + HEADER.size + 4] ^= 0xFF  # the second record's payload, on disk
    segment.write_bytes(data)
    run = intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    assert run.rows == 99  # the records around the damaged one are all taken
    (warning,) = run.damaged
    assert segment.stem in warning and "1 record lost" in warning


# -- compaction: one summary file per window, however many parts --------------------------


def _window_files(state, version=1):
    (folder,) = (state / "summaries").glob(f"*/v{version}")
    return sorted(p.name for p in folder.glob("*.json"))


def test_a_window_taken_in_many_runs_is_kept_as_one_summary_file(tmp_path):
    rows = [{**record(i), "model_version": 1} for i in range(300)]
    for start in range(0, 300, 50):  # six runs, six parts of the same window
        write_log(tmp_path / "log", rows[start : start + 50])
        intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    assert _window_files(tmp_path / "state") == ["window.json"]
    (w,) = load_windows(tmp_path / "state").values()
    assert w.rows == 300 and len(w.parts) == 6 and w.inputs["x1"].count == 300


def test_a_part_summary_left_beside_the_window_that_covers_it_counts_once(tmp_path):
    rows = [{**record(i), "model_version": 1} for i in range(100)]
    write_log(tmp_path / "log", rows[:50])
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    (folder,) = (tmp_path / "state" / "summaries").glob("*/v1")
    first = json.loads((folder / "window.json").read_text())
    (name,) = first["parts"]
    write_log(tmp_path / "log", rows[50:])
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    # a crash between writing the merged file and deleting the parts it covers
    (folder / f"{name}.json").write_text(json.dumps(first))
    (w,) = load_windows(tmp_path / "state").values()
    assert w.rows == 100 and sorted(w.parts) == sorted(set(w.parts))
    write_log(tmp_path / "log", [{**record(i), "model_version": 1} for i in range(100, 120)])
    intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)  # compacts the leftover
    assert _window_files(tmp_path / "state") == ["window.json"]
    (w,) = load_windows(tmp_path / "state").values()
    assert w.rows == 120
