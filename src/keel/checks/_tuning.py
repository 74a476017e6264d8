"""model.3's verdicts and evidence: from Keel's own sweep around the configured
hyperparameters, and from a qualifying recorded search (tables, a chart and facts)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from keel.checks._format import num, plain, setting
from keel.evidence import BarChart, Evidence, Table
from keel.system import System

if TYPE_CHECKING:
    from keel.model.tuning import RecordedSearch, Sweep


def sweep_table(found: Sweep) -> Table:
    """Every trial of the sweep: the value tried, its metric, its gain, and a note."""
    from keel.model.tuning import RESPONSE

    metric, base, tol = found.metric, found.configured_metric, found.tolerance
    rows = []
    for t in found.trials:
        delta = None if t.metric is None else t.metric - base
        if t.configured:
            note = "configured"
        elif t.error:
            note = f"training failed: {t.error}"
        elif delta is not None and delta > tol:
            note = "better beyond tolerance"
        elif t.same_model:
            note = "same fitted model as configured"
        elif delta is not None and abs(delta) <= RESPONSE:
            note = "same metric, different model"
        else:
            note = ""
        rows.append([t.param, t.value, t.metric, delta, note])
    return Table(
        f"Sweep: each hyperparameter moved by ×{found.factor:g} and ÷{found.factor:g} "
        f"({found.train_rows:,} training rows, {found.eval_rows:,} evaluation rows)",
        ["hyperparameter", "value", metric, f"{metric} − configured", "note"],
        rows,
    )


def recorded_table(recorded: RecordedSearch, measured: float | None) -> Table:
    """What a recorded search holds, and the configured values' metric as Keel measured it."""
    title = f"Recorded search: {recorded.source}" + (
        f" — not counted: {recorded.not_counted}" if recorded.not_counted else ""
    )
    return Table(
        title,
        ["measure", "value"],
        [
            ["trials that count", recorded.trials],
            [f"best {recorded.metric} (recorded)", recorded.best_metric],
            ["best parameters", ", ".join(f"{k}={v}" for k, v in recorded.best_params.items())],
            [f"configured {recorded.metric} (recorded)", recorded.configured_metric],
            [f"configured {recorded.metric} (measured by Keel)", measured],
        ],
    )


def sweep_tables(found: Sweep) -> list[Table]:
    """The sweep's trials, and the hyperparameters left out of it, with why."""
    tables = [sweep_table(found)]
    if found.skipped:
        tables.append(
            Table(
                "Hyperparameters not swept",
                ["hyperparameter", "why"],
                [[k, v] for k, v in found.skipped.items()],
            )
        )
    return tables


def sweep_chart(found: Sweep) -> BarChart:
    """The metric of each setting tried, against the configured one plus the tolerance."""
    metric, base, tol = found.metric, found.configured_metric, found.tolerance
    shown = [t for t in found.trials if t.metric is not None]
    return BarChart(
        f"{metric} of each hyperparameter setting",
        [f"{t.param} = {setting(t.value)}" for t in shown],
        [t.metric for t in shown],  # type: ignore[misc]
        x_label=metric,
        reference={"configured": base, "configured + tolerance": base + tol},
        flagged=[t.metric is not None and t.metric > base + tol for t in shown],
    )


def sweep_facts(found: Sweep) -> dict[str, object]:
    """What was swept, how long it took, and the gap of each hyperparameter to its best."""
    facts: dict[str, object] = {
        "metric": found.metric,
        "configured_metric": found.configured_metric,
        "swept": ", ".join(found.params),
        "trainings": len(found.trials) - len(found.params) + 1,
        "seconds": found.seconds,
        "off": ", ".join(found.off),
        "responsive": ", ".join(found.responsive),
        "unchanged": ", ".join(found.unchanged),
        "flat": ", ".join(found.flat),
        "untested": ", ".join(found.untested),
    }
    for name in found.params:
        facts[f"{name}.gap"] = plain(found.gap(name)) if found.best(name) else None
    if getattr(found, "note", ""):
        facts["sample_note"] = found.note
    return facts


def recorded_facts(recorded: RecordedSearch, measured: float) -> dict[str, object]:
    """Where the recorded search comes from, its best, and the configured values' metric."""
    return {
        "source": recorded.source,
        "trials": recorded.trials,
        "best_metric": recorded.best_metric,
        "measured_configured_metric": plain(measured),
        "recorded_configured_metric": recorded.configured_metric,
        "best_run": recorded.best_run,
        "notes": "; ".join(recorded.notes),
    }


def sweep_evidence(system: System, found: Sweep, thresholds: dict[str, object]) -> Evidence:
    """model.3's verdict from Keel's own sweep (see keel.model.tuning)."""
    metric, base, tol = found.metric, found.configured_metric, found.tolerance
    evidence = Evidence(
        "model.3",
        "fail",
        "",
        tables=sweep_tables(found),
        figures=[sweep_chart(found)],
        thresholds=thresholds,
        facts=sweep_facts(found),
    )
    params = system.config.model.params
    if found.off:
        better, moves = [], []
        for name in found.off:
            best = found.best(name)
            if best is None or best.metric is None:  # never: a gap needs a best
                continue
            better.append(
                f"{name} = {setting(best.value)} (configured {setting(params[name])}) gives "
                f"{metric} {num(best.metric)}, {best.metric - base:+.4g}"
            )
            moves.append(f"{name} = {setting(best.value)}")
        evidence.summary = (
            f"{len(found.off)} of {len(found.params)} hyperparameter(s) are not tuned: "
            + "; ".join(better)
        )
        evidence.hint = (
            f"Set {', '.join(moves)} in [model] params and rerun; or search around them "
            "properly (e.g. Optuna) and record the search. Keep a value only if the gain is "
            f"worth less than [tuning] tolerance = {tol:g}."
        )
        return evidence
    if found.untested:
        errors = "; ".join(
            f"{t.param} = {setting(t.value)}: {t.error}"
            for t in found.trials
            if t.param in found.untested and t.error
        )
        every = len(found.untested) == len(found.params)
        evidence.summary = (
            "every move of every swept hyperparameter failed to train"
            if every
            else f"whether {', '.join(found.untested)} is tuned is unknown: every move failed to "
            "train"
        ) + (f" ({errors})" if errors else "")
        evidence.hint = (
            "Make the training function accept the moved values (each hyperparameter is moved "
            f"×÷[tuning] factor = {found.factor:g}), or leave the hyperparameters it cannot "
            "move out of [tuning] params; a smaller [tuning] factor keeps moves in range."
        )
        return evidence
    if not found.responsive and not found.flat:
        evidence.summary = (
            f"every move of {', '.join(found.params)} fitted the very same model as the "
            f"configured values (identical outputs on {found.eval_rows:,} evaluation rows; "
            f"{metric} {num(base)}): the training function seems to ignore [model] params"
        )
        evidence.hint = (
            "Pass `params` on to the estimator in the training function (e.g. "
            "`HistGradientBoostingClassifier(**params)`), so the configured values are the "
            "ones trained; or name in [model] params the hyperparameters it really reads."
        )
        return evidence
    evidence.status = "pass"
    evidence.summary = _within_tolerance(found)
    return evidence


def _within_tolerance(found: Sweep) -> str:
    """The summary of a sweep whose configured values are within tolerance of every move: how
    close the nearest contender came, or that the metric stayed flat though the models moved,
    and which hyperparameters did not change the fitted model."""
    metric, base, tol = found.metric, found.configured_metric, found.tolerance
    if found.responsive:
        nearest = max(found.params, key=found.gap)
        gap = found.gap(nearest)
        head = (
            f"configured hyperparameters ({', '.join(found.params)}) are within {tol:g} "
            f"{metric} of the best found moving each ×÷{found.factor:g}: {metric} {num(base)}"
            + (f"; closest contender {nearest} ({gap:+.4g})" if math.isfinite(gap) else "")
        )
        flat = found.flat
    else:
        head = (
            f"{metric} is flat around the configured values: it stays at {num(base)} on "
            f"{found.eval_rows:,} evaluation rows at every move ×÷{found.factor:g} of "
            f"{', '.join(found.flat)}, though each move fits a different model; so the "
            f"configured values are within {tol:g} {metric} of every setting tried"
        )
        flat = []
    return (
        head
        + (f"; {metric} unmoved though the model changed: {', '.join(flat)}" if flat else "")
        + (
            f"; no effect on the fitted model (identical outputs at every move): "
            f"{', '.join(found.unchanged)}"
            if found.unchanged
            else ""
        )
        + (f" ({found.note})" if getattr(found, "note", "") else "")
    )


def recorded_search_evidence(
    system: System, recorded: RecordedSearch, thresholds: dict[str, object], tol: float
) -> Evidence:
    """model.3 from a qualifying recorded search: Keel re-measures the configured values (trains
    with [model] params, evaluates on the evaluation data) and holds that to the best trial."""
    measured = system.trained.metric
    best = recorded.best_metric
    passed = not math.isnan(measured) and measured >= best - tol
    claimed = recorded.configured_metric
    claim = "" if claimed is None else f", recorded for them {num(claimed)}"
    return Evidence(
        "model.3",
        "pass" if passed else "fail",
        f"recorded search of {recorded.trials} trials ({recorded.source}): best "
        f"{recorded.metric} {num(best)}; the configured values re-measured by Keel give "
        f"{num(measured)}{claim}: {'within' if passed else 'not within'} {tol:g} of the best",
        hint=""
        if passed
        else (
            "Set the best parameters of the recorded search in [model] params "
            f"({', '.join(f'{k}={v}' for k, v in recorded.best_params.items())}) and rerun; if "
            "the recorded metrics were not measured on this system's evaluation data, rerun the "
            "search so they are."
        ),
        tables=[recorded_table(recorded, measured)],
        thresholds={**thresholds, "min_trials": system.config.tuning.min_trials},
        facts=recorded_facts(recorded, measured),
    )
