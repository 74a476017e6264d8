"""model.3's tables: Keel's own sweep around the configured hyperparameters, and a recorded
search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.evidence import Table

if TYPE_CHECKING:
    from keel.model.tuning import RecordedSearch, Sweep


def sweep_table(found: Sweep) -> Table:
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


def recorded_table(recorded: RecordedSearch, measured: float | None) -> Table:
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
