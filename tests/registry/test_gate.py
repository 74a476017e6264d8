"""The gate's rules: floors, regression limits, undefined metrics, and the verdict as data."""

from __future__ import annotations

import math

from keel.registry.gate import GateInputs, Verdict, judge


def test_gate_passes_a_version_within_floors_and_regression_limits():
    failures, notes = judge(
        {"roc_auc": 0.80},
        {"roc_auc": 0.805},
        floors={"roc_auc": 0.75},
        max_regression={"roc_auc": 0.01},
        champion=3,
    )
    assert failures == [] and notes == []


def test_gate_fails_a_floor_and_a_regression_and_says_by_how_much():
    failures, _ = judge(
        {"roc_auc": 0.70, "accuracy": 0.9},
        {"roc_auc": 0.80, "accuracy": 0.9},
        floors={"roc_auc": 0.75},
        max_regression={"roc_auc": 0.01, "accuracy": 0.0},
        champion=3,
    )
    assert failures == [
        "roc_auc 0.7000 is below the floor 0.75 ([gate] min)",
        "roc_auc 0.7000 is 0.1000 below the champion's 0.8000 (version 3); at most 0.01 is "
        "allowed ([gate] max_regression)",
    ]


def test_gate_skips_regression_limits_without_a_champion_and_notes_it():
    failures, notes = judge(
        {"roc_auc": 0.5}, None, floors={}, max_regression={"roc_auc": 0.0}, champion=None
    )
    assert failures == []
    assert notes == ["no champion yet: the regression limits were not applied"]


def test_gate_fails_an_undefined_metric_instead_of_passing_it():
    failures, _ = judge(
        {"roc_auc": math.nan},
        {"roc_auc": 0.8},
        floors={"roc_auc": 0.5},
        max_regression={"roc_auc": 0.01},
        champion=1,
    )
    assert len(failures) == 2 and all("undefined" in f for f in failures)


def test_verdict_as_plain_data_turns_undefined_metrics_into_none():
    verdict = Verdict(1, False, False, {"roc_auc": math.nan}, None, {}, {}, [], [], "a", "t")
    assert verdict.to_dict()["metrics"] == {"roc_auc": None}


def test_gate_inputs_measure_the_primary_metric_and_every_metric_a_rule_reads_once():
    gate = GateInputs(
        frame=None,  # type: ignore[arg-type]
        target=None,
        primary="roc_auc",
        floors={"roc_auc": 0.7, "accuracy": 0.8},
        max_regression={"f1": 0.01, "accuracy": 0.0},
    )
    assert gate.metrics == ["roc_auc", "accuracy", "f1"]
    assert gate.thresholds == {
        "min": {"roc_auc": 0.7, "accuracy": 0.8},
        "max_regression": {"f1": 0.01, "accuracy": 0.0},
    }
