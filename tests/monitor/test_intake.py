"""`keel.monitor.intake`: the prediction log read exactly once, summarised per window."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd

from keel.monitor.intake import intake, load_windows
from keel.serve.predlog import PredictionLog, segments_dir

DAY = 86_400.0


def record(i: int, day: int = 1, *, x1: float | None = 0.5, skewed: bool = False) -> dict:
    return {
        "request_id": f"r{i}",
        "row": 0,
        "example_id": f"e{i}",
        "time": f"2026-11-{day:02d}T{(i % 24):02d}:00:00+00:00",
        "model_version": 1 + (i % 2),
        "route": "champion",
        "inputs": {"x1": x1, "group": "abc"[i % 3]},
        "model_inputs": {"x1": (x1 or 0) * 2 + (1 if skewed else 0), "group": "abc"[i % 3]},
        "prediction": i % 2,
        "probabilities": {"0": 0.25, "1": 0.75},
        "latency_seconds": 0.001 * (1 + i % 5),
        "anomalies": ["rows[0].x1: expected a number ≥ 0, got -1"] if i % 10 == 0 else [],
        "nonfinite": ["model_inputs.x1"] if i % 50 == 0 else [],
    }


def write_log(root, records, segment_bytes=4_000):
    with PredictionLog(segments_dir(root), segment_bytes=segment_bytes) as log:
        for start in range(0, len(records), 7):
            log.append(records[start : start + 7])


def rebuild(rows):
    frame = pd.DataFrame(rows)
    return pd.DataFrame({"x1": frame["x1"].fillna(0) * 2, "group": frame["group"]})


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
