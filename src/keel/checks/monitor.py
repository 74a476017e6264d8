"""Checks of the monitoring section: monitor.1 … monitor.7, on served traffic.

Each reads the prediction log through `keel.checks._monitor_state.monitor_state` (one intake per
run, shared) and judges what the windows hold. A system that has served nothing yet is
`not_configured` with the command that changes that, never a pass: nothing was measured.
"""

from __future__ import annotations

from keel.checks._format import name_list, pct
from keel.checks._monitor_skew import judged_windows, skew_evidence, window_label
from keel.checks._monitor_state import MonitorState, monitor_state, not_yet_served
from keel.checks._schema import no_schema, schema_path
from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.system import System


def nothing_served(practice: str, state: MonitorState) -> Evidence | None:
    """`not_configured` when the log holds no served rows yet, else None."""
    if state.windows:
        return None
    return not_configured(
        practice,
        f"the prediction log ({state.log_root}) holds no served rows yet: nothing to monitor",
        "Serve the champion with `keel serve`, send it traffic, then run `keel monitor` (or "
        "`keel score` again).",
    )


# -- monitor.1 -------------------------------------------------------------------------------
# dependency changes: the fingerprint stored with the serving version against now
# (packages, Python, commit, each data source's schema hash, rows, content hash, newest time)


def monitor_1(system: System) -> Evidence:
    """monitor.1: the fingerprint stored with the serving version against the present; every
    change fails, listed (what, stored, now), since each is a notification the team must see."""
    from keel.checks._health import dependency_evidence

    return dependency_evidence(system)


# -- monitor.2 -------------------------------------------------------------------------------
# data invariants in serving: anomaly rate per input and window against [monitor]
# max_anomaly_rate

RECENT = 7  # windows shown in the tables


def monitor_2(system: System) -> Evidence:
    """monitor.2: received rows conform to the schema: the share of each window's rows (served
    and refused by the server alike) whose input the server found anomalous stays within
    [monitor] max_anomaly_rate; so does the share of served rows whose prediction failed."""
    state = monitor_state(system)
    empty = nothing_received("monitor.2", state)
    if empty is not None:
        return empty
    if not schema_path(system).is_file():
        return no_schema("monitor.2", system, "the server validates served rows against it")
    cfg = system.config.monitor
    judged = [w for w in state.windows.values() if w.received >= cfg.min_rows]
    if not judged:
        return too_few_rows("monitor.2", state, cfg.min_rows)
    inputs = sorted(
        {n for w in judged for n in (w.inputs.columns if w.inputs else ())}
        | {n for w in judged for n in w.anomalies}
    )
    limit = cfg.max_anomaly_rate
    over = [
        [window_label(w), i, w.anomalies[i], w.received, pct(w.anomalies[i] / w.received)]
        + [w.anomaly_examples.get(i, "")]
        for w in judged
        for i in sorted(w.anomalies)
        if w.anomalies[i] / w.received > limit
    ]
    failing = [w for w in judged if w.rows and w.errors / w.rows > limit]
    worst = {i: max(w.anomalies.get(i, 0) / w.received for w in judged) for i in inputs}
    recent = judged[-RECENT:]
    rows = [[i, *(pct(w.anomalies.get(i, 0) / w.received) for w in recent)] for i in inputs]
    rows.append(["(refused rows)", *(pct(w.rejected / w.received) for w in recent)])
    rows.append(
        ["(failed predictions)", *(pct(w.errors / w.rows) if w.rows else "—" for w in recent)]
    )
    tables = [
        Table(
            "Anomaly rate per input, recent windows (rows received: served and refused)",
            ["input", *(window_label(w) for w in recent)],
            rows,
        )
    ]
    if over:
        tables.append(
            Table(
                f"Windows over max_anomaly_rate ({pct(limit)})",
                ["window", "input", "anomalous rows", "received", "rate", "problem, as logged"],
                over,
            )
        )
    received = sum(w.received for w in judged)
    refused = sum(w.rejected for w in judged)
    evidence = Evidence(
        "monitor.2",
        "pass",
        "",
        tables=tables,
        figures=[
            BarChart(
                "Anomaly rate per input, worst window",
                inputs,
                [worst[i] for i in inputs],
                x_label="share of the window's rows with an anomaly in the input",
                reference={"max_anomaly_rate": limit},
                flagged=[worst[i] > limit for i in inputs],
            )
        ],
        thresholds={"max_anomaly_rate": limit, "min_rows": cfg.min_rows},
        facts={
            "windows_judged": len(judged),
            "windows_too_small": len(state.windows) - len(judged),
            "rows": received,
            "served_rows": received - refused,
            "refused_rows": refused,
            "anomalous_rows": sum(sum(w.anomalies.values()) for w in judged),
            "failed_predictions": sum(w.errors for w in judged),
            "inputs_over": sorted({r[1] for r in over}),
            "worst_rate": max(worst.values(), default=0.0),
        },
    )
    problems = []
    if over:
        first = over[0]
        problems.append(
            f"{len(over)} input × window(s) over {pct(limit)} anomalous rows: "
            f"{first[1]} in {first[0]} at {first[4]} ({first[2]} of {first[3]} rows received"
            + (f"; {first[5]})" if first[5] else ")")
            + (f"; also {name_list(sorted({r[1] for r in over[1:]}))}" if len(over) > 1 else "")
        )
    if failing:
        w = failing[-1]
        problems.append(
            f"{len(failing)} window(s) with over {pct(limit)} failed predictions: "
            f"{window_label(w)} at {pct(w.errors / w.rows)} ({w.errors} of {w.rows} rows)"
        )
    turned_away = f", {refused:,} of them refused by the server" if refused else ""
    if problems:
        evidence.status = "fail"
        evidence.summary = "; ".join(problems) + (
            f" ({refused:,} row(s) refused by the server in the windows judged)" if refused else ""
        )
        evidence.hint = (
            "Look at the logged rows of those windows (`inputs`, `anomalies`; refused rows with "
            '`keel logs query "SELECT * FROM rejected"`): fix the upstream producer that '
            "sends them, or, if the data legitimately changed, update the schema (domain, "
            "range, presence) after review."
        )
    else:
        evidence.summary = (
            f"every input within {pct(limit)} anomalous rows in {len(judged)} window(s) "
            f"({received:,} rows received{turned_away}); worst "
            f"{pct(max(worst.values(), default=0))}, "
            f"{sum(w.errors for w in judged)} failed prediction(s)"
        )
    return evidence


def nothing_received(practice: str, state: MonitorState) -> Evidence | None:
    """`not_configured` when the log holds no row yet, served or refused, else None."""
    if any(w.received for w in state.windows.values()):
        return None
    return nothing_served(practice, state)


def too_few_rows(practice: str, state: MonitorState, min_rows: int) -> Evidence:
    """`not_configured` when no window holds [monitor] min_rows rows yet."""
    return not_configured(
        practice,
        f"no window of served traffic holds {min_rows} rows yet ({len(state.windows)} "
        f"window(s), {state.rows} rows): too few to judge",
        f"Let more traffic in, or lower [monitor] min_rows (now {min_rows}) or widen [monitor] "
        "window.",
    )


# -- monitor.3 -------------------------------------------------------------------------------
# training/serving skew per example and per distribution, and drift between windows


def monitor_3(system: System) -> Evidence:
    """monitor.3: the served model inputs are what the training feature code computes (per
    example), and served inputs are distributed as in training and as in the window before."""
    state = monitor_state(system)
    empty = nothing_served("monitor.3", state) or not_yet_served(
        "monitor.3", state, system.config.monitor.min_rows
    )
    if empty is not None:
        return empty
    judged = judged_windows(state, system.config.monitor.min_rows)
    if not judged:
        return too_few_rows("monitor.3", state, system.config.monitor.min_rows)
    return skew_evidence(system, state, judged)


# -- monitor.4 -------------------------------------------------------------------------------
# staleness: the serving model's training-data age against model.4's limit


def monitor_4(system: System) -> Evidence:
    """monitor.4: the serving version's training-data age (now − its newest training
    timestamp) against the limit model.4 stored with it; the sources' newest rows now too."""
    from keel.checks._health import staleness_evidence

    return staleness_evidence(system)


# -- monitor.5 -------------------------------------------------------------------------------
# numerical stability: NaN/inf in the log, and edge-case probes to the serving model


def monitor_5(system: System) -> Evidence:
    """monitor.5: no NaN or infinity in the model inputs or outputs the serving version logged
    (nor in raw inputs whose schema forbids them), and edge-case probes sent to the serving
    model give finite, in-range output."""
    from keel.checks._stability import stability_evidence

    return stability_evidence(system)


# -- monitor.6 -------------------------------------------------------------------------------
# training time, memory, serving latency and throughput per version: jumps and creep


def monitor_6(system: System) -> Evidence:
    """monitor.6: each measure of computing performance per version, in promotion order: the
    serving version against the previous one (`[monitor] max_jump`) and across the last
    `creep_versions` (`max_creep`)."""
    from keel.checks._regressions import performance_evidence

    return performance_evidence(system)


# -- monitor.7 -------------------------------------------------------------------------------
# prediction quality on served data, with late labels or estimated without them
def monitor_7(system: System) -> Evidence:
    """monitor.7: in each recent window, the primary metric on labelled served rows against the
    version's offline metric; without labels, the CBPE-estimated drop (classifiers) and the
    prediction drift from the evaluation data (or the version's first window)."""
    from keel.checks._online import (
        eval_reference,
        labels_arrived_for,
        labels_source,
        offline,
        quality_evidence,
        recent_keys,
        version_windows,
    )
    from keel.monitor.online import judge_windows
    from keel.monitor.quality import MAX_ECE, Limits

    state = monitor_state(system)
    empty = nothing_served("monitor.7", state) or not_yet_served(
        "monitor.7", state, system.config.monitor.min_rows
    )
    if empty is not None:
        return empty
    m, metric, task = system.config.monitor, system.metric_name, system.task
    found = labels_source(system)
    references, calibration = {}, None
    if state.champion is not None:
        got = eval_reference(system, state.champion.version)
        if got is not None:
            (ref, key), calibration = got
            references[state.champion.version] = (ref, key)
    limit = m.drift_js if task == "regression" else m.drift_linf
    judged = judge_windows(
        state.state_dir,
        recent_keys(system),
        first_windows={v: ws[0] for v, ws in version_windows(system).items()},
        references=references,
        labels=found,
        offline=offline(system),
        limits=Limits(task, metric, m.quality_tolerance, m.min_labels, m.min_rows, limit),
    )
    thresholds = {
        "quality_tolerance": m.quality_tolerance,
        "min_labels": m.min_labels,
        "min_rows": m.min_rows,
        "drift_js" if task == "regression" else "drift_linf": limit,
        "max_ece": MAX_ECE,
    }
    has_labels = found.fingerprint != "none" and labels_arrived_for(system)
    return quality_evidence(system, judged, calibration, has_labels, thresholds)


__all__ = ["MonitorState", "System", "monitor_state", "nothing_served"]
