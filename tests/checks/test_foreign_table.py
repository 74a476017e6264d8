"""[serving] format "table": a Parquet table another service writes, taken into Keel's log and
judged by monitor.3, 5, 6 and 7 like Keel's own; each planted fault fails its check and the
same log without it passes."""

from __future__ import annotations

import pytest
from foreign_logs import labels_of, registered, scenario, traffic, write_table
from health_systems import clone, serve

from keel.checks.monitor import monitor_2, monitor_3, monitor_5, monitor_6, monitor_7
from keel.system import System

COLUMNS = {
    "time": "served_at",
    "prediction": "label",
    "id": "uid",
    "probabilities": "proba",
    "latency": "took_ms",
    "latency_unit": "ms",
    "inputs": ["x1", "x2", "group"],
    "model_inputs": "features",
}


def served(base: System, fault: str, **columns) -> System:
    days = traffic(base, fault.split("-")[0])
    folder = base.root / f"table-{fault}"
    write_table(days, folder, model_inputs="model_inputs" not in columns)
    mapping = {**COLUMNS, **columns}
    mapping = {k: v for k, v in mapping.items() if v is not None}
    serving = {"format": "table", "source": str(folder), "model_version": 1, "columns": mapping}
    return scenario(base, f"table-{fault}", serving, labels_of(days, folder))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> System:
    return registered(tmp_path_factory.mktemp("foreign-table"))[0]


@pytest.fixture(scope="module")
def clean(base) -> System:
    return served(base, "none")


def test_the_clean_table_passes_skew_drift_stability_and_quality(clean):
    for check in (monitor_2, monitor_3, monitor_5, monitor_7):
        evidence = check(clean)
        assert evidence.status == "pass", (check.__name__, evidence.summary)


def test_a_skewed_input_fails_monitor_3(base):
    evidence = monitor_3(served(base, "skewed"))
    assert evidence.status == "fail", evidence.summary
    assert "x1" in " ".join(evidence.facts["training_serving_flagged"])


def test_a_drifted_input_fails_monitor_3_on_the_window_after(base):
    evidence = monitor_3(served(base, "drifted"))
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["drift_flagged"], evidence.summary


def test_nan_outputs_fail_monitor_5(base):
    evidence = monitor_5(served(base, "nan_outputs"))
    assert evidence.status == "fail", evidence.summary
    assert "outputs.proba_1" in evidence.summary


def test_a_quality_drop_on_late_labels_fails_monitor_7(base):
    evidence = monitor_7(served(base, "quality_drop"))
    assert evidence.status == "fail", evidence.summary
    assert "2026-11-02" in evidence.summary


def test_without_model_inputs_per_example_skew_is_not_configured_naming_the_field(base):
    evidence = monitor_3(served(base, "none-no-model-inputs", model_inputs=None))
    assert evidence.status == "not_configured", evidence.summary
    assert "`model_inputs`" in evidence.summary and "table log" in evidence.summary
    assert "[serving.columns] model_inputs" in evidence.hint


def test_without_latency_monitor_6_is_not_configured_naming_the_field(tmp_path):
    system, first = registered(tmp_path)
    second = clone(system, first)  # a second version: monitor.6 compares the two
    serve(system, second)
    days = traffic(system, "none")
    folder = system.root / "served"
    write_table(days, folder)
    columns = {k: v for k, v in COLUMNS.items() if k not in ("latency", "latency_unit")}
    serving = {"format": "table", "source": str(folder), "model_version": second}
    evidence = monitor_6(
        scenario(system, "no-latency", {**serving, "columns": columns}, labels_of(days, folder))
    )
    assert evidence.status == "not_configured", evidence.summary
    assert "`latency_seconds`" in evidence.summary and "table log" in evidence.summary
    assert "[serving.columns] latency" in evidence.hint
    timed = scenario(system, "latency", {**serving, "columns": COLUMNS}, folder / "labels.parquet")
    assert monitor_6(timed).status == "pass", monitor_6(timed).summary
