"""Each version a real `keel serve` loads runs the feature code it was registered with.

Versions 1 and 2 keep their feature code in `credit/features.py` with different contents (2
adds an input and computes another differently), and the working tree holds a third commit's.
In one server at once, as champion and canary, every answer equals the offline prediction of
the version it names; a version that cannot load leaves the server serving and following the
registry; and a soak of traffic, promotions back and forth, a canary and worker kills at once
never gives an answer that differs from its version's own.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from versioned import versioned_system

from keel.registry.canary import end_canary, start_canary
from keel.registry.promotion import promote, rollback
from keel.registry.store import connect, translated
from keel.registry.versions import get_version
from keel.serve.process import LOOPBACK, free_port, get_json, json_rows, launch, post_json
from keel.training import gate_inputs, registry_ref, train_and_register


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    return versioned_system(tmp_path_factory.mktemp("versions"))


def start(versions, *options: str):
    port = free_port()
    argv = [sys.executable, "-m", "keel", "serve", str(versions.tree), "--port", str(port)]
    return launch([*argv, *options], url=f"http://{LOOPBACK}:{port}", cwd=versions.tree)


def wrong_answers(versions, positions: list[int], answers: list[dict]) -> list[str]:
    """Answers that differ from the offline prediction of the version they name."""
    wrong = []
    for i, answer in zip(positions, answers, strict=True):
        version = answer["model_version"]
        proba = [answer["probabilities"]["0"], answer["probabilities"]["1"]]
        if answer["prediction"] != versions.labels[version][i] or not np.allclose(
            proba, versions.proba[version][i], rtol=0, atol=1e-9
        ):
            wrong.append(f"row {i} answered by version {version}: {answer}")
    return wrong


def until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def versions_named(url: str) -> tuple[int | None, int | None]:
    status, body = get_json(url + "/version")
    return (body["champion"], body["candidate"]) if status == 200 else (None, None)


def test_champion_and_canary_of_same_named_feature_modules_each_answer_with_their_own_code(
    versions,
):
    ref = registry_ref(versions.system)
    rows = json_rows(versions.rows)
    with start(versions) as server:
        start_canary(ref, 2, 0.5, who="tester")
        try:
            until(lambda: versions_named(server.url) == (1, 2))
            answers = []
            for begin in range(0, len(rows), 25):
                status, body = post_json(server.url + "/predict", {"rows": rows[begin:][:25]})
                assert status == 200, body
                answers += body["predictions"]
        finally:
            end_canary(ref, False, {}, who="tester", reason="test over")
        assert wrong_answers(versions, list(range(len(rows))), answers) == []
        served = Counter(a["model_version"] for a in answers)
        assert served[1] > 50 and served[2] > 50  # both versions answered, side by side


def test_a_version_that_cannot_load_is_reported_and_the_server_keeps_following(versions):
    ref, gate = registry_ref(versions.system), gate_inputs(versions.system)
    broken = train_and_register(versions.system).version  # from commit 3's code
    artefact = Path(get_version(ref, broken).source.removeprefix("file://"))
    pickle = artefact / "artifacts" / "estimator.pkl"
    good = pickle.read_bytes()
    with start(versions) as server:
        pickle.write_bytes(good + b"changed")  # corrupt: refused on load
        store = connect(ref)  # the alias moved by another tool (MLflow's UI, a script)
        with translated(store.uri):
            store.client.set_registered_model_alias(store.model, "champion", str(broken))
        try:
            until(lambda: "registry_problem" in get_json(server.url + "/ready")[1])
            status, ready = get_json(server.url + "/ready")
            assert status == 200 and ready["champion"] == 1  # the loaded version serves on
            assert ready["registry_problem"]["version"] == broken
            assert "SHA-256" in ready["registry_problem"]["error"]
            assert "registry_problem" in get_json(server.url + "/health")[1]
            _, metrics = http_text(server.url + "/metrics")
            assert "keel_registry_out_of_step 1.0" in metrics
            status, body = post_json(server.url + "/predict", {"rows": json_rows(versions.rows)})
            assert status == 200
            assert {a["model_version"] for a in body["predictions"]} == {1}
        finally:
            pickle.write_bytes(good)
        # the follower is alive: the next promotion is served
        assert promote(ref, 2, gate, force=True, reason="test", who="tester").promoted
        until(lambda: versions_named(server.url) == (2, None))
        status, ready = get_json(server.url + "/ready")
        assert "registry_problem" not in ready
        assert "cannot serve here" in server.stderr_tail(20)


def http_text(url: str) -> tuple[int, str]:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_keep_alive_requests_are_not_held_back_by_delayed_acks(versions):
    """Without TCP_NODELAY every request after the first on a connection waited ~40 ms."""
    rows = json.dumps({"rows": json_rows(versions.rows.head(1))})
    with start(versions) as server:
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        took = []
        for i in range(10):
            begin = time.perf_counter()
            if i % 2:
                connection.request("GET", "/health")
            else:
                connection.request("POST", "/predict", rows, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            took.append(time.perf_counter() - begin)
            assert response.status == 200
        connection.close()
    health = sorted(took[1::2])
    assert health[len(health) // 2] < 0.02, took  # a delayed ACK is 40 ms, every time


@pytest.mark.e2e
def test_soak_promotions_canary_and_worker_kills_never_give_another_versions_answer(versions):
    """Traffic from three clients while versions are promoted back and forth, a canary runs
    and workers are killed with -9: every answer equals its named version's offline one."""
    ref, gate = registry_ref(versions.system), gate_inputs(versions.system)
    assert promote(ref, 1, gate, force=True, reason="soak start", who="tester").promoted
    rows = json_rows(versions.rows)
    checked: list[tuple[list[int], list[dict]]] = []
    failures: Counter[str] = Counter()
    stop = threading.Event()

    def client(seed: int, url: str) -> None:
        pick = random.Random(seed)
        while not stop.is_set():
            positions = pick.sample(range(len(rows)), 5)
            try:
                status, body = post_json(url + "/predict", {"rows": [rows[i] for i in positions]})
            except OSError as exc:  # a killed worker's connection
                failures[type(exc).__name__] += 1
                continue
            if status == 200:
                checked.append((positions, body["predictions"]))
            elif status == 0:  # no answer: the connection of a killed worker
                failures["connection"] += 1
            else:
                failures[str(status)] += 1

    with start(versions, "--workers", "2") as server:
        threads = [threading.Thread(target=client, args=(s, server.url)) for s in range(3)]
        for thread in threads:
            thread.start()
        try:
            steps = [
                lambda: start_canary(ref, 2, 0.3, who="tester"),
                lambda: kill_a_worker(server.url),
                lambda: end_canary(ref, True, {}, who="tester", reason="soak"),
                lambda: promote(ref, 2, gate, force=True, reason="soak", who="tester"),
                lambda: rollback(ref, reason="soak", who="tester"),
                lambda: kill_a_worker(server.url),
                lambda: promote(ref, 2, gate, force=True, reason="soak", who="tester"),
            ]
            for step in steps:
                time.sleep(2.5)
                step()
            time.sleep(3)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        until(lambda: versions_named(server.url) == (2, None))
        tail = post_json(server.url + "/predict", {"rows": rows[:50]})[1]["predictions"]
    wrong = [
        w for positions, answers in checked for w in wrong_answers(versions, positions, answers)
    ]
    assert wrong == [], wrong[:5]
    served = Counter(a["model_version"] for _, answers in checked for a in answers)
    assert served[1] > 100 and served[2] > 100, served
    assert not {k for k in failures if k.isdigit()}, failures  # no error status, 5xx or other
    assert failures["connection"] < 20, failures  # only requests in flight on a killed worker
    assert {a["model_version"] for a in tail} == {2}  # every worker follows to the end


def kill_a_worker(url: str, workers: int = 2) -> None:
    """SIGKILL one worker once every worker is up (a restarted one may still be loading on a
    busy machine: killing the only live worker would test nothing but a dead server)."""
    pids: set[int] = set()
    deadline = time.monotonic() + 120
    while len(pids) < workers and time.monotonic() < deadline:
        status, body = get_json(url + "/health")  # a new connection each time
        if status == 200:
            pids.add(body["pid"])
        else:
            time.sleep(0.05)
    assert len(pids) == workers, pids
    os.kill(next(iter(pids)), signal.SIGKILL)
