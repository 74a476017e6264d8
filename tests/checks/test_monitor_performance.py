"""monitor.6: computing performance per version, in promotion order, on a real registry:
a planted latency jump and a slow creep fail, stable versions pass; latency the server logged
counts per version; fewer than two measured versions is not_configured."""

from __future__ import annotations

import pytest
from health_systems import clone, log, own_copy, record, register, serve, set_tags
from registries import good_system, named

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


def versions(base: System, model: str, latencies: list[float]) -> System:
    """A model with one real version and clones of it, one per latency, the last serving."""
    system = named(base, model)
    first = register(system)
    set_tags(system, first.version, bench(latencies[0]))
    number = first.version
    for p50 in latencies[1:]:
        number = clone(system, first, tags=bench(p50))
    serve(system, number)
    return named(base, model)


def test_fewer_than_two_measured_versions_is_not_configured(base):
    system = named(base, "alone")
    serve(system, register(system).version)
    evidence = monitor_6(named(base, "alone"))
    assert evidence.status == "not_configured" and "keel bench-model" in evidence.hint


def test_a_planted_latency_jump_fails(base):
    evidence = monitor_6(versions(base, "jump", [0.010, 0.011, 0.030]))
    assert evidence.status == "fail", evidence.summary
    assert "bench: 100-row latency p50 jumped +173%" in evidence.summary
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["bench: 100-row latency p50"][-1] == "regressed"
    assert rows["training time"][-1] == "ok"
    flagged = [f for f in evidence.figures if any(f.flagged)]
    assert flagged and flagged[0].labels == ["v1", "v2", "v3"]


def test_a_slow_creep_fails_though_no_step_jumps(base):
    latencies = [0.05 * 1.12**i for i in range(5)]
    evidence = monitor_6(versions(base, "creep", latencies))
    assert evidence.status == "fail", evidence.summary
    assert "crept +57%" in evidence.summary and "jumped" not in evidence.summary


def test_stable_versions_pass(base):
    evidence = monitor_6(versions(base, "stable", [0.050, 0.051, 0.049, 0.050, 0.052]))
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
