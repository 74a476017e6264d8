"""infra.5's explanations of sampled rows as tables and a chart for its evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from keel.evidence import BarChart, Table

if TYPE_CHECKING:
    from keel.model.explain import Explanation


def explanation_tables(found: list[Explanation]) -> list[Table]:
    """Each sampled row's output against baseline + contributions, then how the first row
    becomes its prediction: per input, and stage by stage through the pipeline."""
    first = found[0]
    sums = Table(
        f"{len(found)} sampled evaluation rows: {first.output_name} against baseline + "
        "contributions",
        [
            "row",
            "model output",
            "baseline",
            "Σ contributions",
            "baseline + Σ",
            "|difference|",
            "adds up",
        ],
        [
            [
                e.row_id,
                e.output,
                e.baseline,
                e.total - e.baseline,
                e.total,
                e.difference,
                "yes" if e.adds_up else "no",
            ]
            for e in found
        ],
    )
    contributions = Table(
        f"How row {first.row_id} becomes its prediction ({first.method})",
        ["input", "value", "contribution", "transformed features"],
        [[c.input, c.value, c.contribution, ", ".join(c.features)] for c in first.contributions],
    )
    stages = Table(
        f"Row {first.row_id} through the pipeline",
        ["stage", "transformer", "columns out"],
        [["feature function", "[model] features", len(first.inputs)]]
        + [[s.name, s.transformer, len(s.values)] for s in first.stages],
    )
    return [sums, contributions, stages]


def contributions_chart(found: list[Explanation]) -> BarChart:
    """The 30 inputs with the largest mean |contribution| over the sampled rows."""
    first = found[0]
    mean_abs: dict[str, list[float]] = {}
    for e in found:
        for c in e.contributions:
            mean_abs.setdefault(c.input, []).append(abs(c.contribution))
    ranked = sorted(mean_abs.items(), key=lambda kv: -float(np.mean(kv[1])))[:30]
    return BarChart(
        f"Mean |contribution| to the {first.output_name} over {len(found)} sampled rows",
        [name for name, _ in ranked],
        [float(np.mean(values)) for _, values in ranked],
        x_label=f"mean |contribution| ({first.output_name})",
    )
