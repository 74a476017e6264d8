"""monitor.2 (anomaly rates in serving) and monitor.3 (per-example skew, training/serving skew,
drift between windows) on real prediction logs written with PredictionLog."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from registries import variant
from served_logs import day_records, serve
from systems import monitored_system

from keel.checks.monitor import monitor_2, monitor_3
from keel.cli.monitor import alerts_of
from keel.data.schema import Feature, Schema, write_schema
from keel.system import System


@pytest.fixture
def system(make_system):
    return monitored_system(make_system)


# -- monitor.2 -------------------------------------------------------------------------------


def test_monitor_2_fails_on_a_window_with_too_many_anomalous_rows_and_names_it(system):
    serve(system, day_records(1), day_records(2, anomalous=0.05))
    e = monitor_2(system)
    assert e.status == "fail", e.summary
    assert "group in 2026-11-02T00:00 v1" in e.summary
    assert "expected one of a, b, c" in e.summary
    assert e.facts["inputs_over"] == ["group"]
    assert e.figures[0].title == "Anomaly rate per input, worst window"
    assert e.figures[0].flagged[e.figures[0].labels.index("group")]


def test_monitor_2_fails_on_failed_predictions(system):
    serve(system, day_records(1, failed=0.1))
    e = monitor_2(system)
    assert e.status == "fail"
    assert "failed predictions" in e.summary
    assert e.facts["failed_predictions"] > 0


def test_monitor_2_passes_when_every_window_is_within_the_rate(system):
    serve(system, day_records(1, anomalous=0.002), day_records(2))
    e = monitor_2(system)
    assert e.status == "pass", e.summary
    assert e.facts["windows_judged"] == 2
    assert e.tables[0].columns[1:] == ["2026-11-01T00:00 v1", "2026-11-02T00:00 v1"]


def test_monitor_2_and_3_are_not_configured_before_anything_is_served(system):
    for check in (monitor_2, monitor_3):
        e = check(system)
        assert e.status == "not_configured"
        assert "keel serve" in e.hint


def test_monitor_2_without_a_schema_is_not_configured(system):
    (system.root / "keel.schema.yaml").unlink()
    serve(system, day_records(1))
    e = monitor_2(system)
    assert e.status == "not_configured"
    assert "keel schema infer" in e.hint


def test_windows_below_min_rows_are_not_judged(system):
    serve(system, day_records(1, n=50, anomalous=0.5))
    for check in (monitor_2, monitor_3):
        e = check(system)
        assert e.status == "not_configured"
        assert "min_rows" in e.hint


# -- monitor.3 -------------------------------------------------------------------------------


def test_monitor_3_passes_on_healthy_traffic(system):
    serve(system, day_records(1), day_records(2))
    e = monitor_3(system)
    assert e.status == "pass", e.summary
    assert e.facts["skew_compared_rows"] == 400
    assert e.facts["drift_windows"] == ["2026-11-01T00:00", "2026-11-02T00:00"]
    assert not e.facts["training_serving_flagged"] and not e.facts["drift_flagged"]
    assert e.tables[1].columns == [
        "input",
        "measure",
        "distance",
        "threshold",
        "noise bound",
        "verdict",
    ]
    assert {r[0] for r in e.tables[1].rows} >= {"inputs.x1", "inputs.group", "model_inputs.x1_x2"}


def test_monitor_3_fails_on_per_example_skew_and_names_examples(system):
    serve(system, day_records(1), day_records(2, skewed=0.05))
    e = monitor_3(system)
    assert e.status == "fail", e.summary
    assert e.facts["skewed_inputs"] == ["x1_x2"]
    assert "x1_x2 in" in e.summary and "look at d2-" in e.summary


def test_monitor_3_fails_on_drift_and_training_serving_skew(system):
    serve(system, day_records(1), day_records(2, shift=2.0, mostly_a=True))
    e = monitor_3(system)
    assert e.status == "fail", e.summary
    assert {"inputs.x1", "inputs.group"} <= set(e.facts["drift_flagged"])
    assert {"inputs.x1", "inputs.group"} <= set(e.facts["training_serving_flagged"])
    assert "inputs.x2" not in e.facts["drift_flagged"]
    assert "drift from 2026-11-01T00:00 to 2026-11-02T00:00" in e.summary


def test_monitor_3_per_input_thresholds_from_the_schema_override_the_defaults(system):
    serve(system, day_records(1), day_records(2, shift=2.0))
    write_schema(
        Schema(
            features={
                "x1": Feature(type="float", drift={"js": 0.99}, skew={"js": 0.99}),
                "x2": Feature(type="float"),
                "group": Feature(type="string"),
            }
        ),
        system.root / "keel.schema.yaml",
    )
    e = monitor_3(system)
    assert "inputs.x1" not in e.facts["drift_flagged"]
    assert "inputs.x1" not in e.facts["training_serving_flagged"]


def test_monitor_3_fails_when_the_feature_code_cannot_rerun_on_logged_rows(system):
    (system.root / "keel.schema.yaml").unlink()  # no schema to fill the missing field
    records = day_records(1)
    for r in records:
        del r["inputs"]["x2"]
    serve(system, records)
    e = monitor_3(system)
    assert e.status == "fail"
    assert "could not rerun on the logged rows" in e.summary and "KeyError" in e.summary


def _shuffled_skew(day: int, share: float) -> list[dict]:
    """A day whose logged x1_x2 is another row's value in `share` of the rows: skewed per
    example, distributed exactly as the feature code computes it."""
    records = day_records(day)
    picked = list(range(int(len(records) * share)))
    values = [records[i]["model_inputs"]["x1_x2"] for i in picked]
    for i, value in zip(picked, values[1:] + values[:1], strict=True):
        records[i]["model_inputs"]["x1_x2"] = value
    return records


def test_monitor_3_judges_every_window_taken_not_only_the_newest(system):
    serve(system, _shuffled_skew(1, 0.96), day_records(2))  # a clean window after it
    e = monitor_3(system)
    assert e.status == "fail", e.summary
    assert e.facts["failing_windows"] == ["2026-11-01T00:00 v1"]
    assert e.facts["windows_judged"] == ["2026-11-01T00:00 v1", "2026-11-02T00:00 v1"]
    assert "x1_x2" in e.summary and "2026-11-01T00:00 v1" in e.summary
    assert not e.facts["drift_flagged"] and not e.facts["training_serving_flagged"]
    alerts = alerts_of(SimpleNamespace(evidence=[e]), "2026-11-02T00:00:00+00:00", "s")
    assert {(a.cause, a.window) for a in alerts} == {("skew:x1_x2", "2026-11-01T00:00:00+00:00")}


def test_monitor_3_judges_windows_inside_lookback_on_later_runs_and_not_older_ones(system):
    serve(system, _shuffled_skew(1, 0.96), day_records(2))
    assert monitor_3(system).status == "fail"  # taken by this run
    later = System.from_path(system.root)  # a later run: nothing new to take
    assert monitor_3(later).facts["failing_windows"] == ["2026-11-01T00:00 v1"]  # inside 7 d
    short = variant(System.from_path(system.root), monitor={"lookback": "1d"})
    e = monitor_3(short)
    assert e.status == "pass", e.summary
    assert e.facts["windows_judged"] == ["2026-11-02T00:00 v1"]


def test_monitor_3_says_what_the_skew_sample_could_have_missed(system):
    serve(system, day_records(1, n=1_000))
    e = monitor_3(system)
    assert e.status == "pass", e.summary
    assert e.facts["skew_compared_rows"] == 459 and e.facts["skew_population"] == 1_000
    assert 0 < e.facts["skew_missed_share"] < 0.01
    assert "459 of 1,000 logged rows recomputed, drawn uniformly over the window" in e.summary
    assert "would have shown with 99% probability" in e.summary
