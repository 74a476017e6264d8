"""How the serving version changes, and the record of it: the gate, promotion, rollback, the
audit trail; and the history of scores.

`promote` makes a registered version the serving one (the alias `champion`) only through the
gate (`judge`): absolute floors (`[gate] min`) and the largest allowed drop against the current
champion (`[gate] max_regression`), metrics oriented so that higher is better. Both models are
loaded from the registry and judged on the same evaluation data through their artefacts, so
what is judged is what would serve. With no champion yet the regression limits are skipped,
and the verdict says so. The `Verdict` is recorded on the version (`keel.gate.*` tags).
`rollback` moves `champion` back along the chain of earlier champions.

MLflow aliases keep no history: moving `champion` overwrites it. So every promotion, refused
promotion and rollback is also written as an event: one run in the experiment
`keel/<model>/audit`, its facts in `keel.event.*` tags. A run per event is append-only, carries
its own time and user, is searchable and shows in the MLflow UI; a log kept in one tag of the
registered model would be a read-modify-write of an ever-growing value instead, unsafe when two
clients write and capped in size. Events are numbered (`keel.event.seq`) by the writer.

Promotions and rollbacks read the champion, judge, move the alias and write the event under
the registry lock (see `keel.registry.Store.locked`), so two at once queue: never two
champions, never none, and each event's previous champion is the one the event before it left.
On a remote server that lock covers one machine; across machines MLflow's alias semantics
still hold (an alias names exactly one version), but a recorded previous champion may be stale.

Every `keel score` run is one run in `keel/<system>/scores`: the section and final scores as
metrics, the commit and start time as tags.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from keel.lineage import as_predictions, predict_raw
from keel.model.slices import slice_metric
from keel.registry import (
    CHAMPION,
    RegistryError,
    Store,
    aliases,
    connect,
    find_version,
    load_version,
    now,
    translated,
    user,
)
from keel.rubric import SECTIONS
from keel.system import System

__all__ = [
    "Event",
    "Verdict",
    "champion_stack",
    "history",
    "judge",
    "promote",
    "recent_scores",
    "record_score",
    "rollback",
]

EventKind = Literal["promote", "force-promote", "refused", "rollback"]
_TAG = "keel.event."


@dataclass
class Verdict:
    """The gate's judgement of one version, as recorded on it.

    `passed` is the gate's own answer; `promoted` is whether the version became the champion
    (a forced promotion is promoted without passing, and records `reason`).
    """

    version: int
    passed: bool
    promoted: bool
    metrics: dict[str, float]
    champion: int | None
    champion_metrics: dict[str, float]
    thresholds: dict[str, dict[str, float]]
    failures: list[str]
    notes: list[str]
    who: str
    when: str
    forced: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready plain data (an undefined metric becomes None)."""
        data = asdict(self)
        for key in ("metrics", "champion_metrics"):
            data[key] = {k: None if math.isnan(v) else v for k, v in data[key].items()}
        return data


def judge(
    metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    *,
    floors: dict[str, float],
    max_regression: dict[str, float],
    champion: int | None,
) -> tuple[list[str], list[str]]:
    """The gate's failures and notes for a candidate's metrics (higher is better).

    `champion_metrics` is None when there is no champion: the regression limits are then
    skipped with a note. An undefined metric (NaN) fails every rule that reads it.
    """
    failures, notes = [], []
    for name, floor in floors.items():
        value = metrics.get(name, math.nan)
        if math.isnan(value):
            failures.append(f"{name} is undefined on the evaluation data ([gate] min)")
        elif value < floor:
            failures.append(f"{name} {value:.4f} is below the floor {floor:g} ([gate] min)")
    if champion_metrics is None:
        if max_regression:
            notes.append("no champion yet: the regression limits were not applied")
        return failures, notes
    for name, drop in max_regression.items():
        value, before = metrics.get(name, math.nan), champion_metrics.get(name, math.nan)
        if math.isnan(value) or math.isnan(before):
            failures.append(f"{name} is undefined for this version or the champion")
        elif before - value > drop + 1e-12:
            failures.append(
                f"{name} {value:.4f} is {before - value:.4f} below the champion's {before:.4f} "
                f"(version {champion}); at most {drop:g} is allowed ([gate] max_regression)"
            )
    return failures, notes


@dataclass
class Event:
    """One change (or refused change) of the serving version, as recorded in the audit trail.

    `previous` is the champion before the event and `champion` the one after it (the same for
    a refused promotion); `verdict` is the gate's verdict for promotions, None for rollbacks.
    """

    seq: int
    kind: EventKind
    version: int
    previous: int | None
    champion: int | None
    who: str
    when: str
    reason: str | None = None
    verdict: dict[str, Any] | None = None
    run_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready plain data."""
        return asdict(self)


def _runs(client: Any, experiment_id: str, *, limit: int | None = None) -> Iterator[Any]:
    """Runs of an experiment, newest first, page by page."""
    token = None
    seen = 0
    while True:
        page = client.search_runs(
            [experiment_id],
            max_results=min(1000, limit - seen) if limit else 1000,
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        for run in page:
            yield run
            seen += 1
        token = page.token
        if not token or (limit and seen >= limit):
            return


def _optional_int(text: str | None) -> int | None:
    return int(text) if text not in (None, "", "none") else None


def _event(run: Any) -> Event:
    tags = run.data.tags
    verdict = tags.get(_TAG + "verdict")
    return Event(
        seq=int(tags[_TAG + "seq"]),
        kind=tags[_TAG + "kind"],  # type: ignore[arg-type]
        version=int(tags[_TAG + "version"]),
        previous=_optional_int(tags.get(_TAG + "previous")),
        champion=_optional_int(tags.get(_TAG + "champion")),
        who=tags.get(_TAG + "who", ""),
        when=tags.get(_TAG + "when", ""),
        reason=tags.get(_TAG + "reason") or None,
        verdict=json.loads(verdict) if verdict else None,
        run_id=run.info.run_id,
    )


def read_events(client: Any, experiment_id: str) -> list[Event]:
    """Every recorded event, newest first."""
    events = [_event(r) for r in _runs(client, experiment_id) if _TAG + "seq" in r.data.tags]
    return sorted(events, key=lambda e: e.seq, reverse=True)


def write_event(client: Any, experiment_id: str, event: Event) -> Event:
    """Record an event as a finished run; its `seq` must follow the newest one (hold the lock)."""
    tags = {
        _TAG + "seq": str(event.seq),
        _TAG + "kind": event.kind,
        _TAG + "version": str(event.version),
        _TAG + "previous": str(event.previous) if event.previous is not None else "none",
        _TAG + "champion": str(event.champion) if event.champion is not None else "none",
        _TAG + "who": event.who,
        _TAG + "when": event.when,
        "mlflow.user": event.who,
    }
    if event.reason:
        tags[_TAG + "reason"] = event.reason
    if event.verdict is not None:
        tags[_TAG + "verdict"] = json.dumps(event.verdict, sort_keys=True)
    run = client.create_run(
        experiment_id, run_name=f"{event.seq:04d} {event.kind} v{event.version}", tags=tags
    )
    client.set_terminated(run.info.run_id)
    event.run_id = run.info.run_id
    return event


def champion_stack(events: list[Event], current: int | None) -> list[int]:
    """The chain of champions, oldest first, that a rollback walks back along.

    Replays the events oldest first: a promotion puts its version on top; a rollback to a
    version in the chain drops everything above it (a rollback to any other version puts it
    on top). A champion set outside Keel (in the MLflow UI) is put on top as well, so the
    chain always ends with the current champion.
    """
    stack: list[int] = []

    def move_to(version: int) -> None:
        if version in stack:  # keep the chain up to its latest place
            del stack[len(stack) - stack[::-1].index(version) :]
        else:
            stack.append(version)

    for event in sorted(events, key=lambda e: e.seq):
        if event.kind in ("promote", "force-promote") and (not stack or stack[-1] != event.version):
            stack.append(event.version)
        elif event.kind == "rollback":
            move_to(event.version)
    if current is not None and (not stack or stack[-1] != current):
        move_to(current)
    return stack


def write_score(client: Any, experiment_id: str, result: Any) -> str:
    """Record one `keel score` run (a `keel.evidence.RunResult`); return the run id."""
    from mlflow.entities import Metric

    score = result.score
    now = int(time.time() * 1000)
    metrics = {"final": score.final, "literal_final": score.literal_final}
    metrics |= {f"section.{s}": v for s, v in score.sections.items()}
    metrics |= {f"literal.{s}": v for s, v in score.literal_sections.items()}
    statuses = {e.practice: e.status for e in result.evidence}
    tags = {
        "keel.kind": "score",
        "keel.started_at": result.started_at,
        "keel.commit": result.git_commit or "none",
        "keel.keel_version": result.keel_version,
        "keel.band": score.band.name,
        "keel.statuses": json.dumps(statuses, sort_keys=True),
        "keel.selected": ",".join(result.selected),
    }
    run = client.create_run(experiment_id, run_name=f"score {result.started_at}", tags=tags)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
    )
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def read_scores(client: Any, experiment_id: str, n: int) -> list[dict[str, Any]]:
    """The `n` newest recorded scores, oldest first (the order a trend is drawn in)."""
    found = []
    for run in _runs(client, experiment_id, limit=n):
        tags, metrics = run.data.tags, run.data.metrics
        if tags.get("keel.kind") != "score" or "final" not in metrics:
            continue
        commit = tags.get("keel.commit")
        found.append(
            {
                "started_at": tags.get("keel.started_at", ""),
                "final": metrics["final"],
                "sections": {
                    s: metrics[f"section.{s}"] for s in SECTIONS if f"section.{s}" in metrics
                },
                "commit": None if commit in (None, "none") else commit,
                "run_id": run.info.run_id,
            }
        )
    return found[::-1]


# -- the gate, promotion and rollback --------------------------------------------------------


def _measure(system: System, store: Store, mv: Any, names: list[str]) -> dict[str, float]:
    """Metrics of a registered version's artefact on the system's raw evaluation rows."""
    model = load_version(store, mv)
    evaluation = system.dataset("eval")
    try:
        predictions = as_predictions(model, predict_raw(model, evaluation.raw))
    except Exception as exc:
        raise RegistryError(
            f"version {mv.version} of '{store.model}' cannot predict the evaluation rows: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    y = np.asarray(evaluation.target)
    return {name: slice_metric(name, y, predictions)[0] for name in names}


def _next_seq(events: list[Event]) -> int:
    return events[0].seq + 1 if events else 1


def _move_champion(store: Store, audit: str, event: Event, before: int | None) -> None:
    """Point `champion` at the event's version and record the event, or change nothing."""
    client = store.client
    if event.champion is not None and event.champion != before:
        client.set_registered_model_alias(store.model, CHAMPION, str(event.champion))
    try:
        write_event(client, audit, event)
    except BaseException:
        if before is None:
            client.delete_registered_model_alias(store.model, CHAMPION)
        elif before != event.champion:
            client.set_registered_model_alias(store.model, CHAMPION, str(before))
        raise


def promote(
    system: System,
    version: int | str,
    *,
    force: bool = False,
    reason: str | None = None,
    who: str | None = None,
) -> Verdict:
    """Make a version the champion if the gate passes it (or `force` with a `reason`).

    Both the version and the current champion are loaded from the registry and judged on the
    system's evaluation data through their artefacts, so what is judged is what would serve.
    The verdict is recorded on the version (`keel.gate.*` tags) and as an audit event, whether
    the version was promoted or refused.
    """
    if force and not (reason or "").strip():
        raise RegistryError(
            "a forced promotion needs a reason (--reason TEXT); it is recorded with the verdict"
        )
    gate = system.config.gate
    who = user(who)
    store = connect(system)
    with translated(store.uri), store.locked():
        client = store.client
        mv = find_version(store, version)
        number = int(mv.version)
        current = aliases(store).get(CHAMPION)
        if current == number:
            raise RegistryError(f"version {number} of '{store.model}' is already the champion")
        names = list(dict.fromkeys([system.metric_name, *gate.min, *gate.max_regression]))
        metrics = _measure(system, store, mv, names)
        notes: list[str] = []
        champion_metrics: dict[str, float] | None = None
        if current is not None:
            try:
                champion_mv = client.get_model_version(store.model, str(current))
                champion_metrics = _measure(system, store, champion_mv, names)
            except RegistryError as exc:
                if not force:
                    raise RegistryError(
                        f"{exc}; the gate cannot compare with the champion (version {current}):"
                        " roll back with `keel rollback`, or promote with --force --reason"
                    ) from None
                notes.append(f"the champion (version {current}) could not be judged: {exc}")
                champion_metrics = dict.fromkeys(names, math.nan)
        failures, more = judge(
            metrics,
            champion_metrics,
            floors=dict(gate.min),
            max_regression=dict(gate.max_regression),
            champion=current,
        )
        notes += more
        if not gate.min and not gate.max_regression:
            notes.append("no [gate] thresholds are configured: nothing was checked")
        passed = not failures
        verdict = Verdict(
            version=number,
            passed=passed,
            promoted=passed or force,
            metrics=metrics,
            champion=current,
            champion_metrics=champion_metrics or {},
            thresholds={"min": dict(gate.min), "max_regression": dict(gate.max_regression)},
            failures=failures,
            notes=notes,
            who=who,
            when=now(),
            forced=force and not passed,
            reason=(reason or "").strip() or None,
        )
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        kind = "promote" if passed else ("force-promote" if force else "refused")
        event = Event(
            seq=_next_seq(events),
            kind=kind,  # type: ignore[arg-type]
            version=number,
            previous=current,
            champion=number if verdict.promoted else current,
            who=who,
            when=verdict.when,
            reason=verdict.reason,
            verdict=verdict.to_dict(),
        )
        _move_champion(store, audit, event, current)
        tags = {
            "keel.gate.passed": str(passed).lower(),
            "keel.gate.verdict": json.dumps(verdict.to_dict(), sort_keys=True),
            "keel.gate.who": who,
            "keel.gate.when": verdict.when,
            "keel.gate.forced": str(verdict.forced).lower(),
        }
        if verdict.reason:
            tags["keel.gate.reason"] = verdict.reason
        for key, value in tags.items():
            client.set_model_version_tag(store.model, str(number), key, value)
        return verdict


def rollback(
    system: System,
    *,
    to: int | str | None = None,
    who: str | None = None,
    reason: str | None = None,
) -> Event:
    """Move `champion` back to the champion before the current one, or to an earlier one.

    Rollback walks back along the chain of champions (see `keel.history.champion_stack`):
    repeated rollbacks go further back. `to` must name a version that was champion before;
    any other version goes through the gate with `promote`. The target's artefact must load.
    """
    who = user(who)
    store = connect(system)
    with translated(store.uri), store.locked():
        client = store.client
        current = aliases(store).get(CHAMPION)
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        chain = champion_stack(events, current)
        if to is None:
            earlier = chain[:-1] if current is not None else chain
            if not earlier:
                whose = (
                    f"version {current} is the first champion of '{store.model}'"
                    if current is not None
                    else f"'{store.model}' has never had a champion"
                )
                raise RegistryError(f"no earlier champion to roll back to: {whose}")
            target = earlier[-1]
        else:
            target = int(find_version(store, to).version)
            if target == current:
                raise RegistryError(f"version {target} is already the champion")
            if target not in chain:
                raise RegistryError(
                    f"version {target} has never been the champion, so there is nothing to roll "
                    f"back to; promote it through the gate with `keel promote {target}`"
                )
        load_version(store, find_version(store, target))  # a corrupt artefact changes nothing
        event = Event(
            seq=_next_seq(events),
            kind="rollback",
            version=target,
            previous=current,
            champion=target,
            who=who,
            when=now(),
            reason=(reason or "").strip() or None,
        )
        _move_champion(store, audit, event, current)
        note = {"from": current, "who": who, "when": event.when, "reason": event.reason}
        client.set_model_version_tag(store.model, str(target), "keel.rollback", json.dumps(note))
        return event


# -- histories -------------------------------------------------------------------------------


def history(system: System) -> list[Event]:
    """Every promotion, refused promotion and rollback of the system's model, newest first."""
    store = connect(system)
    with translated(store.uri):
        audit = store.experiment(f"keel/{store.model}/audit", create=False)
        return [] if audit is None else read_events(store.client, audit)


def record_score(system: System, result: Any) -> str:
    """Record a `keel score` run (a `keel.evidence.RunResult`) in the tracking store.

    Returns the MLflow run id; raises `RegistryError` when the store cannot be used (callers
    that must not fail on that should catch `KeelError` and warn).
    """
    store = connect(system)
    with translated(store.uri):
        return write_score(store.client, store.experiment(f"keel/{system.name}/scores"), result)


def recent_scores(system: System, n: int = 20) -> list[dict[str, Any]]:
    """The `n` newest recorded scores, oldest first: started_at, final, sections, commit."""
    store = connect(system)
    with translated(store.uri):
        experiment = store.experiment(f"keel/{system.name}/scores", create=False)
        return [] if experiment is None else read_scores(store.client, experiment, n)
