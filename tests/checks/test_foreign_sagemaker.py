"""[serving] format "sagemaker": Data Capture JSON lines in SageMaker's folder layout, taken into
Keel's log and judged like Keel's own; each planted fault fails its check, the same capture
without it passes (monitor.3 is not_configured there: Data Capture holds no model inputs)."""

from __future__ import annotations

import pytest
from foreign_logs import labels_of, registered, scenario, traffic, write_capture

from keel.checks.monitor import monitor_2, monitor_3, monitor_5, monitor_6, monitor_7
from keel.system import System


def served(base: System, fault: str) -> System:
    days = traffic(base, fault)
    folder = write_capture(days, base.root / f"capture-{fault}")
    serving = {"format": "sagemaker", "source": str(folder), "versions": {"AllTraffic": 1}}
    return scenario(base, f"sagemaker-{fault}", serving, labels_of(days, folder))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> System:
    return registered(tmp_path_factory.mktemp("foreign-sagemaker"))[0]


@pytest.fixture(scope="module")
def clean(base) -> System:
    return served(base, "none")


def test_the_clean_capture_passes_stability_quality_and_the_schema(clean):
    for check in (monitor_2, monitor_5, monitor_7):
        evidence = check(clean)
        assert evidence.status == "pass", (check.__name__, evidence.summary)


def test_the_clean_capture_judges_distributions_and_names_the_missing_model_inputs(clean):
    evidence = monitor_3(clean)
    assert evidence.status == "not_configured", evidence.summary
    assert evidence.facts["inputs_compared"] >= 3 and not evidence.facts["drift_flagged"]
    assert "`model_inputs`" in evidence.summary and "sagemaker log" in evidence.summary


def test_monitor_6_is_not_configured_without_a_second_version(clean):
    assert monitor_6(clean).status == "not_configured"


def test_a_skewed_input_fails_monitor_3(base):
    evidence = monitor_3(served(base, "skewed"))
    assert evidence.status == "fail", evidence.summary
    assert "x1" in " ".join(evidence.facts["training_serving_flagged"])


def test_a_drifted_input_fails_monitor_3(base):
    evidence = monitor_3(served(base, "drifted"))
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["drift_flagged"]


def test_nan_outputs_fail_monitor_5(base):
    evidence = monitor_5(served(base, "nan_outputs"))
    assert evidence.status == "fail", evidence.summary
    assert "outputs.proba_1" in evidence.summary


def test_a_quality_drop_on_late_labels_fails_monitor_7(base):
    evidence = monitor_7(served(base, "quality_drop"))
    assert evidence.status == "fail", evidence.summary
