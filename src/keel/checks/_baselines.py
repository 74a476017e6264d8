"""model.5's comparison of the model with simple baselines as a table, a chart and facts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.checks._format import plain
from keel.evidence import BarChart, Table

if TYPE_CHECKING:
    from keel.model.baselines import Comparison


def baselines_table(found: Comparison) -> Table:
    """Every reported metric of the model and of each baseline."""
    everyone = [found.model, *found.baselines]
    return Table(
        "The model and simple baselines on the evaluation data",
        ["model", "what it is", *found.metrics],
        [[m.name, m.description, *(m.metrics[k] for k in found.metrics)] for m in everyone],
    )


def baselines_chart(found: Comparison, bar: float, passed: bool) -> BarChart:
    """The primary metric of the model and each baseline, against the bar the model must reach."""
    everyone = [found.model, *found.baselines]
    return BarChart(
        f"{found.metric} of the model and the baselines",
        [m.name for m in everyone],
        [m.metrics[found.metric] for m in everyone],
        x_label=found.metric,
        reference={"best baseline + min_gain": bar},
        flagged=[m is found.model and not passed for m in everyone],
    )


def baselines_facts(found: Comparison) -> dict[str, object]:
    """The model's metric, the best baseline's, the gain, and every baseline's metric."""
    metric, best = found.metric, found.best
    facts = {
        "metric": metric,
        "model_metric": found.model.metrics[metric],
        "best_baseline": best.name,
        "best_baseline_metric": best.metrics[metric],
        "gain": found.gain,
        **{f"{b.name}_metric": plain(b.metrics[metric]) for b in found.baselines},
    }
    if found.notes:
        facts["baseline_notes"] = "; ".join(found.notes)
    return facts
