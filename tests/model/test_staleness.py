import numpy as np
import pandas as pd
from systems import binary_frame, monthly

from keel.model.staleness import curve, staleness_limit

SECTIONS = {"system": {"timestamp": "at"}, "staleness": {"period_days": 30, "max_age_periods": 3}}


def test_quality_falls_with_age_when_the_relationship_drifts(make_system):
    system = make_system(*monthly(8, 600, turn=np.pi / 12), sections=SECTIONS)
    found = curve(system)
    assert found.problem == "" and found.notes == []
    assert [a.age_days for a in found.ages] == [0, 30, 60, 90]
    metrics = [a.metric for a in found.ages]
    assert metrics == sorted(metrics, reverse=True)
    assert metrics[0] - metrics[-1] > 0.2
    assert found.drop_age_days == 30 and found.limit_days == 30
    assert len({a.rows for a in found.ages}) == 1  # same number of rows in every window
    assert found.window_days > 100
    assert staleness_limit(system) == 30


def test_quality_holds_with_age_on_stationary_data(make_system):
    system = make_system(*monthly(8, 600, turn=0.0), sections=SECTIONS)
    found = curve(system)
    assert found.drop_age_days is None
    assert found.limit_days == 90  # the oldest age measured
    fresh = found.ages[0].metric
    assert all(a.metric > fresh - 0.02 for a in found.ages)


def test_too_short_a_history_is_a_problem_not_a_curve(make_system):
    train, evaluation = monthly(3, 300, turn=0.0)
    system = make_system(train, evaluation, sections=SECTIONS)
    found = curve(system)
    assert "fewer than the 2 periods of 30 days" in found.problem
    assert staleness_limit(system) is None


def test_without_a_timestamp_there_is_no_limit(make_system):
    system = make_system(binary_frame(300, seed=0))
    assert curve(system).problem == "no [system] timestamp column"
    assert staleness_limit(system) is None


def test_a_short_evaluation_period_takes_the_newest_period_from_all_data(make_system):
    train, evaluation = monthly(8, 400, turn=0.0)
    evaluation = evaluation[evaluation["at"] < evaluation["at"].min() + pd.Timedelta(days=10)]
    system = make_system(train, evaluation, sections=SECTIONS)
    found = curve(system)
    assert "less than 30 days" in found.notes[0]
    assert len(found.measured) == 4
