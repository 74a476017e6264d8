"""What every monitor check reads: the prediction log taken (once per run) and its windows.

`monitor_state(system)` takes the new rolled parts of the system's prediction log
(`keel.monitor.intake`, with the model's own feature code rerun on logged raw rows for the
per-example skew), loads the window summaries and the serving champion, and keeps the result for
the run (`System.read_once`) so the seven monitor checks of one run share one intake.
`training_profiles(system)` profiles the training data's raw and model inputs (cached on the
system's state) as the reference serving traffic is compared with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from keel.data.profile import Profile, profile_batches
from keel.monitor.intake import intake, load_windows
from keel.monitor.state import MonitorState, not_yet_served
from keel.system import System


def log_root(system: System) -> Path:
    """The local log folder the monitor reads: `[data] serving_log`, or for a URL its local
    mirror (`keel.log.remote`)."""
    from keel.log.remote import local_log_root

    return local_log_root(system.root, system.config.data.serving_log)


def state_dir(system: System) -> Path:
    """The monitor's folder: alerts, dashboard, report, and what the intake took."""
    return system.root / ".keel" / "monitor"


def taken_dir(system: System) -> Path:
    """What the intake took of the configured prediction log (markers, window summaries, kept
    rows, stored judgements): a folder of its own per log, so pointing [data] serving_log at
    another log never mixes the two."""
    import hashlib

    where = str(log_root(system).resolve())
    return state_dir(system) / "taken" / hashlib.sha256(where.encode()).hexdigest()[:12]


def _rebuild(system: System) -> Any:
    """Logged raw rows -> the model inputs that the feature code of the version that served
    them builds (its own registered copy, whatever the working tree holds). Rows of a version
    the registry does not hold (a log written without one) are rebuilt with the working
    tree's code."""
    from keel.data.schema import load_schema
    from keel.monitor.intake import VersionedRebuild
    from keel.serve.columns import to_frame

    path = system.root / system.config.data.schema_file
    schema = load_schema(path) if path.is_file() else None

    def frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
        return to_frame(schema, rows, []) if schema is not None else pd.DataFrame(rows)

    def working_tree(rows: list[dict[str, Any]]) -> pd.DataFrame:
        return system.inputs(frame_of(rows))

    def for_version(version: int) -> Any:
        own = feature_code(system, version)
        if own is None:
            return working_tree
        return lambda rows: own.model_inputs(frame_of(rows))

    skip = {n for n, f in schema.features.items() if f.pii != "none"} if schema else set()
    return VersionedRebuild(for_version), skip


def feature_code(system: System, version: int) -> Any:
    """Version `version`'s own feature code (`keel.registry.artefact.FeatureCode`: its
    registered copy, not the working tree's), or None when the registry does not hold the
    version. Only the code is loaded, never the estimator (nor MLflow, for a local registry:
    `keel.registry.snapshot`); looked up once per run."""
    from keel.registry.snapshot import feature_code as registered_code

    return system.read_once(
        f"feature-code-{version}", lambda: registered_code(system.registry, version)
    )


def monitor_state(
    system: System, progress: Any = None, *, engine: str | None = None, master: str | None = None
) -> MonitorState:
    """The log taken and windowed for this run (once per System object), on the engine
    `[engine]` names (or `engine`/`master`, from the command line)."""
    return system.read_once("monitor-state", lambda: _take(system, progress, engine, master))


def _take(system: System, progress: Any, engine: str | None, master: str | None) -> MonitorState:
    from keel.checks._foreign import take_foreign_log
    from keel.engine import spark_settings
    from keel.log.remote import take_remote
    from keel.registry.snapshot import champion

    take_remote(system.root, system.config.data.serving_log)  # a URL: new segments mirrored
    imported = take_foreign_log(system.config, system.root, log_root(system))
    rebuild, skip = _rebuild(system)
    spark = spark_settings(system.config.engine, kind=engine, master=master)
    take: Any = intake
    if spark is not None:
        from functools import partial

        from keel.data.spark import session
        from keel.monitor.spark_intake import intake_on_spark

        take = partial(intake_on_spark, session(spark))
    run = take(
        log_root(system),
        taken_dir(system),
        window_seconds=system.config.monitor.window,
        rebuild=rebuild,
        skip_skew=skip,
        progress=progress,
    )
    try:
        serving = system.read_once("serving-champion", lambda: champion(system.registry))
    except Exception:  # noqa: BLE001 - an unreachable registry: checks that need it say so
        serving = None
    state = MonitorState(
        log_root(system), taken_dir(system), load_windows(taken_dir(system)), run, serving, spark
    )
    state.source_format, state.imported = system.config.serving.format, imported
    return state


def training_profiles(system: System, version: int | None = None) -> tuple[Profile, Profile]:
    """(raw inputs, model inputs) profiles of the training data: the serving reference. With
    `version`, the model inputs are those version `version`'s own registered feature code
    builds (what it served), not the working tree's; a version the registry does not hold
    gets the working tree's."""
    own = feature_code(system, version) if version is not None else None
    source = None if own is None else own.estimator_sha256

    def compute() -> tuple[bytes, bytes]:  # serialised: sketches do not pickle
        data = system.dataset("train")
        roles = [c for c in system.role_columns() if c in data.raw.columns]
        raw = data.raw.drop(columns=roles)
        inputs = data.inputs
        if own is not None:
            inputs = own.model_inputs(data.raw)
        return (
            profile_batches(
                pa.Table.from_pandas(raw, preserve_index=False), source="train"
            ).to_bytes(),
            profile_batches(
                pa.Table.from_pandas(inputs, preserve_index=False), source="train inputs"
            ).to_bytes(),
        )

    def read() -> tuple[Profile, Profile]:
        raw, inputs = system.cached("monitor-training-profiles", compute, source)
        return Profile.from_bytes(raw), Profile.from_bytes(inputs)

    return system.read_once(f"training-profiles-{source}", read)  # read once per run


__all__ = ["MonitorState", "not_yet_served"]
