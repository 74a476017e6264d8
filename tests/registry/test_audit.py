"""The audit history: the chain of champions a rollback walks, and the history of scores."""

from __future__ import annotations

import pytest
from systems import binary_frame

from keel.evidence import Evidence, RunResult
from keel.registry.audit import Event, champion_stack, recent_scores, record_score
from keel.rubric import PRACTICE_IDS, score
from keel.training import registry_ref


def event(seq: int, kind: str, version: int) -> Event:
    return Event(seq, kind, version, None, version, "who", "when")  # type: ignore[arg-type]


def test_rollbacks_walk_back_along_the_chain_of_champions():
    events = [event(1, "promote", 1), event(2, "promote", 2), event(3, "force-promote", 3)]
    assert champion_stack(events, 3) == [1, 2, 3]
    events.append(event(4, "rollback", 2))
    assert champion_stack(events, 2) == [1, 2]  # the next rollback goes to 1, not back to 3
    events.append(event(5, "rollback", 1))
    assert champion_stack(events, 1) == [1]


def test_refused_promotions_do_not_enter_the_chain():
    events = [event(1, "promote", 1), event(2, "refused", 2)]
    assert champion_stack(events, 1) == [1]


def test_a_champion_set_outside_keel_is_put_on_top_of_the_chain():
    events = [event(1, "promote", 1), event(2, "promote", 2)]
    assert champion_stack(events, 5) == [1, 2, 5]
    assert champion_stack(events, 1) == [1]  # moved back by hand: as a rollback
    assert champion_stack([], None) == []


def run_result(system, started_at: str, statuses: dict[str, str], commit: str | None):
    evidence = [Evidence(p, statuses.get(p, "not_configured"), "") for p in PRACTICE_IDS]
    return RunResult(
        system=system.name,
        root=str(system.root),
        keel_version="0.1.0",
        git_commit=commit,
        started_at=started_at,
        duration_s=1.0,
        evidence=evidence,
        score=score(evidence),
        selected=list(PRACTICE_IDS),
    )


def test_score_runs_are_recorded_and_the_recent_ones_read_back_oldest_first(make_system):
    system = make_system(binary_frame(200))
    ref = registry_ref(system)
    assert recent_scores(ref) == []
    everything = dict.fromkeys(PRACTICE_IDS, "pass")
    half = {p: "pass" for p in PRACTICE_IDS if p.endswith(("1", "2", "3"))}
    for started, statuses, commit in [
        ("2026-11-01T10:00:00+00:00", {}, None),
        ("2026-11-02T10:00:00+00:00", half, "abc123"),
        ("2026-11-03T10:00:00+00:00", everything, "def456"),
    ]:
        record_score(ref, run_result(system, started, statuses, commit))
    assert (system.keel_dir / "mlflow.db").is_file()  # the default store, in the system's folder
    recent = recent_scores(ref, n=2)
    assert [r["started_at"] for r in recent] == [
        "2026-11-02T10:00:00+00:00",
        "2026-11-03T10:00:00+00:00",
    ]
    assert recent[0]["commit"] == "abc123" and recent[0]["final"] == pytest.approx(3.0)
    assert recent[1]["sections"] == {"data": 7.0, "model": 7.0, "infra": 7.0, "monitor": 7.0}
    assert list(recent[1]["sections"]) == ["data", "model", "infra", "monitor"]
    assert recent_scores(ref, n=20)[0]["commit"] is None
