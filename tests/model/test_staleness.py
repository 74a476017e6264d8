import numpy as np
import pandas as pd
from systems import binary_frame

from keel.model.staleness import curve, staleness_limit

START = pd.Timestamp("2024-01-01")


def monthly(months: int, rows: int, *, turn: float, seed: int = 0):
    """(train, eval): x1, x2 → y whose direction turns by `turn` radians every 30 days; the
    last two months are the evaluation data."""
    rng = np.random.default_rng(seed)
    parts = []
    for m in range(months):
        at = START + pd.to_timedelta(rng.uniform(30 * m, 30 * (m + 1), rows), unit="D")
        x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
        logit = 3 * (x1 * np.cos(m * turn) + x2 * np.sin(m * turn))
        y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
        parts.append(pd.DataFrame({"at": at, "x1": x1, "x2": x2, "y": y}))
    frame = pd.concat(parts).sort_values("at", ignore_index=True)
    cut = START + pd.Timedelta(days=30 * (months - 2))
    return frame[frame["at"] < cut], frame[frame["at"] >= cut]


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
