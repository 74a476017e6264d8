"""monitor.6 from a System: each version's measures (lineage, stored benchmark, served
latency) in promotion order, judged for jumps and creep by `keel.monitor.performance`."""

from __future__ import annotations

from typing import Any

from keel.checks._health import no_champion, serving
from keel.checks._monitor_state import monitor_state
from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.system import System


def promotion_order(system: System, champion: int) -> list[Any]:
    """The versions in the order they served, the serving one last (the audit history's chain
    of champions; without two recorded promotions, every version up to the serving one)."""
    from keel.registry.audit import champion_stack, history
    from keel.registry.versions import list_versions
    from keel.training import registry_ref

    ref = registry_ref(system)
    by_number = {v.version: v for v in list_versions(ref)}
    chain = [v for v in champion_stack(history(ref), champion) if v in by_number]
    if len(chain) < 2:
        chain = sorted(v for v in by_number if v <= champion)
    return [by_number[v] for v in chain]


def measures_of(version: Any, windows: list[Any], min_rows: int) -> dict[str, float]:
    """Every measure of one version: lineage, its stored benchmark, the served latency."""
    from keel.monitor.performance import read_bench, serving_latency

    found: dict[str, float] = {}
    for key in ("train_seconds", "peak_memory_mb"):
        value = version.lineage.get(key)
        if isinstance(value, int | float):
            found[key] = float(value)
    found |= read_bench(version.tags)
    found |= serving_latency(windows, min_rows)
    return found


def performance_evidence(system: System) -> Evidence:
    """monitor.6: each measure of computing performance per version, in promotion order: the
    serving version against the previous one (`[monitor] max_jump`) and across the last
    `creep_versions` (`max_creep`)."""
    from keel.monitor.performance import MEASURES, creep, jump

    cfg = system.config.monitor
    thresholds = {
        "max_jump": cfg.max_jump,
        "max_creep": cfg.max_creep,
        "creep_versions": cfg.creep_versions,
    }
    version = serving(system)
    if version is None:
        return no_champion("monitor.6", "there is no version to compare")
    state = monitor_state(system)
    order = promotion_order(system, version.version)
    measured = {v.version: measures_of(v, state.of_version(v.version), cfg.min_rows) for v in order}
    measured = {v: m for v, m in measured.items() if m}
    if len(measured) < 2 or version.version not in measured:
        return not_configured(
            "monitor.6",
            f"{len(measured)} measured version(s): a regression needs the serving version and "
            "an earlier one measured",
            "Register and promote at least two versions (`keel train`, `keel promote "
            "VERSION`) and benchmark each with `keel bench-model VERSION`.",
        )
    names = [f"v{v}" for v in measured]
    rows, figures, flagged = [], [], []
    for m in MEASURES:
        values = [measured[v].get(m.name) for v in measured]
        if sum(x is not None for x in values) < 2:
            continue
        spreads = [measured[v].get(f"{m.name}_spread") for v in measured]
        j, c = jump(m, values, spreads), creep(m, values, cfg.creep_versions, spreads)
        bad = (j is not None and j > cfg.max_jump) or (c is not None and c > cfg.max_creep)
        if bad:
            flagged.append((m, j, c))
        rows.append(
            [
                m.label,
                m.unit,
                *("—" if x is None else f"{x:.4g}" for x in values),
                "—" if j is None else f"{j:+.0%}",
                "—" if c is None else f"{c:+.0%}",
                "regressed" if bad else "ok",
            ]
        )
        shown = [(n, x) for n, x in zip(names, values, strict=True) if x is not None]
        figures.append(
            BarChart(
                f"{m.label} per version ({m.unit})",
                [n for n, _ in shown],
                [float(x) for _, x in shown],
                x_label=m.unit,
                flagged=[bad and n == names[-1] for n, _ in shown],
            )
        )
    table = Table(
        "Computing performance per version, in promotion order (the serving one last)",
        ["measure", "unit", *names, "jump", "creep", "verdict"],
        rows,
    )
    facts = {
        "champion": version.version,
        "versions": len(measured),
        "measures": len(rows),
        "regressed": len(flagged),
    }
    if flagged:
        said = "; ".join(
            f"{m.label} "
            + (f"jumped {j:+.0%}" if j is not None and j > cfg.max_jump else f"crept {c:+.0%}")
            for m, j, c in flagged[:3]
        )
        return Evidence(
            "monitor.6",
            "fail",
            f"version {version.version} regressed against earlier versions: {said}",
            hint="Find what made it slower or bigger (the model's size, the feature code, the "
            "packages); roll back with `keel rollback` if serving suffers.",
            tables=[table],
            figures=figures,
            thresholds=thresholds,
            facts=facts,
        )
    return Evidence(
        "monitor.6",
        "pass",
        f"no jump over {cfg.max_jump:.0%} nor creep over {cfg.max_creep:.0%} in {len(rows)} "
        f"measures across versions {', '.join(names)}",
        tables=[table],
        figures=figures,
        thresholds=thresholds,
        facts=facts,
    )
