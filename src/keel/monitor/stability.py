"""monitor.5: the model is numerically stable: the whole judgement (`judge_stability`) on what
the windows and the edge-case probes give.

`nonfinite_counts` adds up, over the windows of served traffic, the NaN and infinite values the
server listed per logged field (`model_inputs.x:nan`, `outputs.proba_1:inf`, …); `judged`
keeps those that are a problem: every output, every infinity in a model input, a NaN in a model
input the model never saw NaN in during training, and raw inputs whose schema does not allow
them. `output_problem` says what is wrong with a
model's output frame for probe rows: non-finite numbers, probabilities outside [0, 1] or not
summing to 1, a row count that does not match. `run_probes` sends each probe to the serving
model as the server would (its own feature code, then the model) and judges what comes back.
`judge_stability` gives the verdict: any of these fails; a serving version that has not
served `[monitor] min_rows` rows of its own is `not_configured` (its probes alone say nothing
of what it met in production), unless a probe fails, which is a failure whatever was served.
The probes' outcomes depend only on the version, the probes and what is installed, so the
caller may keep them across runs (`StabilityInputs.remember`, keyed by all three).
The probes themselves (clean rows, zeros and extremes, each input missing or alone at 0, a
negative and huge values, beyond the schema's ranges, empty strings) are built from
evaluation rows by `keel.checks._monitor_inputs.edge_probes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from keel.evidence import BarChart, Evidence, Table
from keel.monitor.gates import no_champion
from keel.monitor.state import MonitorState, not_yet_served

if TYPE_CHECKING:
    from keel.registry.versions import ModelVersion

__all__ = [
    "StabilityInputs",
    "infinite_inputs",
    "judge_stability",
    "judged",
    "nonfinite_counts",
    "output_problem",
    "run_probes",
]

SUM_TOLERANCE = 1e-6  # class probabilities of a row must sum to 1 within this
FAILED = "(failed in the model)"  # the field under which failed served rows are counted


def nonfinite_counts(windows: Iterable[Any]) -> dict[str, int]:
    """NaN and infinite values per logged field, over every window (`PartSummary`s)."""
    counts: dict[str, int] = {}
    for window in windows:
        for name, count in window.nonfinite.items():
            counts[name] = counts.get(name, 0) + count
    return dict(sorted(counts.items()))


def judged(
    counts: dict[str, int],
    allowed: Callable[[str], bool],
    missing_ok: Callable[[str], bool] | None = None,
) -> dict[str, int]:
    """The counts that are a problem. A field is `<where>.<name>` with an optional `:nan` or
    `:inf` (as the server lists them): every output and every infinity in a model input is; a
    NaN in a model input is not when `missing_ok(name)` (the model was trained on NaN there: the
    feature code passes missing values on as NaN); a raw input `inputs.<name>` is unless
    `allowed(name)` (its schema allows NaN or infinity)."""
    bad = {}
    for field, count in counts.items():
        where, _, rest = field.partition(".")
        name, _, what = rest.partition(":")
        if not count:
            continue
        if where == "inputs" and allowed(name):
            continue
        if where == "model_inputs" and what == "nan" and missing_ok and missing_ok(name):
            continue
        bad[field] = count
    return bad


def output_problem(output: pd.DataFrame, rows: int, classes: list[Any] | None) -> str:
    """What is wrong with a model's output for `rows` probe rows ("" when nothing is)."""
    if len(output) != rows:
        return f"returned {len(output)} rows for {rows}"
    if classes is None:
        values = pd.to_numeric(output["prediction"], errors="coerce").to_numpy(dtype=float)
        bad = int((~np.isfinite(values)).sum())
        return f"{bad} of {rows} predictions are NaN or infinite" if bad else ""
    columns = [f"proba_{c}" for c in classes]
    missing = [c for c in columns if c not in output.columns]
    if missing:
        return f"no probability columns {', '.join(missing)}"
    proba = output[columns].to_numpy(dtype=float)
    if not np.isfinite(proba).all():
        bad = int((~np.isfinite(proba)).any(axis=1).sum())
        return f"{bad} of {rows} rows have NaN or infinite probabilities"
    if ((proba < 0) | (proba > 1)).any():
        return f"probabilities outside [0, 1] (from {proba.min():.4g} to {proba.max():.4g})"
    sums = proba.sum(axis=1)
    off = np.abs(sums - 1) > SUM_TOLERANCE
    if off.any():
        return f"{int(off.sum())} of {rows} rows' probabilities do not sum to 1"
    return ""


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


@dataclass(frozen=True)
class StabilityInputs:
    """What monitor.5 judges. `champion` is the serving version (None when nothing serves);
    the rest is read only once one serves: `state` the log taken for this run; `allowed(name)`
    whether the schema allows NaN or infinity in raw input `name`; `missing_ok(name)` whether
    the training data's model input `name` held NaN or nulls; `model` the serving version's
    loaded model; `probes` the edge-case probes, (name, raw rows) each; `remember(probes,
    compute)`, when given, the outcomes of these probes of the serving version kept from an
    earlier run, or `compute()`'s (then kept): the model is loaded only when they are not."""

    champion: ModelVersion | None
    min_rows: int
    state: Callable[[], MonitorState]
    allowed: Callable[[str], bool]
    missing_ok: Callable[[str], bool]
    model: Callable[[], Any]
    probes: Callable[[], list[tuple[str, pd.DataFrame]]]
    remember: Callable[[list[tuple[str, pd.DataFrame]], Callable[[], Any]], Any] | None = None


def judge_stability(inputs: StabilityInputs) -> Evidence:
    """monitor.5: no NaN or infinity in the model inputs or outputs the serving version logged
    (nor in raw inputs whose schema forbids them), no served row that failed in its model, and
    edge-case probes sent to the serving model give finite, in-range output. Not configured
    while the serving version has served too little (unless a probe fails)."""
    version = inputs.champion
    if version is None:
        return no_champion("monitor.5", "there is no model to probe")
    state = inputs.state()
    windows = state.of_version(version.version)
    counts = nonfinite_counts(windows)
    bad = judged(counts, inputs.allowed, inputs.missing_ok)
    failed_rows = sum(w.errors for w in windows)
    if failed_rows:
        counts[FAILED] = failed_rows
        bad[FAILED] = failed_rows
    edges = inputs.probes()

    def outcomes() -> list[list[str]]:
        model = inputs.model()
        return run_probes(model, edges, model.unwrap_python_model().classes)

    probes = outcomes() if inputs.remember is None else inputs.remember(edges, outcomes)
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
        "failed_rows": failed_rows,
    }
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
    unserved = not_yet_served("monitor.5", state, inputs.min_rows)
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
