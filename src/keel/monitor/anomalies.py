"""monitor.2: data invariants hold in serving: the anomaly rate per input and window.

The server validates every received row against the schema and logs, per row, the inputs it
found anomalous (refused rows included). A window holding `[monitor] min_rows` received rows is
judged: the share of its rows with an anomaly in an input, and the share of its served rows
whose prediction failed, must each stay within `[monitor] max_anomaly_rate`. The evidence shows
every input's rate over the recent windows, the windows over the limit with the problem as
logged, and the worst window per input.
"""

from __future__ import annotations

from dataclasses import dataclass

from keel.evidence import BarChart, Evidence, Table
from keel.monitor.gates import nothing_received, too_few_rows
from keel.monitor.state import MonitorState
from keel.monitor.windows import window_label
from keel.wording import name_list, pct

__all__ = ["RECENT", "AnomalyInputs", "judge_anomalies"]

RECENT = 7  # windows shown in the tables


@dataclass(frozen=True)
class AnomalyInputs:
    """What monitor.2 judges: the log taken for this run and `[monitor]`'s limits.

    `no_schema` is the verdict to give when the system has no schema file (the server then
    validates nothing), None when it has one."""

    state: MonitorState
    max_anomaly_rate: float
    min_rows: int
    no_schema: Evidence | None = None


def judge_anomalies(inputs: AnomalyInputs) -> Evidence:
    """monitor.2: received rows conform to the schema: the share of each window's rows (served
    and refused by the server alike) whose input the server found anomalous stays within
    `max_anomaly_rate`; so does the share of served rows whose prediction failed."""
    state, limit, min_rows = inputs.state, inputs.max_anomaly_rate, inputs.min_rows
    empty = nothing_received("monitor.2", state)
    if empty is not None:
        return empty
    if inputs.no_schema is not None:
        return inputs.no_schema
    judged = [w for w in state.windows.values() if w.received >= min_rows]
    if not judged:
        return too_few_rows("monitor.2", state, min_rows)
    names = sorted(
        {n for w in judged for n in (w.inputs.columns if w.inputs else ())}
        | {n for w in judged for n in w.anomalies}
    )
    over = [
        [window_label(w), i, w.anomalies[i], w.received, pct(w.anomalies[i] / w.received)]
        + [w.anomaly_examples.get(i, "")]
        for w in judged
        for i in sorted(w.anomalies)
        if w.anomalies[i] / w.received > limit
    ]
    failing = [w for w in judged if w.rows and w.errors / w.rows > limit]
    worst = {i: max(w.anomalies.get(i, 0) / w.received for w in judged) for i in names}
    recent = judged[-RECENT:]
    rows = [[i, *(pct(w.anomalies.get(i, 0) / w.received) for w in recent)] for i in names]
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
                names,
                [worst[i] for i in names],
                x_label="share of the window's rows with an anomaly in the input",
                reference={"max_anomaly_rate": limit},
                flagged=[worst[i] > limit for i in names],
            )
        ],
        thresholds={"max_anomaly_rate": limit, "min_rows": min_rows},
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
