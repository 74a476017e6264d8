"""model.4's quality-versus-age curve as a table, a chart and facts for its evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.evidence import BarChart, Table

if TYPE_CHECKING:
    from keel.model.staleness import Staleness


def staleness_facts(found: Staleness) -> dict[str, object]:
    """The newest period, the training window and the age limit found."""
    return {
        "metric": found.metric,
        "newest_period": found.newest,
        "newest_rows": found.newest_rows,
        "window_days": found.window_days,
        "limit_days": found.limit_days,
        "drop_age_days": found.drop_age_days,
        "notes": "; ".join(found.notes),
    }


def staleness_tables(found: Staleness, fresh: float | None) -> list[Table]:
    """Each age evaluated on the newest period, with its drop from age 0 (`fresh`)."""
    if not found.ages:
        return []
    return [
        Table(
            f"Models trained on windows of {found.window_days:.0f} days ending earlier, "
            f"evaluated on the newest period ({found.newest}, {found.newest_rows:,} rows)",
            ["age (days)", "window", "training rows", found.metric, "drop vs age 0", "note"],
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
    ]


def staleness_charts(found: Staleness, fresh: float | None, max_drop: float) -> list[BarChart]:
    """The metric by age against age 0 − max_drop, when ages were measured."""
    measured = found.measured
    if not measured or fresh is None:
        return []
    return [
        BarChart(
            f"{found.metric} on the newest period by age of the training data",
            [f"{a.age_days:g} days" for a in measured],
            [a.metric for a in measured],  # type: ignore[misc]
            x_label=found.metric,
            reference={"age 0 − max_drop": fresh - max_drop},
            flagged=[a.metric < fresh - max_drop for a in measured],  # type: ignore[operator]
        )
    ]
