"""The audit history: every promotion, refused promotion and rollback, and every score.

MLflow aliases keep no history: moving `champion` overwrites it. So every promotion, refused
promotion and rollback is also written as an event: one run in the experiment
`keel/<model>/audit`, its facts in `keel.event.*` tags. A run per event is append-only, carries
its own time and user, is searchable and shows in the MLflow UI; a log kept in one tag of the
registered model would be a read-modify-write of an ever-growing value instead, unsafe when two
clients write and capped in size. Events are numbered (`keel.event.seq`) by the writer, under
the registry lock (see `keel.registry.promotion`).

Every `keel score` run is one run in `keel/<system>/scores`: the section and final scores as
metrics, the commit and start time as tags.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from keel.registry.records import Event, champion_stack
from keel.registry.ref import RegistryRef
from keel.registry.store import connect, translated
from keel.rubric import SECTIONS

__all__ = ["Event", "champion_stack", "history", "recent_scores", "record_score"]

_TAG = "keel.event."


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


def history(ref: RegistryRef) -> list[Event]:
    """Every promotion, refused promotion and rollback of the model, newest first."""
    store = connect(ref)
    with translated(store.uri):
        audit = store.experiment(f"keel/{store.model}/audit", create=False)
        return [] if audit is None else read_events(store.client, audit)


def record_score(ref: RegistryRef, result: Any) -> str:
    """Record a `keel score` run (a `keel.evidence.RunResult`) in the tracking store.

    Returns the MLflow run id; raises `RegistryError` when the store cannot be used (callers
    that must not fail on that should catch `KeelError` and warn).
    """
    store = connect(ref)
    with translated(store.uri):
        return write_score(store.client, store.experiment(f"keel/{ref.system}/scores"), result)


def recent_scores(ref: RegistryRef, n: int = 20) -> list[dict[str, Any]]:
    """The `n` newest recorded scores, oldest first: started_at, final, sections, commit."""
    store = connect(ref)
    with translated(store.uri):
        experiment = store.experiment(f"keel/{ref.system}/scores", create=False)
        return [] if experiment is None else read_scores(store.client, experiment, n)
