"""A planted fault: what `keel selftest` does to a scratch copy of a system, for one practice.

`keel selftest` proves, on the user's own system, that each automated check would catch a
fault of its practice's kind (mutation testing for ML checks). Each `Fault` names the practice
whose check must catch it and plants the fault in a `Copy`: a scratch folder holding a copy of
the system (keel.toml, schema, data, code, tests) with a registry and a prediction log of its
own, never the user's. The same copy, unplanted, is the clean run the faulty one is compared
with. Faults that need served traffic, a registered champion or late labels build them in
`setup`, which runs on the clean copy and on the faulty copy alike before `plant`.

A fault that cannot be planted on this system (no slice configured, no sensitive attribute)
raises `NotApplicable` from `plant` with the reason: the report says so, and it is neither a
catch nor a weakness.

The catalogue lives in one module per section (`faults_data`, `faults_model`, `faults_infra`,
`faults_monitor`), each exporting `FAULTS: list[Fault]` (`faults_model` lists model.2's fault,
whose setup of served versions lives in `faults_model_online`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class NotApplicable(Exception):  # noqa: N818 (a verdict, not an error)
    """Raised by `Fault.plant` (or `setup`) when the fault cannot be planted on this system;
    the message says why (e.g. "no [slices] columns configured")."""


@dataclass
class Copy:
    """A scratch copy of a system: its folder, its keel.toml, and the registry and log it
    uses instead of the user's (both inside `root`)."""

    root: Path  # the copied system's folder (holds keel.toml)
    config_file: Path  # root / "keel.toml" (or the copied config's name)
    registry_uri: str  # sqlite:///<root>/.selftest/registry.db, written into the copy's keel.toml
    log_folder: Path  # <root>/.selftest/log: the copy's `[data] serving_log`
    notes: dict[str, Any] = field(default_factory=dict)  # what setup/plant want to tell the report


@dataclass(frozen=True)
class Fault:
    """One fault of one practice's kind.

    `plant(copy)` changes the copy (its data, code, keel.toml, registry or log) so that the
    practice's check, run on it, must not pass; `setup(copy)`, when given, prepares what the
    check needs (a champion, served rows, labels) on the clean and the faulty copy alike.
    `why_weak(clean, faulty)` may name, from the two runs' evidence facts, why a check that
    missed the fault could not see it here (too few rows in a slice, too few labels).
    """

    practice: str  # e.g. "data.2"
    name: str  # e.g. "a noise input"
    plant: Callable[[Copy], None]
    setup: Callable[[Copy], None] | None = None
    why_weak: Callable[[dict[str, Any], dict[str, Any]], str | None] | None = None
    key: str = ""  # a short stable id, e.g. "data.2-noise"; defaults to practice + name

    @property
    def id(self) -> str:
        return self.key or f"{self.practice}-{self.name.replace(' ', '-')}"
