"""monitor.3 recomputes served rows with the feature code of the version that served them.

The working tree moves ahead of the champion all the time (a feature being changed, a branch
checked out). Rows version 1 served were built by version 1's feature code; recomputing them
with the working tree's would report every changed input as training/serving skew.
"""

from __future__ import annotations

from versioned import versioned_system

from keel.checks.monitor import monitor_3
from keel.log.writer import PredictionLog, segments_dir
from keel.registry.artefact import predict_raw
from keel.registry.versions import load_model
from keel.serve.process import json_rows
from keel.training import registry_ref


def test_rows_a_version_served_are_recomputed_with_its_own_code_not_the_working_trees(tmp_path):
    versions = versioned_system(tmp_path)  # version 1 champion; the tree at commit 3
    system = versions.system
    model = load_model(registry_ref(system), 1)
    inputs, _ = model.unwrap_python_model().predict_with_inputs(versions.rows)
    output = predict_raw(model, versions.rows)
    raw = json_rows(versions.rows)
    built = json_rows(inputs)
    records = [
        {
            "request_id": f"r{i}",
            "row": 0,
            "example_id": raw[i]["rid"],
            "time": f"2026-11-01T{i % 24:02d}:{i % 60:02d}:00+00:00",
            "model_version": 1,
            "route": "champion",
            "inputs": raw[i],
            "model_inputs": built[i],
            "prediction": int(output["prediction"].iloc[i]),
            "probabilities": {"0": output["proba_0"].iloc[i], "1": output["proba_1"].iloc[i]},
            "latency_seconds": 0.002,
            "anomalies": [],
        }
        for i in range(len(raw))
    ]
    with PredictionLog(segments_dir(system.root / system.config.data.serving_log)) as log:
        log.append(records)
    e = monitor_3(system)
    assert e.facts["skew_compared_rows"] == len(records)  # every row recomputed
    assert e.facts["skewed_inputs"] == [] and e.facts["skew_error"] is None, e.summary
    assert e.facts["training_serving_flagged"] == [], e.summary  # v1's mix, v1's training mix
    assert e.status == "pass", e.summary
