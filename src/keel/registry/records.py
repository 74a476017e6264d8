"""The registry's records as plain data: a registered version and an audit event.

Kept apart from the modules that read them through MLflow (`keel.registry.versions`,
`keel.registry.audit`), so code that only holds or compares them (monitoring, reports,
`keel.registry.snapshot`) does not import MLflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Event", "EventKind", "ModelVersion", "champion_stack"]


@dataclass
class ModelVersion:
    """One registered version: where it came from, how it scored, and what it serves as."""

    name: str
    version: int
    run_id: str
    lineage: dict[str, Any]
    metrics: dict[str, float]
    created_at: str
    aliases: list[str]
    source: str  # the artefact's URI: `mlflow.pyfunc.load_model(source)` loads it
    verdict: dict[str, Any] | None = None  # the latest gate verdict recorded on it
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The version as JSON-ready plain data."""
        return asdict(self)


EventKind = Literal[
    "promote",
    "force-promote",
    "refused",
    "rollback",
    "canary-start",
    "canary-pass",
    "canary-abort",
    "drill",
]


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
