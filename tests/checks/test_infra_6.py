"""infra.6 on a real SQLite registry: the champion must have come through a passed canary."""

from __future__ import annotations

import pytest
from registries import good_system, named, register_pair

from keel.checks.infra import infra_6
from keel.registry.canary import end_canary, start_canary
from keel.registry.promotion import promote
from keel.training import gate_inputs, registry_ref, train_and_register

PASSED = {
    "elapsed_seconds": 620.0,
    "champion": {"rows": 900},
    "candidate": {"rows": 110},
    "comparisons": [
        {"name": "error rate increase", "value": 0.0, "limit": 0.01, "ok": True},
        {"name": "p99 latency ratio", "value": 1.1, "limit": 1.5, "ok": True},
    ],
}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    return good_system(tmp_path_factory.mktemp("infra-6"))


def versions(system, model):
    """(first, second, third) versions of `model`: strong, weak, and another strong seed."""
    first, weak = register_pair(system, model)
    third = train_and_register(named(system, model, model={"seed": 8})).version
    return named(system, model), first, weak, third


def test_nothing_serving_fails(system):
    evidence = infra_6(named(system, "i6-none"))
    assert evidence.status == "fail" and "no champion" in evidence.summary


def test_a_first_champion_promoted_without_a_canary_fails_and_says_why(system):
    sys_, first, _, _ = versions(system, "i6-first")
    assert promote(registry_ref(sys_), first, gate_inputs(sys_)).promoted
    evidence = infra_6(sys_)
    assert evidence.status == "fail"
    assert "without a canary" in evidence.summary and "first champion" in evidence.summary
    assert "keel canary start" in evidence.hint


def test_promotion_after_an_aborted_canary_fails_and_after_a_passed_one_passes(system):
    sys_, first, _, third = versions(system, "i6-canary")
    ref, gate = registry_ref(sys_), gate_inputs(sys_)
    assert promote(ref, first, gate).promoted
    start_canary(ref, third, 0.2)
    end_canary(
        ref, False, {"comparisons": [{"name": "p99", "value": 3.0, "limit": 1.5, "ok": False}]}
    )
    assert promote(ref, third, gate).promoted
    evidence = infra_6(sys_)
    assert evidence.status == "fail" and "was aborted" in evidence.summary
    # back to the first, then through a passed canary
    from keel.registry.promotion import rollback

    rollback(ref)
    start_canary(ref, third, 0.2)
    end_canary(ref, True, PASSED)
    assert promote(ref, third, gate).promoted
    evidence = infra_6(sys_)
    assert evidence.status == "pass", evidence.summary
    assert f"version {third} passed a canary against version {first}" in evidence.summary
    assert "110 rows on the candidate" in evidence.summary
    assert evidence.tables[0].rows[0][0] == "error rate increase"


def test_a_canary_still_running_at_promotion_does_not_count(system):
    sys_, first, _, third = versions(system, "i6-running")
    ref, gate = registry_ref(sys_), gate_inputs(sys_)
    assert promote(ref, first, gate).promoted
    start_canary(ref, third, 0.2)
    assert promote(ref, third, gate).promoted  # promoted by hand mid-canary
    evidence = infra_6(sys_)
    assert evidence.status == "fail" and "still running" in evidence.summary


def test_a_canary_that_passed_under_looser_limits_fails_under_todays(system):
    sys_, first, _, third = versions(system, "i6-tightened")
    ref, gate = registry_ref(sys_), gate_inputs(sys_)
    assert promote(ref, first, gate).promoted
    start_canary(ref, third, 0.2)
    loose = {**PASSED, "comparisons": [*PASSED["comparisons"]]}
    loose["comparisons"][1] = {"name": "p99 latency ratio", "value": 1.4, "limit": 1.5, "ok": True}
    end_canary(ref, True, loose)
    assert promote(ref, third, gate).promoted
    assert infra_6(sys_).status == "pass"  # today's limits are the ones of its day
    tightened = named(system, "i6-tightened", canary={"max_p99_ratio": 1.2, "window": 900})
    evidence = infra_6(tightened)
    assert evidence.status == "fail"
    assert "p99 latency ratio 1.4 over today's limit 1.2 ([canary] max_p99_ratio; 1.5 then)" in (
        evidence.summary
    )
    assert "it ran 620 s, under [canary] window = 900 s" in evidence.summary
    assert evidence.tables[0].rows[1] == ["p99 latency ratio", "1.4", "1.5", "1.2", "failed"]
    assert evidence.thresholds["max_p99_ratio"] == 1.2


def test_a_canary_against_another_champion_than_the_one_replaced_fails(system):
    sys_, first, _, third = versions(system, "i6-other")
    fourth = train_and_register(named(system, "i6-other", model={"seed": 9})).version
    ref, gate = registry_ref(sys_), gate_inputs(sys_)
    assert promote(ref, first, gate).promoted
    start_canary(ref, third, 0.2)
    end_canary(ref, True, PASSED)  # compared with the first version
    assert promote(ref, fourth, gate).promoted  # the champion changes in between
    assert promote(ref, third, gate).promoted  # … so this promotion replaces the fourth
    evidence = infra_6(sys_)
    assert evidence.status == "fail"
    assert (
        f"version {third}'s canary compared it with version {first}, but its promotion replaced "
        f"version {fourth}" in evidence.summary
    )
    assert evidence.facts["compared_with"] == first


def test_a_passed_canary_whose_record_holds_no_comparison_fails(system):
    sys_, first, _, third = versions(system, "i6-empty")
    ref, gate = registry_ref(sys_), gate_inputs(sys_)
    assert promote(ref, first, gate).promoted
    start_canary(ref, third, 0.2)
    end_canary(ref, True, {"elapsed_seconds": 700.0})
    assert promote(ref, third, gate).promoted
    evidence = infra_6(sys_)
    assert evidence.status == "fail" and "holds no comparison to judge again" in evidence.summary


def test_recorded_comparisons_are_judged_again_by_their_key_and_recorded_bound():
    """The canary records `key` (quality_drop → [canary] max_quality_drop) and, for quality
    on labels, the bound that was held to the limit: a drop measured at 0.005 whose 95% bound
    was 0.03 does not hold under a limit of 0.02, and a probability distance is judged too."""
    from keel.checks._canary import rejudge
    from keel.config import CanarySection

    verdict = {
        "comparisons": [
            {
                "name": "quality drop",
                "key": "quality_drop",
                "value": 0.005,
                "bound": 0.03,
                "limit": 0.05,
                "ok": True,
            },
            {
                "name": "probability KS",
                "key": "probability_distance",
                "value": 0.08,
                "bound": 0.08,
                "limit": 0.2,
                "ok": True,
            },
            {
                "name": "probability KS",
                "key": "probability_distance",
                "value": 0.15,
                "bound": 0.15,
                "limit": 0.2,
                "ok": True,
            },
        ]
    }
    judged = rejudge(verdict, CanarySection())
    assert [j.key for j in judged] == ["max_quality_drop"] + ["max_probability_distance"] * 2
    assert [j.ok for j in judged] == [False, True, False]
