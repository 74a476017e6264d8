"""Checks of the data section: data.1 … data.7."""

from __future__ import annotations

import fnmatch
import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

from keel.checks._coverage import TIMEOUT_S, SuiteRun, feature_tests, line_ranges
from keel.checks._measure_data import add_input, measure_costs, measure_importance, measure_lofo
from keel.checks._probes import SAMPLE_ROWS, SEARCH_EXAMPLES, ProbeResult, probe_features
from keel.data import pii
from keel.data.schema import load_schema, validate
from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.model.cost import cost_floor, judge_costs
from keel.model.importance import GROUP_REPEATS, NOISE_STDS, InputImportance, Lofo
from keel.model.trial import NEW_FEATURE_CELLS, NEW_FEATURE_ROWS
from keel.system import System


def _names(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


# -- data.1, data.4, data.5 ---------------------------------------------------------------------


def _schema_path(system: System) -> Path:
    return system.root / system.config.data.schema_file


def _no_schema(practice: str, system: System, why: str) -> Evidence:
    name = system.config.data.schema_file
    return not_configured(
        practice,
        f"no schema file {name}: {why}",
        f"Infer one with `keel schema infer {_train_hint(system)} -o {name}`, review it (domains, "
        "presence, PII handling, owners) and commit it.",
    )


def _train_hint(system: System) -> str:
    train = system.config.data.train
    return train if isinstance(train, str) else "DATA"


def _all_raw(system: System, split: str) -> Any:
    """Every raw row of a split, rows the model cannot predict included (data.1 judges data)."""
    try:
        return system.raw(split, all_rows=True)  # type: ignore[call-arg, arg-type]
    except TypeError:  # a System without the all_rows option
        return system.raw(split)  # type: ignore[arg-type]


DUPLICATES_SHOWN = 5


def duplicate_ids(frames: dict[str, Any], column: str) -> tuple[Table, list[str]]:
    """Values of the id `column` held by more than one row, within a split or across splits.

    An example id joins serving logs, late labels and skew checks to one row: an id on two
    rows makes every one of those joins ambiguous, and an id in both training and evaluation
    data means the model was evaluated on an example it was trained on. Returns a table
    (split, id, rows) of at most `DUPLICATES_SHOWN` ids per kind of problem, and one line per
    problem found.
    """
    rows: list[list[Any]] = []
    problems: list[str] = []
    seen: dict[str, set[str]] = {}
    for split, frame in frames.items():
        ids = frame[column].dropna().astype(str)
        counts = ids.value_counts()
        repeated = counts[counts > 1]
        seen[split] = set(ids.unique())
        if len(repeated):
            extra = int(repeated.sum() - len(repeated))
            shown = [f"{i!r} ({n} rows)" for i, n in repeated.head(DUPLICATES_SHOWN).items()]
            problems.append(
                f"{len(repeated)} id(s) of {column} repeat in the {split} data "
                f"({extra} extra row(s)), e.g. {', '.join(shown)}"
            )
            rows.extend([split, i, int(n)] for i, n in repeated.head(DUPLICATES_SHOWN).items())
    if len(seen) == 2:
        both = sorted(seen["train"] & seen["eval"])
        if both:
            problems.append(
                f"{len(both)} id(s) of {column} are in both the training and the evaluation "
                f"data, e.g. {', '.join(map(repr, both[:DUPLICATES_SHOWN]))}"
            )
            rows.extend(["train and eval", i, None] for i in both[:DUPLICATES_SHOWN])
    table = Table(f"Repeated values of [system] id = {column}", ["split", "id", "rows"], rows)
    return table, problems


def data_1(system: System) -> Evidence:
    """data.1: a checked-in schema exists, training and evaluation data validate against it,
    and the example id ([system] id) names one row."""
    path = _schema_path(system)
    frames = {split: _all_raw(system, split) for split in ("train", "eval")}
    id_column = system.config.system.id
    id_table, id_problems = duplicate_ids(frames, id_column) if id_column else (None, [])
    id_hint = (
        f"Make [system] id = {id_column!r} unique: one row per example, with an id no other "
        "row (in either split) has; de-duplicate the data or choose a column that is an id."
    )
    if not path.exists():
        if id_problems:
            return Evidence(
                "data.1",
                "fail",
                f"no schema file {system.config.data.schema_file}; " + "; ".join(id_problems),
                hint=id_hint
                + f" Then infer a schema with `keel schema infer {_train_hint(system)} -o "
                f"{system.config.data.schema_file}`, review it and commit it.",
                tables=[id_table] if id_table else [],
                facts={"duplicate_id_problems": len(id_problems)},
            )
        return _no_schema("data.1", system, "feature expectations are not written down")
    schema = load_schema(path)
    rows, problems = [], []
    for split, frame in frames.items():
        anomalies = validate(frame, schema, environment="training")
        problems.extend((split, a) for a in anomalies)
        rows.append([split, len(frame), len(anomalies)])
    table = Table("Validation against the schema", ["split", "rows", "anomalies"], rows)
    detail = Table(
        "Anomalies",
        ["split", "column", "kind", "count", "message"],
        [[s, a.column, a.kind, a.count, a.message] for s, a in problems],
    )
    facts: dict[str, Any] = {
        "schema": str(path.relative_to(system.root)),
        "features": len(schema.features),
        "anomalies": len(problems),
    }
    tables = [table, detail]
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


def _denied(name: str, patterns: list[str]) -> str | None:
    for pattern in patterns:
        if fnmatch.fnmatchcase(name.lower(), pattern.lower()):
            return pattern
    return None


def data_4(system: System) -> Evidence:
    """data.4: model inputs obey the feature policy: deny-list, no sensitive inputs, owners."""
    policy, sensitive = system.config.policy, system.config.fairness.sensitive
    if not policy.deny and not policy.require_owner and not sensitive:
        return not_configured(
            "data.4",
            "no feature policy: [policy] deny is empty, require_owner is off, no sensitive "
            "attributes",
            'Write the policy in keel.toml: [policy] deny = ["ssn*", "*_raw"], '
            'require_owner = true, and [fairness] sensitive = ["gender"].',
        )
    inputs = [str(c) for c in system.dataset("train").inputs.columns]
    schema = load_schema(_schema_path(system)) if _schema_path(system).exists() else None
    rows, violations = [], []
    for name in inputs:
        reasons = []
        pattern = _denied(name, policy.deny)
        if pattern:
            reasons.append(f"matches deny pattern {pattern!r}")
        if name in sensitive:
            reasons.append("is a sensitive attribute")
        if policy.require_owner:
            feature = schema.features.get(name) if schema else None
            if feature is None:
                reasons.append("is not in the schema")
            else:
                if not feature.owner.strip():
                    reasons.append("has no owner")
                if not feature.description.strip():
                    reasons.append("has no description")
        rows.append([name, "; ".join(reasons) or "ok"])
        violations.extend(f"{name} {r}" for r in reasons)
    table = Table("Model inputs against the policy", ["input", "verdict"], rows)
    thresholds = {
        "deny": policy.deny,
        "require_owner": policy.require_owner,
        "sensitive": sensitive,
    }
    facts = {"inputs": len(inputs), "violations": len(violations)}
    if violations:
        shown = "; ".join(violations[:4]) + (" …" if len(violations) > 4 else "")
        return Evidence(
            "data.4",
            "fail",
            f"{len(violations)} policy violation(s): {shown}",
            hint="Drop the offending inputs in the feature function, or give them an owner and a "
            f"description in {system.config.data.schema_file}.",
            tables=[table],
            thresholds=thresholds,
            facts=facts,
        )
    if not policy.deny and not policy.require_owner:
        return Evidence(
            "data.4",
            "not_configured",
            f"no sensitive attribute is a model input, but that holds by construction (Keel "
            f"drops {_names(sensitive)} itself) and nothing else is required: [policy] deny "
            "is empty and require_owner is off",
            hint='Write the feature policy in keel.toml: [policy] deny = ["ssn*", "*_raw"] '
            "(patterns no model input may match) and/or require_owner = true (every input "
            f"needs an owner and a description in {system.config.data.schema_file}).",
            tables=[table],
            thresholds=thresholds,
            facts=facts,
        )
    return Evidence(
        "data.4",
        "pass",
        f"all {len(inputs)} model inputs obey the feature policy",
        tables=[table],
        thresholds=thresholds,
        facts=facts,
    )


def _one_per_column(findings: list[pii.PiiFinding]) -> list[pii.PiiFinding]:
    """The strongest finding of each column: a kind of value before a name-like column name."""
    best: dict[str, pii.PiiFinding] = {}
    for f in findings:
        seen = best.get(f.column)
        if seen is None or (seen.kind == "name_like_column" and f.kind != "name_like_column"):
            best[f.column] = f
    return list(best.values())


def _to_review(f: pii.PiiFinding) -> bool:
    """A column found by its name alone, whose values do not bear the name out."""
    return f.kind == "name_like_column" and not getattr(f, "confirmed", True)


def _found(f: pii.PiiFinding) -> str:
    if f.kind == "name_like_column":
        return "by its name" + ("" if _to_review(f) else ", values vary like identifiers")
    return f"{f.matches} of the sampled values"


def data_5(system: System) -> Evidence:
    """data.5: PII in training data is found, declared with a handling, and kept from the model.

    A column is personal data when validated values are found in it (however few), or when its
    name says so and its values vary like identifiers; a name alone (a yes/no column called
    "owns_phone") is listed for review and does not fail.
    """
    raw = system.raw("train")
    found = _one_per_column(pii.scan(raw))
    findings = [f for f in found if not _to_review(f)]
    review = [f for f in found if _to_review(f)]
    inputs = system.dataset("train").inputs
    in_inputs = [f for f in _one_per_column(pii.scan(inputs)) if not _to_review(f)]
    path = _schema_path(system)
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
            [
                f.column,
                f.kind,
                _found(f),
                f.share,
                f.example,
                handling,
                "yes" if reaches else "no",
                "; ".join(verdict) or "ok",
            ]
        )
        problems.extend(f"{f.column} ({f.kind}) {v}" for v in verdict)
    known = {f.column for f in findings}
    for f in in_inputs:
        if f.column not in known:
            rows.append(
                [
                    f.column,
                    f.kind,
                    _found(f),
                    f.share,
                    f.example,
                    "model input",
                    "yes",
                    "PII value in a model input",
                ]
            )
            problems.append(f"model input {f.column} holds {f.kind} values")
    for f in review:
        rows.append(
            [
                f.column,
                f.kind,
                _found(f),
                None,
                f.example,
                "n/a",
                "yes" if f.column in inputs.columns else "no",
                "review: the name suggests personal data, the values do not (few distinct "
                "values, no personal data found in them)",
            ]
        )
    table = Table(
        "Personal data found in the training data",
        [
            "column",
            "kind",
            "found",
            "share",
            "masked example",
            "declared handling",
            "model input",
            "verdict",
        ],
        rows,
    )
    facts = {
        "pii_columns": len(findings),
        "problems": len(problems),
        "scanned_columns": len(raw.columns),
        "to_review": len(review),
    }
    review_note = (
        f"; {len(review)} column(s) named like personal data to review: "
        f"{_names([f.column for f in review])}"
        if review
        else ""
    )
    if problems:
        shown = "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
        return Evidence(
            "data.5",
            "fail",
            f"{len(problems)} privacy problem(s): {shown}{review_note}",
            hint=f"Declare a handling (pii: drop, hash or redact) for each PII column in "
            f"{path.name}, and drop or hash PII in the feature function so no model input "
            "holds it raw.",
            tables=[table],
            facts=facts,
        )
    if not findings:
        summary = f"no personal data found in {len(raw.columns)} columns of the training data"
    else:
        summary = (
            f"{len(findings)} PII column(s) found, each with a declared handling, none "
            "reaching the model raw"
        )
    return Evidence("data.5", "pass", summary + review_note, tables=[table], facts=facts)


# -- data.2 --------------------------------------------------------------------------------
def _verdict(found: InputImportance, lofo: Lofo | None) -> str:
    name = found.input
    if not found.resolved:
        return f"not measured alone: shuffled with {found.group - 1} others, the group helps"
    problems = [] if found.above_noise else ["not above noise"]
    if found.group > 1:
        problems = [f"not above noise (shuffled with {found.group - 1} others: none helps)"]
    if lofo is not None and lofo.verdict(name) == "harmful":
        problems.append("removal improves the model beyond retraining noise")
    if not problems and lofo is not None and lofo.verdict(name) == "redundant":
        return "beneficial (redundant with the other inputs when retrained)"
    return ", ".join(problems) or "beneficial"


def data_2(system: System) -> Evidence:
    """data.2: every model input helps the model, and no two inputs duplicate each other."""
    cfg = system.config.importance
    importance = measure_importance(system)
    lofo = measure_lofo(system) if system.deep else None
    metric = importance.metric
    ranked = sorted(importance.inputs, key=lambda i: -i.mean)
    verdicts = {i.input: _verdict(i, lofo) for i in ranked}
    flagged = [name for name, v in verdicts.items() if not v.startswith("beneficial")]
    columns = ["input", "importance mean", "std", "lower bound", "verdict"]
    if lofo is not None:
        columns.insert(4, "LOFO delta")
    rows = []
    for i in ranked:
        row: list[Any] = [i.input, i.mean, i.std, i.lower, verdicts[i.input]]
        if lofo is not None:
            row.insert(4, lofo.deltas.get(i.input))
        rows.append(row)
    tables = [
        Table(
            f"Permutation importance: drop of {metric} when an input is shuffled "
            f"({importance.rows} evaluation rows, {importance.repeats} repeats; "
            f"{metric} unshuffled {importance.baseline:.4g})",
            columns,
            rows,
        ),
        Table(
            f"Near-duplicate inputs (association ≥ {cfg.max_correlation:g})",
            ["input", "input", "measure", "value"],
            [[d.first, d.second, d.measure, d.value] for d in importance.duplicates],
        ),
    ]
    chart = BarChart(
        f"Permutation importance ({metric} drop)",
        [i.input for i in ranked],
        [i.mean for i in ranked],
        x_label=f"mean drop of {metric}",
        reference={"no effect": 0.0},
        flagged=[i.input in flagged for i in ranked],
    )
    grouped = [i for i in ranked if i.group > 1]
    unresolved = [i.input for i in ranked if not i.resolved]
    facts: dict[str, Any] = {
        "metric": metric,
        "metric_unshuffled": importance.baseline,
        "inputs_measured_alone": len(ranked) - len(grouped),
        "inputs_measured_in_groups": len(grouped),
        "inputs_not_resolved": len(unresolved),
        "rows": importance.rows,
        "inputs": len(ranked),
        "flagged_inputs": len(flagged),
        "flagged": ", ".join(flagged),
        "near_duplicates": len(importance.duplicates),
        "strongest_input": ranked[0].input,
        "strongest_importance": ranked[0].mean,
        "lofo": lofo is not None,
    }
    if lofo is not None:
        facts.update(
            lofo_train_rows=lofo.train_rows, lofo_metric=lofo.baseline, lofo_noise=lofo.noise
        )
    thresholds = {
        "rule": f"mean − {NOISE_STDS:g}·std of the drop > 0",
        "repeats": cfg.repeats,
        "sample": cfg.sample,
        "max_correlation": cfg.max_correlation,
    }
    evidence = Evidence(
        "data.2", "pass", "", tables=tables, figures=[chart], thresholds=thresholds, facts=facts
    )
    problems, hints = [], []
    if grouped:
        tables[0].title += (
            f"; {len(grouped)} of {len(ranked)} inputs shuffled in groups, {GROUP_REPEATS} "
            "times each (wide model: groups that help are split until single inputs are "
            "measured)"
        )
    flagged = [name for name in flagged if name not in unresolved]
    if unresolved:
        problems.append(
            f"{len(unresolved)} input(s) were measured only in groups that help, so whether "
            f"each helps is not known: {_names(unresolved)}"
        )
        hints.append(
            "Drop the inputs flagged as not helping and run again: with fewer inputs, Keel "
            "measures more of them alone."
        )
    if flagged:
        problems.append(f"{len(flagged)} of {len(ranked)} input(s) do not help: {_names(flagged)}")
        hints.append(
            f"Drop {_names(flagged, 10)} from the model inputs (in the feature function, "
            "[model] features), or investigate why they carry no signal the model uses: a "
            "broken join, a constant, a leak of another input."
        )
    if importance.duplicates:
        pairs = [f"{d.first} ~ {d.second}" for d in importance.duplicates]
        problems.append(f"{len(pairs)} near-duplicate pair(s): {_names(pairs)}")
        hints.append(
            f"Keep one input of each near-duplicate pair ({_names(pairs, 10)}), or raise "
            f"[importance] max_correlation (now {cfg.max_correlation:g}) if both are needed."
        )
    strongest = f"strongest {ranked[0].input} ({metric} −{ranked[0].mean:.4g})"
    if problems:
        evidence.status = "fail"
        evidence.summary = "; ".join(problems) + f"; {strongest}"
        evidence.hint = " ".join(hints)
    else:
        how = " and leave-one-out retraining" if lofo is not None else ""
        evidence.summary = (
            f"all {len(ranked)} inputs help (permutation importance{how}), no near-duplicates; "
            + strongest
        )
    return evidence


# -- data.3 --------------------------------------------------------------------------------
def data_3(system: System) -> Evidence:
    """data.3: no input costs (memory, latency) much more than the benefit it brings."""
    cfg = system.config.cost
    measured = measure_costs(system)
    importance = measure_importance(system)
    helpful = {i.input for i in importance.inputs if i.above_noise and i.group == 1}
    costs = judge_costs(
        measured,
        importance.shares(),
        min_cost_share=cfg.min_cost_share,
        max_cost_benefit_ratio=cfg.max_cost_benefit_ratio,
        helpful=helpful,
    )
    costs.sort(key=lambda c: -c.cost_share)
    flagged = [c.input for c in costs if c.flagged]
    floor = cost_floor(cfg.min_cost_share, len(costs))
    floor_helps = cost_floor(cfg.min_cost_share, len(costs), helps=True)
    per_input = Table(
        f"Cost and benefit of each input (latency on batches of {measured.latency_rows} rows, "
        f"one thread, best of paired rounds; memory on {measured.memory_rows} rows)",
        [
            "input",
            "bytes/row",
            "memory share",
            "latency share",
            "latency timed",
            "importance share",
            "cost/benefit",
            "verdict",
        ],
        [
            [
                c.input,
                c.bytes_per_row,
                c.memory_share,
                c.latency_share,
                "alone"
                if c.latency_group == 1
                else f"with {c.latency_group - 1} others (share is an upper bound)",
                c.importance_share,
                c.ratio if math.isfinite(c.ratio) else "no benefit",
                "too costly" if c.flagged else "ok",
            ]
            for c in costs
        ],
    )
    feature_ms = measured.feature_ms_per_row
    totals = Table(
        "Totals per row",
        ["measure", "value", "limit"],
        [
            ["model prediction (ms/row)", measured.predict_ms_per_row, None],
            [
                "feature function, all inputs together (ms/row)",
                feature_ms if feature_ms is not None else "no feature function",
                None,
            ],
            [
                "latency: features + prediction (ms/row)",
                measured.latency_ms_per_row,
                cfg.max_latency_ms_per_row,
            ],
            ["memory (bytes/row)", measured.total_bytes_per_row, cfg.max_bytes_per_row],
        ],
    )
    chart = BarChart(
        "Cost share of each input (larger of memory and latency share)",
        [c.input for c in costs],
        [c.cost_share for c in costs],
        x_label="share of the total cost",
        reference={"floor, no benefit": floor, "floor, helps": floor_helps},
        flagged=[c.flagged for c in costs],
    )
    thresholds = {
        "min_cost_share": cfg.min_cost_share,
        "cost_floor": floor,
        "cost_floor_helping_inputs": floor_helps,
        "max_cost_benefit_ratio": cfg.max_cost_benefit_ratio,
        "max_latency_ms_per_row": cfg.max_latency_ms_per_row,
        "max_bytes_per_row": cfg.max_bytes_per_row,
    }
    facts: dict[str, Any] = {
        "latency_ms_per_row": measured.latency_ms_per_row,
        "predict_ms_per_row": measured.predict_ms_per_row,
        "feature_ms_per_row": feature_ms,
        "bytes_per_row": measured.total_bytes_per_row,
        "flagged_inputs": len(flagged),
        "flagged": ", ".join(flagged),
        "costliest_input": costs[0].input if costs else "",
        "inputs_timed_alone": sum(c.latency_group == 1 for c in costs),
        "inputs_timed_in_groups": sum(c.latency_group > 1 for c in costs),
        "note": "latency shares are approximate: the time saved when an input is held "
        "constant; the feature function's time is not attributed to single inputs",
    }
    problems, hints = [], []
    for c in costs:
        if c.flagged:
            ratio = f"{c.ratio:.1f}×" if math.isfinite(c.ratio) else "with no benefit"
            problems.append(
                f"{c.input} costs {_pct(c.cost_share)} for {_pct(c.importance_share)} of the "
                f"importance ({ratio})"
            )
    if flagged:
        hints.append(
            f"Drop {_names(flagged, 10)} or make them cheaper (a narrower type, a category "
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
    summary = (
        f"{measured.latency_ms_per_row:.3g} ms/row latency, "
        f"{measured.total_bytes_per_row:.0f} bytes/row"
    )
    if problems:
        return Evidence(
            "data.3",
            "fail",
            "; ".join(problems) + f" ({summary})",
            hint=" ".join(hints),
            tables=[per_input, totals],
            figures=[chart],
            thresholds=thresholds,
            facts=facts,
        )
    costliest = f"; costliest {costs[0].input} at {_pct(costs[0].cost_share)}" if costs else ""
    return Evidence(
        "data.3",
        "pass",
        f"every input's cost is in line with its benefit: {summary}{costliest}",
        tables=[per_input, totals],
        figures=[chart],
        thresholds=thresholds,
        facts=facts,
    )


# -- data.6 --------------------------------------------------------------------------------
FIXED_LIST_HINT = """Make {spec} pass through raw columns it does not know, so that a new
upstream column becomes a model input without a code change, e.g.:

    KNOWN = [...]  # the columns the function builds inputs from
    DROPPED = [...]  # target, ids, personal data: never inputs

    def build(raw):
        inputs = ...  # the inputs built from KNOWN, as now
        new = [c for c in raw.columns if c not in KNOWN and c not in DROPPED]
        return pd.concat([inputs, raw[new]], axis=1)"""


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
    done = trial.stage == "done"
    table = Table(
        f"Adding the raw column {cfg.name}: {trial.source}",
        ["step", "result"],
        [
            [f"training rows (a sample of at most {NEW_FEATURE_ROWS:,})", trial.train_rows],
            ["evaluation rows", trial.eval_rows],
            ["new column's type", trial.dtype or "n/a"],
            ["model inputs the feature code built from it", ", ".join(trial.added) or "none"],
            [
                "evaluation predictions that change when it is shuffled",
                trial.changed if trial.changed is not None else "n/a",
            ],
            ["the trained model's own record", trial.note or "n/a"],
            [f"{metric} without the new input", trial.metric_without],
            [f"{metric} with the new input", trial.metric_with],
            ["minutes to add, train and evaluate", minutes if done else None],
            ["outcome", "completed" if done else f"failed at {trial.stage}"],
        ],
    )
    thresholds = {"max_minutes_to_add_feature": cfg.max_minutes_to_add_feature}
    facts: dict[str, Any] = {
        "name": cfg.name,
        "source": trial.source,
        "stage": trial.stage,
        "seconds": trial.seconds,
        "train_rows": trial.train_rows,
        "metric_with": trial.metric_with,
        "metric_without": trial.metric_without,
        "reached_model": trial.reached,
        "predictions_changed": trial.changed,
    }
    evidence = Evidence("data.6", "fail", "", tables=[table], thresholds=thresholds, facts=facts)
    train_spec = system.config.model.train
    features_spec = system.config.model.features
    if trial.stage == "name":
        evidence.summary = f"[new_feature] name = {cfg.name!r}: {trial.error}"
        evidence.hint = "Choose a [new_feature] name that is not a column or a model input already."
    elif trial.stage == "expression":
        evidence.summary = f"the expression {cfg.expression!r} failed {trial.error}"
        evidence.hint = (
            "Fix [new_feature] expression: a DuckDB SQL expression over the raw columns, one "
            'value per row, that the model can use, such as "income / 12".'
        )
    elif trial.stage == "features":
        evidence.summary = f"a new raw column {cfg.name} breaks the feature code: {trial.error}"
        evidence.hint = (
            f'Make [model] features = "{features_spec}" accept raw rows with columns it does '
            "not know (pass them through, or ignore them without raising)."
        )
    elif trial.stage == "feature code":
        evidence.summary = (
            f"no input can be added by configuration: {trial.error}, so the feature code "
            "selects a fixed list of columns"
        )
        evidence.hint = FIXED_LIST_HINT.format(spec=f'[model] features = "{features_spec}"')
    elif trial.stage in ("training", "prediction"):
        evidence.summary = (
            f"adding input {cfg.name} breaks the model's {trial.stage}: {trial.error}"
        )
        evidence.hint = (
            f'Make [model] train = "{train_spec}" (and the model it returns) work on whatever '
            "inputs it receives: choose columns by dtype (e.g. scikit-learn's "
            "make_column_selector) instead of a fixed list, so a new input needs no code change."
        )
    elif trial.stage == "model inputs":
        evidence.summary = (
            f"input {_names(trial.added)} was added and trained with, but the model ignores it: "
            f"shuffling it changes none of the {trial.eval_rows:,} evaluation predictions"
            + (f" ({trial.note})" if trial.note else "")
        )
        evidence.hint = (
            f'Make [model] train = "{train_spec}" pass every input it receives to the model '
            "(select columns by dtype, keep a ColumnTransformer's remainder), so adding a "
            "feature needs no code change."
            + (
                ""
                if trial.source.startswith("a noisy copy")
                else " If the configured [new_feature] expression cannot help a model (random "
                "values, a constant), remove it so Keel uses a noisy copy of the target."
            )
        )
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
            f"it changes {trial.changed:,} of {trial.eval_rows:,} predictions), trained with in "
            f"{trial.seconds:.1f} s ({trial.train_rows:,} training rows); {change}"
        ).rstrip("; ")
    return evidence


# -- data.7 --------------------------------------------------------------------------------
# What pytest's exit statuses mean when no test result came back (pytest's ExitCode).
PYTEST_EXITS = {
    2: "pytest was interrupted: the tests could not be collected (an import or syntax error "
    "in a test module or conftest.py?)",
    3: "pytest stopped on an internal error",
    4: "pytest could not start: a usage error (unknown options, or a conftest.py or plugin "
    "that fails)",
    5: "pytest collected no tests",
}


def _first_error(output: str) -> str:
    """The first line of pytest's output that names an error, to quote in a summary: an
    exception line ("E   ModuleNotFoundError: ...") before any other line naming an error."""
    lines = output.splitlines()
    exceptions = [x[1:].strip() for x in lines if x.startswith("E ")]
    for text in [*exceptions, *(x.strip() for x in lines)]:
        if "Error" in text or "error:" in text:
            return text[:200]
    return ""


def _not_run(run: SuiteRun) -> str:
    """Why a test run that passed no test did not run, in words."""
    from keel.checks._coverage import NOT_RUN

    if run.returncode == NOT_RUN:
        return f"the tests could not be started: {run.output or 'no reason given'}"
    collected = run.returncode in (2, 3, 4) and run.passed + run.failed == 0
    if run.passed + run.failed + run.errors and not collected:
        return f"{run.failed + run.errors} test(s) fail (exit status {run.returncode})"
    why = PYTEST_EXITS.get(run.returncode, f"pytest ran no tests (exit status {run.returncode})")
    error = _first_error(run.output)
    return why + (f": {error}" if error else "")


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
    source = Path(sys.modules[build.__module__].__file__ or "").resolve()
    shown = (
        str(source.relative_to(system.root)) if source.is_relative_to(system.root) else str(source)
    )
    seed = cfg.seed
    has_hypothesis = importlib.util.find_spec("hypothesis") is not None
    probes: list[ProbeResult] = system.cached(
        "feature_probes",
        lambda: probe_features(build, system.raw("train"), seed=seed),
        SAMPLE_ROWS,
        SEARCH_EXAMPLES,
        seed,
        has_hypothesis,
    )
    try:
        run, missing, missing_hint = feature_tests(system, source)
    except Exception as exc:  # the tests cannot even be started: say why, as a failure
        run, missing = None, f"the tests could not be run: {type(exc).__name__}: {exc}"
        missing_hint = (
            f"Make `python -m pytest {cfg.tests}` runnable in {system.root} (pytest and coverage "
            "installed where Keel runs, a tests folder it can read)."
        )
    tables = [
        Table(
            f"Probes of {cfg.features} on {SAMPLE_ROWS} raw training rows",
            ["probe", "outcome", "detail"],
            [[p.probe, p.outcome, p.detail] for p in probes],
        )
    ]
    failed_probes = [p for p in probes if p.outcome == "fail"]
    facts: dict[str, Any] = {
        "feature_module": shown,
        "probes": len(probes),
        "probes_failed": len(failed_probes),
    }
    thresholds = {"min_coverage": cfg.min_coverage, "timeout_s": TIMEOUT_S}
    figures = []
    problems, hints = [], []
    if run is None:
        problems.append(missing)
        hints.append(missing_hint)
    else:
        tables.insert(
            0,
            Table(
                f"Tests in {cfg.tests} under coverage of {shown}",
                ["measure", "value"],
                [
                    ["tests passed", run.passed],
                    ["tests failed", run.failed],
                    ["tests with errors", run.errors],
                    ["tests skipped", run.skipped],
                    ["seconds", run.seconds],
                    [f"line coverage of {shown}", run.coverage],
                    ["lines covered / statements", f"{run.covered_lines} / {run.total_lines}"],
                    ["lines not covered", line_ranges(run.missing_lines) or "none"],
                ],
            ),
        )
        facts.update(
            tests_passed=run.passed,
            tests_failed=run.failed + run.errors,
            coverage=run.coverage,
            covered_lines=run.covered_lines,
            statements=run.total_lines,
        )
        figures.append(
            BarChart(
                "Line coverage of the feature code by its tests",
                [shown],
                [run.coverage],
                x_label="share of statements run by the tests",
                reference={"min_coverage": cfg.min_coverage},
                flagged=[run.coverage < cfg.min_coverage],
            )
        )
        if not run.tests_pass:
            if run.timed_out:
                problems.append(f"the tests did not finish within {TIMEOUT_S} s")
            else:
                problems.append(_not_run(run))
            tables.append(
                Table(
                    "The end of pytest's output", ["line"], [[x] for x in run.output.splitlines()]
                )
            )
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
    passed_probes = sum(p.outcome == "pass" for p in probes)
    if problems or run is None:
        return Evidence(
            "data.7",
            "fail",
            "; ".join(problems),
            hint=" ".join(hints),
            tables=tables,
            figures=figures,
            thresholds=thresholds,
            facts=facts,
        )
    return Evidence(
        "data.7",
        "pass",
        f"{run.passed} tests pass, covering {run.coverage:.0%} of {shown} "
        f"(≥ {cfg.min_coverage:.0%}); {passed_probes} of {len(probes)} probes pass",
        tables=tables,
        figures=figures,
        thresholds=thresholds,
        facts=facts,
    )
