"""monitor.3 names one cause per problem (per-example skew, training/serving skew, drift) and
`keel monitor` sends one alert per cause: a drift and a skew bug in one window are two alerts,
and healthy traffic is none."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from systems import binary_frame, monitored_system

from keel.checks.monitor import monitor_3
from keel.cli.monitor import alerts_of
from keel.evidence import Evidence
from keel.log.writer import PredictionLog, segments_dir


@pytest.fixture
def system(make_system):
    return monitored_system(make_system)


def day(n: int, *, shift: float = 0.0, bug: bool = False) -> list[dict]:
    """A day of served rows; `shift` moves x1 (drift), `bug` serves x1_x2 × 100 (skew)."""
    frame = binary_frame(400, seed=100 + n)
    out = []
    for i, row in enumerate(frame.itertuples()):
        x1, x2 = float(row.x1) + shift, float(row.x2)
        built = x1 * x2 * (100.0 if bug else 1.0)
        out.append(
            {
                "example_id": f"d{n}-{i}",
                "time": f"2026-11-{n:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00",
                "model_version": 1,
                "inputs": {"x1": x1, "x2": x2, "group": row.group},
                "model_inputs": {"x1": x1, "x2": x2, "group": row.group, "x1_x2": built},
                "prediction": int(row.y),
                "latency_seconds": 0.002,
                "anomalies": [],
            }
        )
    return out


def serve(system, *days: list[dict]) -> None:
    with PredictionLog(segments_dir(system.root / system.config.data.serving_log)) as log:
        for records in days:
            log.append(records)


def alerts(system, evidence: Evidence) -> list[tuple[str, str]]:
    result = SimpleNamespace(evidence=[evidence])  # all alerts_of reads of a RunResult
    return [(a.practice, a.cause) for a in alerts_of(result, "2026-11-02", system.name)]


def test_healthy_traffic_has_no_cause_and_no_alert(system):
    serve(system, day(1), day(2))
    e = monitor_3(system)
    assert e.status == "pass", e.summary
    assert "cause" not in e.facts
    assert alerts(system, e) == []


def test_drift_and_a_skew_bug_in_one_window_are_separate_causes_and_alerts(system):
    serve(system, day(1), day(2, shift=2.0, bug=True))
    e = monitor_3(system)
    assert e.status == "fail", e.summary
    causes = e.facts["cause"]
    assert "skew:x1_x2" in causes  # per example: the served code is not the training code
    assert "drift:x1" in causes and "training-serving:x1" in causes
    assert causes.count("drift:x1") == 1  # raw input and model input: one cause
    assert "drift:x2" not in causes  # unchanged
    sent = alerts(system, e)
    assert ("monitor.3", "skew:x1_x2") in sent and ("monitor.3", "drift:x1") in sent
    assert len(sent) == len(causes)


def test_drift_alone_is_no_skew_alert(system):
    serve(system, day(1), day(2, shift=2.0))
    e = monitor_3(system)
    assert e.status == "fail"
    assert not [c for c in e.facts["cause"] if c.startswith("skew:")]
    assert "drift:x1" in e.facts["cause"]


def test_a_check_naming_no_cause_is_one_alert_by_its_status(system):
    e = Evidence("monitor.7", "fail", "quality dropped")
    assert alerts(system, e) == [("monitor.7", "fail")]
    e = Evidence("monitor.7", "fail", "quality dropped", facts={"cause": "quality"})
    assert alerts(system, e) == [("monitor.7", "quality")]
