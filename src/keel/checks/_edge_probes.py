"""monitor.5's edge-case probes, built from a System: raw evaluation rows as the server would
pass them, and each variation of them the serving model is sent (`keel.monitor.stability`
sends them and judges what comes back).

Clean rows, zeros and extremes, each input missing and unseen categories (`keel.checks._probes`,
shared with infra's probes), each numeric input alone at 0, a negative and huge values, values
beyond the schema's ranges, and empty or missing strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from keel.checks._probes import (
    MAX_COLUMN_PROBES,
    is_number,
    kind,
    probe_frames,
    with_nulls,
    with_number,
)
from keel.model.importance import sample_rows
from keel.system import System

__all__ = ["edge_probes", "load_schema_of", "one_input_probes", "probe_sample"]

PROBE_ROWS = 20  # evaluation rows the edge-case probes are built from
ONE_INPUT = (0.0, -1.0, 1e12, -1e12)  # each numeric input alone set to these (and missing)


def load_schema_of(system: System) -> Any:
    """The system's schema (`keel.data.schema.Schema`), or None without a schema file."""
    from keel.data.schema import load_schema

    path = system.root / system.config.data.schema_file
    return load_schema(path) if path.is_file() else None


def probe_sample(system: System) -> pd.DataFrame:
    """Raw evaluation rows as the server would pass them: the inputs serving sends."""
    raw = system.raw("eval", all_rows=True)
    schema = load_schema_of(system)
    if schema is not None:
        keep = [n for n, f in schema.features.items() if "serving" not in f.absent_in]
        columns = [c for c in raw.columns if c in keep]
    else:
        columns = [c for c in raw.columns if c != system.target]
    rows = sample_rows(len(raw), PROBE_ROWS, seed=system.config.model.seed)
    return raw.iloc[rows][columns].reset_index(drop=True)


def _beyond_ranges(sample: pd.DataFrame, schema: Any) -> list[tuple[str, pd.DataFrame]]:
    """Every numeric input with a schema range set beyond it: above the maximum, then below
    the minimum, by the range's width (at least 1)."""
    if schema is None:
        return []
    ranged = {
        n: f.range
        for n, f in schema.features.items()
        if f.range is not None
        and n in sample.columns
        and pd.api.types.is_numeric_dtype(sample[n].dtype)
    }
    probes = []
    for side in ("above", "below"):
        frame = sample.copy()
        changed = []
        for name, r in ranged.items():
            low, high = r.min, r.max
            width = max(1.0, (high - low) if low is not None and high is not None else 1.0)
            value = (
                (high + width if high is not None else None)
                if side == "above"
                else (low - width if low is not None else None)
            )
            if value is not None:
                frame[name] = np.full(len(frame), float(value))
                changed.append(name)
        if changed:
            probes.append((f"beyond the schema ranges ({side})", frame))
    return probes


def one_input_probes(sample: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Each numeric input alone set to 0, a negative value and huge values (positive and
    negative) on the real rows of `sample`, the other inputs as served: `<input> = <value>`.
    (Each input alone missing is `nulls in <input>`, from `probe_frames`.)"""
    numbers = [c for c in sample.columns if is_number(sample[c])][:MAX_COLUMN_PROBES]
    probes = []
    for name in numbers:
        for value in ONE_INPUT:
            frame = sample.copy()
            frame[name] = with_number(sample[name], value)
            probes.append((f"{name} = {value:g}", frame))
    return probes


def edge_probes(system: System, sample: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Clean rows, zeros and extremes, each input missing, unseen categories (from
    `keel.checks._probes`), each numeric input alone at 0, negative and huge, values beyond
    the schema's ranges, and empty strings."""
    probes = [("clean rows", sample)]
    probes += [(n, f) for n, f in probe_frames(sample) if n != "empty frame"]
    probes += one_input_probes(sample)
    probes += _beyond_ranges(sample, load_schema_of(system))
    texts = [c for c in sample.columns if kind(sample[c]) == "category"]
    if texts:
        blank = sample.copy()
        for c in texts:
            blank[c] = pd.Series([""] * len(sample), index=sample.index, dtype=object)
        probes.append(("empty strings", blank))
        missing = sample.copy()
        for c in texts:
            missing[c] = with_nulls(sample[c])
        probes.append(("missing text", missing))
    return probes
