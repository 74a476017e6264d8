"""The team view's server over HTTP: a real `keel ui` on 127.0.0.1, on SQLite and PostgreSQL."""

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ui_reports import report

from keel.ui.payload import envelope


def systems(server) -> list:
    status, found = server.json("GET", "/api/systems", token=server.admin)
    assert status == 200
    return found


def named(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_publish_token_stores_a_report_and_a_read_token_sees_it(server):
    name = named("credit")
    publisher = server.token("publish", named("ci"))
    status, answer = server.json(
        "POST", "/api/reports", token=publisher,
        body=envelope(report(name, statuses={"monitor.3": "fail"}), kind="score", team="risk"),
    )  # fmt: skip
    assert status == 201 and answer["stored"] is True
    reader = server.token("read", named("reader"))
    status, rows = server.json("GET", "/api/systems?team=risk", token=reader)
    row = next(r for r in rows if r["system"] == name)
    assert row["failing"] == ["monitor.3"] and row["champion"] == 2 and row["team"] == "risk"
    status, _, page = server.request("GET", "/", token=reader)
    assert status == 200 and name.encode() in page


def test_missing_wrong_and_url_tokens_get_401_and_change_nothing(server):
    before = len(systems(server))
    body = envelope(report(named("nobody")), kind="score")
    for token in (None, "keel_wrong", server.admin + "x"):
        status, _, _ = server.request("POST", "/api/reports", token=token, body=body)
        assert status == 401
        status, headers, page = server.request("GET", "/", token=token)
        assert status == 401 and b'name="token"' in page  # the sign-in form
    status, _, _ = server.request("GET", f"/?token={server.admin}")
    assert status == 401  # a token in the URL is never read
    status, _, _ = server.request("GET", f"/api/systems?token={server.admin}")
    assert status == 401
    assert len(systems(server)) == before


def test_a_role_that_does_not_allow_the_action_gets_403(server):
    publisher = server.token("publish", named("ci"))
    reader = server.token("read", named("reader"))
    assert server.request("GET", "/", token=publisher)[0] == 403
    assert server.request("GET", "/api/systems", token=publisher)[0] == 403
    body = envelope(report(named("x")), kind="score")
    assert server.request("POST", "/api/reports", token=reader, body=body)[0] == 403
    assert server.request("GET", "/api/tokens", token=reader)[0] == 403


def test_sign_in_exchanges_a_token_for_an_httponly_strict_cookie(server):
    reader = server.token("read", named("reader"))
    form = f"token={reader}&next=/practices/data.1".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, got, _ = server.request("POST", "/login", body=form, headers=headers)
    assert status == 303 and got["location"] == "/practices/data.1"
    cookie = got["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    value = cookie.split(";", 1)[0]
    assert server.request("GET", "/", headers={"Cookie": value})[0] == 200
    assert server.request("GET", "/api/systems", headers={"Cookie": value})[0] == 401  # API: bearer
    offsite = f"token={reader}&next=//evil.example/".encode()
    assert server.request("POST", "/login", body=offsite, headers=headers)[1]["location"] == "/"
    wrong = server.request("POST", "/login", body=b"token=keel_nope", headers=headers)
    assert wrong[0] == 401 and "set-cookie" not in {k.lower() for k in wrong[1]}


def test_an_invalid_report_gets_4xx_naming_the_field(server):
    publisher = server.token("publish", named("ci"))
    body = envelope(report(named("bad")), kind="score")
    body["report"]["practices"][3]["status"] = "maybe"
    status, answer = server.json("POST", "/api/reports", token=publisher, body=body)
    assert status == 422 and answer["field"] == "report.practices[3].status"
    body = envelope(report(named("bad")), kind="score")
    body["system"] = "another"
    status, answer = server.json("POST", "/api/reports", token=publisher, body=body)
    assert status == 422 and answer["field"] == "system"
    status, answer = server.json("POST", "/api/reports", token=publisher, body={"kind": "score"})
    assert status == 422 and answer["field"] == "system"
    status, answer = oversized(server, publisher, 9 * 1024 * 1024)
    assert status == 413 and answer["field"] == "body"


def oversized(server, token: str, length: int) -> tuple[int, dict]:
    """Announce a body of `length` bytes, send its first bytes, read the answer: the server
    refuses before reading it all."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("POST", "/api/reports")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(length))
    connection.endheaders(b"{" + b" " * 1000)
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def test_admin_creates_and_revokes_tokens_over_the_api(server):
    name = named("ci")
    status, made = server.json(
        "POST", "/api/tokens", token=server.admin, body={"name": name, "role": "publish"}
    )
    assert status == 201 and made["token"].startswith("keel_")
    body = envelope(report(named("sys")), kind="score")
    assert server.request("POST", "/api/reports", token=made["token"], body=body)[0] == 201
    status, answer = server.json("DELETE", f"/api/tokens/{name}", token=server.admin)
    assert status == 200 and answer["revoked"] is True
    again = envelope(report(named("sys")), kind="score")
    assert server.request("POST", "/api/reports", token=made["token"], body=again)[0] == 401
    status, listed = server.json("GET", "/api/tokens", token=server.admin)
    assert any(t["name"] == name and t["revoked_at"] for t in listed)
    assert all("token" not in t and "hash" not in t for t in listed)


def test_script_in_a_system_name_a_hint_and_an_input_name_is_shown_escaped(server):
    evil = "<script>alert(1)</script>"
    name = named("x") + evil
    body = envelope(
        report(name, statuses={"monitor.3": "fail"}, hint=f"do {evil}", input_name=f"in{evil}"),
        kind="score", team=f"t{evil}",
    )  # fmt: skip
    publisher = server.token("publish", named("ci"))
    status, answer = server.json("POST", "/api/reports", token=publisher, body=body)
    assert status == 201
    monitor = envelope(
        report(name, statuses={"monitor.3": "fail"}, input_name=evil), kind="monitor"
    )
    assert server.request("POST", "/api/reports", token=publisher, body=monitor)[0] == 201
    from urllib.parse import quote

    pages = [
        "/",
        f"/systems/{quote(name, safe='')}",
        answer["url"],
        "/practices/monitor.3",
        f"/?team={quote('t' + evil)}",
    ]
    for path in pages:
        status, _, page = server.request("GET", path, token=server.admin)
        assert status == 200, path
        text = page.decode()
        assert "<script" not in text, path
        assert "&lt;script&gt;" in text, path


JSONS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def bodies(draw) -> bytes:
    """Arbitrary bytes, arbitrary JSON, or a valid publish with one field replaced."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(JSONS)).encode()
    body = envelope(report("fuzzed"), kind="score")
    target = body if draw(st.booleans()) else body["report"]
    key = draw(st.sampled_from(sorted(target)))
    target[key] = draw(JSONS)
    return json.dumps(body).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies())
def test_arbitrary_bodies_get_4xx_never_a_server_error(server, body):
    status, _, answer = server.request(
        "POST", "/api/reports", token=server.admin, body=body,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status < 500, answer
    if status >= 400:
        assert json.loads(answer)["field"]
