"""Writing a published report into the team view's database, and reading one back.

`save` stores one checked publish in one transaction: the system (created on its first
publish; its team and owner follow the newest publish that names them), the report row with
the columns the pages read (scores, failing practices, champion, canary) and the full JSON
compressed, one practice_results row per practice, and the system's pointer to its newest
report of that kind, moved only when this run is newer (reports may arrive late, from the
outbox). A publish_id seen before is not stored again: a resend after a lost answer is a no-op.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from keel.ui.db import practice_results, reports, systems, utc_now
from keel.ui.payload import Publish

BROKEN = ("fail", "error")


def save(engine: Engine, publish: Publish) -> tuple[int, bool]:
    """Store `publish`; return (its report id, True when stored now / False when a resend)."""
    report = publish.report
    with engine.begin() as connection:
        known = connection.execute(
            select(reports.c.id).where(reports.c.publish_id == publish.publish_id)
        ).first()
        if known is not None:
            return int(known.id), False
        system_id = _system(connection, publish)
        score = report["score"]
        practices = report["practices"]
        infra6 = next(
            (p["facts"] for p in practices if p["id"] == "infra.6" and p["status"] != "left_out"),
            {},
        )
        canary = infra6.get("canary") if isinstance(infra6.get("canary"), str) else None
        canary_at = (
            infra6.get("canary_when") if isinstance(infra6.get("canary_when"), str) else None
        )
        report_id = connection.execute(
            insert(reports)
            .values(
                system_id=system_id,
                publish_id=publish.publish_id,
                kind=publish.kind,
                commit=publish.commit,
                registry_version=publish.registry_version,
                received_at=utc_now(),
                run_at=publish.run_at,
                final=score["final"],
                band=score["band"]["name"],
                failing=",".join(p["id"] for p in practices if p["status"] in BROKEN),
                canary=_clean(canary)[:40] if canary else None,
                canary_at=_clean(canary_at)[:40] if canary_at else None,
                keel_version=report["keel_version"],
                body=compress(report),
                **{
                    key: score["sections"].get(key) for key in ("data", "model", "infra", "monitor")
                },
            )
            .returning(reports.c.id)
        ).scalar_one()
        connection.execute(
            insert(practice_results),
            [
                {
                    "report_id": report_id,
                    "system_id": system_id,
                    "practice": p["id"],
                    "status": p["status"],
                    "summary": _clean(p["summary"]),
                    "hint": _clean(p["hint"]),
                    "run_at": publish.run_at,
                }
                for p in practices
            ],
        )
        _point_latest(connection, system_id, publish.kind, report_id, publish)
    return int(report_id), True


def compress(report: dict[str, Any]) -> bytes:
    """The stored form of a report.json: compact JSON, zlib-compressed."""
    text = json.dumps(report, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return zlib.compress(text.encode("utf-8"), 6)


def body_of(engine: Engine, report_id: int) -> dict[str, Any] | None:
    """The full report.json of a stored report; None when there is no such report."""
    with engine.connect() as connection:
        blob = connection.execute(select(reports.c.body).where(reports.c.id == report_id)).scalar()
    return None if blob is None else json.loads(zlib.decompress(blob).decode("utf-8"))


def _system(connection: Connection, publish: Publish) -> int:
    """The system's id, the system created when new; its team and owner updated when given."""
    found = connection.execute(select(systems.c.id).where(systems.c.name == publish.system)).first()
    if found is None:
        try:
            with connection.begin_nested():
                return int(
                    connection.execute(
                        insert(systems)
                        .values(
                            name=publish.system,
                            team=publish.team,
                            owner=publish.owner,
                            created_at=utc_now(),
                        )
                        .returning(systems.c.id)
                    ).scalar_one()
                )
        except IntegrityError:  # created by a concurrent first publish
            found = connection.execute(
                select(systems.c.id).where(systems.c.name == publish.system)
            ).one()
    changes = {k: v for k, v in (("team", publish.team), ("owner", publish.owner)) if v}
    if changes:
        connection.execute(update(systems).where(systems.c.id == found.id).values(**changes))
    return int(found.id)


def _point_latest(
    connection: Connection, system_id: int, kind: str, report_id: int, publish: Publish
) -> None:
    """Point the system at this report as its newest of `kind` unless a newer run is there."""
    column = systems.c.latest_score_id if kind == "score" else systems.c.latest_monitor_id
    newer = (
        select(reports.c.id)
        .where(and_(reports.c.id == column, reports.c.run_at > publish.run_at))
        .exists()
    )
    connection.execute(
        update(systems)
        .where(and_(systems.c.id == system_id, or_(column.is_(None), ~newer)))
        .values({column.key: report_id})
    )


def _clean(text: str) -> str:
    """Text a database column holds: no NUL character (PostgreSQL refuses it)."""
    return text.replace("\x00", "")
