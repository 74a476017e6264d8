"""keel.registry's public names, loaded on first use."""

from __future__ import annotations

import subprocess
import sys


def test_public_names_are_exactly_the_documented_ones():
    import keel.registry
    import keel.training

    assert keel.registry.__all__ == [
        "CHAMPION",
        "Candidate",
        "Event",
        "GateInputs",
        "Lineage",
        "ModelVersion",
        "RegistryError",
        "RegistryRef",
        "TrainedModel",
        "Verdict",
        "champion",
        "champion_stack",
        "connect",
        "get_version",
        "history",
        "judge",
        "list_versions",
        "load_model",
        "measure",
        "model_uri",
        "predict_raw",
        "promote",
        "recent_scores",
        "record_score",
        "register",
        "rollback",
        "tracking_uri",
        "training_run",
    ]
    assert keel.training.__all__ == [
        "gate_inputs",
        "lineage",
        "registry_ref",
        "train_and_register",
    ]
    for module in (keel.registry, keel.training):
        assert all(hasattr(module, name) for name in module.__all__)
    assert set(keel.registry.__all__) <= set(dir(keel.registry))


def test_importing_the_registry_package_loads_none_of_its_modules():
    code = "import keel.registry, sys; print(sorted(m for m in sys.modules if 'keel.' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['keel.registry']"
