"""The serving version is judged on its own traffic: after `keel promote 3` with nothing served
by version 3, monitor.3, 5, 6 and 7 are not_configured, never judged on the windows versions 1
and 2 served (a real registry, a real prediction log)."""

from __future__ import annotations

import pytest
from health_systems import clone, log, own_copy, record, register, serve
from registries import good_system

from keel.checks.monitor import monitor_3, monitor_5, monitor_6, monitor_7
from keel.system import System


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """Versions 1 and 2 served 150 rows each; version 3 is the champion and served none."""
    base = good_system(tmp_path_factory.mktemp("gate"))
    system = own_copy(base, tmp_path_factory.mktemp("promoted") / "credit")
    first = register(system)
    second, third = clone(system, first), clone(system, first)
    serve(system, third)
    for version in (first.version, second):
        log(system, [record(i, version, request_id=f"r{version}-{i}") for i in range(150)])
    return system, third


@pytest.mark.parametrize(
    "check",
    [monitor_3, monitor_5, monitor_6, monitor_7],
    ids=["monitor.3", "monitor.5", "monitor.6", "monitor.7"],
)
def test_a_champion_with_no_traffic_of_its_own_is_not_configured(promoted, check):
    system, third = promoted
    evidence = check(System.from_path(system.root))
    assert evidence.status == "not_configured", evidence.summary
    assert f"version {third} has not served yet" in evidence.summary
    assert "served by version(s) 1, 2" in evidence.summary
    assert f"Send version {third} traffic" in evidence.hint


def test_a_champion_with_too_few_rows_of_its_own_is_not_configured(promoted, tmp_path):
    system, third = promoted
    copy = own_copy(System.from_path(system.root), tmp_path / "credit")
    first = register(copy)
    serve(copy, first.version)
    log(copy, [record(i, first.version) for i in range(20)])
    evidence = monitor_3(System.from_path(copy.root))
    assert evidence.status == "not_configured", evidence.summary
    assert "has served 20 row(s), fewer than [monitor] min_rows (100)" in evidence.summary
