"""`keel.monitor.performance`: jumps and creeps per measure, and the micro-benchmark."""

import math

import pandas as pd
import pytest

from keel.monitor.performance import (
    MEASURES,
    bench,
    bench_tags,
    creep,
    jump,
    read_bench,
)

BY = {m.name: m for m in MEASURES}
LATENCY = BY["bench_batch_p50"]


def test_a_jump_is_the_serving_versions_change_against_the_previous_measured_one():
    assert jump(LATENCY, [0.010, None, 0.050]) == pytest.approx(4.0)
    assert jump(LATENCY, [0.010, 0.012]) == pytest.approx(0.2)
    assert jump(LATENCY, [0.010, None]) is None  # the serving version is not measured
    assert jump(LATENCY, [None, 0.01]) is None


def test_a_slow_creep_is_seen_across_versions_where_no_single_jump_is():
    values = [0.05 * 1.12**i for i in range(5)]
    assert all(jump(LATENCY, values[: i + 1]) < 0.3 for i in range(1, 5))
    assert creep(LATENCY, values, 5) == pytest.approx(1.12**4 - 1)
    assert creep(LATENCY, values[:2], 5) is None  # needs three measured versions


def test_throughput_regresses_downwards_and_noise_under_the_floor_is_not_counted():
    throughput = BY["bench_rows_per_second"]
    assert jump(throughput, [1000.0, 500.0]) == pytest.approx(0.5)
    assert jump(throughput, [1000.0, 2000.0]) == pytest.approx(-1.0)
    assert jump(BY["train_seconds"], [0.2, 0.3]) == 0.0  # 0.1 s is noise


def test_the_benchmark_times_single_rows_and_batches_and_reads_back_from_tags():
    rows = pd.DataFrame({"x": range(7)})
    calls = []

    def predict(frame):
        calls.append(len(frame))
        return frame

    result = bench(predict, rows, single_calls=12, batch_calls=6, batch=20)
    assert calls.count(1) == 12 + 3 and calls.count(20) == 6 + 3  # with warm-up calls
    assert result["single_p50_spread"] >= 0 and "rows_per_second_spread" in result
    assert result["single_p50"] <= result["single_p99"] and result["rows_per_second"] > 0
    back = read_bench(bench_tags(result, "2026-11-29T00:00:00+00:00"))
    assert math.isclose(back["bench_batch_p50"], result["batch_p50"], rel_tol=1e-5)
    assert "bench_when" not in back


def test_a_difference_within_the_benchmarks_own_spread_is_not_a_jump():
    latency = next(m for m in MEASURES if m.name == "bench_batch_p50")
    assert jump(latency, [0.010, 0.040]) == 3.0  # +300%: a jump on a quiet machine
    assert jump(latency, [0.010, 0.040], [0.004, 0.030]) == 0.0  # a busy one: within noise
    assert jump(latency, [0.010, 0.060], [0.004, 0.030]) > 0.3
