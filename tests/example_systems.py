"""The bundled example systems (examples/<name>), copied with fresh data to a temporary folder,
and what following data.2's advice on them does to the model's quality."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from keel.checks._measure_data import measure_importance
from keel.evidence import Evidence
from keel.system import System

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def prepare_module(name: str) -> ModuleType:
    """examples/<name>/prepare.py as a module (it is a script, not part of a package)."""
    path = EXAMPLES / name / "prepare.py"
    spec = importlib.util.spec_from_file_location(f"prepare_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_copy(name: str, folder: Path) -> Path:
    """A fresh checkout of examples/<name> in `folder`: its files without data or Keel state,
    then its data written by its own prepare.py from the package that ships them."""
    target = folder / name
    shutil.copytree(
        EXAMPLES / name, target, ignore=shutil.ignore_patterns(".keel*", "data", "__pycache__")
    )
    prepare_module(name).write(target / "data")
    return target


@dataclass
class AdviceFollowed:
    """data.2's advice on a system, followed: the inputs dropped and the primary metric on the
    evaluation data with every input and without the dropped ones (retrained)."""

    dropped: list[str]
    metric: str
    before: float
    after: float


def data_2_advice(evidence: Evidence, system: System) -> list[str]:
    """The inputs data.2 tells the user to drop: every input it flags as not helping, and the
    second input of each near-duplicate pair (its hint: keep one input of each pair)."""
    flagged = [name for name in str(evidence.facts.get("flagged", "")).split(", ") if name]
    seconds = [d.second for d in measure_importance(system).duplicates]
    return list(dict.fromkeys([*flagged, *seconds]))


def follow_data_2(system: System, evidence: Evidence) -> AdviceFollowed:
    """Retrain the system's model without the inputs data.2 advises dropping and evaluate both
    on the evaluation rows, as a user following the advice would."""
    dropped = data_2_advice(evidence, system)
    train, evaluation = system.dataset("train"), system.dataset("eval")
    full = system.fit(train.inputs, train.target)
    before = system.evaluate(evaluation.target, system.predict(full, evaluation.inputs))
    kept = [c for c in train.inputs.columns if c not in dropped]
    fewer = system.fit(train.inputs[kept], train.target)
    after = system.evaluate(evaluation.target, system.predict(fewer, evaluation.inputs[kept]))
    return AdviceFollowed(dropped, system.metric_name, before, after)
