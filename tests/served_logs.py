"""Prediction logs of served traffic for the monitoring tests: written with the server's own
`PredictionLog`, then taken by the real intake into window summaries."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from keel.monitor.intake import intake, load_windows
from keel.monitor.summary import PartSummary
from keel.serve.predlog import PredictionLog, segments_dir

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
