"""keel.registry.snapshot: the registry as monitoring reads it, kept while the database is
unchanged, and never stale after a write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from registries import named, register_pair

from keel.registry import snapshot
from keel.registry.audit import history
from keel.registry.promotion import promote, rollback
from keel.registry.versions import champion, list_versions
from keel.training import gate_inputs, registry_ref


@pytest.fixture
def settled(monkeypatch):
    """Keep what is read at once (the tests write the database a moment before reading)."""
    monkeypatch.setattr(snapshot, "SETTLED_S", -1.0)
    snapshot._READ.clear()


def test_the_snapshot_reads_what_mlflow_reads(good, settled):
    system = named(good, "snap-same")
    strong, weak = register_pair(good, "snap-same")
    promote(registry_ref(system), strong, gate_inputs(system), who="ana")
    ref = registry_ref(system)
    assert snapshot.list_versions(ref) == list_versions(ref)
    assert snapshot.history(ref) == history(ref)
    assert snapshot.champion(ref) == champion(ref)
    assert snapshot.champion(ref).version == strong


def test_a_kept_snapshot_is_read_without_importing_mlflow(good, settled):
    system = named(good, "snap-light")
    strong, _ = register_pair(good, "snap-light")
    ref = registry_ref(system)
    promote(ref, strong, gate_inputs(system), who="ana")
    expected = snapshot.champion(ref)  # read through MLflow, and kept
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from keel.registry.ref import RegistryRef
        from keel.registry import snapshot
        ref = RegistryRef({ref.uri!r}, Path({str(ref.root)!r}), {ref.model!r},
                          {ref.system!r}, Path({str(ref.state)!r}))
        found = snapshot.champion(ref)
        print(json.dumps([found.version, found.run_id, "mlflow" in sys.modules]))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == [expected.version, expected.run_id, False]


def test_a_write_after_the_snapshot_is_seen_at_the_next_read(good, settled):
    system = named(good, "snap-write")
    strong, weak = register_pair(good, "snap-write")
    ref = registry_ref(system)
    judged = gate_inputs(system)
    promote(ref, strong, judged, who="ana")
    assert snapshot.champion(ref).version == strong
    promote(ref, weak, judged, force=True, reason="test", who="ben")
    assert snapshot.champion(ref).version == weak
    assert snapshot.history(ref)[0].kind == "force-promote"
    rollback(ref, who="ana")
    assert snapshot.champion(ref).version == strong
    assert [e.kind for e in snapshot.history(ref)] == [e.kind for e in history(ref)]


def test_a_database_written_a_moment_ago_is_read_but_not_kept(good):
    snapshot._READ.clear()
    system = named(good, "snap-racy")
    strong, _ = register_pair(good, "snap-racy")
    ref = registry_ref(system)
    promote(ref, strong, gate_inputs(system), who="ana")  # just written: not settled
    kept = list(ref.state.joinpath("cache").glob("registry-*.json"))
    before = {p: p.read_text() for p in kept}
    assert snapshot.champion(ref).version == strong
    after = {p: p.read_text() for p in ref.state.joinpath("cache").glob("registry-*.json")}
    assert after == before  # nothing kept from a read of a database written within SETTLED_S


def test_feature_code_of_a_version_loads_from_its_artefact_without_mlflow(good, settled):
    system = named(good, "snap-code")
    strong, _ = register_pair(good, "snap-code")
    ref = registry_ref(system)
    code = snapshot.feature_code(ref, strong)
    raw = system.raw("eval").head(5)
    assert list(code.model_inputs(raw).columns) == ["x1", "x2", "group", "x1_x2"]
    assert snapshot.feature_code(ref, 999) is None


def test_a_missing_artefact_is_a_registry_error_naming_the_version(good, settled, tmp_path):
    from keel.errors import RegistryError

    system = named(good, "snap-gone")
    strong, _ = register_pair(good, "snap-gone")
    ref = registry_ref(system)
    mv = snapshot.read(ref).version(strong)
    folder = mv.source.removeprefix("file://")
    meta = os.path.join(folder, "artifacts", "keel.json")
    os.replace(meta, tmp_path / "keel.json")
    try:
        with pytest.raises(RegistryError, match=f"feature code of version {strong}"):
            snapshot.feature_code(ref, strong)
    finally:
        os.replace(tmp_path / "keel.json", meta)
