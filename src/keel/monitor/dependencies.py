"""monitor.1: what a model version's predictions depend on, stored when it was trained, against
the present: the whole judgement (`judge_dependencies`).

A dependency is what the model's predictions depend on: its feature and training code, its
packages and its data sources. A fingerprint is plain data:

    {"python": "3.12.4",
     "code": {"credit/features.py": "9f2c…", "credit/train.py": "1ab0…"},
     "packages": {"scikit-learn": "1.5.2", "scipy": "1.14.1", …},
     "roots": ["keel", "numpy", "scikit-learn", …],
     "data": {"train": {"source": …, "rows": …, "schema_hash": …, "content_hash": …,
                        "newest": …}, "eval": {…}},
     "git_commit": "ab12…"}

`packages` is the version's whole environment: every distribution in the closure of its pinned
requirements (`roots`), so a changed SciPy under scikit-learn is a change. `code` is the hash of
each file of the model's code; a commit that changes only keel.toml, a README or a helper
script changes none of them and is not a notification, nor is a later commit as such: the git
commit is kept to be shown, never compared. Versions registered before Keel recorded these
fall back to what their lineage has (the pinned packages, the combined `code_hash`).

`stored_fingerprint` reads it from a version's lineage (`keel.registry.lineage`);
`present_packages` gives the installed versions of named distributions; `diff` lists every
difference, one `Change` each; `judge_dependencies` gives monitor.1's verdict: every change
fails, listed (what, stored, now), since each is a notification the team must see. The caller
gathers the present side (`keel.checks._monitor_inputs.present_fingerprint` reads it from a
System).
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.evidence import Evidence, Table
from keel.monitor.gates import no_champion

if TYPE_CHECKING:
    from keel.registry.versions import ModelVersion

__all__ = [
    "DATA_FACTS",
    "Change",
    "DependencyInputs",
    "compared",
    "diff",
    "judge_dependencies",
    "present_packages",
    "stored_fingerprint",
]

DATA_FACTS = ("schema_hash", "rows", "content_hash", "newest")  # compared per data source
NOT_INSTALLED = "not installed"
ALL_CODE = "(the model's code, as one hash)"  # versions that recorded no hash per file


@dataclass(frozen=True)
class Change:
    """One difference between the stored fingerprint and the present."""

    what: str  # "package scipy", "python", "code credit/features.py", "train data rows"
    stored: str
    now: str


def normalised(name: str) -> str:
    """A distribution's name as the packaging standards compare them (`Scikit_Learn` and
    `scikit-learn` are one)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    """`name==version` requirements as {name: version} (names normalised)."""
    pins = {}
    for line in requirements:
        name, _, version = line.partition("==")
        pins[normalised(name)] = version.strip()
    return pins


def stored_fingerprint(lineage: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint recorded in a version's lineage (keys it lacks are left out)."""
    found: dict[str, Any] = {}
    if "python" in lineage:
        found["python"] = lineage["python"]
    if "git_commit" in lineage:
        found["git_commit"] = lineage["git_commit"]
    if lineage.get("code_hashes"):
        found["code"] = dict(lineage["code_hashes"])
    elif lineage.get("code_hash"):
        found["code"] = {ALL_CODE: lineage["code_hash"]}
    pins = _pins(lineage.get("requirements") or [])
    if lineage.get("environment"):
        found["packages"] = {normalised(k): str(v) for k, v in lineage["environment"].items()}
        found["roots"] = sorted(pins)
    elif pins:
        found["packages"] = pins
    if lineage.get("data"):
        found["data"] = {split: dict(facts) for split, facts in lineage["data"].items()}
    return found


def present_packages(names: list[str]) -> dict[str, str]:
    """The installed version of each distribution (`not installed` when it is missing)."""
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
    """Every difference between two fingerprints, in a fixed order: Python, code files,
    packages, then each data source's facts. A fact only one side has is a change too
    (`none`). The git commit is not compared: a commit is a change of a dependency only
    through the code files it changes."""
    changes: list[Change] = []
    if "python" in stored and _text(stored["python"]) != _text(now.get("python")):
        changes.append(Change("python", _text(stored["python"]), _text(now.get("python"))))
    if "code" in stored:
        old_code, new_code = stored["code"], now.get("code", {})
        for name in sorted(set(old_code) | set(new_code)):
            if old_code.get(name) != new_code.get(name):
                changes.append(
                    Change(f"code {name}", _text(old_code.get(name)), _text(new_code.get(name)))
                )
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
    parts = ["Python"] if "python" in stored else []
    code = stored.get("code", {})
    if code:
        parts.append("the model's code" if ALL_CODE in code else f"{len(code)} model code file(s)")
    if stored.get("packages"):
        closure = " (the closure of its requirements)" if stored.get("roots") else ""
        parts.append(f"{len(stored['packages'])} packages{closure}")
    for split in stored.get("data", {}):
        parts.append(f"the {split} data (schema, rows, content, newest time)")
    return parts


@dataclass(frozen=True)
class DependencyInputs:
    """What monitor.1 judges: the serving version (None when nothing serves) and how to read
    the present side of a stored fingerprint (called only when one was stored)."""

    champion: ModelVersion | None
    present: Callable[[dict[str, Any]], dict[str, Any]]


def _commits(stored: dict[str, Any], now: dict[str, Any]) -> str:
    """The commit the version was trained at and the one checked out now, in words."""
    then, present = stored.get("git_commit"), now.get("git_commit")
    if not then or not present or then == present:
        return ""
    return (
        f" (trained at commit {str(then)[:10]}, now {str(present)[:10]}: only the files a "
        "commit changes can be dependencies, not the commit itself)"
    )


def judge_dependencies(inputs: DependencyInputs) -> Evidence:
    """monitor.1: what the serving version's predictions depend on (its code files, the
    closure of its packages, Python, its data sources), stored when it was trained, against
    the present; every change fails, listed (what, stored, now), since each is a
    notification the team must see. A commit that changes nothing of these is not one."""
    version = inputs.champion
    if version is None:
        return no_champion("monitor.1", "there is no stored fingerprint to compare")
    stored = stored_fingerprint(version.lineage)
    if not stored:
        return Evidence(
            "monitor.1",
            "fail",
            f"version {version.version} serves without a recorded lineage: what it depends on "
            "is unknown",
            hint="Register a version with `keel train` (it records the lineage) and promote it.",
        )
    now = inputs.present(stored)
    changes = diff(stored, now)
    facts = {
        "champion": version.version,
        "changes": len(changes),
        "packages": len(stored.get("packages", {})),
        "code_files": len(stored.get("code", {})),
        "git_commit_then": stored.get("git_commit"),
        "git_commit_now": now.get("git_commit"),
    }
    looked = ", ".join(compared(stored))
    if not changes:
        return Evidence(
            "monitor.1",
            "pass",
            f"nothing changed of what version {version.version}'s predictions depend on since "
            f"it was trained: compared {looked}{_commits(stored, now)}",
            facts=facts,
        )
    table = Table(
        f"What changed since version {version.version} was trained",
        ["what", "stored", "now"],
        [[c.what, c.stored, c.now] for c in changes],
    )
    shown = "; ".join(f"{c.what}: {c.stored[:16]} → {c.now[:16]}" for c in changes[:3])
    more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
    return Evidence(
        "monitor.1",
        "fail",
        f"{len(changes)} dependencies of version {version.version} changed: {shown}{more}",
        hint="Review the changes; retrain on the present dependencies (`keel train`, then "
        "`keel promote VERSION`) or restore what changed.",
        tables=[table],
        facts=facts,
    )
