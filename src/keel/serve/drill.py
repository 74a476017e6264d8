"""The rollback drill: roll the champion back under load, measure, and restore it.

`rollback_drill` rehearses what an incident needs: a running server is kept busy by
`concurrency` clients, each on its own keep-alive connection sending one-row `POST /predict`
requests (request ids `drill-<uuid>`, so drill traffic is recognisable in the prediction log).
After `load_seconds` the registry's champion C is rolled back to the earlier champion P
(`keel.registry.promotion.rollback`) at t0, and the load goes on until every client has had
only P's answers for a while (`SETTLE_SECONDS` and `SETTLE_ANSWERS`), or until twice
`max_seconds` have passed. The switch time is the end of the last answer C made after t0,
minus t0: how long after `keel rollback` began users could still get the old version. Every
non-2xx answer and connection error over the whole drill counts as failed.

Then C is made champion again through the gate (`keel.registry.promotion.promote`): a drill
never forces. If the gate refuses, P stays champion and the result says so. The restore's
switch is measured the same way, still under load.

A drill never leaves the registry and the servers disagreeing. When the rollback did not work
(P never alone answered every client, or requests failed) and C was not restored, the drill
rolls the registry back to C itself, the version that served before it. At the end it waits
for the server to serve the registry's champion; if it does not, the drill fails and says
which version each names. A request answered by the version a switch left, when sent over
`max_seconds` after the switch began, counts as failed. The result is recorded as a `drill`
event in the registry's audit history (`keel.registry.drill.record_drill`).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from keel.errors import KeelError, RegistryError
from keel.registry.drill import drill_versions, record_drill, undo_rollback
from keel.registry.gate import GateInputs
from keel.registry.promotion import promote, rollback
from keel.registry.ref import RegistryRef
from keel.registry.versions import champion as champion_of
from keel.serve.process import ServeError, get_json

__all__ = ["DrillResult", "PhaseResult", "rollback_drill"]

SETTLE_SECONDS = 1.0  # every client's latest answers span at least this long …
SETTLE_ANSWERS = 5  # … and number at least this many, all by the new version
REQUEST_TIMEOUT = 10.0


@dataclass
class Answer:
    """One drill request: when it was sent and answered (monotonic seconds), its status (0:
    no answer, the connection failed) and the version that answered."""

    sent: float
    ended: float
    status: int
    version: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class PhaseResult:
    """One switch under load: from one version to another, as the clients saw it."""

    name: str  # "rollback" or "restore"
    from_version: int
    to_version: int
    command_seconds: float  # how long the registry call took
    switch_seconds: float  # last answer by `from_version` after the call began, minus that start
    settled: bool  # every client got only `to_version` answers for a while
    requests: int  # requests sent from the start of this phase to the start of the next
    failed: int  # no 2xx answer, or a late one (below)
    stray: int  # 2xx answers after the switch not made by `to_version`
    late: int = 0  # 2xx answers by another version to requests sent over max_seconds after start


@dataclass
class DrillResult:
    """What a drill measured; `passed`: no failed request, every answer named its version,
    the rollback switched within `max_seconds` and, after it, only the earlier champion
    answered, and at the end the registry and the server named the same champion. Whether
    the champion was restored is told apart (`restored`).

    A request counts as failed when it got no 2xx answer, and also when it was sent more than
    `max_seconds` after a switch began and answered by the version the switch left (`late`):
    users asked for the new version and, past the limit, still got the old one."""

    url: str
    from_version: int  # C, the champion the drill started from
    to_version: int  # P, the earlier champion it rolled back to
    started: str  # ISO 8601, UTC
    seconds: float
    concurrency: int
    load_seconds: float
    max_seconds: float
    requests: int
    failed: int
    switch_seconds: float
    settled: bool
    stray: int
    unnamed: int  # 2xx answers that did not name the version that made them
    restored: bool
    restore_reason: str | None
    restore_switch_seconds: float | None
    champion: int | None  # after the drill
    passed: bool
    late: int = 0  # answered by the version a switch left, over max_seconds after it began
    undone: str | None = None  # why the drill rolled back to `from_version` itself
    agreed: bool = True  # registry and server named the same champion at the end
    server_champion: int | None = None  # what the server served at the end
    phases: list[PhaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a few distinct failures, for messages

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready plain data."""
        return asdict(self)


class _Load:
    """`concurrency` client threads sending one-row requests until `stop()`."""

    def __init__(self, url: str, rows: list[dict[str, Any]], concurrency: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "") or not parts.hostname:
            raise KeelError(f"the drill drives plain HTTP; cannot use the URL {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = parts.path.rstrip("/") + "/predict"
        self.bodies = [json.dumps(row).encode() for row in rows]
        self.answers: list[list[Answer]] = [[] for _ in range(concurrency)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), name=f"keel-drill-{i}", daemon=True)
            for i in range(concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)

    def _client(self, index: int) -> None:
        mine = self.answers[index]
        connection: http.client.HTTPConnection | None = None
        n = index
        while not self._stop.is_set():
            body = self.bodies[n % len(self.bodies)]
            n += len(self.answers)
            headers = {
                "Content-Type": "application/json",
                "x-request-id": f"drill-{uuid.uuid4().hex}",
            }
            sent = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(
                        self.host, self.port, timeout=REQUEST_TIMEOUT
                    )
                connection.request("POST", self.path, body, headers)
                response = connection.getresponse()
                text = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                mine.append(Answer(sent, time.monotonic(), 0, None, f"{type(exc).__name__}: {exc}"))
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.05)  # a refused connection must not spin
                continue
            ended = time.monotonic()
            version, error = None, ""
            try:
                data = json.loads(text)
                version = data.get("model_version") if isinstance(data, dict) else None
            except ValueError:
                data = None
            if not 200 <= status < 300:
                detail = data.get("error") if isinstance(data, dict) else text[:200]
                error = f"HTTP {status}: {str(detail)[:200]}"
            mine.append(Answer(sent, ended, status, version, error))
        if connection is not None:
            connection.close()

    def snapshot(self) -> list[list[Answer]]:
        return [list(a) for a in self.answers]

    def settled(self, version: int, since: float) -> bool:
        """Every client's latest answers since `since` are by `version` alone, at least
        `SETTLE_ANSWERS` of them spanning at least `SETTLE_SECONDS`."""
        for answers in self.snapshot():
            run: list[Answer] = []
            for answer in reversed(answers):
                if answer.sent < since or not answer.ok or answer.version != version:
                    break
                run.append(answer)
            if len(run) < SETTLE_ANSWERS or run[0].ended - run[-1].sent < SETTLE_SECONDS:
                return False
        return True


def _phase(
    name: str,
    load: _Load,
    *,
    old: int,
    new: int,
    start: float,
    end: float,
    command_seconds: float,
    settled: bool,
    limit: float,
) -> PhaseResult:
    """The clients' view of one switch begun at `start` (the phase ends at `end`)."""
    answers = [a for client in load.snapshot() for a in client if start <= a.sent < end]
    by_old = [  # answers by the old version made after the switch began, to the phase's end
        a.ended
        for client in load.snapshot()
        for a in client
        if a.ended >= start and a.sent < end and a.ok and a.version == old
    ]
    switch = max(by_old) - start if by_old else 0.0
    cut = start + switch
    stray = sum(1 for a in answers if a.ok and a.sent > cut and a.version != new)
    late = len(_late(answers, old=old, deadline=start + limit))
    return PhaseResult(
        name=name,
        from_version=old,
        to_version=new,
        command_seconds=round(command_seconds, 3),
        switch_seconds=round(switch, 3),
        settled=settled,
        requests=len(answers),
        failed=sum(1 for a in answers if not a.ok) + late,
        stray=stray,
        late=late,
    )


def _late(answers: list[Answer], *, old: int, deadline: float) -> list[Answer]:
    """The 2xx answers by `old` to requests sent after `deadline` (a switch's start plus
    `max_seconds`): the switch should have been over by then."""
    return [a for a in answers if a.ok and a.sent > deadline and a.version == old]


def _failures(load: _Load, start: float, end: float) -> bool:
    """Whether any request sent between `start` and `end` got no 2xx answer."""
    return any(not a.ok for c in load.snapshot() for a in c if start <= a.sent < end)


def _wait_settled(load: _Load, version: int, since: float, limit: float) -> bool:
    deadline = since + limit
    while time.monotonic() < deadline:
        if load.settled(version, since):
            return True
        time.sleep(0.05)
    return load.settled(version, since)


def _check_server(url: str, champion: int, wait: float) -> None:
    """The server at `url` answers and serves `champion` (waiting up to `wait` seconds for it
    to follow the registry); a canary must not be running."""
    status, _ = get_json(url + "/ready", timeout=5)
    if status == 0:
        raise ServeError(
            f"no server answers at {url}: start one with `keel serve`, or leave out --url and "
            "the drill starts its own"
        )
    deadline = time.monotonic() + wait
    while True:
        status, info = get_json(url + "/version", timeout=5)
        serving = info.get("champion") if isinstance(info, dict) else None
        if status == 200 and serving == champion:
            break
        if time.monotonic() > deadline:
            raise ServeError(
                f"the server at {url} serves version {serving} (GET /version answered {status}),"
                f" but the registry's champion is version {champion}: is it serving this "
                "registry?"
            )
        time.sleep(0.2)
    if isinstance(info, dict) and info.get("candidate") is not None:
        raise ServeError(
            f"a canary of version {info['candidate']} is running on the server at {url}: end it "
            "(`keel canary abort`) before a rollback drill"
        )


def _serving(url: str) -> int | None:
    """The champion the server at `url` serves now (GET /version), or None."""
    status, info = get_json(url + "/version", timeout=5)
    found = info.get("champion") if status == 200 and isinstance(info, dict) else None
    return found if isinstance(found, int) else None


def _agreement(ref: RegistryRef, url: str, wait: float) -> tuple[int | None, int | None]:
    """(registry's champion, server's champion), waiting up to `wait` seconds for the
    server to follow the registry."""
    deadline = time.monotonic() + wait
    while True:
        now = champion_of(ref)
        registry = None if now is None else now.version
        server = _serving(url)
        if server == registry or time.monotonic() > deadline:
            return registry, server
        time.sleep(0.2)


def _undo(ref: RegistryRef, current: int, earlier: int, who: str | None) -> str | None:
    """Make `current` (the champion before the drill, which served before it) champion again
    after a rollback to `earlier` that did not work and was not restored. Returns what was
    done, or None when the registry names `current` already. `RegistryError` when it cannot
    be done (`keel.registry.drill.undo_rollback`)."""
    now = champion_of(ref)
    if now is not None and now.version == current:
        return None
    undo_rollback(ref, current, rolled_to=earlier, who=who)
    return (
        f"version {earlier} did not serve every client without failures after the rollback, "
        f"and version {current} was not restored through the gate: the drill rolled the "
        f"registry back to version {current}, which served before it"
    )


def rollback_drill(
    ref: RegistryRef,
    url: str,
    rows: list[dict[str, Any]],
    *,
    concurrency: int,
    load_seconds: float,
    max_seconds: float,
    gate: GateInputs | None = None,
    who: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DrillResult:
    """Roll the champion back under load against the server at `url`, measure the switch and
    the failed requests, make it champion again through `gate`, and record the result.

    `rows` are raw serving rows as JSON objects (`keel.serve.process.json_rows`). Without
    `gate` the champion is not restored (and the result says so). Raises `RegistryError` when
    there is no champion or no earlier one, `ServeError` when no server answers at `url`.
    """
    say = progress or (lambda _message: None)
    url = url.rstrip("/")
    if not rows:
        raise KeelError("a rollback drill needs at least one serving row to send")
    current, earlier = drill_versions(ref)
    _check_server(url, current, wait=max_seconds)
    load = _Load(url, rows, concurrency)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    clock = time.monotonic()
    say(f"load: {concurrency} clients on version {current} for {load_seconds:g} s")
    load.start()
    try:
        time.sleep(load_seconds)
        say(f"rolling back from version {current} to version {earlier}")
        t0 = time.monotonic()
        event = rollback(ref, who=who, reason="rollback drill")
        earlier = event.version
        rolled = time.monotonic() - t0
        say(f"rolled back; waiting until only version {earlier} answers")
        settled = _wait_settled(load, earlier, t0, 2 * max_seconds)
        t1 = time.monotonic()
        restored, reason = False, None
        restore_seconds = 0.0
        if gate is None:
            reason = f"no gate inputs were given: version {current} was not promoted again"
        else:
            say(f"restoring version {current} through the gate")
            try:
                verdict = promote(ref, current, gate, who=who, reason="rollback drill: restore")
                restored = verdict.promoted
                if not restored:
                    reason = "the gate refused it: " + "; ".join(verdict.failures)
            except RegistryError as exc:
                reason = f"the promotion failed: {exc}"
            restore_seconds = time.monotonic() - t1
        back = False
        undone = None
        if restored:
            say(f"restored; waiting until only version {current} answers")
            back = _wait_settled(load, current, t1, 2 * max_seconds)
        elif not settled or _failures(load, t0, t1):
            say(f"the rollback failed and was not restored: back to version {current}")
            try:
                undone = _undo(ref, current, earlier, who)
            except RegistryError as exc:
                undone = f"the drill could not roll back to version {current}: {exc}"
        t2 = time.monotonic()
    finally:
        load.stop()
    end = time.monotonic()
    say("checking that the server serves the registry's champion")
    registry_now, server_now = _agreement(ref, url, 2 * max_seconds)
    phases = [
        _phase(
            "rollback",
            load,
            old=current,
            new=earlier,
            start=t0,
            end=t1,
            command_seconds=rolled,
            settled=settled,
            limit=max_seconds,
        )
    ]
    if restored:
        phases.append(
            _phase(
                "restore",
                load,
                old=earlier,
                new=current,
                start=t1,
                end=t2,
                command_seconds=restore_seconds,
                settled=back,
                limit=max_seconds,
            )
        )
    everything = [a for client in load.snapshot() for a in client]
    late = sum(p.late for p in phases)
    failed = [a for a in everything if not a.ok]
    before = [a for a in everything if a.sent < t0 and a.ok and a.version != current]
    first = phases[0]
    stray = first.stray + len(before)
    unnamed = sum(1 for a in everything if a.ok and a.version is None)
    agreed = registry_now is not None and registry_now == server_now
    passed = (
        not failed
        and not late
        and settled
        and stray == 0
        and unnamed == 0
        and first.switch_seconds <= max_seconds
        and agreed
    )
    errors = list(dict.fromkeys(a.error for a in failed))[:5]
    if late:
        errors.append(
            f"{late} request(s) sent over {max_seconds:g} s after a switch began were "
            "still answered by the version it left"
        )
    if not agreed:
        errors.append(
            f"after the drill the registry names version {registry_now} champion but the "
            f"server at {url} serves version {server_now}"
        )
    result = DrillResult(
        url=url,
        from_version=current,
        to_version=earlier,
        started=started,
        seconds=round(end - clock, 3),
        concurrency=concurrency,
        load_seconds=load_seconds,
        max_seconds=max_seconds,
        requests=len(everything),
        failed=len(failed) + late,
        switch_seconds=first.switch_seconds,
        settled=settled,
        stray=stray,
        unnamed=unnamed,
        restored=restored,
        restore_reason=reason,
        restore_switch_seconds=phases[1].switch_seconds if restored else None,
        champion=registry_now,
        passed=passed,
        phases=phases,
        errors=errors,
        late=late,
        undone=undone,
        agreed=agreed,
        server_champion=server_now,
    )
    say("recording the drill in the registry's audit history")
    record_drill(ref, result.to_dict(), version=earlier, previous=current, who=who)
    return result
