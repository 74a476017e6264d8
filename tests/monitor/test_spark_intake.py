"""`keel.monitor.spark_intake`: the log taken on Spark gives the local intake's summaries."""

from __future__ import annotations

import pytest
from profiles import exact_columns
from served_logs import DAY, rebuild, record, write_log

from keel.monitor.intake import intake, load_windows
from keel.monitor.spark_intake import intake_on_spark

pytestmark = pytest.mark.spark


def _facts(windows):
    """Everything a summary holds that must be identical across engines (sketches aside)."""
    out = {}
    for key, w in windows.items():
        out[key] = (
            w.rows,
            w.errors,
            w.first_time,
            w.last_time,
            w.anomalies,
            w.anomaly_examples,
            w.nonfinite,
            {n: (s.compared, s.skewed, s.examples) for n, s in w.skew.items()},
            w.skew_error,
            sorted(w.parts),
            *(exact_columns(p) if p else None for p in (w.inputs, w.model_inputs, w.outputs)),
        )
    return out


def _log(tmp_path, n=900):
    records = [record(i, day=1 + i // 400, skewed=i % 9 == 0) for i in range(n)]
    records[5]["error"] = "ValueError: the model failed"
    write_log(tmp_path / "log", records)


def test_the_spark_intake_summarises_every_window_as_the_local_intake_does(spark, tmp_path):
    _log(tmp_path)
    local = intake(tmp_path / "log", tmp_path / "local", window_seconds=DAY, rebuild=rebuild)
    seen = []
    remote = intake_on_spark(
        spark,
        tmp_path / "log",
        tmp_path / "spark",
        window_seconds=DAY,
        rebuild=rebuild,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (remote.parts, remote.rows, remote.windows) == (local.parts, local.rows, local.windows)
    a, b = load_windows(tmp_path / "local"), load_windows(tmp_path / "spark")
    assert _facts(a) == _facts(b)
    assert sum(w.skew["x1"].skewed for w in b.values()) == 100  # every 9th row of 900
    assert seen and seen[-1][0] == seen[-1][1]


def test_engines_take_turns_on_one_log_and_count_every_row_once(spark, tmp_path):
    write_log(tmp_path / "log", [record(i) for i in range(300)])
    first = intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    write_log(tmp_path / "log", [record(i) for i in range(300, 700)])
    second = intake_on_spark(spark, tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    assert second.skipped == first.parts and second.rows == 400
    again = intake_on_spark(spark, tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    assert again.rows == 0 and again.parts == 0
    assert sum(w.rows for w in load_windows(tmp_path / "state").values()) == 700


def test_feature_code_that_fails_on_logged_rows_is_reported_not_raised(spark, tmp_path):
    write_log(tmp_path / "log", [record(i) for i in range(50)])

    def broken(rows):
        raise KeyError("income")

    intake_on_spark(spark, tmp_path / "log", tmp_path / "state", window_seconds=DAY, rebuild=broken)
    windows = load_windows(tmp_path / "state").values()
    assert windows and all(w.skew_error == "KeyError: 'income'" for w in windows)
