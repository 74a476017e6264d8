"""The digits example (examples/digits) on a fresh copy, its data prepared from the copy inside
scikit-learn: Keel's checks run on it without an error, and data.2's advice, followed, keeps the
model's accuracy."""

from __future__ import annotations

import pandas as pd
import pytest
from example_systems import example_copy, follow_data_2, prepare_module

from keel.checks.data import data_2
from keel.checks.runner import run
from keel.system import System

# The most accuracy following data.2's advice may cost: one point.
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> System:
    return System.from_path(example_copy("digits", tmp_path_factory.mktemp("digits")))


def test_prepare_writes_every_scan_once_with_every_digit_in_both_parts(tmp_path):
    train_path, eval_path = prepare_module("digits").write(tmp_path)
    train, evaluation = pd.read_parquet(train_path), pd.read_parquet(eval_path)
    assert (len(train), len(evaluation)) == (1437, 360)
    assert not set(train["image_id"]) & set(evaluation["image_id"])
    assert set(train["digit"]) == set(evaluation["digit"]) == set(range(10))
    assert train.filter(like="px_").stack().between(0, 16).all()
    again = pd.read_parquet(prepare_module("digits").write(tmp_path / "again")[0])
    pd.testing.assert_frame_equal(train, again)


def test_data_checks_that_need_no_model_pass(system):
    result = run(system, only=["data.1", "data.4", "data.5"])
    statuses = {e.practice: e.status for e in result.evidence if e.status != "left_out"}
    assert statuses == {"data.1": "pass", "data.4": "pass", "data.5": "pass"}


@pytest.mark.e2e
def test_every_check_runs_without_an_error(system):
    result = run(system)
    statuses = {e.practice: e.status for e in result.evidence}
    assert [p for p, s in statuses.items() if s == "error"] == [], statuses
    for practice in ("data.1", "data.4", "data.5", "data.6", "data.7", "model.5", "infra.1"):
        assert statuses[practice] == "pass", (practice, statuses[practice])
    for practice in ("infra.2", "infra.3"):
        assert statuses[practice] == "pass", (practice, statuses[practice])


@pytest.mark.e2e
def test_following_data_2_advice_keeps_the_accuracy(system):
    followed = follow_data_2(system, data_2(system))
    assert followed.after >= followed.before - TOLERANCE, (
        f"dropping {len(followed.dropped)} input(s) as data.2 advises "
        f"({', '.join(followed.dropped[:10])}) takes {followed.metric} from "
        f"{followed.before:.4f} to {followed.after:.4f}"
    )
