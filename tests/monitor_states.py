"""Windows of served traffic and a serving champion built by hand, for the unit tests of the
monitoring judgements (`keel.monitor.*`): what the intake would have taken, without a log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from keel.data.profile import Profile, profile_batches
from keel.monitor.intake import IntakeRun
from keel.monitor.state import MonitorState
from keel.monitor.summary import PartSummary
from keel.registry.versions import ModelVersion


def version(number: int, lineage: dict[str, Any] | None = None, **tags: str) -> ModelVersion:
    """A registered version as the registry reads it."""
    return ModelVersion(
        name="model",
        version=number,
        run_id=f"run{number}",
        lineage=lineage or {},
        metrics={},
        created_at="2026-01-01T00:00:00+00:00",
        aliases=[],
        source="nowhere",
        tags=dict(tags),
    )


def profile(n: int, *, shift: float = 0.0, seed: int = 0) -> Profile:
    """A profile of one numeric input `x`, normal around `shift`."""
    rng = np.random.default_rng(seed)
    return profile_batches(pa.table({"x": rng.normal(shift, 1.0, n)}), source="test")


def window(start: str, served_by: int, rows: int, **fields: Any) -> PartSummary:
    """One window × version of served traffic."""
    return PartSummary(
        window=start,
        model_version=served_by,
        rows=rows,
        first_time=start,
        last_time=start,
        **fields,
    )


def state(
    windows: list[PartSummary], champion: ModelVersion | None, root: Path = Path("log")
) -> MonitorState:
    """The log as taken for a run: every window taken by this run."""
    taken = {(w.window, w.model_version) for w in windows}
    run = IntakeRun(parts=len(windows), rows=sum(w.rows for w in windows), windows=taken)
    return MonitorState(
        root, root / "state", {(w.window, w.model_version): w for w in windows}, run, champion
    )
