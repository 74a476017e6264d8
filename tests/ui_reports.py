"""report.json dicts for the team view's tests, written by Keel's own JSON writer.

`report(...)` builds a run from evidence given by status (no checks run), with the facts the
team view reads (infra.4's champion, infra.6's canary), a bar chart and a table on monitor.3,
so pages have charts and tables to show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from keel.evidence import BarChart, Evidence, RunResult, Table
from keel.report.json_report import to_json_dict
from keel.rubric import PRACTICE_IDS, points, score


def report(
    system: str = "credit-default",
    *,
    statuses: dict[str, str] | None = None,
    default: str = "pass",
    started_at: dt.datetime | str = "2026-11-02T09:30:00+00:00",
    commit: str | None = "3f2a9c1d0b7e",
    champion: int | None = 2,
    canary: str | None = "canary-pass",
    hint: str = "",
    input_name: str = "income",
) -> dict[str, Any]:
    """A report.json dict of `system`: each practice `statuses[id]` (else `default`)."""
    statuses = statuses or {}
    evidence = []
    for pid in PRACTICE_IDS:
        status = statuses.get(pid, default)
        facts: dict[str, Any] = {}
        tables, figures = [], []
        if pid == "infra.4" and champion is not None:
            facts = {"champion": champion, "verdict_passed": True}
        if pid == "infra.6" and canary is not None:
            facts = {"champion": champion, "canary": canary, "canary_when": str(started_at)}
        if pid == "monitor.3":
            figures = [
                BarChart(
                    "Drift per input",
                    [input_name, "age"],
                    [0.4, 0.02],
                    x_label="L-infinity distance",
                    reference={"threshold": 0.1},
                    flagged=[True, False],
                )
            ]
            tables = [Table("Drifting inputs", ["input", "distance"], [[input_name, 0.4]])]
        e = Evidence(
            pid,
            status,
            f"{pid} is {status}",
            hint=(hint or f"fix {pid}") if status in ("fail", "error") else "",
            facts=facts,
            tables=tables,
            figures=figures,
        )
        e.points = points(e)
        evidence.append(e)
    result = RunResult(
        system=system,
        root="/srv/systems/" + system,
        keel_version="0.1.0",
        git_commit=commit,
        started_at=started_at.isoformat() if isinstance(started_at, dt.datetime) else started_at,
        duration_s=1.0,
        evidence=evidence,
        score=score(evidence),
        selected=[pid for pid in PRACTICE_IDS if statuses.get(pid, default) != "left_out"],
    )
    return to_json_dict(result)
