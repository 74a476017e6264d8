"""Checks of the data section: data.1 … data.7."""

from __future__ import annotations

import math
from typing import Any

from keel.checks._coverage import (
    TIMEOUT_S,
    coverage_chart,
    feature_module,
    feature_tests,
    line_ranges,
    output_table,
    suite_facts,
    suite_table,
    why_not_run,
)
from keel.checks._drop_advice import benefit_shares, drop_advice
from keel.checks._format import name_list, pct, settings
from keel.checks._ids import duplicate_ids, unique_id_hint
from keel.checks._inputs import (
    cost_chart,
    cost_facts,
    cost_tables,
    drop_facts,
    drop_tables,
    importance_chart,
    importance_facts,
    importance_tables,
    input_verdict,
    trial_facts,
    trial_failure,
    trial_table,
)
from keel.checks._measure_data import (
    add_input,
    check_drop,
    measure_costs,
    measure_importance,
    measure_lofo,
)
from keel.checks._pii import (
    finding_row,
    findings_table,
    log_findings,
    log_table,
    review_row,
    scan_columns,
    to_review_note,
)
from keel.checks._policy import policy_reasons
from keel.checks._probes import feature_probes, probes_table
from keel.checks._schema import all_raw, no_schema, schema_path, train_hint, validation_tables
from keel.data.schema import load_schema, validate
from keel.evidence import Evidence, Table, not_configured
from keel.model.cost import cost_floor, judge_costs
from keel.model.droppable import unverified_hint
from keel.model.importance import NOISE_STDS
from keel.model.trial import NEW_FEATURE_CELLS, NEW_FEATURE_ROWS
from keel.system import System


def data_1(system: System) -> Evidence:
    """data.1: a checked-in schema exists, training and evaluation data validate against it,
    and the example id ([system] id) names one row."""
    path = schema_path(system)
    frames = {split: all_raw(system, split) for split in ("train", "eval")}
    id_column = system.config.system.id
    id_table, id_problems = duplicate_ids(frames, id_column) if id_column else (None, [])
    id_hint = unique_id_hint(id_column)
    if not path.exists():
        if id_problems:
            return Evidence(
                "data.1",
                "fail",
                f"no schema file {system.config.data.schema_file}; " + "; ".join(id_problems),
                hint=id_hint
                + f" Then infer a schema with `keel schema infer {train_hint(system)} -o "
                f"{system.config.data.schema_file}`, review it and commit it.",
                tables=[id_table] if id_table else [],
                facts={"duplicate_id_problems": len(id_problems)},
            )
        return no_schema("data.1", system, "feature expectations are not written down")
    schema = load_schema(path)
    rows, problems = [], []
    for split, frame in frames.items():
        anomalies = validate(frame, schema, environment="training")
        problems.extend((split, a) for a in anomalies)
        rows.append([split, len(frame), len(anomalies)])
    facts: dict[str, Any] = {
        "schema": str(path.relative_to(system.root)),
        "features": len(schema.features),
        "anomalies": len(problems),
    }
    tables = validation_tables(rows, problems)
    if id_table is not None:
        tables.append(id_table)
        facts["duplicate_id_problems"] = len(id_problems)
    if problems or id_problems:
        parts, hints = [], []
        if problems:
            first = problems[0][1]
            parts.append(
                f"{len(problems)} anomal{'y' if len(problems) == 1 else 'ies'} against "
                f"{path.name}, e.g. {first.message}"
            )
            hints.append(
                "Fix the data, or, if the change is intended, update the schema on purpose "
                f"(edit {path.name}, or re-infer it and review the diff) and commit it."
            )
        parts.extend(id_problems)
        if id_problems:
            hints.append(id_hint)
        return Evidence(
            "data.1", "fail", "; ".join(parts), hint=" ".join(hints), tables=tables, facts=facts
        )
    unique = f"; every {id_column} names one row" if id_column else ""
    return Evidence(
        "data.1",
        "pass",
        f"training and evaluation data conform to {path.name} ({len(schema.features)} "
        f"features){unique}",
        tables=tables,
        facts=facts,
    )


def data_2(system: System) -> Evidence:
    """data.2: every model input helps the model, and no two inputs duplicate each other.

    Inputs that show no effect shuffled alone are judged with the inputs they stand in for
    (`keel.model.droppable`); dropping is advised only for a set the model was retrained
    without, with quality held within [importance] max_drop.
    """
    cfg = system.config.importance
    importance = measure_importance(system)
    lofo = measure_lofo(system) if system.deep else None
    advice = drop_advice(system, importance, lofo)
    metric = importance.metric
    ranked = sorted(importance.inputs, key=lambda i: -i.mean)
    verdicts = {i.input: input_verdict(i, lofo, advice) for i in ranked}
    flagged = [name for name, v in verdicts.items() if not v.startswith("beneficial")]
    unresolved = [i.input for i in ranked if not i.resolved]
    thresholds = {
        "rule": f"mean − {NOISE_STDS:g}·std of the drop > 0",
        **settings(cfg, "repeats", "sample", "max_correlation", "group_correlation", "max_drop"),
        "max_seconds": cfg.max_seconds,
    }
    evidence = Evidence(
        "data.2",
        "pass",
        "",
        tables=importance_tables(importance, ranked, verdicts, lofo, cfg.max_correlation)
        + drop_tables(advice, metric),
        figures=[importance_chart(metric, ranked, flagged)],
        thresholds=thresholds,
        facts={**importance_facts(importance, ranked, flagged, lofo), **drop_facts(advice)},
    )
    problems, hints = [], []
    flagged = [name for name in flagged if name not in unresolved]
    check = advice.check
    if unresolved:
        problems.append(
            f"{len(unresolved)} input(s) were measured only in groups that help, so whether "
            f"each helps is not known: {name_list(unresolved)}"
        )
        hints.append(
            "Drop the inputs Keel verified as not helping and run again: with fewer inputs, "
            "Keel measures more of them alone."
        )
    if flagged and advice.holds:
        problems.append(
            f"{len(flagged)} of {len(ranked)} input(s) do not help: {name_list(flagged)} "
            f"({check.describe() if check else ''})"
        )
        hints.append(
            f"Drop {name_list(flagged, 10)} from the model inputs (in the feature function, "
            f"[model] features): Keel {check.describe() if check else ''}. Or investigate why "
            "they carry no signal the model uses: a broken join, a constant, a leak of another "
            "input."
        )
    elif flagged:
        problems.append(
            f"{len(flagged)} of {len(ranked)} input(s) show no effect when shuffled (alone, "
            f"with their correlated group and together): {name_list(flagged)}; dropping them "
            f"was {check.describe() if check else 'not verified'}"
        )
        hints.append(unverified_hint(check) if check else "Retrain without them and compare.")
    if importance.duplicates:
        pairs = [f"{d.first} ~ {d.second}" for d in importance.duplicates]
        problems.append(f"{len(pairs)} near-duplicate pair(s): {name_list(pairs)}")
        weaker = list(advice.duplicates)
        if weaker and advice.holds and not advice.without_duplicates:
            hints.append(
                f"Keep one input of each near-duplicate pair ({name_list(pairs, 10)}): Keel "
                f"{check.describe() if check else ''} (dropping {name_list(weaker, 10)}). Or "
                f"raise [importance] max_correlation (now {cfg.max_correlation:g}) if both "
                "are needed."
            )
        else:
            why = "the retraining without one of each lost quality"
            if check is not None and not check.verified:
                why = f"dropping one of each was {check.describe()}"
            hints.append(
                f"The inputs of each near-duplicate pair ({name_list(pairs, 10)}) carry the "
                f"same information, but Keel does not advise dropping either: {why}. Find "
                "out why both exist, or raise [importance] max_correlation (now "
                f"{cfg.max_correlation:g}) if both are needed."
            )
    lead = ranked[0]
    moves = "lowers" if lead.mean >= 0 else "raises"
    strongest = f"strongest {lead.input} (shuffling it {moves} {metric} by {abs(lead.mean):.4g})"
    if problems:
        evidence.status = "fail"
        evidence.summary = "; ".join(problems) + f"; {strongest}"
        evidence.hint = " ".join(hints)
    else:
        how = " and leave-one-out retraining" if lofo is not None else ""
        together = sum(v.startswith("beneficial with") for v in verdicts.values())
        also = f" ({together} only with the inputs they stand in for)" if together else ""
        evidence.summary = (
            f"all {len(ranked)} inputs help{also} (permutation importance{how}), no "
            f"near-duplicates; {strongest}"
        )
    return evidence


def data_3(system: System) -> Evidence:
    """data.3: no input costs (memory, latency) much more than the benefit it brings."""
    cfg = system.config.cost
    measured = measure_costs(system)
    importance = measure_importance(system)
    lofo = measure_lofo(system) if system.deep else None
    advice = drop_advice(system, importance, lofo)
    useless = set(advice.useless)
    helpful = {i.input for i in importance.inputs if i.resolved} - useless
    costs = judge_costs(
        measured,
        benefit_shares(importance, advice.search),
        min_cost_share=cfg.min_cost_share,
        max_cost_benefit_ratio=cfg.max_cost_benefit_ratio,
        helpful=helpful,
    )
    costs.sort(key=lambda c: -c.cost_share)
    costly = [c.input for c in costs if c.flagged]
    check = None
    if costly:  # flagged only when the model was retrained without them and held its quality
        verified = advice.holds and set(costly) <= set(advice.advised)
        check = advice.check if verified else check_drop(system, costly)
    notes: dict[str, str] = {}
    if check is not None and not check.holds:
        for c in costs:
            c.flagged = c.flagged and c.input not in costly
        for name in costly:
            notes[name] = (
                "costly for its measured benefit, but "
                + ("needed: " if check.verified else "")
                + check.describe()
            )
    flagged = [c.input for c in costs if c.flagged]
    floor = cost_floor(cfg.min_cost_share, len(costs))
    floor_helps = cost_floor(cfg.min_cost_share, len(costs), helps=True)
    thresholds = {
        "min_cost_share": cfg.min_cost_share,
        "cost_floor": floor,
        "cost_floor_helping_inputs": floor_helps,
        **settings(cfg, "max_cost_benefit_ratio", "max_latency_ms_per_row", "max_bytes_per_row"),
    }
    problems, hints = [], []
    for c in costs:
        if c.flagged:
            ratio = f"{c.ratio:.1f}×" if math.isfinite(c.ratio) else "with no benefit"
            problems.append(
                f"{c.input} costs {pct(c.cost_share)} for {pct(c.importance_share)} of the "
                f"importance ({ratio})"
            )
    if check is not None and not check.verified:
        problems.append(
            f"{len(costly)} input(s) cost more than their measured benefit, but dropping them "
            f"was {check.describe()}: {name_list(costly)}"
        )
        hints.append(
            unverified_hint(check) + " Or make them cheaper (a narrower type, a category "
            "instead of free text, a cheaper computation)."
        )
    if flagged:
        hints.append(
            f"Drop {name_list(flagged, 10)} (Keel {check.describe(named=True) if check else ''}) "
            "or make "
            "them cheaper (a narrower type, a category "
            "instead of free text, a cheaper computation); the limits are [cost] "
            f"max_cost_benefit_ratio = {cfg.max_cost_benefit_ratio:g}; inputs are judged from a "
            f"cost share of {floor:.3g} without benefit, {floor_helps:.3g} with (half and twice "
            f"an equal share, at most min_cost_share = {cfg.min_cost_share:g})."
        )
    over_latency = (
        cfg.max_latency_ms_per_row is not None
        and measured.latency_ms_per_row > cfg.max_latency_ms_per_row
    )
    if over_latency:
        problems.append(
            f"latency {measured.latency_ms_per_row:.4g} ms/row > {cfg.max_latency_ms_per_row:g}"
        )
        hints.append(
            "Make features and prediction faster (fewer or cheaper inputs, a smaller model), "
            f"or raise [cost] max_latency_ms_per_row (now {cfg.max_latency_ms_per_row:g})."
        )
    if cfg.max_bytes_per_row is not None and measured.total_bytes_per_row > cfg.max_bytes_per_row:
        problems.append(
            f"memory {measured.total_bytes_per_row:.0f} bytes/row > {cfg.max_bytes_per_row:g}"
        )
        biggest = sorted(costs, key=lambda c: -c.bytes_per_row)[:3]
        named = ", ".join(f"{c.input} ({c.bytes_per_row:.0f} B)" for c in biggest)
        hints.append(
            f"Shrink the largest inputs ({named}): categories instead of text, narrower "
            f"numbers, fewer inputs; or raise [cost] max_bytes_per_row (now "
            f"{cfg.max_bytes_per_row:g})."
        )
    measures = (
        f"{measured.latency_ms_per_row:.3g} ms/row latency, "
        f"{measured.total_bytes_per_row:.0f} bytes/row"
    )
    if problems:
        summary = "; ".join(problems) + f" ({measures})"
    else:
        costliest = f"; costliest {costs[0].input} at {pct(costs[0].cost_share)}" if costs else ""
        summary = f"every input's cost is in line with its benefit: {measures}{costliest}"
    return Evidence(
        "data.3",
        "fail" if problems else "pass",
        summary,
        hint=" ".join(hints),
        tables=cost_tables(measured, costs, cfg, notes),
        figures=[cost_chart(costs, floor, floor_helps)],
        thresholds=thresholds,
        facts={
            **cost_facts(measured, costs, flagged),
            "drop_check": check.describe(named=True) if check else "",
        },
    )


def data_4(system: System) -> Evidence:
    """data.4: model inputs obey the feature policy: deny-list, no sensitive inputs, owners."""
    policy, sensitive = system.config.policy, system.config.fairness.sensitive
    if not policy.deny and not policy.require_owner and not sensitive:
        return not_configured(
            "data.4",
            "no feature policy: [policy] deny is empty, require_owner is off, no sensitive "
            "attributes",
            "Write the policy in keel.toml: [policy] deny = [...] (glob patterns no model "
            "input may match, e.g. identifiers or raw personal fields), require_owner = true, "
            "and [fairness] sensitive = [...] (the raw columns of sensitive attributes).",
        )
    inputs = [str(c) for c in system.dataset("train").inputs.columns]
    schema = load_schema(schema_path(system)) if schema_path(system).exists() else None
    rows, violations = [], []
    for name in inputs:
        reasons = policy_reasons(name, policy, sensitive, schema)
        rows.append([name, "; ".join(reasons) or "ok"])
        violations.extend(f"{name} {r}" for r in reasons)
    table = Table("Model inputs against the policy", ["input", "verdict"], rows)
    evidence = Evidence(
        "data.4",
        "pass",
        f"all {len(inputs)} model inputs obey the feature policy",
        tables=[table],
        thresholds={**settings(policy, "deny", "require_owner"), "sensitive": sensitive},
        facts={"inputs": len(inputs), "violations": len(violations)},
    )
    if violations:
        shown = "; ".join(violations[:4]) + (" …" if len(violations) > 4 else "")
        evidence.status = "fail"
        evidence.summary = f"{len(violations)} policy violation(s): {shown}"
        evidence.hint = (
            "Drop the offending inputs in the feature function, or give them an owner and a "
            f"description in {system.config.data.schema_file}."
        )
    elif not policy.deny and not policy.require_owner:
        evidence.status = "not_configured"
        evidence.summary = (
            f"no sensitive attribute is a model input, but that holds by construction (Keel "
            f"drops {name_list(sensitive)} itself) and nothing else is required: [policy] deny "
            "is empty and require_owner is off"
        )
        evidence.hint = (
            'Write the feature policy in keel.toml: [policy] deny = ["ssn*", "*_raw"] '
            "(patterns no model input may match) and/or require_owner = true (every input "
            f"needs an owner and a description in {system.config.data.schema_file})."
        )
    return evidence


def data_5(system: System) -> Evidence:
    """data.5: PII in training data is found, declared with a handling, and kept from the model.

    A column is personal data when validated values are found in it (however few), or when its
    name says so and its values vary like identifiers; a name alone (a yes/no column called
    "owns_phone") is listed for review and does not fail.
    """
    raw = system.raw("train")
    findings, review = scan_columns(raw)
    inputs = system.dataset("train").inputs
    in_inputs = scan_columns(inputs)[0]
    path = schema_path(system)
    schema = load_schema(path) if path.exists() else None
    problems, rows = [], []
    for f in findings:
        declared = schema.features.get(f.column) if schema else None
        handling = declared.pii if declared else "undeclared"
        reaches = f.column in inputs.columns and f.column in {g.column for g in in_inputs}
        verdict = []
        if handling in ("undeclared", "none"):
            verdict.append(f"no handling declared in {path.name}")
        if reaches:
            verdict.append("reaches the model raw")
        rows.append(
            finding_row(f, handling, "yes" if reaches else "no", "; ".join(verdict) or "ok")
        )
        problems.extend(f"{f.column} ({f.kind}) {v}" for v in verdict)
    known = {f.column for f in findings}
    for f in in_inputs:
        if f.column not in known:
            rows.append(finding_row(f, "model input", "yes", "PII value in a model input"))
            problems.append(f"model input {f.column} holds {f.kind} values")
    rows.extend(review_row(f, inputs.columns) for f in review)
    tables = [findings_table(rows)]
    logged, log_problems, scanned = log_findings(system, schema)
    problems += log_problems
    if logged:
        tables.append(log_table(logged))
    facts = {
        "pii_columns": len(findings),
        "problems": len(problems),
        "scanned_columns": len(raw.columns),
        "to_review": len(review),
        "logged_rows_scanned": scanned,
    }
    review_note = to_review_note(review)
    if scanned:
        review_note += f"; {scanned:,} logged serving rows scanned"
    evidence = Evidence("data.5", "pass", "", tables=tables, facts=facts)
    if problems:
        shown = "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
        evidence.status = "fail"
        evidence.summary = f"{len(problems)} privacy problem(s): {shown}{review_note}"
        evidence.hint = (
            f"Declare a handling (pii: drop, hash or redact) for each PII column in "
            f"{path.name} (keel serve applies it to what it logs), and drop or hash PII in the "
            "feature function so no model input holds it raw."
        )
    elif not findings:
        evidence.summary = (
            f"no personal data found in {len(raw.columns)} columns of the training data"
            + review_note
        )
    else:
        evidence.summary = (
            f"{len(findings)} PII column(s) found, each with a declared handling, none "
            "reaching the model raw" + review_note
        )
    return evidence


def data_6(system: System) -> Evidence:
    """data.6: a raw input declared in keel.toml alone reaches the model, quickly: the feature
    code passes it on, the training code trains with it, and shuffling it moves predictions."""
    cfg = system.config.new_feature
    trial = system.cached(
        "new_feature",
        lambda: add_input(system),
        cfg.model_dump(mode="json"),
        sorted(cfg.model_fields_set),
        NEW_FEATURE_ROWS,
        NEW_FEATURE_CELLS,
    )
    metric = system.metric_name
    minutes = trial.seconds / 60
    evidence = Evidence(
        "data.6",
        "fail",
        "",
        tables=[trial_table(trial, cfg.name, metric)],
        thresholds=settings(cfg, "max_minutes_to_add_feature"),
        facts=trial_facts(trial, cfg.name),
    )
    failed = trial_failure(trial, cfg, system.config.model)
    if failed is not None:
        evidence.summary, evidence.hint = failed
    elif minutes > cfg.max_minutes_to_add_feature:
        evidence.summary = (
            f"adding input {cfg.name} took {minutes:.2f} min > "
            f"{cfg.max_minutes_to_add_feature:g} min"
        )
        evidence.hint = (
            "Make training faster (a sample, fewer iterations while exploring), or raise "
            f"[new_feature] max_minutes_to_add_feature (now {cfg.max_minutes_to_add_feature:g})."
        )
    else:
        evidence.status = "pass"
        change = (
            f"{metric} {trial.metric_without:.4g} → {trial.metric_with:.4g}"
            if trial.metric_with is not None and trial.metric_without is not None
            else ""
        )
        evidence.summary = (
            f"raw column {cfg.name} added by configuration alone reached the model (shuffling "
            f"it changes {trial.changed:,} of {trial.eval_rows:,} predictions); training with "
            f"it took {trial.seconds:.1f} s ({trial.train_rows:,} training rows); {change}"
        ).rstrip("; ")
    return evidence


def data_7(system: System) -> Evidence:
    """data.7: the feature code is covered by passing tests and survives serving-like probes."""
    build = system.features_function
    cfg = system.config.model
    if build is None or cfg.features is None:
        return not_configured(
            "data.7",
            "no feature function declared",
            'Declare the feature code in keel.toml: [model] features = "pkg.features:build", '
            'and test it in [model] tests = "tests".',
        )
    source, shown = feature_module(system, build)
    probes = feature_probes(system, build)
    try:
        run, missing, missing_hint = feature_tests(system, source)
    except Exception as exc:  # the tests cannot even be started: say why, as a failure
        run, missing = None, f"the tests could not be run: {type(exc).__name__}: {exc}"
        missing_hint = (
            f"Make `python -m pytest {cfg.tests}` runnable in {system.root} (pytest and coverage "
            "installed where Keel runs, a tests folder it can read)."
        )
    tables = [probes_table(probes, cfg.features)]
    failed_probes = [p for p in probes if p.outcome == "fail"]
    facts: dict[str, Any] = {
        "feature_module": shown,
        "probes": len(probes),
        "probes_failed": len(failed_probes),
    }
    figures = []
    problems, hints = [], []
    if run is None:
        problems.append(missing)
        hints.append(missing_hint)
    else:
        tables.insert(0, suite_table(run, f"Tests in {cfg.tests} under coverage of {shown}", shown))
        facts.update(suite_facts(run))
        figures.append(coverage_chart(run, shown, cfg.min_coverage))
        if not run.tests_pass:
            if run.timed_out:
                problems.append(f"the tests did not finish within {TIMEOUT_S} s")
            else:
                problems.append(why_not_run(run))
            tables.append(output_table(run.output))
            hints.append(
                f"Make the tests pass: run `python -m pytest {cfg.tests}` in {system.root}."
            )
        if run.coverage < cfg.min_coverage:
            problems.append(f"line coverage of {shown} {run.coverage:.1%} < {cfg.min_coverage:.0%}")
            hints.append(
                f"Test the uncovered lines of {shown} ({line_ranges(run.missing_lines, 6)}), "
                f"or lower [model] min_coverage (now {cfg.min_coverage:g})."
            )
    if failed_probes:
        named = "; ".join(f"{p.probe}: {p.detail}" for p in failed_probes[:3])
        problems.append(f"{len(failed_probes)} probe(s) break the feature function ({named})")
        hints.append(
            f"Make {cfg.features} tolerate what serving sends (missing values, no rows, one row, "
            "extreme numbers, unseen categories): return one row per input row with the same "
            "columns and types, and add a test for each case."
        )
    if problems or run is None:
        summary = "; ".join(problems)
    else:
        passed_probes = sum(p.outcome == "pass" for p in probes)
        summary = (
            f"{run.passed} tests pass, covering {run.coverage:.0%} of {shown} "
            f"(≥ {cfg.min_coverage:.0%}); {passed_probes} of {len(probes)} probes pass"
        )
    return Evidence(
        "data.7",
        "fail" if problems or run is None else "pass",
        summary,
        hint=" ".join(hints),
        tables=tables,
        figures=figures,
        thresholds={"min_coverage": cfg.min_coverage, "timeout_s": TIMEOUT_S},
        facts=facts,
    )
