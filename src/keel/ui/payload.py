"""What a publisher sends the team view, and the server's check of it.

A publish is one JSON object:

    {
      "publish_id": "6f1c…",            # unique per publish: a resend of it is stored once
      "kind": "score" | "monitor",      # keel score's report.json, or keel monitor's
      "system": "credit-default",       # must be the report's system.name
      "commit": "3f2a…" | null,         # the system's git commit
      "registry_version": 2 | null,     # the champion version the run saw
      "team": "risk" | null, "owner": "ana@example.com" | null,   # keel.toml [system]
      "report": {…}                     # report.json, as report.schema.json describes
    }

`check(body)` parses and validates it: the report against report.schema.json (with jsonschema
when it is installed, else field by field as `keel diff` reads a report), the envelope field by
field, text lengths that the tables hold, and no NaN, no lone surrogate; a problem raises
`PayloadError` naming the field (`report.practices[3].status`), which the API answers with 4xx.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from keel.errors import KeelError

MAX_BYTES = 8 * 1024 * 1024  # a report.json is ~130 kB; a big one with long tables ~2 MB
KINDS = ("score", "monitor")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAX_DEPTH = 64


class PayloadError(KeelError):
    """A published body the server refuses; `field` names where the problem is."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


@dataclass(frozen=True)
class Publish:
    """A checked publish, ready to store."""

    publish_id: str
    kind: str
    system: str
    commit: str | None
    registry_version: int | None
    team: str | None
    owner: str | None
    report: dict[str, Any]
    run_at: dt.datetime


def envelope(
    report: dict[str, Any],
    *,
    kind: str,
    team: str | None = None,
    owner: str | None = None,
    registry_version: int | None = None,
) -> dict[str, Any]:
    """The publish of `report` (a report.json dict), as the client sends it. The registry
    version is the champion the run saw (a check's `champion` fact) unless given."""
    if registry_version is None:
        registry_version = champion_of(report)
    return {
        "publish_id": uuid.uuid4().hex,
        "kind": kind,
        "system": report["system"]["name"],
        "commit": report.get("git_commit"),
        "registry_version": registry_version,
        "team": team,
        "owner": owner,
        "report": report,
    }


def champion_of(report: dict[str, Any]) -> int | None:
    """The champion version a run saw: the first practice fact named `champion` holding a
    version number (infra.4, infra.6, monitor.1 record it); None without a registry."""
    for practice in report.get("practices") or []:
        facts = practice.get("facts") if isinstance(practice, dict) else None
        value = facts.get("champion") if isinstance(facts, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
            return value
    return None


def check(body: bytes, *, max_bytes: int = MAX_BYTES) -> Publish:
    """The body of POST /api/reports, checked; PayloadError naming the field otherwise."""
    if len(body) > max_bytes:
        raise PayloadError("body", f"{len(body):,} bytes, over the limit of {max_bytes:,}", 413)
    data = _parse(body)
    if not isinstance(data, dict):
        raise PayloadError("body", "expected a JSON object {kind, system, report, ...}")
    unknown = sorted(
        set(data)
        - {"publish_id", "kind", "system", "commit", "registry_version", "team", "owner", "report"}
    )
    if unknown:
        raise PayloadError(str(unknown[0]) or '""', "unknown field")
    kind = data.get("kind")
    if kind not in KINDS:
        raise PayloadError("kind", f"expected one of {', '.join(KINDS)}, got {_show(kind)}")
    publish_id = data.get("publish_id") or uuid.uuid4().hex
    if not isinstance(publish_id, str) or not _ID.match(publish_id):
        raise PayloadError("publish_id", "expected 1-64 letters, digits, '-', '_' or '.'")
    system = _text(data, "system", required=True)
    report = data.get("report")
    if not isinstance(report, dict):
        raise PayloadError("report", "expected the report.json object of keel score or monitor")
    validate_report(report)
    if report["system"]["name"] != system:
        raise PayloadError(
            "system",
            f"{_show(system)} is not the report's system.name {_show(report['system']['name'])}",
        )
    version = data.get("registry_version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**31
    ):
        raise PayloadError(
            "registry_version", f"expected a version number or null, got {_show(version)}"
        )
    return Publish(
        publish_id=publish_id,
        kind=kind,
        system=system,
        commit=_text(data, "commit", limit=64),
        registry_version=version,
        team=_text(data, "team"),
        owner=_text(data, "owner"),
        report=report,
        run_at=_started(report),
    )


def validate_report(report: dict[str, Any]) -> None:
    """`report` against report.schema.json; PayloadError naming the first bad field."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        _fallback(report)
    else:
        from keel.report.json_report import load_schema

        validator = Draft202012Validator(load_schema())
        errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
        if errors:
            error = errors[0]
            raise PayloadError(_path(["report", *error.absolute_path]), _short(error.message))
    name = report["system"]["name"]
    if not 1 <= len(name) <= 200:
        raise PayloadError("report.system.name", "expected 1 to 200 characters")
    if len(report["keel_version"]) > 40:
        raise PayloadError("report.keel_version", "expected at most 40 characters")
    if report.get("git_commit") is not None and len(report["git_commit"]) > 64:
        raise PayloadError("report.git_commit", "expected at most 64 characters")
    _started(report)


def _fallback(report: dict[str, Any]) -> None:
    """Without jsonschema: the fields the team view reads, checked as `keel diff` reads them."""
    from keel.report.diff import scored_run
    from keel.rubric import PRACTICE_IDS

    try:
        run = scored_run(report, source="report")
    except KeelError as exc:
        raise PayloadError("report", str(exc).removeprefix("report: ")) from None
    if report.get("schema_version") != 1:
        raise PayloadError("report.schema_version", "expected 1")
    for key in ("keel_version", "started_at"):
        if not isinstance(report.get(key), str):
            raise PayloadError(f"report.{key}", "expected a string")
    system = report.get("system")
    if not isinstance(system, dict) or not isinstance(system.get("name"), str):
        raise PayloadError("report.system.name", "expected a string")
    if list(run.practices) != list(PRACTICE_IDS):
        raise PayloadError("report.practices", "expected all 28 practices in rubric order")
    statuses = {"pass", "fail", "attested", "not_configured", "error", "left_out"}
    for i, state in enumerate(run.practices.values()):
        if state.status not in statuses:
            raise PayloadError(
                f"report.practices[{i}].status", f"unknown status {_show(state.status)}"
            )
    if set(run.sections) != {"data", "model", "infra", "monitor"}:
        raise PayloadError("report.score.sections", "expected data, model, infra and monitor")
    for key, value in {"final": run.final, **run.sections}.items():
        if not 0 <= value <= 7:
            raise PayloadError(f"report.score.{key}", "expected a score from 0 to 7")
    if run.band not in {
        "research",
        "barely tested",
        "first pass",
        "reasonably tested",
        "strong",
        "exceptional",
    }:
        raise PayloadError("report.score.band.name", f"unknown band {_show(run.band)}")
    if report.get("git_commit") is not None and not isinstance(report["git_commit"], str):
        raise PayloadError("report.git_commit", "expected a string or null")


def _parse(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("body", f"not UTF-8 ({exc.reason} at byte {exc.start})", 400) from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError("body", f"not JSON ({exc.msg} at line {exc.lineno})", 400) from None
    except RecursionError:
        raise PayloadError("body", "nested too deeply", 400) from None
    except ValueError as exc:  # NaN or Infinity
        raise PayloadError("body", str(exc), 400) from None
    _plain(data, "body", 0)
    return data


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number: a report is strict JSON")


def _plain(value: Any, where: str, depth: int) -> None:
    """No lone surrogate (text a database cannot store), no nesting past _MAX_DEPTH."""
    if depth > _MAX_DEPTH:
        raise PayloadError(where, "nested too deeply", 400)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError(where, "holds a lone surrogate (\\ud800-\\udfff)", 400) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _plain(key, where, depth + 1)
            _plain(item, where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _plain(item, where, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise PayloadError(where, "not a finite number", 400)


def _text(
    data: dict[str, Any], key: str, *, required: bool = False, limit: int = 200
) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit or "\x00" in value:
        need = f"a string of 1 to {limit} characters" + ("" if required else " or null")
        raise PayloadError(key, f"expected {need}, got {_show(value)}")
    return value


def _started(report: dict[str, Any]) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(report["started_at"])
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    except (ValueError, TypeError, OverflowError):
        raise PayloadError("report.started_at", "expected an ISO 8601 date-time") from None


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _short(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."
