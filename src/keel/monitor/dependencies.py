"""monitor.1: what a model version depends on, stored when it was trained, against the present.

A fingerprint is plain data:

    {"python": "3.12.4", "git_commit": "ab12…", "packages": {"scikit-learn": "1.5.2", …},
     "data": {"train": {"source": …, "rows": …, "schema_hash": …, "content_hash": …,
                        "newest": …}, "eval": {…}}}

`stored_fingerprint` reads it from a version's lineage (`keel.registry.lineage`);
`present_packages` gives the installed versions of the packages the version pinned;
`diff` lists every difference, one `Change` each. The caller gathers the present side (the
System adapter is `keel.checks.monitor.monitor_1`).
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from typing import Any

__all__ = ["DATA_FACTS", "Change", "diff", "present_packages", "stored_fingerprint"]

DATA_FACTS = ("schema_hash", "rows", "content_hash", "newest")  # compared per data source
NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class Change:
    """One difference between the stored fingerprint and the present."""

    what: str  # "package scikit-learn", "python", "git commit", "train data rows"
    stored: str
    now: str


def _pins(requirements: list[str]) -> dict[str, str]:
    """`name==version` requirements as {name: version} (names normalised)."""
    pins = {}
    for line in requirements:
        name, _, version = line.partition("==")
        pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def stored_fingerprint(lineage: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint recorded in a version's lineage (keys it lacks are left out)."""
    found: dict[str, Any] = {}
    if "python" in lineage:
        found["python"] = lineage["python"]
    if "git_commit" in lineage:
        found["git_commit"] = lineage["git_commit"]
    if lineage.get("requirements"):
        found["packages"] = _pins(lineage["requirements"])
    if lineage.get("data"):
        found["data"] = {split: dict(facts) for split, facts in lineage["data"].items()}
    return found


def present_packages(names: list[str]) -> dict[str, str]:
    """The installed version of each package (`not installed` when it is missing)."""
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = NOT_INSTALLED
    return found


def _text(value: Any) -> str:
    return "none" if value is None else str(value)


def diff(stored: dict[str, Any], now: dict[str, Any]) -> list[Change]:
    """Every difference between two fingerprints, in a fixed order: Python, commit, packages,
    then each data source's facts. A fact only one side has is a change too (`none`)."""
    changes: list[Change] = []
    for key, what in (("python", "python"), ("git_commit", "git commit")):
        if key in stored and _text(stored[key]) != _text(now.get(key)):
            changes.append(Change(what, _text(stored[key]), _text(now.get(key))))
    old, new = stored.get("packages", {}), now.get("packages", {})
    for name in sorted(set(old) | set(new)):
        if _text(old.get(name)) != _text(new.get(name)):
            changes.append(
                Change(f"package {name}", _text(old.get(name)), _text(new.get(name, NOT_INSTALLED)))
            )
    old_data, new_data = stored.get("data", {}), now.get("data", {})
    for split in sorted(set(old_data) | set(new_data)):
        before, after = old_data.get(split, {}), new_data.get(split, {})
        for fact in DATA_FACTS:
            if fact not in before and fact not in after:
                continue
            if _text(before.get(fact)) != _text(after.get(fact)):
                changes.append(
                    Change(f"{split} data {fact}", _text(before.get(fact)), _text(after.get(fact)))
                )
    return changes


def compared(stored: dict[str, Any]) -> list[str]:
    """What a fingerprint lets be compared, in words (for a summary when nothing changed)."""
    parts = [
        p for p, key in (("Python", "python"), ("the git commit", "git_commit")) if key in stored
    ]
    if stored.get("packages"):
        parts.append(f"{len(stored['packages'])} packages")
    for split in stored.get("data", {}):
        parts.append(f"the {split} data (schema, rows, content, newest time)")
    return parts
