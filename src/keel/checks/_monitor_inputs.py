"""What monitor.1 … monitor.6 read from a System, as the typed inputs of their judgements.

The judgements live in `keel.monitor` and never see a System or the configuration; this module
gathers for each its frozen inputs (`<Practice>Inputs`): `[monitor]`'s thresholds, the log
taken for this run (`monitor_state`), the serving champion, the training profiles, the schema's
rules, and, as callables the judgement calls only past its gates, whatever costs a read (the
present fingerprint, the sources read again, the model loaded, the probes, the registry's
promotion order, the same-example join).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pandas as pd

from keel.checks._edge_probes import edge_probes, load_schema_of, probe_sample
from keel.checks._monitor_state import monitor_state, training_profiles
from keel.checks._schema import no_schema, schema_path
from keel.errors import KeelError
from keel.monitor.anomalies import AnomalyInputs
from keel.monitor.dependencies import DependencyInputs
from keel.monitor.regressions import PerformanceInputs
from keel.monitor.same_example import same_example
from keel.monitor.skew import THRESHOLDS, SkewInputs, SkewRules
from keel.monitor.stability import StabilityInputs
from keel.monitor.staleness import StalenessInputs
from keel.system import System

__all__ = [
    "anomaly_inputs",
    "dependency_inputs",
    "performance_inputs",
    "promotion_order",
    "serving",
    "skew_inputs",
    "probes_key",
    "stability_inputs",
    "staleness_inputs",
    "version_key",
]


def serving(system: System) -> Any:
    """The serving champion (`ModelVersion`), or None when nothing serves: read once per run
    (`System.read_once`), as the log is taken once, so every check judges the same one."""
    from keel.registry.snapshot import champion

    return system.read_once("serving-champion", lambda: champion(system.registry))


def fresh(system: System) -> System:
    """The same system with nothing read yet: its data sources are read again."""
    return System(system.config, system.root, config_file=system.config_file)


# -- monitor.1 ------------------------------------------------------------------------------


def present_code(system: System, stored: dict[str, str]) -> dict[str, str]:
    """The hash of each file of the model's code now (as `stored` recorded them: per file, or
    as one hash for versions that recorded no hash per file)."""
    from keel.fingerprint import model_code_hash, model_code_hashes
    from keel.monitor.dependencies import ALL_CODE

    try:
        if ALL_CODE in stored:
            return {ALL_CODE: model_code_hash(system)[0]}
        return model_code_hashes(system)
    except KeelError as exc:
        unreadable = f"cannot be imported: {str(exc).splitlines()[0]}"
        return dict.fromkeys(stored, unreadable)


def _kept_environment(system: System, stored: dict[str, Any]) -> dict[str, str]:
    """`present_environment`, kept across runs while `installed_state()` stays the same (a
    distribution installed, removed or upgraded changes it): reading every distribution's
    metadata is a fifth of a second of each `keel monitor`."""
    from keel.cache import digest
    from keel.dependencies import installed_state

    key = digest(installed_state(), stored.get("roots", []), sorted(stored.get("packages", {})))
    return system.cache.memo("present-environment", key, lambda: present_environment(stored))


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

    from keel.fingerprint import data_fingerprint
    from keel.git import head_commit

    now: dict[str, Any] = {
        "python": platform.python_version(),
        "git_commit": head_commit(system.root),
        "code": present_code(system, stored.get("code", {})),
        "packages": _kept_environment(system, stored),
        "data": {},
    }
    again = fresh(system)
    for split in stored.get("data", {}):
        try:
            content = again.content_hash(split)
            now["data"][split] = dict(data_fingerprint(again, split, content))
        except KeelError as exc:
            unreadable = f"cannot be read: {str(exc).splitlines()[0]}"
            now["data"][split] = {"schema_hash": unreadable, "rows": unreadable}
    return now


def dependency_inputs(system: System) -> DependencyInputs:
    """monitor.1's inputs: the serving champion and how to read the present fingerprint."""
    return DependencyInputs(serving(system), lambda stored: present_fingerprint(system, stored))


# -- monitor.2 ------------------------------------------------------------------------------


def anomaly_inputs(system: System) -> AnomalyInputs:
    """monitor.2's inputs: the log taken for this run, `[monitor]`'s limits, and the verdict
    when there is no schema file."""
    cfg = system.config.monitor
    missing = None
    if not schema_path(system).is_file():
        missing = no_schema("monitor.2", system, "the server validates served rows against it")
    return AnomalyInputs(monitor_state(system), cfg.max_anomaly_rate, cfg.min_rows, missing)


# -- monitor.3 ------------------------------------------------------------------------------


def skew_rules(system: System) -> SkewRules:
    """The schema's features (their skew/drift overrides) and the columns never compared:
    role columns, personal data (logged hashed or redacted) and what serving never sends;
    and whether the system has a feature function (then model inputs are compared too)."""
    skip = set(system.role_columns())
    features: dict[str, Any] = {}
    schema = load_schema_of(system)
    if schema is not None:
        features = dict(schema.features)
        skip |= {n for n, f in features.items() if f.pii != "none" or "serving" in f.absent_in}
    return SkewRules(features, skip, system.features_function is not None)


def skew_inputs(system: System) -> SkewInputs:
    """monitor.3's inputs: the log taken for this run, `[monitor]`'s thresholds, and the
    readers of the schema's rules, the training profiles and the same-example join."""
    cfg, state = system.config.monitor, monitor_state(system)
    id, train = system.config.system.id, system.config.data.train

    def joined(window: str, skip: set[str]) -> Any:
        return same_example(
            state, window, skip, id=id, seconds=cfg.window, source=train, root=system.root
        )

    return SkewInputs(
        state,
        **{k: getattr(cfg, k) for k in THRESHOLDS},
        rules=lambda: skew_rules(system),
        training_profiles=lambda version: training_profiles(system, version),
        same_example=joined,
    )


# -- monitor.4 ------------------------------------------------------------------------------


def source_ages(system: System, now: Any) -> list[tuple[str, float | None]]:
    """Each training source's newest row, read again now, and its age in days."""
    from keel.fingerprint import newest_time
    from keel.monitor.staleness import age_days

    again = fresh(system)
    ages: list[tuple[str, float | None]] = []
    for split in ("train", "eval"):
        try:
            newest = newest_time(again.raw(split, all_rows=True), system.config.system.timestamp)
        except KeelError:
            newest = None
        ages.append((split, None if newest is None else age_days(newest, now)))
    return ages


def staleness_inputs(system: System) -> StalenessInputs:
    """monitor.4's inputs: `[system] timestamp`, the readers of the champion and of the
    sources' ages, now, and `[staleness]`'s settings (what the stored limit means)."""
    staleness = system.config.staleness
    return StalenessInputs(
        system.config.system.timestamp,
        lambda: serving(system),
        lambda now: source_ages(system, now),
        datetime.now(UTC),
        staleness.max_drop,
        staleness.period_days,
    )


# -- monitor.5 ------------------------------------------------------------------------------


def stability_inputs(system: System) -> StabilityInputs:
    """monitor.5's inputs: the serving champion, `[monitor] min_rows`, and the readers of the
    log, the schema's and the training data's allowance of NaN, the model and the probes."""
    version = serving(system)

    def model() -> Any:  # loaded (with MLflow) only when the probes' outcomes are not kept
        from keel.registry.versions import load_model

        return load_model(system.registry, version.version)

    @cache
    def features() -> dict[str, Any]:
        schema = load_schema_of(system)
        return dict(schema.features) if schema is not None else {}

    def allowed(name: str) -> bool:
        feature = features().get(name)
        return bool(feature and (feature.allow_nan or feature.allow_inf))

    @cache
    def trained_inputs() -> Any:
        return training_profiles(system)[1]

    def missing_ok(name: str) -> bool:
        column = trained_inputs().columns.get(name)
        return bool(column is not None and (column.nan or column.nulls))

    return StabilityInputs(
        version,
        system.config.monitor.min_rows,
        state=lambda: monitor_state(system),
        allowed=allowed,
        missing_ok=missing_ok,
        model=model,
        probes=lambda: edge_probes(system, probe_sample(system)),
        remember=lambda probes, compute: system.cache.memo(
            "monitor5-probes", probes_key(system, version, probes), compute
        ),
    )


def version_key(system: System, version: Any, *parts: Any) -> str:
    """A key for what a registered version computes here, kept across runs (monitor.5's probes,
    monitor.7's reference on the evaluation data): the version's artefact (its number, run and
    location: a registered version never changes), what is installed (`installed_state`: a
    package installed or upgraded changes it), the system's code, Keel's own source, and the
    caller's `parts` (what the version is given)."""
    from keel.cache import digest
    from keel.dependencies import installed_state, keel_source_hash

    return digest(
        [version.name, version.version, version.run_id, version.source],
        installed_state(),
        system.code_hash(),
        keel_source_hash(),
        *parts,
    )


def frames_hash(frames: list[pd.DataFrame]) -> str:
    """A hash of many frames' column names, types, lengths and values, in order (not their
    indexes); frames of the same columns and types hashed together (one call per kind, not
    one per frame: a few hundred small frames cost what a few do)."""
    h = hashlib.sha256()
    kinds: dict[str, list[pd.DataFrame]] = {}
    for frame in frames:
        kind = repr([(str(c), str(t)) for c, t in frame.dtypes.items()])
        h.update(f"{kind}\0{len(frame)}\n".encode())
        kinds.setdefault(kind, []).append(frame)
    for kind, group in kinds.items():
        together = group[0] if len(group) == 1 else pd.concat(group, ignore_index=True)
        h.update(kind.encode())
        h.update(pd.util.hash_pandas_object(together, index=False).to_numpy().tobytes())
    return h.hexdigest()


def probes_key(system: System, version: Any, probes: list[tuple[str, Any]]) -> str:
    """What the outcomes of monitor.5's probes of `version` depend on (`version_key`) with the
    probes themselves (names, columns, types and values): any change probes the model again."""
    return version_key(
        system, version, [name for name, _ in probes], frames_hash([f for _, f in probes])
    )


# -- monitor.6 ------------------------------------------------------------------------------


def promotion_order(system: System, champion: int) -> list[Any]:
    """The versions in the order they served, the serving one last (the audit history's chain
    of champions; without two recorded promotions, every version up to the serving one)."""
    from keel.registry.records import champion_stack
    from keel.registry.snapshot import history, list_versions

    ref = system.registry
    by_number = {v.version: v for v in list_versions(ref)}
    chain = [v for v in champion_stack(history(ref), champion) if v in by_number]
    if len(chain) < 2:
        chain = sorted(v for v in by_number if v <= champion)
    return [by_number[v] for v in chain]


def performance_inputs(system: System) -> PerformanceInputs:
    """monitor.6's inputs: the serving champion, `[monitor]`'s limits, and the readers of the
    log and of the registry's promotion order."""
    cfg = system.config.monitor
    return PerformanceInputs(
        serving(system),
        cfg.max_jump,
        cfg.max_creep,
        cfg.creep_versions,
        cfg.min_rows,
        state=lambda: monitor_state(system),
        promotion_order=lambda version: promotion_order(system, version),
    )
