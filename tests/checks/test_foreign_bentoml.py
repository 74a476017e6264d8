"""[serving] format "bentoml": the monitoring log a real BentoML server writes
(`bentoml.monitor`), taken into Keel's log and judged like Keel's own; each planted fault fails
its check, the same log without it passes (monitor.3 is not_configured there: the service logs
no model inputs). BentoML stamps rows with the time they are served, so the two windows are
two 10-second windows, the second day's rows sent once the first window is over."""

from __future__ import annotations

import time

import pytest
from bentoml_server import BentoServer, bentoml_python
from foreign_logs import labels_of, registered, rows_of, scenario, traffic

from keel.checks.monitor import monitor_2, monitor_3, monitor_5, monitor_7
from keel.system import System

WINDOW = 10  # seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    python, why = bentoml_python()
    if python is None:
        pytest.skip(why)
    running = BentoServer(python, tmp_path_factory.mktemp("bentoml"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> System:
    return registered(tmp_path_factory.mktemp("foreign-bentoml"))[0]


def _next_window() -> None:
    """Sleep into the next window, with a second to spare on either side."""
    time.sleep(WINDOW - time.time() % WINDOW + 1)


def served(base: System, server: BentoServer, fault: str) -> System:
    days = traffic(base, fault)
    name = f"credit-{fault}"
    for day in days:
        _next_window()
        columns = ["uid", "x1", "x2", "group", "proba"]
        server.predict(rows_of(day[columns]), name)
    folder = server.monitoring(name)
    serving = {"format": "bentoml", "source": str(folder), "model_version": 1}
    system = scenario(base, f"bentoml-{fault}", serving, labels_of(days, server.folder / name))
    from registries import variant

    return variant(system, monitor={"window": WINDOW})


@pytest.fixture(scope="module")
def clean(base, server) -> System:
    return served(base, server, "none")


def test_the_real_bentoml_log_is_taken_with_ids_inputs_and_probabilities(clean):
    evidence = monitor_2(clean)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["windows_judged"] == 2


def test_the_clean_log_passes_stability_and_quality(clean):
    for check in (monitor_5, monitor_7):
        evidence = check(clean)
        assert evidence.status == "pass", (check.__name__, evidence.summary)


def test_the_clean_log_judges_distributions_and_names_the_missing_model_inputs(clean):
    evidence = monitor_3(clean)
    assert evidence.status == "not_configured", evidence.summary
    assert not evidence.facts["drift_flagged"] and not evidence.facts["training_serving_flagged"]
    assert "`model_inputs`" in evidence.summary and "bentoml log" in evidence.summary


def test_a_skewed_input_fails_monitor_3(base, server):
    evidence = monitor_3(served(base, server, "skewed"))
    assert evidence.status == "fail", evidence.summary
    assert "x1" in " ".join(evidence.facts["training_serving_flagged"])


def test_a_drifted_input_fails_monitor_3(base, server):
    evidence = monitor_3(served(base, server, "drifted"))
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["drift_flagged"]


def test_nan_outputs_fail_monitor_5(base, server):
    evidence = monitor_5(served(base, server, "nan_outputs"))
    assert evidence.status == "fail", evidence.summary
    assert "outputs.proba_1" in evidence.summary or "outputs.prediction" in evidence.summary


def test_a_quality_drop_on_late_labels_fails_monitor_7(base, server):
    evidence = monitor_7(served(base, server, "quality_drop"))
    assert evidence.status == "fail", evidence.summary
