"""monitor.1 and monitor.4 from a System: the serving champion, the present state of its
dependencies and the age of its data; and what monitor.5 and monitor.6 share (the champion)."""

from __future__ import annotations

from typing import Any

from keel.errors import KeelError
from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.system import System

NO_CHAMPION = "Register a version with `keel train` and make it serve with `keel promote VERSION`."


def serving(system: System) -> Any:
    """The serving champion (`ModelVersion`), or None when nothing serves."""
    from keel.registry.versions import champion
    from keel.training import registry_ref

    return champion(registry_ref(system))


def no_champion(practice: str, what: str) -> Evidence:
    summary = f"no version serves: the registry has no champion, so {what}"
    return Evidence(practice, "fail", summary, hint=NO_CHAMPION)


def fresh(system: System) -> System:
    """The same system with nothing read yet: its data sources are read again."""
    return System(system.config, system.root, config_file=system.config_file)


def present_code(system: System, stored: dict[str, str]) -> dict[str, str]:
    """The hash of each file of the model's code now (as `stored` recorded them: per file, or
    as one hash for versions that recorded no hash per file)."""
    from keel.monitor.dependencies import ALL_CODE
    from keel.training import model_code_hash, model_code_hashes

    try:
        if ALL_CODE in stored:
            return {ALL_CODE: model_code_hash(system)[0]}
        return model_code_hashes(system)
    except KeelError as exc:
        unreadable = f"cannot be imported: {str(exc).splitlines()[0]}"
        return dict.fromkeys(stored, unreadable)


def present_environment(stored: dict[str, Any]) -> dict[str, str]:
    """The installed versions of the version's environment now: the closure of its pinned
    requirements as installed today (a distribution they newly require is listed too), and
    every distribution the stored environment holds."""
    from keel.dependencies import distribution_closure
    from keel.monitor.dependencies import present_packages

    now = distribution_closure(stored.get("roots", [])) if stored.get("roots") else {}
    rest = [n for n in stored.get("packages", {}) if n not in now]
    return {**now, **present_packages(rest)}


def present_fingerprint(system: System, stored: dict[str, Any]) -> dict[str, Any]:
    """The present side of monitor.1: Python, the model's code files, the installed versions
    of the version's environment, each data source read again (as the lineage has it), and
    the git commit (shown, not compared)."""
    import platform

    from keel.git import head_commit
    from keel.training import data_fingerprint

    now: dict[str, Any] = {
        "python": platform.python_version(),
        "git_commit": head_commit(system.root),
        "code": present_code(system, stored.get("code", {})),
        "packages": present_environment(stored),
        "data": {},
    }
    again = fresh(system)
    for split in stored.get("data", {}):
        try:
            content = again.fingerprint()[split]
            now["data"][split] = dict(data_fingerprint(again, split, content))
        except KeelError as exc:
            unreadable = f"cannot be read: {str(exc).splitlines()[0]}"
            now["data"][split] = {"schema_hash": unreadable, "rows": unreadable}
    return now


def source_ages(system: System, now: Any) -> list[tuple[str, float | None]]:
    """Each training source's newest row, read again now, and its age in days."""
    from keel.monitor.staleness import age_days
    from keel.training import newest_time

    again = fresh(system)
    ages: list[tuple[str, float | None]] = []
    for split in ("train", "eval"):
        try:
            newest = newest_time(again.raw(split, all_rows=True), system.config.system.timestamp)
        except KeelError:
            newest = None
        ages.append((split, None if newest is None else age_days(newest, now)))
    return ages


def _commits(stored: dict[str, Any], now: dict[str, Any]) -> str:
    """The commit the version was trained at and the one checked out now, in words."""
    then, present = stored.get("git_commit"), now.get("git_commit")
    if not then or not present or then == present:
        return ""
    return (
        f" (trained at commit {str(then)[:10]}, now {str(present)[:10]}: only the files a "
        "commit changes can be dependencies, not the commit itself)"
    )


def dependency_evidence(system: System) -> Evidence:
    """monitor.1: what the serving version's predictions depend on (its code files, the
    closure of its packages, Python, its data sources), stored when it was trained, against
    the present; every change fails, listed (what, stored, now), since each is a
    notification the team must see. A commit that changes nothing of these is not one."""
    from keel.monitor.dependencies import compared, diff, stored_fingerprint

    version = serving(system)
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
    now = present_fingerprint(system, stored)
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


def staleness_evidence(system: System) -> Evidence:
    """monitor.4: the serving version's training-data age (now − its newest training
    timestamp) against the limit model.4 stored with it; the sources' newest rows now too."""
    from datetime import UTC, datetime

    from keel.monitor.staleness import age_days

    column = system.config.system.timestamp
    if not column:
        return not_configured(
            "monitor.4",
            "no [system] timestamp: the age of the data a model learnt from is unknown",
            'Name the timestamp column (`[system] timestamp = "…"` in keel.toml), then '
            "`keel train --staleness-limit` and `keel promote VERSION`.",
        )
    version = serving(system)
    if version is None:
        return no_champion("monitor.4", "no model's age can be measured")
    limit = version.lineage.get("staleness_limit_days")
    train = (version.lineage.get("data") or {}).get("train") or {}
    newest = train.get("newest")
    command = "`keel train --staleness-limit`, then `keel promote VERSION`"
    if limit is None:
        return not_configured(
            "monitor.4",
            f"version {version.version} was registered without model.4's staleness limit",
            f"Register a version with its limit: {command}.",
        )
    if newest is None:
        return not_configured(
            "monitor.4",
            f"version {version.version}'s lineage holds no newest training timestamp",
            f"Register it again (the lineage now records it): {command}.",
        )
    now = datetime.now(UTC)
    age = age_days(newest, now)
    ages = source_ages(system, now)
    labels = [f"version {version.version}'s training data"]
    labels += [f"{split} source's newest row now" for split, a in ages if a is not None]
    values = [age] + [a for _, a in ages if a is not None]
    figure = BarChart(
        "Data age (days) against model.4's limit",
        labels,
        values,
        x_label="days",
        reference={"limit": float(limit)},
        flagged=[v > limit for v in values[:1]] + [False] * (len(values) - 1),
    )
    rows = [["newest training timestamp", newest], ["age (days)", f"{age:.1f}"]]
    rows += [
        [f"{s} source's newest row now (days old)", "—" if a is None else f"{a:.1f}"]
        for s, a in ages
    ]
    table = Table(f"Staleness of version {version.version}", ["measure", "value"], rows)
    facts = {"champion": version.version, "age_days": round(age, 2), "newest": newest}
    facts |= {f"{s}_source_age_days": None if a is None else round(a, 2) for s, a in ages}
    staleness = system.config.staleness  # what the stored limit means (as configured now)
    thresholds = {
        "staleness_limit_days": limit,
        "max_drop": staleness.max_drop,
        "period_days": staleness.period_days,
    }
    if age > limit:
        return Evidence(
            "monitor.4",
            "fail",
            f"version {version.version} learnt from data {age:.1f} days old, over model.4's "
            f"limit of {limit:g} days",
            hint=f"Retrain on recent data and promote it: {command}.",
            tables=[table],
            figures=[figure],
            thresholds=thresholds,
            facts=facts,
        )
    return Evidence(
        "monitor.4",
        "pass",
        f"version {version.version} learnt from data {age:.1f} days old, within model.4's "
        f"limit of {limit:g} days",
        tables=[table],
        figures=[figure],
        thresholds=thresholds,
        facts=facts,
    )
