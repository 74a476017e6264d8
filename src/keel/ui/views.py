"""The data of each page of the team view, read with a fixed number of queries per page.

The overview reads one row per system (its newest score and monitor reports through the
systems table's pointers) and one windowed query for every sparkline, never a query per
system. A system's page reads its run columns (never the stored JSON, except the newest
monitor report's for its charts), and its status grid from practice_results by report id.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import Engine, and_, func, select

from keel import rubric
from keel.report.display import STATUS_LABELS, format_points
from keel.report.svg import section_scores_svg
from keel.ui.charts import section_history, sparkline
from keel.ui.db import SECTION_COLUMNS, as_utc, practice_results, reports, systems
from keel.ui.evidence import practice_view
from keel.ui.store import body_of

SPARK_RUNS = 30  # runs in an overview sparkline
GRID_RUNS = 30  # runs (columns) in a system's status grid
HISTORY_RUNS = 365  # runs in a system's score history chart
WEEK = dt.timedelta(days=7)


@dataclass
class SystemRow:
    """One line of the overview."""

    name: str
    team: str
    owner: str
    final: str = "–"
    final_value: float | None = None
    band: str = ""
    lowest: str = ""
    spark: Markup = Markup("")
    week_change: float | None = None
    failing: list[str] = field(default_factory=list)
    last_run: str = ""
    last_run_id: int | None = None
    champion: int | None = None
    alerts: list[str] = field(default_factory=list)


def overview(engine: Engine, *, team: str | None = None, owner: str | None = None) -> dict:
    """All systems (of `team`, of `owner`), the worst final score first."""
    rows = _latest(engine, team, owner)
    with engine.connect() as c:
        teams = [t for (t,) in c.execute(select(systems.c.team).distinct()) if t]
        owners = [o for (o,) in c.execute(select(systems.c.owner).distinct()) if o]
    scores = _sparks(engine, [r.id for r in rows]) if rows else {}
    shown = []
    for r in rows:
        row = SystemRow(r.name, r.team or "", r.owner or "")
        if r.score_id is not None:
            sections = {k: getattr(r, k) for k in SECTION_COLUMNS}
            low = min((v for v in sections.values() if v is not None), default=None)
            row.final, row.final_value = _points(r.final), r.final
            row.band = r.band
            row.lowest = ", ".join(
                f"{k} {format_points(v)}" for k, v in sections.items() if v is not None and v == low
            )
            row.failing = [p for p in r.failing.split(",") if p]
            history = scores.get(r.id, [])
            row.spark = Markup(sparkline([v for _, v in history]))
            row.week_change = _week_change(history)
        latest = max(
            [(as_utc(r.score_at), r.score_id), (as_utc(r.monitor_at), r.monitor_id)],
            key=lambda p: p[0] or dt.datetime.min.replace(tzinfo=dt.UTC),
        )
        row.last_run, row.last_run_id = _when(latest[0]), latest[1]
        row.champion = r.s_version if r.s_version is not None else r.m_version
        row.alerts = [p for p in (r.m_failing or "").split(",") if p.startswith("monitor.")]
        shown.append(row)
    shown.sort(key=lambda s: (s.final_value is None, s.final_value or 0.0, s.name))
    return {
        "title": "All systems",
        "rows": shown,
        "teams": sorted(teams),
        "owners": sorted(owners),
        "team": team or "",
        "owner": owner or "",
        "counts": {
            "systems": len(shown),
            "failing": sum(1 for s in shown if s.failing),
            "worse": sum(1 for s in shown if (s.week_change or 0) < 0),
            "alerts": sum(len(s.alerts) for s in shown),
        },
    }


def overview_json(engine: Engine, *, team: str | None = None, owner: str | None = None) -> list:
    """The overview as plain JSON values."""
    return [
        {
            "system": s.name,
            "team": s.team or None,
            "owner": s.owner or None,
            "final": s.final_value,
            "band": s.band or None,
            "lowest": s.lowest or None,
            "week_change": s.week_change,
            "failing": s.failing,
            "last_run": s.last_run or None,
            "champion": s.champion,
            "open_alerts": s.alerts,
        }
        for s in overview(engine, team=team, owner=owner)["rows"]
    ]


def _latest(engine: Engine, team: str | None, owner: str | None) -> list[Any]:
    s, m = reports.alias("s"), reports.alias("m")
    query = select(
        systems.c.id,
        systems.c.name,
        systems.c.team,
        systems.c.owner,
        s.c.id.label("score_id"),
        s.c.final,
        s.c.band,
        *(s.c[k] for k in SECTION_COLUMNS),
        s.c.failing,
        s.c.run_at.label("score_at"),
        s.c.registry_version.label("s_version"),
        m.c.id.label("monitor_id"),
        m.c.failing.label("m_failing"),
        m.c.run_at.label("monitor_at"),
        m.c.registry_version.label("m_version"),
    ).select_from(
        systems.outerjoin(s, s.c.id == systems.c.latest_score_id).outerjoin(
            m, m.c.id == systems.c.latest_monitor_id
        )
    )
    if team:
        query = query.where(systems.c.team == team)
    if owner:
        query = query.where(systems.c.owner == owner)
    with engine.connect() as c:
        return list(c.execute(query))


def _sparks(engine: Engine, ids: list[int]) -> dict[int, list[tuple[dt.datetime, float]]]:
    """The last SPARK_RUNS final scores of each system, oldest first, in one query."""
    ranked = (
        select(
            reports.c.system_id,
            reports.c.run_at,
            reports.c.final,
            func.row_number()
            .over(partition_by=reports.c.system_id, order_by=reports.c.run_at.desc())
            .label("n"),
        )
        .where(reports.c.kind == "score")
        .subquery()
    )
    query = select(ranked.c.system_id, ranked.c.run_at, ranked.c.final).where(
        ranked.c.n <= SPARK_RUNS
    )
    found: dict[int, list[tuple[dt.datetime, float]]] = {}
    with engine.connect() as c:
        for sid, when, final in c.execute(query):
            found.setdefault(sid, []).append((as_utc(when), final))
    wanted = set(ids)
    return {k: sorted(v) for k, v in found.items() if k in wanted}


def _week_change(history: list[tuple[dt.datetime, float]]) -> float | None:
    """The newest final score minus the newest one at least a week older; None without."""
    if not history:
        return None
    newest_at, newest = history[-1]
    before = [v for when, v in history if when <= newest_at - WEEK]
    if not before or newest is None or before[-1] is None:
        return None
    return newest - before[-1]


def system_page(engine: Engine, name: str) -> dict | None:
    """One system over time; None when no such system published."""
    with engine.connect() as c:
        system = c.execute(select(systems).where(systems.c.name == name)).first()
        if system is None:
            return None
        cols = [
            reports.c.id,
            reports.c.kind,
            reports.c.run_at,
            reports.c.final,
            reports.c.band,
            *(reports.c[k] for k in SECTION_COLUMNS),
            reports.c.failing,
            reports.c.commit,
            reports.c.registry_version,
            reports.c.canary,
            reports.c.canary_at,
        ]
        runs = list(
            c.execute(
                select(*cols)
                .where(reports.c.system_id == system.id)
                .order_by(reports.c.run_at.desc())
                .limit(2 * HISTORY_RUNS)
            )
        )[::-1]
        scored = [r for r in runs if r.kind == "score"][-HISTORY_RUNS:]
        grid_runs = scored[-GRID_RUNS:]
        cells = c.execute(
            select(practice_results.c.report_id, practice_results.c.practice,
                   practice_results.c.status, practice_results.c.summary)
            .where(practice_results.c.report_id.in_([r.id for r in grid_runs]))
        ).all() if grid_runs else []  # fmt: skip
    grid = {(r.report_id, r.practice): (r.status, r.summary) for r in cells}
    latest = scored[-1] if scored else None
    monitor = body_of(engine, system.latest_monitor_id) if system.latest_monitor_id else None
    return {
        "title": system.name,
        "system": system,
        "latest": latest,
        "final": _points(latest.final) if latest else "–",
        "history": Markup(
            section_history(
                [_when(as_utc(r.run_at), short=True) for r in scored],
                {
                    "final": [r.final for r in scored],
                    **{k: [getattr(r, k) for r in scored] for k in SECTION_COLUMNS},
                },
            )
        )
        if len(scored) >= 2
        else None,
        "grid_runs": [(r.id, _when(as_utc(r.run_at), short=True)) for r in grid_runs],
        "grid": [
            (
                pid,
                rubric.BY_ID[pid].title,
                [grid.get((r.id, pid), ("left_out", "not in this run")) for r in grid_runs],
            )
            for pid in rubric.PRACTICE_IDS
        ],
        "status_labels": STATUS_LABELS,
        "champions": _champions(runs),
        "canaries": _canaries(runs),
        "monitor": _monitor(monitor, system.latest_monitor_id),
        "runs": [
            {
                "id": r.id,
                "kind": r.kind,
                "when": _when(as_utc(r.run_at)),
                "final": _points(r.final),
                "failing": [p for p in r.failing.split(",") if p],
                "commit": (r.commit or "")[:12],
            }
            for r in runs[::-1][:GRID_RUNS]
        ],
    }


def _champions(runs: list[Any]) -> list[dict]:
    """Every change of the champion version the published runs saw, newest first."""
    changes, before = [], None
    for r in runs:
        if r.registry_version is not None and r.registry_version != before:
            changes.append(
                {"when": _when(as_utc(r.run_at)), "from": before, "to": r.registry_version,
                 "run": r.id}
            )  # fmt: skip
            before = r.registry_version
    return changes[::-1]


def _canaries(runs: list[Any]) -> list[dict]:
    """Every canary event (infra.6's newest, as each run saw it) once, newest first."""
    seen, events = set(), []
    for r in runs:
        if r.canary and (r.canary, r.canary_at) not in seen:
            seen.add((r.canary, r.canary_at))
            events.append({"event": r.canary, "when": _when_text(r.canary_at), "run": r.id,
                           "champion": r.registry_version})  # fmt: skip
    return events[::-1]


def _monitor(body: dict | None, report_id: int | None) -> dict | None:
    """The newest monitor report's monitoring practices, with their charts and tables."""
    if body is None:
        return None
    views = [
        practice_view(p)
        for p in body["practices"]
        if p["id"] in rubric.MONITORING and p["status"] != "left_out"
    ]
    return {"id": report_id, "when": _when_text(body["started_at"]), "practices": views}


def run_page(engine: Engine, report_id: int) -> dict | None:
    """One published run's full evidence; None when there is no such run."""
    with engine.connect() as c:
        row = c.execute(
            select(reports.c.id, reports.c.kind, reports.c.registry_version, systems.c.name)
            .join(systems, systems.c.id == reports.c.system_id)
            .where(reports.c.id == report_id)
        ).first()
    body = body_of(engine, report_id) if row else None
    if row is None or body is None:
        return None
    score = body["score"]
    views = [practice_view(p) for p in body["practices"]]
    sections = [
        {
            "key": key,
            "name": name,
            "score": _points(score["sections"].get(key)),
            "practices": [v for v in views if v.section == key],
        }
        for key, name in rubric.SECTIONS.items()
    ]
    commit = body.get("git_commit") or ""
    return {
        "title": f"{row.name}: {row.kind} run {row.id}",
        "system": row.name,
        "kind": row.kind,
        "run_id": row.id,
        "champion": row.registry_version,
        "commit": commit,
        "started": _when_text(body["started_at"]),
        "keel_version": body["keel_version"],
        "final": _points(score["final"]),
        "band": score["band"],
        "section_chart": Markup(
            section_scores_svg(
                {k: float(v or 0) for k, v in score["sections"].items()}, float(score["final"] or 0)
            )
        ),  # fmt: skip
        "sections": sections,
        "tiles": views,
    }


def practice_page(
    engine: Engine,
    practice: str,
    *,
    status: str | None = None,
    team: str | None = None,
    owner: str | None = None,
) -> dict | None:
    """One practice in every system's newest score run; None for an unknown practice id."""
    if practice not in rubric.BY_ID:
        return None
    query = (
        select(
            systems.c.name,
            systems.c.team,
            systems.c.owner,
            practice_results.c.status,
            practice_results.c.summary,
            practice_results.c.hint,
            practice_results.c.report_id,
            practice_results.c.run_at,
        )
        .select_from(systems)
        .join(
            practice_results,
            and_(
                practice_results.c.report_id == systems.c.latest_score_id,
                practice_results.c.practice == practice,
            ),
        )
        .order_by(systems.c.name)
    )
    if team:
        query = query.where(systems.c.team == team)
    if owner:
        query = query.where(systems.c.owner == owner)
    with engine.connect() as c:
        rows = list(c.execute(query))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    shown = [r for r in rows if not status or r.status == status]
    entry = rubric.BY_ID[practice]
    return {
        "title": f"{practice} across systems",
        "practice": practice,
        "practice_title": entry.title,
        "status": status or "",
        "team": team or "",
        "owner": owner or "",
        "counts": [(s, STATUS_LABELS[s], counts.get(s, 0)) for s in STATUS_LABELS],  # type: ignore[index]
        "rows": [
            {
                "system": r.name,
                "team": r.team or "",
                "owner": r.owner or "",
                "status": r.status,
                "status_label": STATUS_LABELS.get(r.status, r.status),  # type: ignore[call-overload]
                "summary": r.summary,
                "hint": r.hint if r.status in ("fail", "error", "not_configured") else "",
                "run": r.report_id,
                "when": _when(as_utc(r.run_at)),
            }
            for r in shown
        ],
        "practices": rubric.PRACTICE_IDS,
    }


def _points(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return format_points(value)


def _when(moment: dt.datetime | None, *, short: bool = False) -> str:
    if moment is None:
        return ""
    return f"{moment:%Y-%m-%d}" if short else f"{moment:%Y-%m-%d %H:%M} UTC"


def _when_text(text: str | None) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return str(text or "")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return _when(moment.astimezone(dt.UTC))
