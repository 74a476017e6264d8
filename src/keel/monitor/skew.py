"""monitor.3: training and serving features compute the same value: the whole judgement
(`judge_skew`), per example, per distribution against training, and drift between windows.

Judged on every window of the serving version that holds [monitor] min_rows rows and was taken
by this run's intake or starts within [monitor] lookback of the newest window (each failing
window named, and alerted on with its own causes):
(a) per example: the share of logged rows whose model input the training feature code,
    rerun on the logged raw inputs, computes differently (`PartSummary.skew`, counted on a
    uniform sample of the window, `keel.monitor.sampling`: the evidence says what share of
    skewed rows the sample could have missed), per input, against `max_skewed_share`;
    feature code that cannot rerun on logged rows fails;
(b) training/serving: the window against the training data (`training_profiles`), raw inputs
    and model inputs, with the skew thresholds;
(c) drift: the window against the one before it (every version served in a window counted
    together), with the drift thresholds;
(d) the same example at training and serving, joined by id (`keel.monitor.same_example`).
Distances, their noise bounds and the per-input thresholds come from `keel.monitor.drift`.
Nothing served yet, the serving version not served yet, or no window with enough rows is
`not_configured` (`keel.monitor.gates`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keel.data.profile import Profile
from keel.evidence import BarChart, Evidence, Table
from keel.monitor.drift import NOISE_LEVEL, Distance, compare
from keel.monitor.gates import nothing_served, too_few_rows
from keel.monitor.same_example import SameExample
from keel.monitor.sampling import CONFIDENCE, missed_share
from keel.monitor.state import MonitorState, not_yet_served
from keel.monitor.summary import PartSummary, merge_profiles
from keel.monitor.windows import window_label
from keel.wording import name_list, pct

__all__ = ["SkewInputs", "SkewRules", "judge_skew", "judged_windows", "sample_note"]

THRESHOLDS = (
    "max_skewed_share",
    "skew_linf",
    "skew_js",
    "drift_linf",
    "drift_js",
    "min_rows",
    "lookback",
)  # `[monitor]`'s keys monitor.3 judges with, in the order its evidence shows them


@dataclass(frozen=True)
class SkewRules:
    """What is compared: the schema's features (their `skew`/`drift` overrides, per input),
    the columns never compared (role columns, personal data, what serving never sends), and
    whether model inputs are compared too (the system has a feature function)."""

    features: dict[str, Any] = field(default_factory=dict)
    skip: set[str] = field(default_factory=set)
    with_model: bool = False


@dataclass(frozen=True)
class SkewInputs:
    """What monitor.3 judges: the log taken for this run, `[monitor]`'s thresholds (`THRESHOLDS`),
    and what is read only once there is something to judge: the rules of comparison
    (`rules()`), the training data's (raw inputs, model inputs) profiles as the version that
    served built them (`training_profiles(version)`), and part (d) on one window
    (`same_example(window start, columns skipped)`)."""

    state: MonitorState
    max_skewed_share: float
    skew_linf: float
    skew_js: float
    drift_linf: float
    drift_js: float
    min_rows: int
    lookback: float
    rules: Callable[[], SkewRules]
    training_profiles: Callable[[int], tuple[Profile, Profile]]
    same_example: Callable[[str, set[str]], SameExample]


DISTANCE_COLUMNS = ["input", "measure", "distance", "threshold", "noise bound", "verdict"]


def judged_windows(state: MonitorState, min_rows: int) -> list[PartSummary]:
    """The windows × versions holding at least `min_rows` rows, oldest first."""
    return [w for w in state.windows.values() if w.rows >= min_rows]


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
        slot[0] = merge_profiles(slot[0], w.inputs)
        slot[1] = merge_profiles(slot[1], w.model_inputs)
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


@dataclass
class WindowSkew:
    """monitor.3's four parts on one window of the serving version."""

    window: PartSummary
    skew_rows: list[list[Any]]
    skewed: list[tuple[str, Any, float]]
    compared: int
    same: SameExample
    same_rows: list[list[Any]]
    same_flagged: list[tuple[str, Any, float]]
    training: list[tuple[str, Distance]]
    drift: list[tuple[str, Distance]]
    pair: tuple[str, str] | None

    @property
    def label(self) -> str:
        return window_label(self.window)

    @property
    def causes(self) -> list[str]:
        return _causes(self.window.skew_error, self.skewed, self.training, self.drift) + [
            f"same-example:{name}" for name, *_ in self.same_flagged
        ]

    @property
    def fails(self) -> bool:
        return bool(self.causes)


def windows_to_judge(
    state: MonitorState, judged: list[PartSummary], lookback: float
) -> list[PartSummary]:
    """Of the windows holding enough rows (oldest first), those taken by this run's intake and
    those starting within `lookback` seconds before the newest window's start."""
    if not judged:
        return []
    newest = max(_start(w.window) for w in state.windows.values())
    fresh = state.run.windows
    return [
        w
        for w in judged
        if (w.window, w.model_version) in fresh or (newest - _start(w.window)) < lookback
    ]


def _start(window: str) -> float:
    moment = datetime.fromisoformat(window)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def sample_note(w: PartSummary) -> str:
    """What the window's skew sample was and what it could have missed (99% confidence)."""
    compared = max((s.compared for s in w.skew.values()), default=0)
    if not w.skew_population:  # counted before samples were kept
        return f"{compared:,} logged rows recomputed"
    if compared >= w.skew_population:
        return f"every one of the {compared:,} logged rows recomputed"
    missed = missed_share(compared, w.skew_population)
    return (
        f"{compared:,} of {w.skew_population:,} logged rows recomputed, drawn uniformly over the "
        f"window: a skew in more than {pct(missed)} of its rows would have shown with "
        f"{CONFIDENCE:.0%} probability"
    )


def _judge(
    cfg: SkewInputs,
    w: PartSummary,
    by_window: list[tuple[str, Profile | None, Profile | None, int]],
    rules: SkewRules,
) -> WindowSkew:
    skip = rules.skip
    skew_rows, skewed = _shares(w.skew, cfg.max_skewed_share)
    compared = max((s.compared for s in w.skew.values()), default=0)
    same = cfg.same_example(w.window, skip)
    same_rows, same_flagged = _shares(same.found, cfg.max_skewed_share)
    raw_ref, model_ref = cfg.training_profiles(w.model_version)
    skew_over = {n: f.skew for n, f in rules.features.items() if f.skew}
    drift_over = {n: f.drift for n, f in rules.features.items() if f.drift}
    with_model = rules.with_model
    training = _distances(
        [("inputs", raw_ref, w.inputs)]
        + ([("model_inputs", model_ref, w.model_inputs)] if with_model else []),
        (cfg.skew_linf, cfg.skew_js),
        skew_over,
        skip,
    )
    starts = [start for start, *_ in by_window]
    drift: list[tuple[str, Distance]] = []
    pair = None
    at = starts.index(w.window) if w.window in starts else -1
    if at >= 1:
        (prev, p_in, p_model, _), (cur, c_in, c_model, _) = by_window[at - 1], by_window[at]
        pair = (prev[:16], cur[:16])
        drift = _distances(
            [("inputs", p_in, c_in)] + ([("model_inputs", p_model, c_model)] if with_model else []),
            (cfg.drift_linf, cfg.drift_js),
            drift_over,
            skip,
        )
    return WindowSkew(
        w, skew_rows, skewed, compared, same, same_rows, same_flagged, training, drift, pair
    )


def _rerun(w: PartSummary) -> str:
    return "the feature code could not rerun" if w.skew_error else ""


def _overview(verdicts: list[WindowSkew]) -> Table:
    """One row per window judged: what each part found."""
    return Table(
        "Windows judged (taken by this run, or inside [monitor] lookback)",
        [
            "window",
            "rows",
            "recomputed",
            "skewed inputs",
            "training/serving",
            "drift",
            "same example",
            "verdict",
        ],
        [
            [
                v.label,
                v.window.rows,
                v.compared,
                name_list([n for n, *_ in v.skewed])
                or ("rerun failed" if v.window.skew_error else ""),
                name_list([n for n, d in v.training if d.flagged]),
                name_list([n for n, d in v.drift if d.flagged]),
                name_list([n for n, *_ in v.same_flagged]),
                "fails" if v.fails else "ok",
            ]
            for v in verdicts
        ],
    )


def judge_skew(inputs: SkewInputs) -> Evidence:
    """monitor.3: the served model inputs are what the training feature code computes (per
    example), and served inputs are distributed as in training and as in the window before;
    not configured until the serving version has served windows of `min_rows` rows."""
    state, min_rows = inputs.state, inputs.min_rows
    empty = nothing_served("monitor.3", state) or not_yet_served("monitor.3", state, min_rows)
    if empty is not None:
        return empty
    judged = judged_windows(state, min_rows)
    if not judged:
        return too_few_rows("monitor.3", state, min_rows)
    return skew_evidence(inputs, judged)


def skew_evidence(cfg: SkewInputs, judged: list[PartSummary]) -> Evidence:
    """monitor.3's evidence from the windows holding enough rows (oldest first): every window
    of the serving version taken by this run or inside `[monitor] lookback` is judged, each
    failing one is named and alerted on its own; the tables detail the newest failing window
    (or the newest one, when none fails)."""
    state, rules = cfg.state, cfg.rules()
    champion = getattr(state.champion, "version", None)
    serving = [w for w in judged if w.model_version == champion] or judged
    chosen = windows_to_judge(state, serving, cfg.lookback) or serving[-1:]
    by_window = _by_window(state, cfg.min_rows)
    verdicts = [_judge(cfg, w, by_window, rules) for w in chosen]
    failing = [v for v in verdicts if v.fails]
    focus = failing[-1] if failing else verdicts[-1]
    latest, label = focus.window, focus.label
    skewed, training, drift, pair = focus.skewed, focus.training, focus.drift, focus.pair
    same, same_flagged, compared = focus.same, focus.same_flagged, focus.compared

    tables = [
        Table(
            f"Per-example skew in {label}: logged model inputs against the feature code rerun "
            f"({sample_note(latest)})",
            ["model input", *SHARE_COLUMNS[1:]],
            focus.skew_rows,
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
            focus.same_rows,
        )
    )
    tables.insert(-1, _overview(verdicts))  # the same-example table stays last
    thresholds: dict[str, Any] = {k: getattr(cfg, k) for k in THRESHOLDS}
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
            "windows_judged": [v.label for v in verdicts],
            "failing_windows": [v.label for v in failing],
            "skew_compared_rows": compared,
            "skew_population": latest.skew_population,
            "skew_missed_share": missed_share(compared, latest.skew_population)
            if latest.skew_population
            else None,
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
    if failing:
        evidence.status = "fail"
        evidence.summary = "; ".join(_problems(focus, cfg.max_skewed_share)[0])
        if len(failing) > 1:
            others = name_list([v.label for v in failing[:-1]])
            evidence.summary = (
                f"{len(failing)} of {len(verdicts)} window(s) judged fail ({others} too): "
                + evidence.summary
            )
        evidence.facts["cause"] = list(dict.fromkeys(c for v in failing for c in v.causes))
        evidence.facts["alerts"] = [
            {"window": v.window.window, "cause": c} for v in failing for c in v.causes
        ]
        evidence.hint = " ".join(dict.fromkeys(h for v in failing for h in _problems(v, 0)[1]))
        return evidence
    many = f" in each of {len(verdicts)} windows judged" if len(verdicts) > 1 else ""
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
        if state.foreign:
            evidence.summary, evidence.hint = _foreign_skew(state.source_format, detail, label)
        evidence.facts["missing_field"] = "model_inputs"
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
        f"per-example skew: {len(latest.skew)} model input(s) within "
        f"{pct(cfg.max_skewed_share)}{many} ({sample_note(latest)} in {label}){joined}; {detail}"
    )
    return evidence


def _foreign_skew(fmt: str, detail: str, label: str) -> tuple[str, str]:
    """The summary and hint of part (a) on a foreign log without model inputs: the part is
    not measured, naming the field and the format; what was judged is said."""
    summary = (
        f"{detail}; but per-example skew (part a) was not measured in {label}: the {fmt} log "
        "has no `model_inputs` field (what the model was given), so the training feature code "
        "rerun on the logged inputs has nothing to be compared with"
    )
    hint = (
        "Log the model inputs beside each row in a JSON column and name it in "
        "[serving.columns] model_inputs."
        if fmt == "table"
        else f"The {fmt} log does not hold the model inputs; serve with `keel serve` (it logs "
        'them), or log them to a table your service writes ([serving] format = "table", '
        "[serving.columns] model_inputs)."
    )
    return summary, hint


def _problems(v: WindowSkew, max_share: float) -> tuple[list[str], list[str]]:
    """What fails in one window, and the hints for it."""
    label = v.label
    problems, hints = [], []
    if v.window.skew_error:
        problems.append(
            f"the training feature code could not rerun on the logged rows of {label}: "
            f"{v.window.skew_error}"
        )
        hints.append("Make the feature function accept the raw rows as the server logs them.")
    if v.skewed:
        problems.append(
            f"{len(v.skewed)} model input(s) served with values the training feature code does "
            f"not compute, in {label}: {_worst(v.skewed, max_share)} ({sample_note(v.window)})"
        )
        hints.append(
            "Serve the same feature code the model was trained with (one function for both), "
            "and look at the example rows: logged raw inputs against logged model inputs."
        )
    if v.same_flagged:
        problems.append(
            f"{len(v.same_flagged)} input(s) served with other values than the training row of "
            f"the same example in {v.window.window[:16]}: {_worst(v.same_flagged, max_share)}"
        )
        hints.append(
            "Serving reads those inputs from another place or in another way than the training "
            "data has them: compare both paths for the example ids shown."
        )
    if any(d.flagged for _, d in v.training):
        problems.append(f"training/serving skew in {label}: {_found(v.training)}")
        hints.append(
            "Compare the serving inputs with the training data for those inputs: a changed "
            "upstream source, a unit or encoding change, or a population the model never saw."
        )
    if any(d.flagged for _, d in v.drift) and v.pair is not None:
        problems.append(f"drift from {v.pair[0]} to {v.pair[1]}: {_found(v.drift)}")
        hints.append("If the change is real and lasting, retrain on recent data.")
    return problems, hints
