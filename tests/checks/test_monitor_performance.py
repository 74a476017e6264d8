"""monitor.6: computing performance per version, in promotion order, on a real registry:
a planted latency jump, a slow creep and one version slowing over time (a leak) fail, stable
versions pass; latency the server logged counts per version; fewer than two measured versions,
a serving version that has not served, and a measure it lacks are not_configured."""

from __future__ import annotations

import json

import pytest
from health_systems import clone, log, own_copy, record, register, serve, set_tags
from registries import good_system

from keel.checks.monitor import monitor_6
from keel.system import System


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return good_system(tmp_path_factory.mktemp("monitor-6"))


def bench(p50: float) -> dict[str, str]:
    """keel.bench.* tags with a batch latency p50 of `p50` seconds (the rest steady)."""
    return {
        "keel.bench.single_p50": "0.004",
        "keel.bench.single_p99": "0.006",
        "keel.bench.batch_p50": f"{p50:.6g}",
        "keel.bench.batch_p99": f"{p50 * 1.5:.6g}",
        "keel.bench.rows_per_second": f"{100 / p50:.6g}",
    }


def served_rows(system: System, version: int, latency: float = 0.01, day: int = 1) -> None:
    """[monitor] min_rows rows served by `version` on 2026-11-`day`."""
    log(
        system,
        [
            record(
                i, version, latency_seconds=latency, time=f"2026-11-{day:02d}T10:00:{i % 60:02d}Z"
            )
            | {"request_id": f"r{version}-{day}-{i}"}
            for i in range(100)
        ],
    )


def versions(
    base: System, folder, latencies: list[float], *, traffic: bool = True
) -> tuple[System, int]:
    """A system of its own with one real version and clones of it, one per latency, the last
    serving (and, with `traffic`, having served [monitor] min_rows rows)."""
    system = own_copy(base, folder / "credit")
    first = register(system)
    set_tags(system, first.version, bench(latencies[0]))
    number = first.version
    for p50 in latencies[1:]:
        number = clone(system, first, tags=bench(p50))
    serve(system, number)
    if traffic:
        served_rows(system, number)
    return System.from_path(system.root), number


def test_fewer_than_two_measured_versions_is_not_configured(base, tmp_path):
    system = own_copy(base, tmp_path / "credit")
    version = register(system).version
    serve(system, version)
    served_rows(system, version)
    evidence = monitor_6(System.from_path(system.root))
    assert evidence.status == "not_configured" and "keel bench-model" in evidence.hint


def test_a_serving_version_that_has_not_served_yet_is_not_configured(base, tmp_path):
    system, number = versions(base, tmp_path, [0.050, 0.051, 0.049], traffic=False)
    evidence = monitor_6(system)
    assert evidence.status == "not_configured", evidence.summary
    assert f"version {number} has not served yet" in evidence.summary


def test_a_measure_the_serving_version_lacks_is_not_configured_never_ok(base, tmp_path):
    system = own_copy(base, tmp_path / "credit")
    first = register(system)
    set_tags(system, first.version, bench(0.010))
    second = clone(system, first)  # never benchmarked
    serve(system, second)
    served_rows(system, second)
    evidence = monitor_6(System.from_path(system.root))
    assert evidence.status == "not_configured", evidence.summary
    assert "bench: 100-row latency p50" in evidence.summary
    assert f"keel bench-model {second}" in evidence.hint
    assert "bench_batch_p50" in evidence.facts["missing"]


def test_the_same_version_slowing_over_time_is_a_leak(base, tmp_path):
    """Both versions re-timed side by side on a host that slowed: no jump between them, but
    the serving version's newest benchmark is over twice its first."""
    system, number = versions(base, tmp_path, [0.010, 0.010])
    history = [
        {"when": "2026-11-01", "batch_p50": 0.010, "batch_p50_spread": 0.0005},
        {"when": "2026-11-20", "batch_p50": 0.025, "batch_p50_spread": 0.0005},
    ]
    for v in (1, number):
        set_tags(system, v, bench(0.025))
    set_tags(system, number, {"keel.bench.history": json.dumps(history)})
    evidence = monitor_6(System.from_path(system.root))
    assert evidence.status == "fail", evidence.summary
    assert "bench: 100-row latency p50 leaked +150% over time" in evidence.summary
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["bench: 100-row latency p50"][-4] == "+0%"  # no jump against version 1
    assert rows["bench: 100-row latency p50"][-2] == "+150% over 2"


def test_served_latency_of_the_same_version_growing_across_windows_is_a_leak(base, tmp_path):
    system, number = versions(base, tmp_path, [0.010, 0.010])
    served_rows(system, number, latency=0.040, day=9)
    evidence = monitor_6(System.from_path(system.root))
    assert evidence.status == "fail", evidence.summary
    assert "served latency p50 leaked +300%" in evidence.summary


def test_a_planted_latency_jump_fails(base, tmp_path):
    evidence = monitor_6(versions(base, tmp_path, [0.010, 0.011, 0.030])[0])
    assert evidence.status == "fail", evidence.summary
    assert "bench: 100-row latency p50 jumped +173%" in evidence.summary
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["bench: 100-row latency p50"][-1] == "regressed"
    assert rows["training time"][-1] == "ok"
    flagged = [f for f in evidence.figures if any(f.flagged)]
    assert flagged and flagged[0].labels == ["v1", "v2", "v3"]


def test_a_slow_creep_fails_though_no_step_jumps(base, tmp_path):
    latencies = [0.05 * 1.12**i for i in range(5)]
    evidence = monitor_6(versions(base, tmp_path, latencies)[0])
    assert evidence.status == "fail", evidence.summary
    assert "crept +57%" in evidence.summary and "jumped" not in evidence.summary


def test_stable_versions_pass(base, tmp_path):
    evidence = monitor_6(versions(base, tmp_path, [0.050, 0.051, 0.049, 0.050, 0.052])[0])
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["versions"] == 5 and evidence.thresholds["max_jump"] == 0.3
    assert len(evidence.figures) == len(evidence.tables[0].rows)


def test_the_latency_the_server_logged_counts_per_version(base, tmp_path):
    system = own_copy(base, tmp_path / "credit")
    first = register(system)
    second = clone(system, first)
    serve(system, second)
    log(system, [record(i, first.version, latency_seconds=0.010) for i in range(150)])
    log(system, [record(i, second, latency_seconds=0.040) for i in range(150)])
    evidence = monitor_6(System.from_path(system.root))
    assert evidence.status == "fail", evidence.summary
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["served latency p50"][-1] == "regressed"
    assert rows["served latency p50"][2:4] == ["0.01", "0.04"]
