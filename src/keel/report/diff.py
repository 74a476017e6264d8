"""Two runs compared: what changed between a base report.json and a head one.

`load_report` reads a report.json written by `keel score` into a `ScoredRun` (plain data, only
what a comparison needs), with an error naming the file when it is missing, not JSON, not a
Keel report, or from a newer Keel. `compare` pairs two runs of the same system into a
`RunDiff`: the score and section changes, and every practice whose status changed, new
failures first (a practice that held, `pass` or `attested`, and now `fail`s or `error`s), then
the other losses of points, then the gains. `render_text` is the plain-text account for CI
logs (`keel diff`); `keel.report.markdown` writes the pull-request comment from the same data.

A practice left out of one of the runs (`--only`, `--section`) is not compared: its status
there says nothing about the system, so it is listed apart (`RunDiff.not_compared`); one left
out of both is not mentioned.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.errors import KeelError
from keel.report.json_report import SCHEMA_VERSION, to_json_dict
from keel.report.values import format_number

HOLDS = frozenset({"pass", "attested"})  # statuses under which a practice holds
BROKEN = frozenset({"fail", "error"})  # statuses under which its check says it does not


@dataclass(frozen=True)
class PracticeState:
    """One practice in one run: its status, points and what its evidence said."""

    id: str
    section: str
    title: str
    status: str
    points: float
    summary: str = ""
    hint: str = ""


@dataclass(frozen=True)
class ScoredRun:
    """One `keel score` run, as read from its report.json."""

    source: str  # the file it was read from, for messages
    system: str
    final: float
    band: str
    sections: dict[str, float]
    practices: dict[str, PracticeState]  # by id, in rubric order
    git_commit: str | None = None


@dataclass(frozen=True)
class StatusChange:
    """A practice whose status differs between the base and the head run."""

    before: PracticeState
    after: PracticeState

    @property
    def id(self) -> str:
        return self.after.id

    @property
    def new_failure(self) -> bool:
        """The practice held in the base run and its check fails (or errs) in the head run."""
        return self.before.status in HOLDS and self.after.status in BROKEN

    @property
    def points_change(self) -> float:
        return self.after.points - self.before.points


@dataclass(frozen=True)
class RunDiff:
    """The head run against the base run (`base` is None when there is nothing to compare)."""

    head: ScoredRun
    base: ScoredRun | None = None
    changes: list[StatusChange] = field(default_factory=list)  # new failures first
    not_compared: list[str] = field(default_factory=list)  # left out of one of the runs

    @property
    def new_failures(self) -> list[StatusChange]:
        return [c for c in self.changes if c.new_failure]

    @property
    def score_change(self) -> float | None:
        return None if self.base is None else self.head.final - self.base.final

    @property
    def failing(self) -> list[PracticeState]:
        """The head run's practices whose check fails or errs, in rubric order."""
        return [p for p in self.head.practices.values() if p.status in BROKEN]


def load_report(path: str | Path) -> ScoredRun:
    """Read a report.json written by `keel score`; raise KeelError naming the file when it is
    missing, unreadable, not JSON, or not a Keel report this version can read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeelError(f"{path}: no such report; `keel score` writes .keel/report.json") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeelError(f"{path}: cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeelError(
            f"{path}: not JSON ({exc}); expected a report.json of `keel score`"
        ) from None
    return scored_run(data, source=str(path))


def scored_run(data: Any, *, source: str) -> ScoredRun:
    """A report.json's content (parsed JSON) as a `ScoredRun`; `source` names it in errors."""
    if not isinstance(data, dict) or "schema_version" not in data or "practices" not in data:
        raise KeelError(
            f"{source}: not a Keel report (expected the report.json `keel score` writes, with "
            "schema_version, system, score and practices)"
        )
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise KeelError(
            f"{source}: report schema_version {version!r} is not one this Keel reads "
            f"(up to {SCHEMA_VERSION}); compare reports with the Keel that wrote them"
        )
    try:
        score = data["score"]
        practices = {}
        for item in data["practices"]:
            state = PracticeState(
                id=str(item["id"]),
                section=str(item["section"]),
                title=str(item["title"]),
                status=str(item["status"]),
                points=_number(item["points"]),
                summary=str(item.get("summary") or ""),
                hint=str(item.get("hint") or ""),
            )
            practices[state.id] = state
        return ScoredRun(
            source=source,
            system=str(data["system"]["name"]),
            final=_number(score["final"]),
            band=str(score["band"]["name"]),
            sections={str(k): _number(v) for k, v in score["sections"].items()},
            practices=practices,
            git_commit=data.get("git_commit"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeelError(
            f"{source}: not a Keel report: a required field is missing or malformed ({exc!r})"
        ) from None


def run_of(result: Any, *, source: str = "this run") -> ScoredRun:
    """A `keel.evidence.RunResult` just computed, as a `ScoredRun` (via its report.json form)."""
    return scored_run(to_json_dict(result), source=source)


def compare(base: ScoredRun | None, head: ScoredRun) -> RunDiff:
    """The head run against the base run; raise KeelError naming both files when they are
    reports of different systems. With no base, a diff of the head run alone."""
    if base is None:
        return RunDiff(head=head)
    if base.system != head.system:
        raise KeelError(
            f"{base.source} is a report of system {base.system!r} and {head.source} of "
            f"{head.system!r}: compare two reports of the same system"
        )
    changes, not_compared = [], []
    for pid, after in head.practices.items():
        before = base.practices.get(pid)
        if before is not None and before.status == after.status == "left_out":
            continue  # in neither run: nothing to say
        if before is None or "left_out" in (before.status, after.status):
            not_compared.append(pid)
        elif before.status != after.status:
            changes.append(StatusChange(before, after))
    order = {pid: i for i, pid in enumerate(head.practices)}
    changes.sort(key=lambda c: (not c.new_failure, c.points_change >= 0, order[c.id]))
    return RunDiff(head=head, base=base, changes=changes, not_compared=not_compared)


def signed(value: float) -> str:
    """A change as people read it: +0.5, −1, ±0."""
    if value == 0:
        return "±0"
    return ("+" if value > 0 else "−") + format_number(abs(value))


def render_text(diff: RunDiff) -> str:
    """The diff as plain text for a CI log: score, sections, changed practices with hints."""
    head, base = diff.head, diff.base
    lines = [f"keel diff: {head.system}"]
    if base is None:
        lines.append(f"score: {format_number(head.final)} ({head.band})")
    else:
        lines.append(
            f"score: {format_number(base.final)} ({base.band}) -> "
            f"{format_number(head.final)} ({head.band}), {signed(head.final - base.final)}"
        )
        parts = [
            f"{name} {format_number(base.sections.get(name, 0))} -> {format_number(value)}"
            for name, value in head.sections.items()
        ]
        lines.append("sections: " + "; ".join(parts))
    news = diff.new_failures
    others = [c for c in diff.changes if not c.new_failure]
    if base is not None:
        lines.append(f"new failures: {len(news)}")
        for change in news:
            lines.extend(_change_lines(change, hint=True))
        lines.append(f"other changes: {len(others)}")
        for change in others:
            lines.extend(_change_lines(change, hint=False))
        if diff.not_compared:
            lines.append(f"not compared (left out of one run): {', '.join(diff.not_compared)}")
    else:
        lines.append(f"failing: {len(diff.failing)}")
        for state in diff.failing:
            lines.append(f"  {state.id} {state.status}: {state.summary}")
    return "\n".join(lines) + "\n"


def _change_lines(change: StatusChange, *, hint: bool) -> list[str]:
    before, after = change.before, change.after
    lines = [
        f"  {after.id} {before.status} -> {after.status} ({signed(change.points_change)}): "
        f"{after.summary}"
    ]
    if hint and after.hint:
        lines.append(f"    hint: {after.hint}")
    return lines


def _number(value: Any) -> float:
    """A score or points value from JSON: null (NaN written by an older run) reads as 0."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value) if math.isfinite(value) else 0.0
