"""Checks of the model section: model.1 … model.7."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from keel.checks._measure_model import compare_with_baselines
from keel.config import SlicesSection
from keel.errors import CheckError, KeelError
from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.git import file_state
from keel.model.fairness import fairness_reports, scan_proxies
from keel.model.slices import SliceResult, find_slices
from keel.system import System

if TYPE_CHECKING:
    from keel.model.tuning import RecordedSearch, Sweep


def _is_keel_own(func: object) -> bool:
    """Whether an entry point is Keel's own code (e.g. `keel.trainers:gradient_boosting`)."""
    import keel

    module = sys.modules.get(getattr(func, "__module__", "") or "")
    file = getattr(module, "__file__", None)
    if not file:
        return False
    return Path(file).resolve().is_relative_to(Path(keel.__file__).resolve().parent)


def _code_files(system: System) -> tuple[list[Path], list[str]]:
    """keel.toml and every Python file of the packages holding the training and feature code.

    Also the entry points that are Keel's own (`keel.trainers:gradient_boosting`, as `keel
    init` writes it): their code is versioned with Keel, not with the system, so it is left out
    and named instead.
    """
    files = [system.config_file] if system.config_file else []
    own = []
    entries = (
        ("[model] train", system.config.model.train, system.train_function),
        ("[model] features", system.config.model.features, system.features_function),
    )
    for key, spec, func in entries:
        if func is None:
            continue
        if _is_keel_own(func):
            own.append(f"{key} = {spec}")
            continue
        module = sys.modules[func.__module__]
        top = sys.modules[func.__module__.split(".")[0]]
        top_file = Path(getattr(top, "__file__", "") or module.__file__)
        if top_file.name == "__init__.py":
            files.extend(sorted(top_file.parent.rglob("*.py")))
        else:
            files.append(Path(module.__file__))
    files = [f for f in files if "__pycache__" not in f.parts]
    return list(dict.fromkeys(f.resolve() for f in files)), own


def model_1(system: System) -> Evidence:
    """model.1: training code and keel.toml are tracked by git, clean, at a recorded commit."""
    from keel import __version__

    files, own = _code_files(system)
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
    return Evidence(
        "model.1",
        "pass",
        f"{len(files)} file(s) of training code and configuration are committed at "
        f"{state.commit[:12]}{own_note}",
        tables=[table],
        facts=facts,
    )


def _num(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4g}"


def _plain(value: float) -> float | None:
    """A float for facts: None where undefined (facts are JSON)."""
    return None if math.isnan(value) else float(value)


def model_5(system: System) -> Evidence:
    """model.5: the model beats the best simple baseline by [baseline] min_gain."""
    min_gain = system.config.baseline.min_gain
    found = compare_with_baselines(system)
    metric, model = found.metric, found.model.metrics[found.metric]
    if math.isnan(model):
        raise CheckError(
            f"the model's {metric} is undefined on the evaluation data (a single class?); "
            "evaluate on rows holding every class"
        )
    best = found.best
    best_value = best.metrics[metric]
    bar = best_value + min_gain
    passed = model >= bar - 1e-12
    everyone = [found.model, *found.baselines]
    table = Table(
        "The model and simple baselines on the evaluation data",
        ["model", "what it is", *found.metrics],
        [[m.name, m.description, *(m.metrics[k] for k in found.metrics)] for m in everyone],
    )
    chart = BarChart(
        f"{metric} of the model and the baselines",
        [m.name for m in everyone],
        [m.metrics[metric] for m in everyone],
        x_label=metric,
        reference={"best baseline + min_gain": bar},
        flagged=[m is found.model and not passed for m in everyone],
    )
    facts = {
        "metric": metric,
        "model_metric": model,
        "best_baseline": best.name,
        "best_baseline_metric": best_value,
        "gain": found.gain,
        **{f"{b.name}_metric": _plain(b.metrics[metric]) for b in found.baselines},
    }
    if found.notes:
        facts["baseline_notes"] = "; ".join(found.notes)
    evidence = Evidence(
        "model.5",
        "pass" if passed else "fail",
        f"model {metric} {_num(model)} vs best baseline ({best.name}) {_num(best_value)}: "
        f"gain {found.gain:+.4g}, {'at least' if passed else 'below'} the required "
        f"{min_gain:.4g}",
        tables=[table],
        figures=[chart],
        thresholds={"min_gain": min_gain},
        facts=facts,
    )
    if not passed:
        evidence.hint = (
            f"The {best.name} baseline ({best.description}) reaches {metric} "
            f"{_num(best_value)}; the model needs at least {_num(bar)} "
            f"([baseline] min_gain = {min_gain:g}). Improve the model (more informative "
            f"features, capacity, tuning) or ship the simpler model; lower [baseline] min_gain "
            "only if the extra complexity is worth less than that."
        )
    return evidence


def _slice_columns_error(system: System, frame_columns: list[str], missing: str) -> CheckError:
    configured = ", ".join(f'"{c}"' for c in system.config.slices.columns)
    shown = ", ".join(map(str, frame_columns[:30]))
    return CheckError(
        f'keel.toml: [slices] columns = [{configured}]: column "{missing}" is not in the '
        f"evaluation data; columns are: {shown}"
    )


def model_6(system: System) -> Evidence:
    """model.6: the primary metric holds up on the configured slices and every searched slice.

    Every searched slice counts for the verdict ([slices] worst only limits the display). Too
    little data to judge (no slice, or no slice of a configured column, with [slices] min_size
    rows and a defined metric) is not_configured, unless some slice fails.
    """
    cfg = system.config.slices
    if not cfg.columns and not cfg.search:
        return not_configured(
            "model.6",
            "no slices configured and the worst-slice search is off",
            'Name the slices that matter in keel.toml: [slices] columns = ["region"], '
            "or turn the search back on: [slices] search = true.",
        )
    if cfg.min_metric is None and cfg.max_gap is None:
        return not_configured(
            "model.6",
            "no slice threshold is set",
            "Set [slices] max_gap = 0.05 (largest drop below the overall metric) or "
            "[slices] min_metric (a floor for every slice).",
        )
    evaluation = system.dataset("eval")
    frame = evaluation.raw
    for column in cfg.columns:
        if column not in frame.columns:
            raise _slice_columns_error(system, list(frame.columns), column)
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
    )
    results = found.results
    table = Table(
        f"{metric} per slice (overall {_num(overall)})",
        ["slice", "source", "rows", metric, "gap to overall", "verdict"],
        [
            [
                r.slice.name,
                r.slice.source,
                r.size,
                r.metric,
                r.gap,
                r.verdict + (f": {r.note}" if r.note else ""),
            ]
            for r in results
        ],
    )
    shown = [r for r in results if r.verdict in ("pass", "fail", "reported")]
    reference = {"overall": overall}
    if cfg.max_gap is not None:
        reference["overall − max_gap"] = overall - cfg.max_gap
    if cfg.min_metric is not None:
        reference["min_metric"] = cfg.min_metric
    chart = BarChart(
        f"{metric} per slice",
        [r.slice.name for r in shown],
        [r.metric for r in shown],
        x_label=metric,
        reference=reference,
        flagged=[r.verdict == "fail" for r in shown],
    )
    thresholds = {
        "min_size": cfg.min_size,
        "min_metric": cfg.min_metric,
        "max_gap": cfg.max_gap,
        "bins": cfg.bins,
        "worst": cfg.worst,
        "search": cfg.search,
    }
    judged = found.judged
    failing = found.failing
    facts: dict[str, object] = {
        "metric": metric,
        "overall": overall,
        "eval_rows": len(frame),
        "judged_slices": len(judged),
        "configured_slices": len(found.configured),
        "searched_columns": len(found.searched_columns),
        "searched_slices": found.searched_slices,
        "failing_slices": len(failing),
        "too_small": sum(r.verdict == "too small" for r in found.configured + found.searched),
        "undefined": sum(r.verdict == "undefined" for r in found.configured + found.searched),
        "shown_slices": len(results),
    }
    if found.skipped_columns:
        facts["skipped_numeric_columns"] = len(found.skipped_columns)
        facts["search_note"] = found.screen
    evidence = Evidence(
        "model.6", "pass", "", tables=[table], figures=[chart], thresholds=thresholds, facts=facts
    )
    unjudged_columns = [
        c
        for c in cfg.columns
        if not any(r.slice.column == c and r.verdict in ("pass", "fail") for r in found.configured)
    ]
    if failing:
        return _slices_fail(evidence, cfg, metric, overall, judged, failing)
    if not judged or unjudged_columns:
        where = (
            f"[slices] columns {', '.join(unjudged_columns)}: no slice" if judged else "no slice"
        )
        evidence.status = "not_configured"
        evidence.summary = (
            f"too little data to judge: {where} has at least {cfg.min_size} rows "
            f"([slices] min_size) with a defined {metric}, out of {len(frame):,} evaluation rows"
        )
        evidence.hint = (
            f"Evaluate on more rows (each slice needs {cfg.min_size}), or lower [slices] "
            f"min_size (now {cfg.min_size}) if fewer rows per slice are enough to judge it"
            + (
                f"; or name slice columns whose values each cover enough rows (now "
                f"{', '.join(unjudged_columns)})."
                if unjudged_columns
                else "."
            )
        )
        return evidence
    worst = min(judged, key=lambda r: r.metric)
    facts.update(worst_slice=worst.slice.name, worst_metric=worst.metric, worst_gap=worst.gap)
    evidence.summary = (
        f"all {len(judged)} judged slices within limits; {_worst_text(worst, metric, overall)}"
    )
    if found.skipped_columns:
        evidence.summary += (
            f" ({len(found.skipped_columns)} numeric columns not searched: reported-only slices)"
        )
    return evidence


def _worst_text(worst: SliceResult, metric: str, overall: float) -> str:
    return (
        f"worst slice {worst.slice.name}: {metric} {_num(worst.metric)} vs {_num(overall)} "
        f"overall (gap {worst.gap:+.4g}, {worst.size} rows)"
    )


def _slices_fail(
    evidence: Evidence,
    cfg: SlicesSection,
    metric: str,
    overall: float,
    judged: list[SliceResult],
    failing: list[SliceResult],
) -> Evidence:
    """model.6's failing verdict: how many slices fail, the worst, and what to do."""
    worst = min(judged, key=lambda r: r.metric)
    evidence.facts.update(
        worst_slice=worst.slice.name, worst_metric=worst.metric, worst_gap=worst.gap
    )
    evidence.status = "fail"
    evidence.summary = f"{len(failing)} slice(s) fail; {_worst_text(worst, metric, overall)}"
    failing = sorted(failing, key=lambda r: r.metric)
    names = ", ".join(r.slice.name for r in failing[:3]) + (" …" if len(failing) > 3 else "")
    limits = []
    if cfg.max_gap is not None:
        limits.append(f"{metric} at most {cfg.max_gap:g} below overall ([slices] max_gap)")
    if cfg.min_metric is not None:
        limits.append(f"{metric} at least {cfg.min_metric:g} ([slices] min_metric)")
    evidence.hint = (
        f"Improve the model on {names} so that every slice has {' and '.join(limits)}: "
        "collect more or cleaner labelled data for those rows, add features that explain "
        "them, or weight them in training. Loosen the limits only if the gap is acceptable."
    )
    return evidence


def model_7(system: System) -> Evidence:
    """model.7: sensitive groups are treated alike and no model input is a proxy of them."""
    cfg = system.config.fairness
    if not cfg.sensitive:
        return not_configured(
            "model.7",
            "no sensitive attribute configured",
            "Name the sensitive attributes (columns of the raw data) in keel.toml: "
            '[fairness] sensitive = ["gender"].',
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
    tables = [
        Table(
            f"Groups of {r.attribute}",
            ["group", "rows", *r.metrics, "compared"],
            [
                [
                    g.name,
                    g.size,
                    *(g.metrics[m] for m in r.metrics),
                    "yes" if g.included else f"no: fewer than {cfg.min_group_size} rows",
                ]
                for g in r.groups
            ],
        )
        for r in reports
    ]
    differences = [d for r in reports for d in r.differences]
    tables.append(
        Table(
            "Differences between groups",
            ["attribute", "measure", "value", "limit", "verdict", "note"],
            [[d.attribute, d.measure, d.value, d.limit, d.verdict, d.note] for d in differences],
        )
    )
    tables.append(
        Table(
            "Association of each model input with each sensitive attribute",
            ["input", "attribute", "measure", "value", "flagged"],
            [[p.input, p.attribute, p.measure, p.value, p.flagged] for p in proxies],
        )
    )
    shown = proxies[:30]
    chart = BarChart(
        "Association of model inputs with sensitive attributes (strongest 30)",
        [f"{p.input} ~ {p.attribute}" for p in shown],
        [p.value for p in shown],
        x_label="association (0 none, 1 determined)",
        reference={"max_proxy_association": cfg.max_proxy_association},
        flagged=[p.flagged for p in shown],
    )
    thresholds = {
        "max_demographic_parity_difference": cfg.max_demographic_parity_difference,
        "max_equalized_odds_difference": cfg.max_equalized_odds_difference,
        "max_proxy_association": cfg.max_proxy_association,
        "min_group_size": cfg.min_group_size,
    }
    flagged = [p for p in proxies if p.flagged]
    facts: dict[str, object] = {
        "sensitive": ", ".join(cfg.sensitive),
        "sensitive_inputs": ", ".join(as_inputs),
        "flagged_proxies": len(flagged),
        "strongest_proxy": f"{proxies[0].input} ~ {proxies[0].attribute}" if proxies else "",
        "strongest_association": proxies[0].value if proxies else 0.0,
    }
    for d in differences:
        facts[f"{d.attribute}.{d.measure.replace(' ', '_')}"] = _plain(d.value)
    facts.update(scan.facts())
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
        problems.append(f"{d.attribute} {d.measure} {_num(d.value)} > {d.limit:g}")
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
    summary_parts = [f"{d.attribute} {d.measure} {_num(d.value)}" for d in differences]
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
    evidence = Evidence(
        "model.7",
        "fail" if problems else "pass",
        summary,
        hint=" ".join(hints),
        tables=tables,
        figures=[chart],
        thresholds=thresholds,
        facts=facts,
    )
    return evidence


def _setting(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_3(system: System) -> Evidence:
    """model.3: the configured hyperparameters are within tolerance of the best found nearby."""
    from keel.checks._measure_model import swept_params, tuning_sweep
    from keel.checks._recorded_search import recorded_search

    cfg = system.config.tuning
    thresholds = {"factor": cfg.factor, "tolerance": cfg.tolerance, "sample": cfg.sample}
    try:
        recorded = recorded_search(system)
    except KeelError:  # a store that cannot answer: Keel's own sweep still can
        recorded = None
    if recorded is not None and not recorded.not_counted:
        return _recorded_search(system, recorded, thresholds, cfg.tolerance)
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
    evidence = _sweep_evidence(system, found, thresholds)
    if recorded is not None:
        evidence.summary += f" ({not_counted})"
        evidence.facts["recorded_search"] = recorded.not_counted
        evidence.tables.append(_recorded_table(recorded, None))
    return evidence


def _sweep_table(found: Sweep) -> Table:
    metric, base, tol = found.metric, found.configured_metric, found.tolerance
    responsive = set(found.responsive)
    rows = []
    for t in found.trials:
        delta = None if t.metric is None else t.metric - base
        if t.configured:
            note = "configured"
        elif t.error:
            note = f"training failed: {t.error}"
        elif delta is not None and delta > tol:
            note = "better beyond tolerance"
        elif t.param not in responsive:
            note = "no effect on the metric"
        else:
            note = ""
        rows.append([t.param, t.value, t.metric, delta, note])
    return Table(
        f"Sweep: each hyperparameter moved by ×{found.factor:g} and ÷{found.factor:g} "
        f"({found.train_rows:,} training rows, {found.eval_rows:,} evaluation rows)",
        ["hyperparameter", "value", metric, f"{metric} − configured", "note"],
        rows,
    )


def _sweep_evidence(system: System, found: Sweep, thresholds: dict[str, object]) -> Evidence:
    """model.3's verdict from Keel's own sweep (see keel.model.tuning)."""
    metric, base, tol = found.metric, found.configured_metric, found.tolerance
    tables = [_sweep_table(found)]
    if found.skipped:
        tables.append(
            Table(
                "Hyperparameters not swept",
                ["hyperparameter", "why"],
                [[k, v] for k, v in found.skipped.items()],
            )
        )
    shown = [t for t in found.trials if t.metric is not None]
    chart = BarChart(
        f"{metric} of each hyperparameter setting",
        [f"{t.param} = {_setting(t.value)}" for t in shown],
        [t.metric for t in shown],  # type: ignore[misc]
        x_label=metric,
        reference={"configured": base, "configured + tolerance": base + tol},
        flagged=[t.metric is not None and t.metric > base + tol for t in shown],
    )
    facts: dict[str, object] = {
        "metric": metric,
        "configured_metric": base,
        "swept": ", ".join(found.params),
        "trainings": len(found.trials) - len(found.params) + 1,
        "seconds": found.seconds,
        "off": ", ".join(found.off),
        "responsive": ", ".join(found.responsive),
        "untested": ", ".join(found.untested),
    }
    for name in found.params:
        facts[f"{name}.gap"] = _plain(found.gap(name)) if found.best(name) else None
    if getattr(found, "note", ""):
        facts["sample_note"] = found.note
    evidence = Evidence(
        "model.3", "fail", "", tables=tables, figures=[chart], thresholds=thresholds, facts=facts
    )
    params = system.config.model.params
    if found.off:
        better, settings = [], []
        for name in found.off:
            best = found.best(name)
            if best is None or best.metric is None:  # never: a gap needs a best
                continue
            better.append(
                f"{name} = {_setting(best.value)} (configured {_setting(params[name])}) gives "
                f"{metric} {_num(best.metric)}, {best.metric - base:+.4g}"
            )
            settings.append(f"{name} = {_setting(best.value)}")
        evidence.summary = (
            f"{len(found.off)} of {len(found.params)} hyperparameter(s) are not tuned: "
            + "; ".join(better)
        )
        evidence.hint = (
            f"Set {', '.join(settings)} in [model] params and rerun; or search around them "
            "properly (e.g. Optuna) and record the search. Keep a value only if the gain is "
            f"worth less than [tuning] tolerance = {tol:g}."
        )
        return evidence
    if found.untested:
        errors = "; ".join(
            f"{t.param} = {_setting(t.value)}: {t.error}"
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
    if not found.responsive:
        evidence.summary = (
            f"{metric} stays at {_num(base)} whatever the sweep moves "
            f"({', '.join(found.params)}): the training function seems to ignore [model] params"
        )
        evidence.hint = (
            "Pass `params` on to the estimator in the training function (e.g. "
            "`HistGradientBoostingClassifier(**params)`), so the configured values are the "
            "ones trained; or name in [model] params the hyperparameters it really reads."
        )
        return evidence
    evidence.status = "pass"
    nearest = max(found.params, key=found.gap)
    gap = found.gap(nearest)
    idle = [p for p in found.params if p not in found.responsive]
    evidence.summary = (
        f"configured hyperparameters ({', '.join(found.params)}) are within {tol:g} {metric} "
        f"of the best found moving each ×÷{found.factor:g}: {metric} {_num(base)}"
        + (f"; closest contender {nearest} ({gap:+.4g})" if math.isfinite(gap) else "")
        + (f"; no effect on the metric: {', '.join(idle)}" if idle else "")
        + (f" ({found.note})" if getattr(found, "note", "") else "")
    )
    return evidence


def _recorded_table(recorded: RecordedSearch, measured: float | None) -> Table:
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


def _recorded_search(
    system: System, recorded: RecordedSearch, thresholds: dict[str, object], tol: float
) -> Evidence:
    """model.3 from a qualifying recorded search: Keel re-measures the configured values (trains
    with [model] params, evaluates on the evaluation data) and holds that to the best trial."""
    measured = system.trained.metric
    best = recorded.best_metric
    passed = not math.isnan(measured) and measured >= best - tol
    claimed = recorded.configured_metric
    claim = "" if claimed is None else f", recorded for them {_num(claimed)}"
    return Evidence(
        "model.3",
        "pass" if passed else "fail",
        f"recorded search of {recorded.trials} trials ({recorded.source}): best "
        f"{recorded.metric} {_num(best)}; the configured values re-measured by Keel give "
        f"{_num(measured)}{claim}: {'within' if passed else 'not within'} {tol:g} of the best",
        hint=""
        if passed
        else (
            "Set the best parameters of the recorded search in [model] params "
            f"({', '.join(f'{k}={v}' for k, v in recorded.best_params.items())}) and rerun; if "
            "the recorded metrics were not measured on this system's evaluation data, rerun the "
            "search so they are."
        ),
        tables=[_recorded_table(recorded, measured)],
        thresholds={**thresholds, "min_trials": system.config.tuning.min_trials},
        facts={
            "source": recorded.source,
            "trials": recorded.trials,
            "best_metric": best,
            "measured_configured_metric": _plain(measured),
            "recorded_configured_metric": claimed,
            "best_run": recorded.best_run,
            "notes": "; ".join(recorded.notes),
        },
    )


def model_4(system: System) -> Evidence:
    """model.4: quality against the age of the training data is measured; its limit is known."""
    from keel.checks._measure_model import staleness_curve

    cfg = system.config.staleness
    if system.config.system.timestamp is None:
        return not_configured(
            "model.4",
            "no [system] timestamp: the age of the training data cannot be measured",
            'Name the event-time column in keel.toml: [system] timestamp = "applied_at".',
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
    metric = found.metric
    thresholds = {
        "period_days": cfg.period_days,
        "max_age_periods": cfg.max_age_periods,
        "max_drop": cfg.max_drop,
    }
    facts: dict[str, object] = {
        "metric": metric,
        "newest_period": found.newest,
        "newest_rows": found.newest_rows,
        "window_days": found.window_days,
        "limit_days": found.limit_days,
        "drop_age_days": found.drop_age_days,
        "notes": "; ".join(found.notes),
    }
    tables, figures = [], []
    measured = found.measured
    fresh = found.ages[0].metric if found.ages else None
    if found.ages:
        tables.append(
            Table(
                f"Models trained on windows of {found.window_days:.0f} days ending earlier, "
                f"evaluated on the newest period ({found.newest}, {found.newest_rows:,} rows)",
                ["age (days)", "window", "training rows", metric, "drop vs age 0", "note"],
                [
                    [
                        a.age_days,
                        f"{a.start} to {a.end}",
                        a.rows,
                        a.metric,
                        None if a.metric is None or fresh is None else fresh - a.metric,
                        a.error,
                    ]
                    for a in found.ages
                ],
            )
        )
    if measured and fresh is not None:
        figures.append(
            BarChart(
                f"{metric} on the newest period by age of the training data",
                [f"{a.age_days:g} days" for a in measured],
                [a.metric for a in measured],  # type: ignore[misc]
                x_label=metric,
                reference={"age 0 − max_drop": fresh - cfg.max_drop},
                flagged=[a.metric < fresh - cfg.max_drop for a in measured],  # type: ignore[operator]
            )
        )
    evidence = Evidence(
        "model.4", "pass", "", tables=tables, figures=figures, thresholds=thresholds, facts=facts
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
            f"({_num(fresh)} → {_num(at.metric)}): the model must be retrained within "
            f"{found.limit_days:g} days (monitor.4's limit)"
        )
    else:
        evidence.summary = (
            f"no drop of more than {cfg.max_drop:g} in {metric} up to {oldest.age_days:g} days "
            f"({_num(fresh)} at age 0, {_num(oldest.metric)} at {oldest.age_days:g} days): "
            f"limit {found.limit_days:g} days, as far as measured (monitor.4's limit)"
        )
    if found.notes:
        evidence.summary += f" ({'; '.join(found.notes)})"
    return evidence
