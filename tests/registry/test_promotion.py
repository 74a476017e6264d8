"""Promotion through the gate and rollback, on a real MLflow store (SQLite in a temporary
folder): refusals and why, forced promotion, rollback, concurrency and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from registries import GATE, named, register_pair, state
from systems import binary_frame, write_system

from keel.errors import RegistryError
from keel.registry.audit import history
from keel.registry.promotion import promote, rollback
from keel.registry.versions import champion, get_version, list_versions
from keel.system import System
from keel.training import gate_inputs, registry_ref, train_and_register


def test_gate_refuses_a_regressed_model_and_records_why(good):
    system = named(good, "gate")
    ref, judged = registry_ref(system), gate_inputs(system)
    strong, weak = register_pair(good, "gate")
    assert promote(ref, strong, judged, who="ana").promoted
    verdict = promote(ref, weak, judged, who="ben")
    assert not verdict.passed and not verdict.promoted
    assert verdict.champion == strong
    assert verdict.metrics["roc_auc"] < verdict.champion_metrics["roc_auc"] - 0.01
    assert "below the champion's" in verdict.failures[0] and "max_regression" in verdict.failures[0]
    assert champion(ref).version == strong  # unchanged
    recorded = get_version(ref, weak)
    assert recorded.tags["keel.gate.passed"] == "false"
    assert recorded.tags["keel.gate.who"] == "ben"
    assert recorded.verdict["failures"] == verdict.failures
    assert recorded.verdict["thresholds"] == {
        "min": {"roc_auc": 0.6},
        "max_regression": GATE["max_regression"],
    }
    newest = history(ref)[0]
    assert (newest.kind, newest.version, newest.previous, newest.champion) == (
        "refused",
        weak,
        strong,
        strong,
    )


def test_gate_floor_refuses_the_first_version_and_notes_the_skipped_regression_check(good):
    system = named(good, "floor", gate={"min": {"roc_auc": 0.99}})
    version = train_and_register(system).version
    verdict = promote(registry_ref(system), version, gate_inputs(system))
    assert not verdict.promoted
    assert verdict.failures == [
        f"roc_auc {verdict.metrics['roc_auc']:.4f} is below the floor 0.99 ([gate] min)"
    ]
    assert verdict.notes == ["no champion yet: the regression limits were not applied"]
    assert champion(registry_ref(system)) is None


def test_force_without_reason_is_refused_and_changes_nothing(good):
    system = named(good, "force-no-reason")
    ref, judged = registry_ref(system), gate_inputs(system)
    strong, weak = register_pair(good, "force-no-reason")
    promote(ref, strong, judged)
    before = state(system)
    for reason in (None, "  "):
        with pytest.raises(RegistryError, match="needs a reason"):
            promote(ref, weak, judged, force=True, reason=reason)
    assert state(system) == before


def test_force_with_reason_promotes_and_records_the_reason(good):
    system = named(good, "forced")
    ref, judged = registry_ref(system), gate_inputs(system)
    strong, weak = register_pair(good, "forced")
    promote(ref, strong, judged)
    verdict = promote(ref, weak, judged, force=True, reason="hotfix for incident 42", who="cy")
    assert verdict.promoted and verdict.forced and not verdict.passed
    assert champion(ref).version == weak
    tags = get_version(ref, weak).tags
    assert tags["keel.gate.reason"] == "hotfix for incident 42"
    assert tags["keel.gate.forced"] == "true"
    event = history(ref)[0]
    assert (event.kind, event.reason, event.who) == (
        "force-promote",
        "hotfix for incident 42",
        "cy",
    )


def test_rollback_restores_the_previous_champion_and_is_recorded(good):
    system = named(good, "rollback")
    ref, judged = registry_ref(system), gate_inputs(system)
    strong, weak = register_pair(good, "rollback")
    promote(ref, strong, judged)
    promote(ref, weak, judged, force=True, reason="try it")
    event = rollback(ref, who="dee", reason="worse online")
    assert champion(ref).version == strong
    assert (event.kind, event.version, event.previous, event.champion) == (
        "rollback",
        strong,
        weak,
        strong,
    )
    assert history(ref)[0] == event
    note = json.loads(get_version(ref, strong).tags["keel.rollback"])
    assert note == {"from": weak, "who": "dee", "when": event.when, "reason": "worse online"}


def test_rollback_with_no_earlier_champion_is_an_error_and_changes_nothing(good):
    system = named(good, "no-earlier")
    ref = registry_ref(system)
    with pytest.raises(RegistryError, match="no earlier champion to roll back to"):
        rollback(ref)
    version = train_and_register(system).version
    promote(ref, version, gate_inputs(system))
    before = state(system)
    with pytest.raises(RegistryError, match="no earlier champion to roll back to"):
        rollback(ref)
    assert state(system) == before


def test_rollback_to_a_version_that_never_served_is_refused(good):
    system = named(good, "never-served")
    ref = registry_ref(system)
    strong, weak = register_pair(good, "never-served")
    promote(ref, strong, gate_inputs(system))
    before = state(system)
    with pytest.raises(RegistryError, match="never been the champion.*keel promote"):
        rollback(ref, to=weak)
    assert state(system) == before


def test_concurrent_promotions_leave_exactly_one_champion_and_a_consistent_history(good):
    folder = good.root.parent / "race"
    registry = {"uri": good.config.registry.uri, "model": "race"}
    path = write_system(
        folder, binary_frame(600), binary_frame(300, seed=1), sections={"registry": registry}
    )
    system = System.from_path(path)
    ref = registry_ref(system)
    versions = [train_and_register(system).version for _ in range(3)]
    go = folder / "go"
    script = textwrap.dedent(
        """
        import sys, time, pathlib
        from keel.registry.promotion import promote
        from keel.registry.store import connect
        from keel.system import System
        from keel.training import gate_inputs, registry_ref
        system = System.from_path(sys.argv[1])
        ref, judged = registry_ref(system), gate_inputs(system)
        connect(ref)  # warm up (imports, database engine, data): then all race for the lock
        pathlib.Path(sys.argv[2] + ".ready." + sys.argv[3]).touch()
        while not pathlib.Path(sys.argv[2]).exists():
            time.sleep(0.005)
        print(promote(ref, sys.argv[3], judged, who="proc" + sys.argv[3]).promoted)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # three processes share two cores
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(go), str(v)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for v in versions
    ]

    deadline = time.monotonic() + 120
    while not all((folder / f"go.ready.{v}").exists() for v in versions):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.02)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    events = sorted(history(ref), key=lambda e: e.seq)
    assert [e.seq for e in events] == [1, 2, 3]
    assert sorted(e.version for e in events) == versions
    assert events[0].previous is None
    for before, after in zip(events, events[1:], strict=False):
        assert after.previous == before.champion  # each change saw the one before it
    holders = [v for v in list_versions(ref) if "champion" in v.aliases]
    assert len(holders) == 1 and holders[0].version == events[-1].champion
