"""`keel.serve.models`: a server's models follow the registry's aliases live (real SQLite store)."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from registries import good_system, register_pair

from keel.errors import RegistryError
from keel.registry.promotion import promote, rollback
from keel.registry.store import connect
from keel.serve.models import ModelHolder, registry_calls
from keel.training import gate_inputs, registry_ref


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    return good_system(tmp_path_factory.mktemp("serve-models"))


@pytest.fixture(scope="module")
def pair(system):
    """A strong and a weak version of one registered model, strong promoted to champion."""
    strong, weak = register_pair(system, "served")
    ref = dataclasses.replace(registry_ref(system), model="served")
    assert promote(ref, strong, gate_inputs(system)).promoted
    return ref, strong, weak


def holder(ref, rows=None) -> ModelHolder:
    return ModelHolder(registry_calls(ref), warm=rows)


def test_start_refuses_a_model_with_no_champion_and_says_what_to_do(system):
    ref = dataclasses.replace(registry_ref(system), model="nothing")
    with pytest.raises(RegistryError, match="keel promote VERSION"):
        holder(ref).start()


def test_the_champion_serves_and_a_promotion_is_followed_without_a_restart(system, pair):
    ref, strong, weak = pair
    rows = system.raw("eval").head(20)
    served = holder(ref, rows)
    before = served.start()
    assert before.champion.version == strong and before.candidate is None
    assert len(before.champion.model.predict(rows)) == 20
    assert served.poll() is False  # nothing moved
    assert promote(ref, weak, gate_inputs(system), force=True, reason="test").promoted
    assert served.poll() is True
    assert served.serving.champion.version == weak
    assert before.champion.version == strong  # a request holding the old snapshot keeps it
    rollback(ref, reason="test")
    assert served.poll() is True and served.serving.champion.version == strong
    assert served.swaps == 2 and not served.errors


def test_a_version_that_cannot_load_is_reported_and_the_old_one_keeps_serving(system, pair):
    ref, strong, weak = pair
    calls = registry_calls(ref)
    served = ModelHolder(calls)
    served.start()
    current = served.serving.champion.version

    def broken(version):
        raise RegistryError(f"version {version} cannot be loaded (test)")

    calls.load = broken
    calls.aliases = lambda: {"champion": strong if current != strong else weak}
    assert served.poll() is False
    assert served.serving.champion.version == current
    assert "cannot be loaded (test)" in served.errors[-1]


def test_follow_polls_in_the_background_until_stopped(system, pair):
    ref, strong, weak = pair
    calls = registry_calls(ref)
    seen = threading.Event()
    real = calls.aliases

    def counted():
        seen.set()
        return real()

    calls.aliases = counted
    served = ModelHolder(calls)
    served.start()
    seen.clear()
    stop = threading.Event()
    thread = served.follow(stop, every=0.05)
    assert seen.wait(10)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_a_candidate_alias_is_loaded_beside_the_champion_and_dropped_with_it(system, pair):
    ref, strong, weak = pair
    served = holder(ref)
    served.start()
    champion = served.serving.champion.version
    other = weak if champion == strong else strong
    client = connect(ref).client
    client.set_registered_model_alias("served", "candidate", str(other))
    try:
        assert served.poll() is True
        assert served.serving.candidate.version == other
        assert served.serving.champion.version == champion
    finally:
        client.delete_registered_model_alias("served", "candidate")
    assert served.poll() is True and served.serving.candidate is None


def test_following_survives_a_version_that_fails_to_warm_and_retries_it_on_the_next_poll(
    system, pair
):
    """A ValueError from warming (not a RegistryError) once killed the follow thread for good."""
    ref, strong, weak = pair
    calls = registry_calls(ref)
    said: list[str] = []
    served = ModelHolder(calls, warm=system.raw("eval").head(5), say=said.append)
    served.start()
    current = served.serving.champion.version
    other = strong if current != strong else weak
    real_load, attempts = calls.load, []

    def failing(version):
        attempts.append(version)
        raise ValueError("the feature function's output lack the model inputs z (test)")

    calls.load = failing
    calls.aliases = lambda: {"champion": other}
    stop = threading.Event()
    thread = served.follow(stop, every=0.05)
    try:
        deadline = time.monotonic() + 10
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(attempts) >= 3  # tried again on every poll, the thread alive
        assert thread.is_alive()
        assert served.serving.champion.version == current  # the loaded version serves on
        problem = served.problem
        assert problem is not None and problem.version == other and problem.alias == "champion"
        assert problem.tries >= 3 and "lack the model inputs z" in problem.message
        assert len(said) == 1  # reported once, not on every poll
        calls.load = real_load  # the version becomes loadable: the next poll takes it
        deadline = time.monotonic() + 30
        while served.serving.champion.version != other and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served.serving.champion.version == other
        assert served.problem is None
    finally:
        stop.set()
        thread.join(10)


def test_a_candidate_that_cannot_load_is_reported_and_the_champion_serves_alone(system, pair):
    ref, strong, weak = pair
    calls = registry_calls(ref)
    served = ModelHolder(calls, say=lambda _: None)
    served.start()
    current = served.serving.champion.version
    other = strong if current != strong else weak

    def broken(version):
        raise ValueError("broken candidate (test)")

    calls.load = broken
    calls.aliases = lambda: {"champion": current, "candidate": other}
    served.poll()
    assert served.serving.champion.version == current and served.serving.candidate is None
    assert served.problem is not None and served.problem.alias == "candidate"
    assert served.failures == 1


def test_a_swap_followed_in_a_frozen_process_freezes_the_new_model_too(system, pair):
    """A server freezes what it loaded (`refreeze`); after a promotion the new model is frozen
    as well, and the old one's cycles collected."""
    import gc

    ref, strong, weak = pair
    served = holder(ref)
    served.start()
    stop = threading.Event()
    gc.collect()
    gc.freeze()
    try:
        served.follow(stop, every=0.05)
        promote(ref, weak, gate_inputs(system), force=True, reason="test")
        deadline = time.monotonic() + 30
        while served.serving.champion.version != weak and time.monotonic() < deadline:
            time.sleep(0.05)
        model = served.serving.champion.model

        def tracked() -> bool:  # still in the collector's passes, not frozen
            return any(o is model for o in gc.get_objects())

        deadline = time.monotonic() + 30
        while tracked() and time.monotonic() < deadline:  # the follower refreezes after
            time.sleep(0.2)  # the swap (a collection first: longer on a busy machine)
        assert served.serving.champion.version == weak
        assert not tracked()  # frozen: out of every pass
        assert gc.get_freeze_count() > 0
    finally:
        stop.set()
        gc.unfreeze()
        promote(ref, strong, gate_inputs(system), force=True, reason="test")
