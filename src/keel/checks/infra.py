"""Checks of the infrastructure section: infra.1 … infra.7."""

from __future__ import annotations

from typing import Any

from keel.checks._coverage import output_table, runs_chart, runs_table, training_tests
from keel.checks._explain import contributions_chart, explanation_tables
from keel.checks._format import name_list, num, settings
from keel.checks._measure_infra import reproduce, smoke
from keel.checks._reproduce import (
    cause_hints,
    differences_chart,
    reproduction_facts,
    reproduction_tables,
)
from keel.checks._smoke import (
    smoke_facts,
    smoke_tables,
    unpredictable_of,
    unpredictable_table,
    well_formed,
)
from keel.evidence import Evidence, Table, not_configured
from keel.explain import explain_rows
from keel.model._unwrap import unwrap
from keel.model.explain import CannotExplain
from keel.model.importance import sample_rows
from keel.model.reproduce import MAX_CELLS
from keel.system import System


# -- infra.1 -------------------------------------------------------------------------------
def infra_1(system: System) -> Evidence:
    """infra.1: two trainings from the same inputs, in fresh processes, predict the same."""
    cfg = system.config.reproducibility
    found = system.cached(
        "reproduce", lambda: reproduce(system), cfg.model_dump(mode="json"), MAX_CELLS
    )
    bounded = getattr(found, "bounded", "")
    first, second = found.runs
    metric = system.metric_name
    limit = cfg.max_prediction_difference
    evidence = Evidence(
        "infra.1",
        "pass",
        "",
        tables=reproduction_tables(found, cfg, metric),
        figures=[differences_chart(found, limit)],
        thresholds={
            **settings(cfg, "max_prediction_difference", "max_metric_difference", "sample"),
            "max_training_cells": MAX_CELLS,
        },
        facts=reproduction_facts(found, metric),
    )
    if not found.causes:
        evidence.summary = (
            f"two trainings in fresh processes predict the same on {first.eval_rows:,} "
            f"evaluation rows (largest difference {found.max_difference:.3g}, {metric} "
            f"{num(first.metric)} both)"
        )
        if bounded:
            evidence.summary += f"; training {bounded}"
        if found.risks:
            evidence.summary += f"; but {'; '.join(found.risks)}"
            evidence.hint = (
                "Reproducible this time only because the unseeded estimators drew no random "
                "numbers on this data; pass the seed argument of train() on as random_state."
            )
        return evidence
    evidence.status = "fail"
    evidence.summary = (
        f"two trainings from the same inputs differ: largest prediction difference "
        f"{found.max_difference:.3g} (limit {limit:g}), {found.differing_share:.1%} of rows "
        f"differ, {metric} {num(first.metric)} vs {num(second.metric)}; cause: "
        + "; ".join(found.causes)
    )
    evidence.hint = " ".join(cause_hints(found, system.config.model.train))
    return evidence


# -- infra.2 -------------------------------------------------------------------------------
def infra_2(system: System) -> Evidence:
    """infra.2: the training code trains on rows synthesised from the schema and predicts
    well-formed output; the trained model predicts the rows it could crash on (blanks,
    missing values, values seen in training); the user's tests of the training code pass."""
    cfg = system.config.smoke
    result = smoke(system)
    files, runs, module, none_why = training_tests(system)
    edge = result.edge
    tables = smoke_tables(result)
    figures = []
    if runs:
        tables.append(runs_table(files, runs, module))
        figures.append(runs_chart(files, runs, module))
    failed_steps = result.failed
    failing_runs = [(f, r) for f, r in zip(files, runs, strict=True) if r.problem]
    unpredictable = unpredictable_of(system)
    problems, hints = [], []
    train = system.config.model.train
    for step in failed_steps:
        problems.append(f"{step.step}: {step.detail}")
    steps = {s.step for s in failed_steps}
    if "features" in steps:
        hints.append(
            f'Make [model] features = "{system.config.model.features}" work on any rows the '
            f"schema allows ({system.config.data.schema_file}): missing values where presence "
            "is below 1, every value of each domain, values across each range."
        )
    if "training" in steps:
        hints.append(
            f'Make [model] train = "{train}" train on any rows the schema allows: small data, '
            "missing values, every category; or correct the schema if it allows rows the "
            "system must never see."
        )
    if steps - {"features", "training", "rows the model may crash on"}:
        hints.append(
            f'The model trained by [model] train = "{train}" returns malformed output for '
            "valid input (see the failed steps: NaN, infinity, unknown labels, wrong shape); "
            "find the inputs that cause it, fix the model (impute, clip, handle every "
            "category), and add a unit test for them."
        )
    if edge is not None and not edge.ok:
        inputs = edge.inputs()
        which = f" of {name_list(inputs, 8)}" if inputs else ""
        hints.append(
            f"The trained model fails on rows it will meet in serving: handle missing and blank "
            f"values{which} in the pipeline (an imputer before the model, or a model that "
            "accepts NaN such as HistGradientBoosting; blanks mapped to missing in the feature "
            "code), and add a unit test that predicts such rows."
        )
    if unpredictable is not None:
        summary = unpredictable.summary() if hasattr(unpredictable, "summary") else ""
        problems.append(
            summary
            or f"the trained model raises on {unpredictable.total} evaluation rows: "
            f"{unpredictable.error}"
        )
        tables.append(unpredictable_table(unpredictable))
        hints.append(
            "The trained model cannot predict some real evaluation rows (see the table): fix "
            "the model or feature code for those inputs; every other check judged the model "
            "without these rows."
        )
    for f, r in failing_runs:
        problems.append(f"training tests in {f}: {r.problem}")
        if r.output:
            tables.append(output_table(r.output, f"The end of pytest's output for {f}"))
    if failing_runs:
        hints.append(
            f"Make the tests of the training code run and pass: `python -m pytest "
            f"{' '.join(f for f, _ in failing_runs)}` in {system.root}."
        )
    if none_why:
        name = system.config.model.train.split(":")[0]
        tests = system.config.model.tests or "tests"
        problems.append(f"no test of the training code: {none_why}")
        hints.append(
            f"Write pytest tests in {tests}/ that import {name} and train on a few hand-made "
            "rows (shapes, classes, missing values, a category the data lacks)"
            + ("" if system.config.model.tests else ', and set [model] tests = "tests"')
            + "; infra.2 runs every test file that imports the training module."
        )
    evidence = Evidence(
        "infra.2",
        "fail" if problems else "pass",
        "",
        hint=" ".join(hints),
        tables=tables,
        figures=figures,
        thresholds=settings(cfg, "rows", "timeout_seconds"),
        facts=smoke_facts(result, files, runs, unpredictable),
    )
    if problems:
        evidence.summary = "; ".join(problems)
        return evidence
    passed = sum(r.passed for r in runs)
    has_proba = not any(s.step == "probabilities" and s.outcome == "skipped" for s in result.steps)
    edge_part = f"; the trained model predicts {edge.rows} edge rows" if edge else ""
    evidence.summary = (
        f"training on {result.rows} rows synthesised from {result.source} completes and its "
        f"predictions on {result.rows} fresh rows are well formed "
        f"({well_formed(system, has_proba)}){edge_part} (real, missing, blank, seen values)"
        f"; {passed} test(s) of the training code in {name_list(files, 3)} pass"
    )
    return evidence


# -- infra.3 -------------------------------------------------------------------------------
def infra_3(system: System) -> Evidence:
    """infra.3: the whole pipeline runs on a sample, into a scratch registry, serving the same."""
    from keel.integration import EVAL_ROWS, MAX_CELLS, SAMPLE_ROWS, run_pipeline

    schema = system.config.data.schema_file
    if not (system.root / schema).exists():
        data = system.config.data.train if isinstance(system.config.data.train, str) else "DATA"
        return not_configured(
            "infra.3",
            f"no schema file {schema} ([data] schema): the pipeline's validation stage cannot "
            "run, so the pipeline is not tested end to end",
            f"Write the schema: `keel schema infer {data} -o {schema}`, review it and check it "
            "in; then `keel score --only infra.3` runs load, validate, features, train, "
            "evaluate, register, serve and compare.",
        )
    run = run_pipeline(system)
    table = Table(
        "Pipeline stages on a sample",
        ["stage", "outcome", "seconds", "detail"],
        [[s.name, "ok" if s.ok else "failed", s.seconds, s.detail] for s in run.steps],
    )
    facts = {
        "stages": len(run.steps),
        "rows_compared": run.rows,
        "max_difference": run.max_difference,
        "seconds": sum(s.seconds for s in run.steps),
    }
    thresholds = {
        "train_rows": SAMPLE_ROWS,
        "max_training_cells": MAX_CELLS,
        "eval_rows": EVAL_ROWS,
        "max_difference": 1e-12,
    }
    if not run.ok:
        failed = next(s for s in run.steps if not s.ok)
        return Evidence(
            "infra.3",
            "fail",
            f"the pipeline breaks at '{failed.name}': {failed.detail}",
            hint=f"Fix the '{failed.name}' stage; run `keel score --only infra.3` to retry. The "
            "stages run on a sample into a temporary registry, as a release would.",
            tables=[table],
            thresholds=thresholds,
            facts=facts,
        )
    return Evidence(
        "infra.3",
        "pass",
        f"load, validate, features, train, evaluate, register, load in a fresh process and "
        f"predict: served output identical to offline on {run.rows} rows "
        f"({facts['seconds']:.1f} s)",
        tables=[table],
        thresholds=thresholds,
        facts=facts,
    )


# -- infra.4 -------------------------------------------------------------------------------
def _judge_serving(
    system: System, version: int, previous: int | None
) -> tuple[dict[str, float], dict[str, float] | None, list[str], list[str], int]:
    """The serving version judged now: its metrics (and the previous champion's, when the gate
    has regression limits) on the current evaluation data, against the current gate.

    Returns (metrics, previous metrics, failures, notes, rules applied); cached by the
    system's state (code, data, configuration), the versions and the gate.
    """
    from keel.errors import RegistryError
    from keel.registry.gate import judge
    from keel.registry.versions import measure
    from keel.training import gate_inputs, registry_ref

    gate = system.config.gate
    names = list(dict.fromkeys([system.metric_name, *gate.min, *gate.max_regression]))

    def compute() -> tuple[Any, ...]:
        ref, judged = registry_ref(system), gate_inputs(system)
        metrics = measure(ref, version, judged.frame, judged.target, metrics=names)
        before: dict[str, float] | None = None
        notes: list[str] = []
        if gate.max_regression and previous is not None:
            try:
                before = measure(ref, previous, judged.frame, judged.target, metrics=names)
            except RegistryError as exc:
                notes.append(f"the previous champion (version {previous}) cannot be judged: {exc}")
        failures, more = judge(
            metrics,
            before,
            floors=dict(gate.min),
            max_regression=dict(gate.max_regression) if before is not None else {},
            champion=previous,
        )
        if gate.max_regression and before is None and previous is None:
            notes.append("no earlier champion: the regression limits do not apply")
        applied = len(gate.min) + (len(gate.max_regression) if before is not None else 0)
        return metrics, before, failures, notes + more, applied

    thresholds = {"min": dict(gate.min), "max_regression": dict(gate.max_regression)}
    return system.cached("infra4_judgement", compute, version, previous, thresholds)


def infra_4(system: System) -> Evidence:
    """infra.4: a gate is configured, the serving version passed it on record when promoted,
    and it passes the current gate on the current evaluation data now."""
    from keel.errors import RegistryError
    from keel.registry.versions import champion
    from keel.training import registry_ref

    gate = system.config.gate
    thresholds = {"min": gate.min, "max_regression": gate.max_regression}
    metric = system.metric_name
    if not gate.min and not gate.max_regression:
        return not_configured(
            "infra.4",
            "no quality gate: [gate] min and max_regression are empty, so nothing is validated "
            "before serving",
            f"Set the gate in keel.toml, e.g. [gate] min = {{ {metric} = 0.75 }}, "
            f"max_regression = {{ {metric} = 0.01 }}; then `keel train` and "
            "`keel promote VERSION`.",
        )
    serving = champion(registry_ref(system))
    if serving is None:
        return Evidence(
            "infra.4",
            "fail",
            "no version serves: the registry has no champion",
            hint="Register a version with `keel train` and make it serve through the gate with "
            "`keel promote VERSION`.",
            thresholds=thresholds,
        )
    verdict = serving.verdict or {}
    rows = [[k, v] for k, v in verdict.items() if k not in ("metrics", "champion_metrics")]
    rows += [[f"metric {k}", v] for k, v in (verdict.get("metrics") or {}).items()]
    recorded = Table(f"Recorded verdict of version {serving.version}", ["field", "value"], rows)
    facts: dict[str, Any] = {
        "champion": serving.version,
        "verdict_passed": verdict.get("passed"),
        "forced": verdict.get("forced"),
    }
    if not verdict:
        return Evidence(
            "infra.4",
            "fail",
            f"version {serving.version} serves without a recorded gate verdict",
            hint=f"Promote through the gate: `keel promote {serving.version}` (it records the "
            "verdict), instead of setting the alias by hand.",
            thresholds=thresholds,
            facts=facts,
        )
    if not verdict.get("passed"):
        why = "; ".join(verdict.get("failures") or []) or "the gate refused it"
        how = f"forced ({verdict.get('reason')})" if verdict.get("forced") else "refused"
        return Evidence(
            "infra.4",
            "fail",
            f"version {serving.version} serves, but the gate {how}: {why}",
            hint="Train a version that meets the gate and `keel promote` it, or roll back to "
            "one that passed (`keel rollback`).",
            tables=[recorded],
            thresholds=thresholds,
            facts=facts,
        )
    previous = verdict.get("champion")
    try:
        metrics, before, failures, notes, applied = _judge_serving(
            system, serving.version, previous
        )
    except RegistryError as exc:
        return Evidence(
            "infra.4",
            "fail",
            f"version {serving.version} serves, but cannot be judged on the current "
            f"evaluation data: {exc}",
            hint="Fix or replace the serving version: `keel train`, `keel promote VERSION`, or "
            "`keel rollback` to a version that loads and predicts.",
            tables=[recorded],
            thresholds=thresholds,
            facts=facts,
        )
    now_table = Table(
        f"Version {serving.version} judged now: current gate, current evaluation data",
        ["metric", "now", "at promotion", "floor ([gate] min)", "previous champion", "max drop"],
        [
            [
                name,
                value,
                (verdict.get("metrics") or {}).get(name),
                gate.min.get(name),
                None if before is None else before.get(name),
                gate.max_regression.get(name),
            ]
            for name, value in metrics.items()
        ],
    )
    facts |= {
        "metric_now": metrics.get(metric),
        "rules_applied": applied,
        "failures_now": len(failures),
        "gate_changed": verdict.get("thresholds")
        != {"min": dict(gate.min), "max_regression": dict(gate.max_regression)},
    }
    tables = [now_table, recorded]
    if failures:
        return Evidence(
            "infra.4",
            "fail",
            f"version {serving.version} serves but fails the current gate on the current "
            f"evaluation data: {'; '.join(failures)}",
            hint="The gate or the data changed since the version was promoted, and it no longer "
            "passes: train a version that meets the gate (`keel train`, `keel promote "
            "VERSION`), roll back to one that does (`keel rollback`), or revise [gate].",
            tables=tables,
            thresholds=thresholds,
            facts=facts,
        )
    if applied == 0:
        return Evidence(
            "infra.4",
            "fail",
            f"the gate checks nothing for version {serving.version}: no [gate] min, and "
            "max_regression has no earlier champion to compare with",
            hint=f"Add an absolute floor: [gate] min = {{ {metric} = ... }} (the quality below "
            "which no version may serve).",
            tables=tables,
            thresholds=thresholds,
            facts=facts,
        )
    note = f" ({'; '.join(notes)})" if notes else ""
    return Evidence(
        "infra.4",
        "pass",
        f"version {serving.version} serves, passed the gate when promoted "
        f"({verdict.get('who')}, {verdict.get('when')}) and passes the current gate now: "
        f"{metric} {num(metrics.get(metric))} on the current evaluation data, "
        f"{applied} rule(s) checked{note}",
        tables=tables,
        thresholds=thresholds,
        facts=facts,
    )


# -- infra.5 -------------------------------------------------------------------------------
def infra_5(system: System) -> Evidence:
    """infra.5: `keel explain` takes sampled rows apart, and their contributions add up."""
    cfg = system.config.explain
    thresholds = settings(cfg, "rows", "tolerance")
    estimator = system.trained.estimator
    n = len(system.raw("eval"))
    positions = sample_rows(n, cfg.rows, seed=system.config.model.seed).tolist()
    try:
        found = explain_rows(system, "eval", positions)
    except CannotExplain as exc:
        reason = str(exc).removeprefix("keel explain: ")
        return Evidence(
            "infra.5",
            "not_configured",
            f"keel explain cannot take this model apart: {reason}. This is a limit of Keel, "
            "not a finding about the system",
            hint="Give the model one number per row to explain (predict_proba or "
            "decision_function for a classifier, one output for a regressor), or, if you "
            "debug predictions step by step another way, document it and attest it: "
            '[attest."infra.5"] with evidence, by and date.',
            thresholds=thresholds,
            facts={"model": unwrap(estimator).model_name},
        )
    first = found[0]
    off = [e for e in found if not e.adds_up]
    worst = max(e.difference for e in found)
    facts: dict[str, Any] = {
        "model": first.model,
        "method": first.method,
        "output": first.output_name,
        "rows": len(found),
        "rows_not_adding_up": len(off),
        "max_difference": worst,
        "example_row": first.row_id,
    }
    evidence = Evidence(
        "infra.5",
        "pass",
        "",
        tables=explanation_tables(found),
        figures=[contributions_chart(found)],
        thresholds=thresholds,
        facts=facts,
    )
    command = f"keel explain {first.row_id}"
    sampled = first.method.startswith("Shapley sampling")
    if off:
        evidence.status = "fail"
        evidence.summary = (
            f"contributions do not add up to the model's output on {len(off)} of {len(found)} "
            f"rows (largest difference {worst:.3g} > tolerance {cfg.tolerance:g}; {first.model})"
        )
        if sampled:
            evidence.hint = (
                f"Run `{command}` to see the row step by step. Sampled contributions add up by "
                "construction, so the model gave a different output for the same row in two "
                "computations: its output depends on chance or on the other rows predicted "
                "with it, which step-by-step debugging cannot follow. Make prediction "
                "deterministic row by row."
            )
        else:
            evidence.hint = (
                f"Run `{command}` to see the row step by step. A model with internals Keel "
                "reads differently (a new scikit-learn version) is a Keel bug to report; a "
                "custom final step that is not the linear or tree model it looks like needs "
                "its own explanation."
            )
        return evidence
    estimate = ""
    if sampled:
        largest = max(
            (c.error for e in found for c in e.contributions if c.error is not None),
            default=float("nan"),
        )
        facts["max_standard_error"] = largest
        estimate = f"; the contributions are estimates, standard error at most {largest:.2g}"
    mapped = ""
    if first.mapped_back:
        facts["mapped_back"] = first.mapped_back
        mapped = ", which the TransformedTargetRegressor maps back to the target's scale"
    evidence.summary = (
        f"{len(found)} sampled rows of {first.model} taken apart ({first.method}): baseline + "
        f"contributions reproduce the {first.output_name}{mapped} within {worst:.2g} "
        f"(tolerance {cfg.tolerance:g}){estimate}; try `{command}`"
    )
    return evidence


# -- infra.6 -------------------------------------------------------------------------------
def infra_6(system: System) -> Evidence:
    """infra.6: the serving champion took a share of live traffic as a canary, was compared
    with the champion it replaced, and the canary passed before its promotion."""
    from keel.checks._canary import HINT, judge_canary_history
    from keel.registry.audit import history
    from keel.registry.versions import champion
    from keel.training import registry_ref

    ref = registry_ref(system)
    serving = champion(ref)
    if serving is None:
        return Evidence("infra.6", "fail", "no version serves: the registry has no champion", HINT)
    return judge_canary_history(history(ref), serving.version, system.config.canary)


# -- infra.7 -------------------------------------------------------------------------------
def infra_7(system: System) -> Evidence:
    """infra.7: the newest rollback drill of the champion now (rolled back from it, recorded
    after it became champion), within `[drill] max_age_days`, rolled it back under load with
    no failed request, switched within `max_seconds` both ways, and restored it."""
    from keel.checks._drill import HINT, drills_of, drills_table, judge, none_of_this_champion
    from keel.registry.audit import history
    from keel.registry.versions import champion
    from keel.training import registry_ref

    cfg = system.config.drill
    thresholds = settings(cfg, "max_age_days", "max_seconds")
    ref = registry_ref(system)
    serving = champion(ref)
    if serving is None:
        summary = "nothing serves: the registry has no champion, so there is nothing to roll back"
        hint = "Register and promote two versions (`keel train`, `keel promote VERSION`), then "
        hint += "rehearse a rollback with `keel drill rollback`."
        return Evidence("infra.7", "fail", summary, hint, thresholds=thresholds)
    events = history(ref)
    found = [e for e in events if e.kind == "drill"]
    if not found:
        summary = f"no rollback drill is recorded for '{ref.model}': how fast and how safely a "
        summary += "rollback works is unknown"
        return Evidence("infra.7", "fail", summary, HINT, [], [], thresholds, {"drills": 0})
    table = drills_table(found)
    mine = drills_of(events, serving.version)
    if not mine:
        facts = {"drills": len(found), "champion": serving.version, "champion_drills": 0}
        summary = none_of_this_champion(events, serving.version)
        return Evidence("infra.7", "fail", summary, HINT, [table], [], thresholds, facts)
    status, summary, facts = judge(mine, cfg.max_age_days, cfg.max_seconds)
    facts |= {"drills": len(found), "champion": serving.version, "champion_drills": len(mine)}
    hint = "" if status == "pass" else HINT
    return Evidence("infra.7", status, summary, hint, [table], [], thresholds, facts)
