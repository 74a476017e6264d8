"""Prediction logs of served traffic for the monitoring tests: written with the server's own
`PredictionLog`, then taken by the real intake into window summaries."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
from systems import binary_frame

from keel.log.writer import PredictionLog, segments_dir
from keel.monitor.intake import intake, load_windows
from keel.monitor.summary import PartSummary

DAY = 86_400.0
HOSTILE = "<script>alert('x')</script>"


def served_records(
    days: int, rows_per_day: int, *, inputs: int = 3, hostile: bool = False, seed: int = 0
) -> list[dict]:
    """Rows over `days` windows (version 1, then version 2 from the middle on): numeric inputs
    x0… (x0 drifting day by day), a categorical `group`, anomalies on x1, skew on x0."""
    rng = random.Random(seed)
    records = []
    for day in range(days):
        version = 1 if day < days // 2 or days == 1 else 2
        for i in range(rows_per_day):
            n = day * rows_per_day + i
            row = {f"x{k}": rng.gauss(day * 0.5 if k == 0 else 0.0, 1.0) for k in range(inputs)}
            row["group"] = rng.choice("abc" if day < days - 1 else "aaab")
            if hostile:
                row[HOSTILE] = rng.random()
            records.append(
                {
                    "request_id": f"r{n}",
                    "row": 0,
                    "example_id": f"e{n}",
                    "time": f"2026-10-{day + 1:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00",
                    "model_version": version,
                    "route": "champion",
                    "inputs": row,
                    "model_inputs": {"x0": row["x0"], "group": row["group"]},
                    "prediction": int(rng.random() < 0.3 + 0.02 * day),
                    "probabilities": {"0": 0.7 - 0.01 * day, "1": 0.3 + 0.01 * day},
                    "latency_seconds": rng.expovariate(200.0 if version == 1 else 120.0),
                    "anomalies": (
                        ["rows[0].x1: expected a number ≥ 0, got -1"] if i % (day + 4) == 0 else []
                    ),
                    "nonfinite": [],
                }
            )
    return records


def _rebuild(rows: list[dict]) -> pd.DataFrame:
    """The feature code: model inputs from raw rows, off for every 10th row's x0 (skew)."""
    frame = pd.DataFrame(rows)
    return pd.DataFrame({"x0": frame["x0"] + (frame.index % 10 == 0), "group": frame["group"]})


def served_windows(root: Path, records: list[dict]) -> dict[tuple[str, int], PartSummary]:
    """Log `records` under root/log, take them into root/state, return the windows."""
    with PredictionLog(segments_dir(root / "log"), segment_bytes=200_000) as log:
        for start in range(0, len(records), 50):
            log.append(records[start : start + 50])
    intake(root / "log", root / "state", window_seconds=DAY, rebuild=_rebuild)
    return load_windows(root / "state")


# -- a small log of two inputs for the intake tests ------------------------------------


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


# -- days of traffic to a monitored system (tests/systems.py) ----------------------------


def day_records(
    day: int,
    n: int = 400,
    *,
    seed: int = 0,
    shift: float = 0.0,
    mostly_a: bool = False,
    skewed: float = 0.0,
    anomalous: float = 0.0,
    failed: float = 0.0,
) -> list[dict]:
    frame = binary_frame(n, seed=100 + seed + day)
    rng = np.random.default_rng(day)
    out = []
    for i, row in enumerate(frame.itertuples()):
        x1 = float(row.x1) + shift
        group = "a" if mostly_a and rng.random() < 0.9 else row.group
        x1_x2 = x1 * float(row.x2) + (1.0 if rng.random() < skewed else 0.0)
        bad = rng.random() < anomalous
        record = {
            "example_id": f"d{day}-{i}",
            "time": f"2026-11-{day:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00",
            "model_version": 1,
            "inputs": {"x1": x1, "x2": float(row.x2), "group": group},
            "model_inputs": {"x1": x1, "x2": float(row.x2), "group": group, "x1_x2": x1_x2},
            "prediction": int(row.y),
            "latency_seconds": 0.002,
            "anomalies": [f"rows[0].group: expected one of a, b, c, got 'z{i}'"] if bad else [],
        }
        if rng.random() < failed:
            record["error"] = "ValueError: boom"
        out.append(record)
    return out


def serve(system, *days: list[dict]) -> None:
    with PredictionLog(segments_dir(system.root / system.config.data.serving_log)) as log:
        for records in days:
            log.append(records)
