"""monitor.3's judgement: per-example skew, training/serving distribution skew and drift.

Three parts, each on the newest window that holds [monitor] min_rows rows:
(a) per example: the share of logged rows whose model input the training feature code,
    rerun on the logged raw inputs, computes differently (`PartSummary.skew`), per input,
    against `max_skewed_share`; feature code that cannot rerun on logged rows fails;
(b) training/serving: the newest window of the serving champion's version against the
    training data (`training_profiles`), raw inputs and model inputs, with the skew thresholds;
(c) drift: the newest window against the one before it (every version served in a window
    counted together), with the drift thresholds.
Distances, their noise bounds and the per-input thresholds come from `keel.monitor.drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keel.checks._format import name_list, pct
from keel.checks._monitor_state import MonitorState, training_profiles
from keel.checks._same_example import same_example
from keel.checks._schema import schema_path
from keel.data.profile import Profile
from keel.evidence import BarChart, Evidence, Table
from keel.monitor.drift import NOISE_LEVEL, Distance, compare
from keel.monitor.summary import PartSummary, _merge_profiles
from keel.system import System

DISTANCE_COLUMNS = ["input", "measure", "distance", "threshold", "noise bound", "verdict"]


def judged_windows(state: MonitorState, min_rows: int) -> list[PartSummary]:
    """The windows × versions holding at least `min_rows` rows, oldest first."""
    return [w for w in state.windows.values() if w.rows >= min_rows]


def window_label(w: PartSummary) -> str:
    """ "2026-11-01T00:00 v3": a window's start (to the minute) and the version it served."""
    return f"{w.window[:16]} v{w.model_version}"


def _schema_rules(system: System) -> tuple[dict[str, Any], set[str]]:
    """The schema's features (their skew/drift overrides) and the columns never compared:
    role columns, personal data (logged hashed or redacted) and what serving never sends."""
    skip = set(system.role_columns())
    features: dict[str, Any] = {}
    path = schema_path(system)
    if path.is_file():
        from keel.data.schema import load_schema

        features = dict(load_schema(path).features)
        skip |= {n for n, f in features.items() if f.pii != "none" or "serving" in f.absent_in}
    return features, skip


def _distances(
    pairs: list[tuple[str, Profile | None, Profile | None]],
    thresholds: tuple[float, float],
    overrides: Mapping[str, Mapping[str, float]],
    skip: set[str],
) -> list[tuple[str, Distance]]:
    out = []
    for prefix, reference, current in pairs:
        if reference is None or current is None:
            continue
        columns = [c for c in current.columns if c not in skip]
        found = compare(
            reference,
            current,
            linf=thresholds[0],
            js=thresholds[1],
            overrides=overrides,
            columns=columns,
        )
        out.extend((f"{prefix}.{d.column}", d) for d in found)
    return out


def _distance_rows(found: list[tuple[str, Distance]]) -> list[list[Any]]:
    return [
        [name, d.measure, round(d.value, 5), d.threshold, round(d.noise, 5), d.verdict]
        for name, d in found
    ]


def _distance_chart(title: str, found: list[tuple[str, Distance]]) -> BarChart:
    return BarChart(
        title,
        [f"{name} ({d.measure})" for name, d in found],
        [d.value / d.threshold if d.threshold > 0 else float(d.value > 0) for _, d in found],
        x_label="distance ÷ its threshold (1 = the threshold)",
        reference={"threshold": 1.0},
        flagged=[d.flagged for _, d in found],
    )


def _by_window(
    state: MonitorState, min_rows: int
) -> list[tuple[str, Profile | None, Profile | None, int]]:
    """Per window start (all versions together): inputs, model inputs and rows, oldest first."""
    merged: dict[str, list[Any]] = {}
    for w in state.windows.values():
        slot = merged.setdefault(w.window, [None, None, 0])
        slot[0] = _merge_profiles(slot[0], w.inputs)
        slot[1] = _merge_profiles(slot[1], w.model_inputs)
        slot[2] += w.rows
    return [(k, v[0], v[1], v[2]) for k, v in sorted(merged.items()) if v[2] >= min_rows]


def _found(found: list[tuple[str, Distance]]) -> str:
    return name_list(
        [f"{n} ({d.measure} {d.value:.3g} > {d.threshold:g})" for n, d in found if d.flagged]
    )


def _causes(
    skew_error: str | None,
    skewed: list[tuple[str, Any, float]],
    training: list[tuple[str, Distance]],
    drift: list[tuple[str, Distance]],
) -> list[str]:
    """One alert cause per problem found: "skew:<model input>" (per example; "skew:rerun"
    when the feature code could not rerun), "training-serving:<input>" (distributions against
    training) and "drift:<input>" (against the window before); an input flagged both raw and
    as a model input is one cause."""
    causes = ["skew:rerun"] if skew_error else []
    causes += [f"skew:{name}" for name, *_ in skewed]
    for kind, found in (("training-serving", training), ("drift", drift)):
        causes += [f"{kind}:{name.split('.', 1)[1]}" for name, d in found if d.flagged]
    return list(dict.fromkeys(causes))


SHARE_COLUMNS = ["input", "compared", "differ", "share", "example ids", "verdict"]


def _shares(
    found: Mapping[str, Any], max_share: float
) -> tuple[list[list[Any]], list[tuple[str, Any, float]]]:
    """Per input of per-example counts (`compared`, `skewed`, `examples`: part (a)'s Skew,
    part (d)'s IdSkew): the table's rows, and the inputs whose share of differing rows is
    over `max_share` (with their counts and share)."""
    rows, flagged = [], []
    for name, s in sorted(found.items()):
        share = s.skewed / s.compared if s.compared else 0.0
        bad = s.compared > 0 and share > max_share
        if bad:
            flagged.append((name, s, share))
        verdict = "differs" if bad else "same"
        rows.append([name, s.compared, s.skewed, pct(share), ", ".join(s.examples), verdict])
    return rows, flagged


def _worst(flagged: list[tuple[str, Any, float]], max_share: float) -> str:
    """ "x2 in 30 of 300 rows (10.0% > 0.1%; look at t0, t10); also x1": the first flagged
    input in full, the others by name."""
    name, s, share = flagged[0]
    more = f"; also {name_list([n for n, *_ in flagged[1:]])}" if len(flagged) > 1 else ""
    return (
        f"{name} in {s.skewed} of {s.compared} rows ({pct(share)} > {pct(max_share)}; "
        f"look at {', '.join(s.examples)})" + more
    )


def skew_evidence(system: System, state: MonitorState, judged: list[PartSummary]) -> Evidence:
    """monitor.3's evidence from the windows holding enough rows (oldest first)."""
    cfg = system.config.monitor
    features, skip = _schema_rules(system)
    champion = getattr(state.champion, "version", None)
    serving = [w for w in judged if w.model_version == champion] or judged
    latest = serving[-1]
    label = window_label(latest)

    # (a) per example
    skew_rows, skewed = _shares(latest.skew, cfg.max_skewed_share)
    compared = max((s.compared for s in latest.skew.values()), default=0)
    # (d) the same example at training and serving, joined by id
    same = same_example(system, state, latest.window, skip)
    same_rows, same_flagged = _shares(same.found, cfg.max_skewed_share)

    # (b) training/serving distributions, (c) window to window
    raw_ref, model_ref = training_profiles(system)
    skew_over = {n: f.skew for n, f in features.items() if f.skew}
    drift_over = {n: f.drift for n, f in features.items() if f.drift}
    with_model = system.features_function is not None
    training = _distances(
        [("inputs", raw_ref, latest.inputs)]
        + ([("model_inputs", model_ref, latest.model_inputs)] if with_model else []),
        (cfg.skew_linf, cfg.skew_js),
        skew_over,
        skip,
    )
    windows = _by_window(state, cfg.min_rows)
    drift: list[tuple[str, Distance]] = []
    pair = None
    if len(windows) >= 2:
        (prev, p_in, p_model, _), (cur, c_in, c_model, _) = windows[-2], windows[-1]
        pair = (prev[:16], cur[:16])
        drift = _distances(
            [("inputs", p_in, c_in)] + ([("model_inputs", p_model, c_model)] if with_model else []),
            (cfg.drift_linf, cfg.drift_js),
            drift_over,
            skip,
        )

    tables = [
        Table(
            f"Per-example skew in {label}: logged model inputs against the feature code rerun",
            ["model input", *SHARE_COLUMNS[1:]],
            skew_rows,
        ),
        Table(
            f"Training/serving skew: training data against {label}",
            DISTANCE_COLUMNS,
            _distance_rows(training),
        ),
    ]
    figures = [_distance_chart(f"Training/serving distance per input ({label})", training)]
    if pair is not None:
        tables.append(
            Table(
                f"Drift: window {pair[0]} against {pair[1]}",
                DISTANCE_COLUMNS,
                _distance_rows(drift),
            )
        )
        figures.append(_distance_chart(f"Drift per input, {pair[0]} → {pair[1]}", drift))
    tables.append(
        Table(
            f"Same example at training and serving in {latest.window[:16]}: served raw inputs "
            "against the training row of the same id" + (f" ({same.note})" if same.note else ""),
            SHARE_COLUMNS,
            same_rows,
        )
    )
    thresholds = {
        k: getattr(cfg, k)
        for k in ("max_skewed_share", "skew_linf", "skew_js", "drift_linf", "drift_js", "min_rows")
    }
    thresholds["noise bound"] = f"{NOISE_LEVEL:.1%} quantile of the distance under no change"
    evidence = Evidence(
        "monitor.3",
        "pass",
        "",
        tables=tables,
        figures=figures,
        thresholds=thresholds,
        facts={
            "window": latest.window,
            "model_version": latest.model_version,
            "serving_version": champion,
            "skew_compared_rows": compared,
            "skewed_inputs": [n for n, *_ in skewed],
            "same_example_compared_rows": same.compared,
            "same_example_flagged": [n for n, *_ in same_flagged],
            "skew_error": latest.skew_error,
            "training_serving_flagged": [n for n, d in training if d.flagged],
            "drift_windows": list(pair) if pair else [],
            "drift_flagged": [n for n, d in drift if d.flagged],
            "inputs_compared": len(training),
        },
    )
    problems, hints = [], []
    if latest.skew_error:
        problems.append(
            f"the training feature code could not rerun on the logged rows of {label}: "
            f"{latest.skew_error}"
        )
        hints.append("Make the feature function accept the raw rows as the server logs them.")
    if skewed:
        problems.append(
            f"{len(skewed)} model input(s) served with values the training feature code does "
            f"not compute, in {label}: {_worst(skewed, cfg.max_skewed_share)}"
        )
        hints.append(
            "Serve the same feature code the model was trained with (one function for both), "
            "and look at the example rows: logged raw inputs against logged model inputs."
        )
    if same_flagged:
        problems.append(
            f"{len(same_flagged)} input(s) served with other values than the training row of "
            f"the same example in {latest.window[:16]}: "
            f"{_worst(same_flagged, cfg.max_skewed_share)}"
        )
        hints.append(
            "Serving reads those inputs from another place or in another way than the training "
            "data has them: compare both paths for the example ids shown."
        )
    if any(d.flagged for _, d in training):
        problems.append(f"training/serving skew in {label}: {_found(training)}")
        hints.append(
            "Compare the serving inputs with the training data for those inputs: a changed "
            "upstream source, a unit or encoding change, or a population the model never saw."
        )
    if any(d.flagged for _, d in drift):
        problems.append(f"drift from {pair[0]} to {pair[1]}: {_found(drift)}")
        hints.append("If the change is real and lasting, retrain on recent data.")
    if problems:
        evidence.status = "fail"
        evidence.summary = "; ".join(problems)
        evidence.facts["cause"] = _causes(latest.skew_error, skewed, training, drift) + [
            f"same-example:{name}" for name, *_ in same_flagged
        ]
        evidence.hint = " ".join(hints)
        return evidence
    detail = f"{len(training)} input(s) distributed as in training in {label}" + (
        f", no drift from {pair[0]} to {pair[1]}"
        if pair
        else ", one window so far: no drift measured"
    )
    if not compared:
        evidence.status = "not_configured"
        evidence.summary = (
            f"{detail}; but no logged model inputs to recompute in {label}, so per-example skew "
            "was not measured"
        )
        evidence.hint = (
            "Log the model inputs with each prediction (`keel serve` does), so Keel can rerun "
            "the feature code on the logged raw inputs and compare."
        )
        return evidence
    if not training:
        evidence.status = "not_configured"
        evidence.summary = f"no served input shared with the training data to compare in {label}"
        evidence.hint = "Log the raw inputs with each prediction (`keel serve` does)."
        return evidence
    joined = (
        f"; {len(same.found)} raw input(s) of {same.compared:,} served example(s) found in the "
        "training data equal to their training rows"
        if same.compared
        else ""
    )
    evidence.summary = (
        f"per-example skew: {len(latest.skew)} model input(s) recomputed on {compared:,} "
        f"logged rows, all within {pct(cfg.max_skewed_share)}{joined}; {detail}"
    )
    return evidence
