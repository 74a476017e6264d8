"""infra.5's fault (a random term in every output) on small real systems: `keel explain`'s
contributions no longer reproduce the output, for a classifier and a regression."""

from __future__ import annotations

from pathlib import Path

import pytest
from selftest_systems import policy_system
from systems import binary_frame, write_system

from keel.selftest import run_selftest
from keel.system import System


def test_an_output_with_a_random_term_is_caught_by_infra_5(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "system")
    System.from_path(path).trained  # noqa: B018 (a warm cache, as after `keel score`)
    result = run_selftest(path, only=["infra.5"], jobs=1)
    (found,) = result.faults
    assert found.clean is not None and found.clean.status == "pass", found.clean.summary
    assert found.clean.facts["rows_not_adding_up"] == 0
    assert found.verdict == "caught", found.reason
    assert found.faulty is not None
    assert found.faulty.facts["rows_not_adding_up"] > 0
    assert found.faulty.facts["max_difference"] > 0.1  # above any allowed [explain] tolerance
    assert "do not add up" in found.faulty.summary


@pytest.mark.parametrize("tolerance", [1e-6, 0.1])
def test_a_regressions_random_term_is_caught_whatever_the_tolerance(
    tmp_path: Path, tolerance: float
) -> None:
    train, evaluation = binary_frame(600), binary_frame(200, seed=1)
    for frame in (train, evaluation):
        frame["y"] = frame["x1"] * 0.01  # a target of small spread: the tolerance sets the term
    path = write_system(
        tmp_path / "system",
        train,
        evaluation,
        sections={
            "system": {"task": "regression", "primary_metric": "r2"},
            "model": {"params": {"kind": "regressor", "max_iter": 30}},
            "explain": {"tolerance": tolerance},
        },
    )
    result = run_selftest(path, only=["infra.5"], jobs=1)
    (found,) = result.faults
    assert found.verdict == "caught", found.reason
    assert found.faulty is not None
    assert found.faulty.facts["max_difference"] > tolerance
