"""monitor.5 from a System: NaN or infinity in what the serving version logged, the rows that
failed in its model, and edge-case probes (built from evaluation rows and the schema) sent to
the serving model.

A serving version that has not served `[monitor] min_rows` rows of its own is
`not_configured`: its probes alone say nothing of what it met in production (unless a probe
fails, which is a failure whatever was served)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from keel.checks._health import no_champion, serving
from keel.checks._monitor_state import monitor_state, not_yet_served
from keel.checks._probes import (
    MAX_COLUMN_PROBES,
    is_number,
    kind,
    probe_frames,
    with_nulls,
    with_number,
)
from keel.evidence import BarChart, Evidence, Table
from keel.model.importance import sample_rows
from keel.system import System

PROBE_ROWS = 20  # evaluation rows the edge-case probes are built from
ONE_INPUT = (0.0, -1.0, 1e12, -1e12)  # each numeric input alone set to these (and missing)
FAILED = "(failed in the model)"  # the field under which failed served rows are counted


def _schema(system: System) -> Any:
    from keel.data.schema import load_schema

    path = system.root / system.config.data.schema_file
    return load_schema(path) if path.is_file() else None


def allowed_nonfinite(system: System) -> Any:
    """name -> whether the schema allows NaN or infinity in that raw input."""
    schema = _schema(system)
    features = schema.features if schema is not None else {}

    def allowed(name: str) -> bool:
        feature = features.get(name)
        return bool(feature and (feature.allow_nan or feature.allow_inf))

    return allowed


def trained_with_missing(system: System) -> Any:
    """name -> whether the model inputs of the training data held NaN or nulls there."""
    from keel.checks._monitor_state import training_profiles

    inputs = training_profiles(system)[1]

    def missing_ok(name: str) -> bool:
        column = inputs.columns.get(name)
        return bool(column is not None and (column.nan or column.nulls))

    return missing_ok


def probe_sample(system: System) -> pd.DataFrame:
    """Raw evaluation rows as the server would pass them: the inputs serving sends."""
    raw = system.raw("eval", all_rows=True)
    schema = _schema(system)
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
    probes += _beyond_ranges(sample, _schema(system))
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


def _predict(model: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(the model inputs the version's feature code built, or None when the loaded model does
    not expose them; its outputs) for raw `frame`, as the server computes both."""
    from keel.registry._mlflow import quiet
    from keel.registry.artefact import predict_raw

    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else None
    if inner is not None and hasattr(inner, "predict_with_inputs"):
        with quiet():
            return inner.predict_with_inputs(frame)
    return None, predict_raw(model, frame)


def infinite_inputs(inputs: pd.DataFrame | None) -> str:
    """The model inputs holding infinity ("" when none does): what the server would log as
    `model_inputs.<name>:inf`, a failure of monitor.5 on served rows too."""
    if inputs is None:
        return ""
    found = []
    for name in inputs.columns:
        values = inputs[name]
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        ):
            count = int(np.isinf(values.to_numpy(dtype=float, na_value=np.nan)).sum())
            if count:
                found.append(f"{name} ({count} of {len(values)} rows)")
    return f"the feature code built infinity in model input {', '.join(found[:3])}" if found else ""


def run_probes(
    model: Any, probes: list[tuple[str, pd.DataFrame]], classes: list[Any] | None
) -> list[list[str]]:
    """[probe, rows, outcome, detail] per probe of the serving model: a probe fails when the
    model raises, gives non-finite or out-of-range output, or its feature code builds an
    infinite model input."""
    from keel.monitor.stability import output_problem

    results = []
    for name, frame in probes:
        try:
            inputs, output = _predict(model, frame)
        except Exception as exc:  # the user's model on edge rows
            first = str(exc).splitlines()[0] if str(exc) else ""
            results.append([name, str(len(frame)), "fail", f"raised {type(exc).__name__}: {first}"])
            continue
        problem = output_problem(output, len(frame), classes) or infinite_inputs(inputs)
        results.append([name, str(len(frame)), "fail" if problem else "pass", problem])
    return results


def stability_evidence(system: System) -> Evidence:
    """monitor.5: no NaN or infinity in the model inputs or outputs the serving version logged
    (nor in raw inputs whose schema forbids them), no served row that failed in its model, and
    edge-case probes sent to the serving model give finite, in-range output. Not configured
    while the serving version has served too little (unless a probe fails)."""
    from keel.monitor.stability import judged, nonfinite_counts
    from keel.registry.versions import load_model
    from keel.training import registry_ref

    version = serving(system)
    if version is None:
        return no_champion("monitor.5", "there is no model to probe")
    state = monitor_state(system)
    windows = state.of_version(version.version)
    counts = nonfinite_counts(windows)
    bad = judged(counts, allowed_nonfinite(system), trained_with_missing(system))
    failed_rows = sum(w.errors for w in windows)
    if failed_rows:
        counts[FAILED] = failed_rows
        bad[FAILED] = failed_rows
    model = load_model(registry_ref(system), version.version)
    classes = model.unwrap_python_model().classes
    probes = run_probes(model, edge_probes(system, probe_sample(system)), classes)
    failed = [p for p in probes if p[2] == "fail"]
    served = sum(w.rows for w in windows)
    tables = [
        Table(
            f"Edge-case probes of version {version.version}",
            ["probe", "rows", "outcome", "detail"],
            probes,
        )
    ]
    if counts:
        tables.insert(
            0,
            Table(
                f"NaN or infinite values in what version {version.version} served",
                ["field", "rows", "judged"],
                [
                    [f, n, "yes" if f in bad else "no (the schema or training allows it)"]
                    for f, n in counts.items()
                ],
            ),
        )
    figures = []
    if bad:
        figures.append(
            BarChart(
                "Served rows with NaN or infinity, per field",
                list(bad),
                [float(v) for v in bad.values()],
                x_label="rows",
                flagged=[True] * len(bad),
            )
        )
    facts = {
        "champion": version.version,
        "served_rows": served,
        "nonfinite_fields": len(bad),
        "probes": len(probes),
        "probes_failed": len(failed),
    }
    facts["failed_rows"] = failed_rows
    problems = []
    if failed_rows:
        problems.append(
            f"{failed_rows} of {served} served rows failed in the model (no output; the server "
            "logged the error, such as an input holding infinity)"
        )
    values = {f: n for f, n in bad.items() if f != FAILED}
    if values:
        problems.append(
            f"{sum(values.values())} NaN or infinite values served in "
            + ", ".join(list(values)[:5])
        )
    if failed:
        problems.append(
            f"{len(failed)} of {len(probes)} edge-case probes fail ("
            + "; ".join(f"{p[0]}: {p[3]}" for p in failed[:2])
            + ")"
        )
    if problems:
        return Evidence(
            "monitor.5",
            "fail",
            f"version {version.version}: " + "; ".join(problems),
            hint="Find where NaN or infinity enters (the feature code, the model on extreme or "
            "missing inputs), guard it, retrain and promote (`keel train`, `keel promote`).",
            tables=tables,
            figures=figures,
            facts=facts,
        )
    unserved = not_yet_served("monitor.5", state, system.config.monitor.min_rows)
    if unserved is not None:
        unserved.summary += f" (all {len(probes)} edge-case probes give finite, in-range output)"
        unserved.tables, unserved.facts = tables, facts
        return unserved
    return Evidence(
        "monitor.5",
        "pass",
        f"version {version.version}: {served} served rows, none failed in the model, and none "
        f"holds NaN or infinity in model inputs or outputs; all {len(probes)} edge-case probes "
        "give finite, in-range output",
        tables=tables,
        facts=facts,
    )
