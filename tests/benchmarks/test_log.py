"""benchmarks/log.py's generated prediction log: records as `keel serve` writes them, in the
log's own framing, that the real roll-up and intake take whole (the benchmark itself is not a
test: `make bench-log`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from keel.log.record import FIELDS, check_record
from keel.log.segments import read_segment, scan
from keel.monitor.intake import intake, load_windows

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "log.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("keel_bench_log", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_generated_log_is_served_records_in_minute_segments_the_intake_takes(tmp_path):
    bench = _benchmark()
    log = bench.Log(tmp_path / "log", per_day=2_000, seal=60.0)
    log.append(4_000)  # two days
    segments = sorted(log.segments.glob("*.seg"))
    assert 1_000 < len(segments) <= 2 * 1_440 + 2  # about one a minute
    records = [r for s in segments for r in read_segment(s)]
    assert len(records) == 4_000
    for record in records[:50]:
        check_record(record)
        assert set(FIELDS) - {"error"} <= set(record)
        assert {"inputs", "model_inputs", "anomalies", "nonfinite"} <= set(record)
        assert len(record["inputs"]) == 20 and record["inputs"] == record["model_inputs"]
    assert all(not scan(s.read_bytes())[1] for s in segments[:20])  # framed whole
    times = [r["time"] for r in records]
    assert times == sorted(times) and times[0].startswith("2026-01-01")
    log.append(500)  # new rows after the old ones
    run = intake(tmp_path / "log", tmp_path / "state", window_seconds=86_400.0)
    assert run.rows == 4_500 and run.damaged == []
    assert sorted(w.rows for w in load_windows(tmp_path / "state").values()) == [500, 2_000, 2_000]
