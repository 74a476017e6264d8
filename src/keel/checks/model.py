"""Checks of the model section: model.1 … model.7."""

from __future__ import annotations

import math

from keel.checks._baselines import baselines_chart, baselines_facts, baselines_table
from keel.checks._code import code_files, recorded_commit
from keel.checks._fairness import fairness_facts, fairness_tables, proxies_chart
from keel.checks._format import num, settings
from keel.checks._slices import (
    nothing_judged,
    search_frame,
    slice_columns_error,
    slices_chart,
    slices_facts,
    slices_fail,
    slices_table,
    worst_of,
    worst_text,
)
from keel.checks._staleness import staleness_charts, staleness_facts, staleness_tables
from keel.checks._tuning import recorded_search_evidence, recorded_table, sweep_evidence
from keel.errors import CheckError, KeelError
from keel.evidence import Evidence, Table, not_configured
from keel.git import file_state
from keel.model.fairness import fairness_reports, scan_proxies
from keel.model.slices import find_slices
from keel.system import System


def model_1(system: System) -> Evidence:
    """model.1: training code and keel.toml are tracked by git and clean, and the serving
    version (else the newest) was registered from a commit with its code committed."""
    from keel import __version__

    files, own = code_files(system)
    state = file_state(system.root, files)
    if state is None:
        return not_configured(
            "model.1",
            "the system is not in a git repository",
            "Put the training code and keel.toml under version control: `git init`, "
            "`git add keel.toml <your package>`, `git commit`.",
        )
    top = state.top.resolve()
    rows = []
    outside = []
    for f in files:
        if not f.is_relative_to(top):
            outside.append(str(f))
            rows.append([str(f), "outside the repository"])
            continue
        rel = str(f.relative_to(top))
        status = (
            "untracked"
            if rel in state.untracked
            else ("modified" if rel in state.modified else "clean")
        )
        rows.append([rel, status])
    for entry in own:
        rows.append([entry, f"Keel's own code (keel {__version__}), versioned with Keel"])
    table = Table("Training code and configuration", ["file", "git status"], rows)
    facts: dict[str, object] = {
        "commit": state.commit,
        "files": len(files),
        "keel_entry_points": ", ".join(own),
    }
    own_note = f"; the trainer is Keel's own ({', '.join(own)}, keel {__version__})" if own else ""
    if not state.commit:
        return Evidence(
            "model.1",
            "fail",
            "the repository has no commit yet" + own_note,
            hint="Commit the training code and keel.toml: `git commit`.",
            tables=[table],
            facts=facts,
        )
    if state.untracked or state.modified or outside:
        bad = outside + state.untracked + state.modified
        shown = ", ".join(bad[:5]) + (" …" if len(bad) > 5 else "")
        counts = f"{len(state.untracked)} untracked and {len(state.modified)} modified file(s)"
        if outside:
            counts = f"{len(outside)} file(s) outside the repository at {top}, " + counts
        return Evidence(
            "model.1",
            "fail",
            f"{counts}: {shown}{own_note}",
            hint="Review and commit the training code and keel.toml (`git add` them, then "
            "`git commit`), so the model can be traced to a reviewed specification"
            + (
                "; move code that lives outside the repository into it (or into a versioned "
                "package)."
                if outside
                else "."
            ),
            tables=[table],
            facts=facts,
        )
    recorded = recorded_commit(system)
    facts |= {"version": recorded.version, "version_commit": recorded.commit}
    if recorded.problem:
        return Evidence(
            "model.1", "fail", recorded.problem + own_note, hint=recorded.hint,
            tables=[table], facts=facts,
        )  # fmt: skip
    return Evidence(
        "model.1",
        "pass",
        f"{len(files)} file(s) of training code and configuration are committed at "
        f"{state.commit[:12]}; {recorded.describe()}{own_note}",
        tables=[table],
        facts=facts,
    )


def model_2(system: System) -> Evidence:
    """model.2: offline and online metrics rank versions alike: Spearman correlation across
    versions that served with labels, else the champion's canary against its predecessor."""
    from keel.checks._online import canary_evidence, correlation_evidence, per_version

    measured = per_version(system)
    if len(measured) >= system.config.monitor.min_versions:
        return correlation_evidence(system, measured)
    return canary_evidence(system, measured)


def model_3(system: System) -> Evidence:
    """model.3: the configured hyperparameters are within tolerance of the best found nearby."""
    from keel.checks._measure_model import swept_params, tuning_sweep
    from keel.checks._recorded_search import recorded_search

    cfg = system.config.tuning
    thresholds = settings(cfg, "factor", "tolerance", "sample")
    try:
        recorded = recorded_search(system)
    except KeelError:  # a store that cannot answer: Keel's own sweep still can
        recorded = None
    if recorded is not None and not recorded.not_counted:
        return recorded_search_evidence(system, recorded, thresholds, cfg.tolerance)
    not_counted = f"the recorded search was not counted: {recorded.not_counted}" if recorded else ""
    names, skipped = swept_params(system)
    if not names:
        left_out = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        evidence = not_configured(
            "model.3",
            "no numeric hyperparameter to sweep in [model] params"
            + (f" ({left_out})" if left_out else "")
            + (f"; {not_counted}" if not_counted else ""),
            "Put the hyperparameters your training function reads in keel.toml, e.g. "
            "[model] params = { learning_rate = 0.1, max_iter = 200 }, so Keel can move them "
            "and retrain; or record a search (Optuna with MLflow) for the registry to find.",
        )
        if recorded is not None:
            evidence.facts["recorded_search"] = recorded.not_counted
        return evidence
    found = tuning_sweep(system)
    if getattr(found, "stopped", ""):
        return not_configured(
            "model.3",
            f"the sweep was not run: {found.stopped}"
            + (f" ({found.note})" if found.note else "")
            + (f"; {not_counted}" if not_counted else ""),
            "Run `keel score --deep` to sweep whatever it takes, sweep fewer hyperparameters "
            "([tuning] params), raise [tuning] max_seconds, or record a search (Optuna with "
            "MLflow, in the experiment keel/NAME/tuning).",
        )
    evidence = sweep_evidence(system, found, thresholds)
    if recorded is not None:
        evidence.summary += f" ({not_counted})"
        evidence.facts["recorded_search"] = recorded.not_counted
        evidence.tables.append(recorded_table(recorded, None))
    return evidence


def model_4(system: System) -> Evidence:
    """model.4: quality against the age of the training data is measured; its limit is known."""
    from keel.checks._measure_model import staleness_curve

    cfg = system.config.staleness
    if system.config.system.timestamp is None:
        return not_configured(
            "model.4",
            "no [system] timestamp: the age of the training data cannot be measured",
            _timestamp_hint(system),
        )
    found = staleness_curve(system)
    if getattr(found, "stopped", ""):
        return not_configured(
            "model.4",
            f"the older windows were not trained: {found.stopped}"
            + (f" ({'; '.join(found.notes)})" if found.notes else ""),
            "Run `keel score --deep` to train every window whatever it takes, lower "
            "[staleness] max_age_periods (fewer windows), or raise [staleness] max_seconds.",
        )
    metric, measured = found.metric, found.measured
    fresh = found.ages[0].metric if found.ages else None
    evidence = Evidence(
        "model.4",
        "pass",
        "",
        tables=staleness_tables(found, fresh),
        figures=staleness_charts(found, fresh, cfg.max_drop),
        thresholds=settings(cfg, "period_days", "max_age_periods", "max_drop"),
        facts=staleness_facts(found),
    )
    if found.problem or len(measured) < 2 or fresh is None:
        evidence.status = "fail"
        evidence.summary = "the quality-versus-age curve cannot be computed: " + (
            found.problem or f"fewer than 2 ages could be evaluated ({found.ages[-1].error})"
        )
        evidence.hint = (
            f"Model staleness needs time-stamped data spanning at least three periods of "
            f"[staleness] period_days = {cfg.period_days} (two to train on, the newest to "
            "evaluate on), with every class in the newest one: keep more history, or shorten "
            "period_days."
        )
        return evidence
    oldest = measured[-1]
    if found.drop_age_days is not None:
        at = next(a for a in measured if a.age_days == found.drop_age_days)
        evidence.summary = (
            f"{metric} falls more than {cfg.max_drop:g} at age {found.drop_age_days:g} days "
            f"({num(fresh)} → {num(at.metric)}): the model must be retrained within "
            f"{found.limit_days:g} days (monitor.4's limit)"
        )
    else:
        evidence.summary = (
            f"no drop of more than {cfg.max_drop:g} in {metric} up to {oldest.age_days:g} days "
            f"({num(fresh)} at age 0, {num(oldest.metric)} at {oldest.age_days:g} days): "
            f"limit {found.limit_days:g} days, as far as measured (monitor.4's limit)"
        )
    if found.notes:
        evidence.summary += f" ({'; '.join(found.notes)})"
    return evidence


def model_5(system: System) -> Evidence:
    """model.5: the model beats the best simple baseline by [baseline] min_gain.

    A baseline of the model's own kind (a logistic regression is the linear baseline) is
    shown but left out of the bar: a model cannot be asked to beat itself. When the best
    baseline leaves less room below the metric's ceiling than min_gain, no model could show
    that gain: the model is then judged on not being worse than the baseline, and the summary
    says so. The hint never asks for a value the metric cannot reach."""
    from keel.model.baselines import baseline_kind, metric_ceiling

    min_gain = system.config.baseline.min_gain
    from keel.checks._measure_model import compare_with_baselines  # scikit-learn: when used

    found = compare_with_baselines(system)
    metric, model = found.metric, found.model.metrics[found.metric]
    if math.isnan(model):
        raise CheckError(
            f"the model's {metric} is undefined on the evaluation data (a single class?); "
            "evaluate on rows holding every class"
        )
    own = baseline_kind(system.trained.estimator)
    others = [b.name for b in found.baselines if b.name != own]
    best = found.best_of(others)
    if best is None:
        return not_configured(
            "model.5",
            f"the model is itself the {own} baseline and no other baseline has a defined "
            f"{metric}: there is no simpler model to compare it with",
            "Check that the training data lets a constant, linear and tree baseline learn "
            "(numeric or categorical inputs, every class present).",
        )
    best_value = best.metrics[metric]
    ceiling = metric_ceiling(metric)
    room = ceiling - best_value
    required = min(min_gain, max(room, 0.0))
    bar = best_value + required
    gain = model - best_value
    passed = model >= bar - 1e-12
    notes = []
    mine = next((b for b in found.baselines if b.name == own), None)
    if mine is not None:
        notes.append(
            f"the model is itself a {own} model: the {own} baseline "
            f"({num(mine.metrics[metric])}) is shown but left out of the bar"
        )
    if required < min_gain:
        notes.append(
            f"the {best.name} baseline's {num(best_value)} leaves {room:.4g} below the "
            f"{metric} ceiling of {ceiling:g}, less than [baseline] min_gain {min_gain:g}: no "
            "model can show that gain, so the model is judged on not being worse"
        )
    said = f" ({'; '.join(notes)})" if notes else ""
    evidence = Evidence(
        "model.5",
        "pass" if passed else "fail",
        f"model {metric} {num(model)} vs best baseline ({best.name}) {num(best_value)}: "
        f"gain {gain:+.4g}, {'at least' if passed else 'below'} the required "
        f"{required:.4g}{said}",
        tables=[baselines_table(found)],
        figures=[baselines_chart(found, bar, passed)],
        thresholds={"min_gain": min_gain},
        facts={
            **baselines_facts(found),
            "best_baseline": best.name,
            "best_baseline_metric": best_value,
            "gain": gain,
            "required_gain": required,
            "model_kind": own,
        },
    )
    if not passed:
        if required < min_gain:
            need = (
                f"the model needs at least the baseline's {num(best_value)} (a gain of "
                f"{min_gain:g} would pass the metric's ceiling of {ceiling:g})"
            )
        else:
            need = f"the model needs at least {num(bar)} ([baseline] min_gain = {min_gain:g})"
        evidence.hint = (
            f"The {best.name} baseline ({best.description}) reaches {metric} "
            f"{num(best_value)}; {need}. Improve the model (more informative features, "
            "capacity, tuning) or ship the simpler model"
            + (
                "; lower [baseline] min_gain only if the extra complexity is worth less than that."
                if required >= min_gain
                else "."
            )
        )
    return evidence


def model_6(system: System) -> Evidence:
    """model.6: the primary metric holds up on the configured slices and every searched slice.

    Every searched slice counts for the verdict ([slices] worst only limits the display). The
    search looks only at columns the model could depend on (`_slices.search_frame`). A
    regression's slices are judged on their error against the whole's ([slices]
    max_error_ratio), not on R². Nothing judged (no slice, or no slice of a configured column,
    with [slices] min_size rows and a defined metric; or only numeric slices, which are
    reported) is not_configured with the real reason, unless some slice fails.
    """
    cfg = system.config.slices
    regression = system.config.system.task == "regression"
    if not cfg.columns and not cfg.search:
        return not_configured(
            "model.6",
            "no slices configured and the worst-slice search is off",
            'Name the slices that matter in keel.toml: [slices] columns = ["region"], '
            "or turn the search back on: [slices] search = true.",
        )
    if not regression and cfg.min_metric is None and cfg.max_gap is None:
        return not_configured(
            "model.6",
            "no slice threshold is set",
            "Set [slices] max_gap = 0.05 (largest drop below the overall metric) or "
            "[slices] min_metric (a floor for every slice).",
        )
    evaluation = system.dataset("eval")
    raw = evaluation.raw
    for column in cfg.columns:
        if column not in raw.columns:
            raise slice_columns_error(system, list(raw.columns), column)
    frame, unused = search_frame(system, raw, evaluation.inputs) if cfg.search else (raw, [])
    trained = system.trained
    metric, overall = system.metric_name, trained.metric
    s = system.config.system
    found = find_slices(
        frame,
        evaluation.target.to_numpy(),
        trained.predictions,
        metric=metric,
        overall=overall,
        columns=cfg.columns,
        search=cfg.search,
        exclude=[c for c in (s.target, s.id, s.timestamp) if c],
        bins=cfg.bins,
        min_size=cfg.min_size,
        worst=cfg.worst,
        min_metric=cfg.min_metric,
        max_gap=cfg.max_gap,
        max_error_ratio=cfg.max_error_ratio if regression else None,
    )
    judged, failing = found.judged, found.failing
    facts = slices_facts(found, metric, overall, len(frame))
    if unused:
        facts["not_searched"] = ", ".join(unused)
    limits = ("max_error_ratio",) if regression else ("max_gap",)
    evidence = Evidence(
        "model.6",
        "pass",
        "",
        tables=[slices_table(found, metric, overall)],
        figures=[slices_chart(found, metric, overall, cfg)],
        thresholds=settings(cfg, "min_size", "min_metric", *limits, "bins", "worst", "search"),
        facts=facts,
    )
    unjudged_columns = [
        c
        for c in cfg.columns
        if not any(r.slice.column == c and r.verdict in ("pass", "fail") for r in found.configured)
    ]
    aside = (
        f" (not searched: {', '.join(unused)}, which the model inputs do not depend on)"
        if unused
        else ""
    )
    if failing:
        evidence = slices_fail(evidence, cfg, metric, overall, found)
        evidence.summary += aside
        return evidence
    if not judged or unjudged_columns:
        evidence.status = "not_configured"
        evidence.summary, evidence.hint = nothing_judged(
            found, cfg, metric, len(frame), unjudged_columns
        )
        evidence.summary += aside
        return evidence
    worst = min(judged, key=lambda r: r.standing)
    facts.update(worst_of(found, judged))
    evidence.summary = (
        f"all {len(judged)} judged slices within limits; "
        f"{worst_text(worst, metric, overall, found)}"
    )
    if found.skipped_columns:
        evidence.summary += (
            f" ({len(found.skipped_columns)} numeric columns not searched: reported-only slices)"
        )
    evidence.summary += aside
    return evidence


def _timestamp_hint(system: System) -> str:
    """Which column to name as [system] timestamp: the raw data's time columns, if any."""
    import pandas as pd

    try:
        raw = system.raw("train")
    except Exception:  # noqa: BLE001 - a hint never fails the check
        raw = None
    times = (
        []
        if raw is None
        else [str(c) for c in raw.columns if pd.api.types.is_datetime64_any_dtype(raw[c])]
    )
    if times:
        shown = ", ".join(times[:3])
        return (
            f"Name the event-time column in keel.toml: [system] timestamp = "
            f'"{times[0]}" (the raw data\'s time columns: {shown}).'
        )
    return (
        "The raw data has no date or time column: add one that records when each example "
        "happened and name it in keel.toml ([system] timestamp), or attest model.4 "
        '([attest."model.4"]).'
    )


def model_7(system: System) -> Evidence:
    """model.7: sensitive groups are treated alike and no model input is a proxy of them."""
    cfg = system.config.fairness
    if not cfg.sensitive:
        return not_configured(
            "model.7",
            "no sensitive attribute configured",
            "If the data describes people, name the raw columns that record sensitive "
            "attributes in keel.toml ([fairness] sensitive = [...], e.g. a gender or age "
            'column); if it does not, attest that in keel.toml ([attest."model.7"] with the '
            "evidence, by and date).",
        )
    evaluation = system.dataset("eval")
    trained = system.trained
    metric = system.metric_name
    frame = evaluation.raw
    left_out = getattr(system, "unpredictable", None)
    # Proxies need no predictions: every evaluation row's inputs are read, also the rows the
    # model raises on (which may be the very rows a re-added sensitive input breaks).
    everything = system.dataset("eval", all_rows=True) if left_out is not None else evaluation
    reports = fairness_reports(
        frame,
        evaluation.target.to_numpy(),
        trained.predictions,
        sensitive=cfg.sensitive,
        task=system.task,
        metric=metric,
        min_group_size=cfg.min_group_size,
        max_demographic_parity_difference=cfg.max_demographic_parity_difference,
        max_equalized_odds_difference=cfg.max_equalized_odds_difference,
    )
    scan = scan_proxies(
        everything.inputs,
        everything.raw[list(cfg.sensitive)],
        max_association=cfg.max_proxy_association,
        seed=system.config.model.seed,
    )
    proxies = scan.proxies
    as_inputs = [a for a in cfg.sensitive if a in everything.inputs.columns]
    differences = [d for r in reports for d in r.differences]
    flagged = [p for p in proxies if p.flagged]
    facts = fairness_facts(cfg.sensitive, as_inputs, differences, scan)
    notes = [] if not scan.note else [scan.note]
    if left_out is not None:
        facts["left_out_rows"] = len(left_out.rows)
        notes.append(
            f"groups compared on the {len(frame):,} of {left_out.total:,} evaluation rows the "
            f"model predicts ({len(left_out.rows):,} left out: it raises on them, see infra.2); "
            f"proxies on all {left_out.total:,}"
        )
    failed_differences = [d for d in differences if d.verdict == "fail"]
    unmeasured = [d for d in differences if d.verdict == "not measured"]
    problems, hints = [], []
    if as_inputs:
        problems.append(f"sensitive attribute(s) used as model input: {', '.join(as_inputs)}")
        hints.append(
            f"Drop {', '.join(as_inputs)} from the model inputs in the feature function "
            "([model] features); Keel already leaves [fairness] sensitive columns out when "
            "there is no feature function."
        )
    for d in failed_differences:
        problems.append(f"{d.attribute} {d.measure} {num(d.value)} > {d.limit:g}")
    if failed_differences:
        hints.append(
            "Reduce the differences between groups: look for the inputs that carry the "
            "attribute, rebalance or reweight the training data, or post-process decisions per "
            "group (e.g. fairlearn's ThresholdOptimizer); the limits are [fairness] "
            "max_demographic_parity_difference and max_equalized_odds_difference."
        )
    for d in unmeasured:
        problems.append(f"{d.attribute} {d.measure} not measured ({d.note})")
    if unmeasured and left_out is not None:
        hints.append(
            f"The model raises on {len(left_out.rows):,} evaluation rows ({left_out.error}); "
            "make it predict them, so every group can be compared."
        )
    if unmeasured:
        hints.append(
            f"Evaluate on more rows of each group, or lower [fairness] min_group_size "
            f"(now {cfg.min_group_size}), so groups can be compared."
        )
    if flagged:
        named = ", ".join(
            f"{p.input} ({p.measure} {p.value:.2f} with {p.attribute})" for p in flagged[:5]
        )
        problems.append(f"{len(flagged)} proxy input(s): {named}")
        hints.append(
            f"Remove or transform the inputs that stand in for a sensitive attribute ({named}), "
            "or, if the association is justified and documented, raise [fairness] "
            f"max_proxy_association (now {cfg.max_proxy_association:g})."
        )
    summary_parts = [f"{d.attribute} {d.measure} {num(d.value)}" for d in differences]
    strongest = (
        f"strongest proxy {proxies[0].input} ~ {proxies[0].attribute} {proxies[0].value:.2f}"
        if proxies
        else "no model inputs"
    )
    summary = (
        "; ".join(problems)
        if problems
        else f"within limits: {', '.join(summary_parts)}; {strongest}"
    )
    if notes:
        summary += f" ({'; '.join(notes)})"
    return Evidence(
        "model.7",
        "fail" if problems else "pass",
        summary,
        hint=" ".join(hints),
        tables=fairness_tables(reports, scan, cfg.min_group_size),
        figures=[proxies_chart(scan, cfg.max_proxy_association)],
        thresholds=settings(
            cfg,
            "max_demographic_parity_difference",
            "max_equalized_odds_difference",
            "max_proxy_association",
            "min_group_size",
        ),
        facts=facts,
    )
