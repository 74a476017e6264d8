"""The rollback drill against a real `keel serve` process on 127.0.0.1, on a real SQLite
registry: zero failed requests, every answer names its version, only the earlier champion
after the switch, the champion restored through the gate, the result recorded."""

from __future__ import annotations

import sys

import pytest
from drills import drill_system, serving_rows

from keel.errors import RegistryError
from keel.registry.audit import history
from keel.registry.drill import drills
from keel.registry.gate import GateInputs
from keel.registry.promotion import promote
from keel.registry.versions import champion
from keel.serve.drill import rollback_drill
from keel.serve.process import LOOPBACK, ServeError, free_port, launch
from keel.training import gate_inputs, registry_ref


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    return drill_system(tmp_path_factory.mktemp("drill") / "credit")


@pytest.fixture(scope="module")
def server(system):
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "keel", "serve", str(system.root), "--port", str(port)]
    with launch(argv, url=url, cwd=system.root) as running:
        yield running


def drill(system, server, gate: GateInputs | None = None, **options):
    settings = {"concurrency": 3, "load_seconds": 1.0, "max_seconds": 10.0, **options}
    return rollback_drill(
        registry_ref(system),
        server.url,
        serving_rows(system),
        gate=gate or gate_inputs(system),
        who="tester",
        **settings,
    )


@pytest.fixture(scope="module")
def drilled(system, server):
    return drill(system, server)


def test_a_drill_under_load_fails_no_request_and_switches_to_the_earlier_champion(drilled):
    result = drilled
    assert (result.from_version, result.to_version) == (2, 1)
    assert result.failed == 0, result.errors
    assert result.requests > 50  # three clients busy through both switches
    assert result.unnamed == 0  # every answer named the version that made it
    assert result.settled and result.stray == 0  # after the switch, version 1 alone
    assert 0 < result.switch_seconds <= result.max_seconds
    assert result.passed
    rollback, restore = result.phases
    assert (rollback.from_version, rollback.to_version) == (2, 1)
    assert (restore.from_version, restore.to_version) == (1, 2)
    assert restore.settled and restore.stray == 0 and restore.failed == 0
    assert rollback.requests > 0 and restore.requests > 0


def test_the_champion_is_restored_through_the_gate_and_the_drill_is_recorded(system, drilled):
    ref = registry_ref(system)
    assert drilled.restored and drilled.champion == 2
    assert champion(ref).version == 2
    recorded = drills(ref)[0]
    assert (recorded.kind, recorded.version, recorded.previous, recorded.champion) == (
        "drill",
        1,
        2,
        2,
    )
    assert recorded.who == "tester"
    assert recorded.verdict == drilled.to_dict()
    kinds = [e.kind for e in history(ref)[:3]]
    assert kinds == ["drill", "promote", "rollback"]  # the restore went through the gate


def test_a_gate_that_refuses_the_restore_leaves_the_earlier_champion_and_says_so(
    system, server, drilled
):
    ref = registry_ref(system)
    normal = gate_inputs(system)
    strict = GateInputs(
        frame=normal.frame,
        target=normal.target,
        primary=normal.primary,
        floors={"roc_auc": 0.999},
        max_regression={},
    )
    result = drill(system, server, gate=strict)
    try:
        assert result.passed and not result.restored  # the rollback itself went well
        assert "the gate refused it" in result.restore_reason
        assert result.champion == 1 and champion(ref).version == 1  # never forced
        assert result.restore_switch_seconds is None
        assert drills(ref)[0].champion == 1
    finally:
        if champion(ref).version != 2:
            assert promote(ref, 2, normal, who="tester").promoted


def test_a_drill_against_no_server_says_so(system, drilled):
    with pytest.raises(ServeError, match="no server answers at"):
        rollback_drill(
            registry_ref(system),
            f"http://{LOOPBACK}:{free_port()}",
            serving_rows(system, 5),
            concurrency=1,
            load_seconds=0.1,
            max_seconds=1,
        )


def test_a_drill_with_no_earlier_champion_is_a_clear_error(tmp_path):
    system = drill_system(tmp_path / "single", champions=1)
    with pytest.raises(RegistryError) as caught:
        rollback_drill(
            registry_ref(system),
            "http://127.0.0.1:9",  # never reached: the registry is read first
            serving_rows(system, 5),
            concurrency=1,
            load_seconds=0.1,
            max_seconds=1,
        )
    message = str(caught.value)
    assert "no earlier champion to roll back to" in message
    assert "version 1 is the first champion" in message
    assert "promote a second version first" in message


def test_a_drill_whose_earlier_champion_cannot_serve_fails_and_ends_with_registry_and_server_agreeing(  # noqa: E501
    tmp_path,
):
    from drills import FRAGILE_TRAIN
    from registries import variant

    from keel.training import train_and_register

    system = drill_system(tmp_path / "credit", champions=0, code=FRAGILE_TRAIN)
    ref, gate = registry_ref(system), gate_inputs(system)
    fragile = variant(system, model={"params": {"max_iter": 50, "fragile": True}})
    first = train_and_register(fragile).version  # answers in this process, not in a server
    assert promote(ref, first, gate, who="tester").promoted
    second = train_and_register(system).version
    assert promote(ref, second, gate, who="tester").promoted
    refusing = GateInputs(  # the restore is refused: version 1 would stay champion
        frame=gate.frame,
        target=gate.target,
        primary=gate.primary,
        floors={"roc_auc": 0.999},
        max_regression={},
    )
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "keel", "serve", str(system.root), "--port", str(port)]
    with launch(argv, url=url, cwd=system.root, env={"SYSMODEL_SERVER": "1"}) as running:
        result = rollback_drill(
            ref,
            running.url,
            serving_rows(system),
            gate=refusing,
            who="tester",
            concurrency=2,
            load_seconds=0.5,
            max_seconds=1.5,
        )
    assert (result.from_version, result.to_version) == (second, first)
    assert not result.passed and not result.restored
    assert result.failed > 0, result.to_dict()  # version 1 never answered as it should
    assert result.undone and f"rolled the registry back to version {second}" in result.undone, (
        result.undone
    )
    assert champion(ref).version == second  # the registry names what the server serves
    assert result.agreed and result.champion == result.server_champion == second
    recorded = drills(ref)[0]
    assert recorded.verdict["failed"] == result.failed and recorded.champion == second
    assert [e.kind for e in history(ref)[:3]] == ["drill", "rollback", "refused"]
