"""A system ready for a rollback drill: a schema, two champions in turn, a fast-following
server configuration (used by tests/serve/test_drill.py, tests/cli/test_drill.py and infra.7's
tests)."""

from __future__ import annotations

from pathlib import Path

from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app
from keel.registry.promotion import promote
from keel.system import System
from keel.training import gate_inputs, registry_ref, train_and_register

GATE = {"min": {"roc_auc": 0.6}, "max_regression": {"roc_auc": 0.01}}


def drill_system(folder: Path, *, champions: int = 2, **drill: float) -> System:
    """A system in `folder` with its own SQLite registry, a reviewed schema, `[serve]
    poll_seconds` 0.3 and a short `[drill]`; `champions` versions registered and promoted in
    turn (versions 1, 2, …: the drill rolls back from the last to the one before)."""
    path = write_system(
        folder,
        binary_frame(800),
        binary_frame(400, seed=1),
        sections={
            "gate": GATE,
            "registry": {"uri": f"sqlite:///{folder}/store/mlflow.db", "model": "drilled"},
            "serve": {"poll_seconds": 0.3},
            "drill": {"load_seconds": 1.0, "max_seconds": 10.0, "concurrency": 3, **drill},
        },
    )
    result = CliRunner().invoke(
        app,
        [
            "schema",
            "infer",
            str(folder / "data" / "train.parquet"),
            "-o",
            str(folder / "keel.schema.yaml"),
            "--config",
            str(folder),
        ],
    )
    assert result.exit_code == 0, result.output
    system = System.from_path(path)
    ref, gate = registry_ref(system), gate_inputs(system)
    for _ in range(champions):
        version = train_and_register(system).version  # the same model, registered again
        assert promote(ref, version, gate, who="tester").promoted
    return system


def serving_rows(system: System, n: int = 100) -> list[dict]:
    """Evaluation rows without the target, as a client sends them."""
    from keel.serve.process import json_rows

    return json_rows(system.raw("eval").drop(columns=[system.target]).head(n))
