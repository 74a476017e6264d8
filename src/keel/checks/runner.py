"""Running the checks: select, run each with its duration, turn failures into evidence, attest.

A check that raises does not stop the run: a `KeelError` becomes `error` evidence carrying its
message, any other exception the same with its type. Attestations from keel.toml are applied
afterwards: a fresh one lifts a practice with no passing check to `attested` (0.5 points); an
expired one says so and counts nothing; a failing automated check is never overruled by one,
and neither is a crashed one (`error` scores 0 until it is fixed).

Which practices have a check, and what each check needs, is declared once, in
`keel.rubric.PRACTICES`; the runner imports a check's function from there when it runs it.

What every check depends on (the data, the feature function, a trained model that predicts)
is checked once before the checks run (`System.preflight`): a problem there stops the run with
one `KeelError` instead of the same message in every practice's evidence.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
import traceback
from collections.abc import Callable

from keel.config import Attestation
from keel.errors import KeelError
from keel.evidence import Evidence, RunResult, not_configured
from keel.git import head_commit
from keel.rubric import BY_ID, PRACTICE_IDS, SECTIONS, points, score
from keel.system import System

Progress = Callable[[str, int, int], None]
Check = Callable[[System], Evidence]


def find_check(practice: str) -> Check | None:
    """The function that checks a practice, imported from its declaration in the rubric
    ("module:function"); None when the practice has no automated check."""
    reference = BY_ID[practice].check
    if reference is None:
        return None
    module, name = reference.split(":")
    check: Check = getattr(importlib.import_module(module), name)
    return check


def _evidence_key(system: System, practice: str) -> str:
    from keel.cache import digest

    schema = system.root / system.config.data.schema_file
    schema_text = schema.read_text(encoding="utf-8") if schema.exists() else None
    # where the registry and the prediction log live is no input of a reusable check: a copy
    # of the system with its own (`keel selftest`) reuses the evidence
    config = system.config.model_dump(mode="json", exclude={"registry": {"uri"}})
    config["data"].pop("serving_log", None)
    return digest(system.key, practice, config, schema_text, system.deep)


def cached_check(system: System, practice: str) -> Evidence:
    """`run_check`, reusing the evidence of an earlier run when nothing it depends on changed."""
    if not BY_ID[practice].reusable:
        return run_check(system, practice)
    try:
        key = _evidence_key(system, practice)
    except KeelError:
        return run_check(system, practice)  # the check itself reports the problem
    start = time.perf_counter()
    found = system.cache.get("evidence", key)
    if found is not None:
        found.facts = {**found.facts, "reused_from_cache": True}
        found.duration_s = time.perf_counter() - start
        return found
    evidence = run_check(system, practice)
    if evidence.status in ("pass", "fail"):
        system.cache.put("evidence", key, evidence)
    return evidence


def select(only: list[str] | None = None, section: str | None = None) -> list[str]:
    """The practice ids a run covers, validated: `only` ids, or one section, or all 28."""
    if section is not None and section not in SECTIONS:
        raise KeelError(
            f"--section {section!r} is not a section; expected one of {', '.join(SECTIONS)}"
        )
    chosen = [p for p in PRACTICE_IDS if section is None or BY_ID[p].section == section]
    if only:
        unknown = [p for p in only if p not in BY_ID]
        if unknown:
            raise KeelError(
                f"--only: unknown practice id {', '.join(unknown)}; expected ids such as "
                "data.1, model.5 or monitor.7 (`keel rubric` lists them)"
            )
        chosen = [p for p in chosen if p in only]
    return chosen


def attest_hint(practice: str) -> str:
    """How to record a practice done by hand."""
    return (
        f'If you do it by hand, attest it in keel.toml: [attest."{practice}"] with evidence, '
        "by and date."
    )


def run_check(system: System, practice: str) -> Evidence:
    """Run one practice's check, never raising: failures become `error` evidence."""
    check = find_check(practice)
    start = time.perf_counter()
    if check is None:
        evidence = not_configured(
            practice, "no automated check in this version of Keel", attest_hint(practice)
        )
        evidence.facts["automation_planned"] = BY_ID[practice].automated
    else:
        try:
            evidence = check(system)
        except KeelError as exc:
            evidence = Evidence(practice, "error", str(exc), hint="Fix the problem named above.")
        except Exception as exc:  # a bug in user code or in Keel: report it, keep going
            where = traceback.extract_tb(exc.__traceback__)[-1]
            evidence = Evidence(
                practice,
                "error",
                f"{type(exc).__name__}: {exc}",
                hint="The check crashed; the error above names the cause.",
                facts={"raised_at": f"{where.filename}:{where.lineno}"},
            )
    evidence.duration_s = time.perf_counter() - start
    return evidence


def apply_attestation(
    evidence: Evidence, attestation: Attestation | None, *, today: dt.date, max_age_days: int
) -> Evidence:
    """Evidence with a keel.toml attestation taken into account (see the module docstring)."""
    if attestation is None or evidence.status in ("pass", "left_out"):
        return evidence
    a = attestation
    facts = {
        **evidence.facts,
        "attested_by": a.by,
        "attested_on": a.date.isoformat(),
        "attestation_evidence": a.evidence,
    }
    age = (today - a.date).days
    if evidence.status == "fail":
        evidence.facts = {**facts, "attestation": "ignored: the automated check fails"}
        return evidence
    if evidence.status == "error":
        evidence.facts = {**facts, "attestation": "ignored: the check crashed; fix it first"}
        return evidence
    if age < 0:
        evidence.facts = facts
        evidence.summary += f"; attestation dated {a.date} is in the future and does not count"
        evidence.hint = f'Correct the date of [attest."{evidence.practice}"].'
        return evidence
    if age > max_age_days:
        evidence.facts = facts
        evidence.summary = (
            f"attestation by {a.by} of {a.date} expired: {age} days old, "
            f"limit {max_age_days} ([score] attest_max_age_days)"
        )
        evidence.hint = (
            f'Repeat the practice and renew [attest."{evidence.practice}"] with today\'s date, '
            "or automate it. " + evidence.hint
        )
        return evidence
    return Evidence(
        evidence.practice,
        "attested",
        f"done by hand: attested by {a.by} on {a.date} ({a.evidence})",
        hint=f"Half a point while the attestation is fresh (until "
        f"{a.date + dt.timedelta(days=max_age_days)}). Automate it for the full point.",
        thresholds={"attest_max_age_days": max_age_days},
        facts={**facts, "check": evidence.summary},
        duration_s=evidence.duration_s,
    )


def run(
    system: System,
    *,
    only: list[str] | None = None,
    section: str | None = None,
    progress: Progress | None = None,
    today: dt.date | None = None,
    record: bool = False,
) -> RunResult:
    """Run the selected checks on a system and score the result.

    With `record`, the run is also recorded in the system's tracking store (score history),
    and the result carries the recent runs for the report's trend; a store that cannot be
    used leaves a warning in `result.warnings` instead of failing the run.
    """
    from keel import __version__

    today = today or dt.date.today()
    selected = select(only, section)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    if progress:
        progress("preflight", 0, len(selected))
    needs_model = any(BY_ID[p].check is not None and BY_ID[p].needs_model for p in selected)
    system.preflight(train=needs_model)
    left_out = system.unpredictable if needs_model else None
    found: dict[str, Evidence] = {}
    for i, practice in enumerate(selected):
        if progress:
            progress(practice, i, len(selected))
        found[practice] = cached_check(system, practice)
        if left_out is not None and BY_ID[practice].needs_model:
            found[practice].facts = {
                **found[practice].facts,
                "evaluation_rows_left_out": f"{len(left_out.rows)} of {left_out.total} "
                "(the model raises on them; see infra.2)",
            }
    if progress:
        progress("done", len(selected), len(selected))
    max_age = system.config.score.attest_max_age_days
    evidence = []
    for practice in PRACTICE_IDS:
        if practice in found:
            e = apply_attestation(
                found[practice],
                system.config.attest.get(practice),
                today=today,
                max_age_days=max_age,
            )
        else:
            e = Evidence(
                practice,
                "left_out",
                "left out of this run by --only or --section",
                hint="Run `keel score` without --only/--section to include it.",
            )
        e.points = points(e)
        evidence.append(e)
    result = RunResult(
        system=system.name,
        root=str(system.root),
        keel_version=__version__,
        git_commit=head_commit(system.root),
        started_at=started.isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - clock,
        evidence=evidence,
        score=score(evidence),
        selected=selected,
        system_key=_key(system),
    )
    if left_out is not None:
        result.warnings.append(
            f"{left_out.summary()}. Every check ran on the other "
            f"{left_out.total - len(left_out.rows)} rows; infra.2 fails until the model "
            "predicts every row."
        )
    if record:
        _record(system, result)
    return result


def _key(system: System) -> str | None:
    """The system's state key (None when it cannot be computed): the report shows a
    `keel selftest` result beside each practice only when it was made in this state."""
    try:
        return system.key
    except KeelError:
        return None


def _record(system: System, result: RunResult) -> None:
    """Record the run in the tracking store and attach the recent runs, warning on failure."""
    from keel.registry.audit import recent_scores, record_score
    from keel.training import registry_ref

    try:
        record_score(registry_ref(system), result)
        result.history = recent_scores(registry_ref(system))
    except KeelError as exc:
        result.warnings.append(f"score history not recorded: {exc}")
