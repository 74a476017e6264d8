"""Admin routes and a canary under load, on a real uvicorn server and a real SQLite registry."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time

import pytest
import uvicorn
from registries import good_system, named, register_pair

from keel.data.profile import profile_batches
from keel.data.schema import infer
from keel.registry.canary import current_canary, end_canary
from keel.registry.promotion import promote
from keel.serve.admin import Admin
from keel.serve.app import ServeSettings, create_app
from keel.serve.models import ModelHolder, registry_calls
from keel.serve.process import post_json
from keel.training import gate_inputs, registry_ref, train_and_register

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    return good_system(tmp_path_factory.mktemp("serve-admin"))


def start_server(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def served(system):
    """A server with admin routes for a model whose champion is `strong`; a `twin` (another
    seed, as good) and a `weak` version registered beside it."""
    import pyarrow as pa

    strong, weak = register_pair(system, "admin")
    twin = train_and_register(named(system, "admin", model={"seed": 8})).version
    ref = dataclasses.replace(registry_ref(system), model="admin")
    assert promote(ref, weak, gate_inputs(system)).promoted  # an earlier champion to roll to
    assert promote(ref, strong, gate_inputs(system)).promoted
    schema = infer(profile_batches(pa.Table.from_pandas(system.raw("train"))), target="y")
    warm = system.raw("eval").head(40).drop(columns=["y"])
    holder = ModelHolder(registry_calls(ref), warm=warm)
    holder.start()
    admin = Admin(TOKEN, ref, id_column="id" if "id" in warm.columns else None)
    app = create_app(schema, holder, None, ServeSettings(on_anomaly="flag"), admin=admin)
    server, thread, url = start_server(app)
    yield {
        "url": url,
        "ref": ref,
        "holder": holder,
        "strong": strong,
        "weak": weak,
        "twin": twin,
        "schema": schema,
        "system": system,
    }
    server.should_exit = True
    thread.join(10)


def admin(url, path, body=None, token=TOKEN):
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_without_a_token_configured_the_admin_routes_do_not_exist(served, system):
    holder = served["holder"]
    app = create_app(served["schema"], holder, None, ServeSettings(), admin=None)
    server, thread, url = start_server(app)
    try:
        for path in ("/admin/reload", "/admin/rollback", "/admin/canary"):
            assert admin(url, path)[0] == 404
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_missing_or_wrong_token_is_401_and_changes_nothing(served):
    from keel.registry.audit import history
    from keel.registry.versions import champion

    ref = served["ref"]
    before = (champion(ref).version, len(history(ref)))
    for token in (None, "wrong", TOKEN + "x", ""):
        for path, body in (
            ("/admin/rollback", {}),
            ("/admin/canary", {"version": served["twin"], "share": 0.5}),
            ("/admin/reload", {}),
        ):
            status, answer = admin(served["url"], path, body, token=token)
            assert status == 401, (token, path, answer)
    assert (champion(ref).version, len(history(ref))) == before
    assert current_canary(ref) is None


def test_bad_admin_bodies_are_4xx_never_5xx(served):
    url = served["url"]
    for body in ({"version": "two"}, {"version": served["twin"], "share": 2}, {"share": 0.1}):
        status, answer = admin(url, "/admin/canary", body)
        assert status == 422 and answer["error"], (body, answer)
    status, answer = admin(url, "/admin/rollback", {"to": 999})
    assert status == 409 and "999" in answer["error"]


def load(url, stop, answers, failures, seed):
    import http.client

    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    rows = ROWS
    i = seed * 100_000
    while not stop.is_set():
        i += 1
        row = dict(rows[i % len(rows)])
        row["id"] = f"ex-{i}"
        sent = time.monotonic()
        try:
            connection.request(
                "POST", "/predict", json.dumps(row), {"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            body = json.loads(response.read())
        except Exception as exc:  # noqa: BLE001 - every failure is counted
            failures.append(repr(exc))
            connection.close()
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            continue
        if response.status != 200:
            failures.append((response.status, body))
        else:
            answers.append((sent, body["predictions"][0]))  # by the time it was sent
    connection.close()


ROWS: list[dict] = []  # the serving rows the load clients send


def test_a_canary_and_its_promotion_under_load_fail_no_request(served):
    from keel.serve.process import json_rows

    url, ref, holder = served["url"], served["ref"], served["holder"]
    system = served["system"]
    ROWS[:] = json_rows(system.raw("eval").head(50).drop(columns=["y"]))
    champion = holder.serving.champion.version
    stop, answers, failures = threading.Event(), [], []
    clients = [
        threading.Thread(target=load, args=(url, stop, answers, failures, s)) for s in range(4)
    ]
    for c in clients:
        c.start()
    try:
        time.sleep(0.5)
        status, answer = admin(url, "/admin/canary", {"version": served["twin"], "share": 0.5})
        assert status == 200, answer
        assert answer["serving"]["candidate"] == served["twin"] and "exactly" in answer["check"]
        time.sleep(1.0)
        end_canary(ref, True, {"comparisons": []})
        assert promote(ref, served["twin"], gate_inputs(system)).promoted
        holder.poll()
        switched = time.monotonic()
        time.sleep(0.7)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
    assert failures == []
    routes = {(a["model_version"], a["route"]) for _, a in answers}
    twin = served["twin"]
    assert routes <= {(champion, "champion"), (twin, "canary"), (twin, "champion")}
    assert (served["twin"], "canary") in routes  # the canary took traffic
    after = [a for t, a in answers if t > switched]
    assert after and {a["model_version"] for a in after} == {served["twin"]}


def test_rollback_over_the_admin_api_moves_every_server_request_back(served):
    url = served["url"]
    now = served["holder"].serving.champion.version
    status, answer = admin(url, "/admin/rollback", {"reason": "test"})
    assert status == 200, answer
    assert answer["from"] == now and answer["serving"]["champion"] == answer["rolled_back_to"]
    status, answer = post_json(url + "/predict", ROWS[0])
    assert status == 200 and answer["model_version"] != now
