"""model.7's groups, differences and proxies as tables, a chart and facts for its evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.checks._format import plain
from keel.evidence import BarChart, Table

if TYPE_CHECKING:
    from keel.model.fairness import AttributeReport, Difference, ProxyScan


def fairness_tables(
    reports: list[AttributeReport], scan: ProxyScan, min_group_size: int
) -> list[Table]:
    """The groups of each attribute, the differences between groups, and every input's
    association with every sensitive attribute."""
    tables = [
        Table(
            f"Groups of {r.attribute}",
            ["group", "rows", *r.metrics, "compared"],
            [
                [
                    g.name,
                    g.size,
                    *(g.metrics[m] for m in r.metrics),
                    "yes" if g.included else f"no: fewer than {min_group_size} rows",
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
            [[p.input, p.attribute, p.measure, p.value, p.flagged] for p in scan.proxies],
        )
    )
    return tables


def proxies_chart(scan: ProxyScan, max_proxy_association: float) -> BarChart:
    """The 30 strongest associations of an input with a sensitive attribute, against the limit."""
    shown = scan.proxies[:30]
    return BarChart(
        "Association of model inputs with sensitive attributes (strongest 30)",
        [f"{p.input} ~ {p.attribute}" for p in shown],
        [p.value for p in shown],
        x_label="association (0 none, 1 determined)",
        reference={"max_proxy_association": max_proxy_association},
        flagged=[p.flagged for p in shown],
    )


def fairness_facts(
    sensitive: list[str], as_inputs: list[str], differences: list[Difference], scan: ProxyScan
) -> dict[str, object]:
    """The attributes, those used as inputs, each difference, the strongest proxy, the scan."""
    proxies = scan.proxies
    facts: dict[str, object] = {
        "sensitive": ", ".join(sensitive),
        "sensitive_inputs": ", ".join(as_inputs),
        "flagged_proxies": len([p for p in proxies if p.flagged]),
        "strongest_proxy": f"{proxies[0].input} ~ {proxies[0].attribute}" if proxies else "",
        "strongest_association": proxies[0].value if proxies else 0.0,
    }
    for d in differences:
        facts[f"{d.attribute}.{d.measure.replace(' ', '_')}"] = plain(d.value)
    facts.update(scan.facts())
    return facts
