"""Registering a trained model as a new version: what the version carries."""

from __future__ import annotations

import pytest

from keel.registry.store import connect
from keel.training import registry_ref


def test_registered_version_carries_lineage_metrics_and_parameters(good, first):
    assert first.name == "credit" and first.version >= 1
    lineage = first.lineage
    assert lineage["train_entry"] == "sysmodel:train"
    assert lineage["features_entry"] == "sysfeatures:build"
    assert lineage["params"] == {"max_iter": 50} and lineage["seed"] == 1
    assert lineage["data"]["train"]["rows"] == 1500 and lineage["data"]["eval"]["rows"] == 800
    assert lineage["data"]["eval"]["content_hash"] == good.fingerprint()["eval"]
    assert len(lineage["config_sha256"]) == 64 and lineage["train_seconds"] > 0
    assert lineage["peak_memory_mb"] > 0
    assert any(r.startswith("scikit-learn==") for r in lineage["requirements"])
    assert first.metrics["roc_auc"] == pytest.approx(good.trained.metric)
    assert {"slice.group.a.roc_auc", "slice.group.b.roc_auc", "accuracy"} <= set(first.metrics)
    assert first.tags["keel.data.train.rows"] == "1500"
    assert first.tags["keel.git_commit"].startswith("none")  # a temporary folder: no git
    run = connect(registry_ref(good)).client.get_run(first.run_id)
    assert run.data.params["max_iter"] == "50" and run.data.params["seed"] == "1"
