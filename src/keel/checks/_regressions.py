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


def over_time(version: Any, windows: list[Any], min_rows: int) -> dict[str, list[Any]]:
    """One version's measurements over time, oldest first, per measure name: every stored
    benchmark (`bench_<figure>`, with `bench_<figure>_spread`) and the served latency of each
    window it served (`serving_p50`, `serving_p99`)."""
    from keel.monitor.performance import bench_history, serving_latency_per_window

    series: dict[str, list[Any]] = {}
    for entry in bench_history(version.tags):
        for key, value in entry.items():
            if key != "when" and isinstance(value, int | float):
                series.setdefault(f"bench_{key}", []).append(float(value))
    for window in serving_latency_per_window(windows, min_rows):
        for key, value in window.items():
            series.setdefault(key, []).append(value)
    return series


def performance_evidence(system: System) -> Evidence:
    """monitor.6: each measure of computing performance per version, in promotion order: the
    serving version against the previous one (`[monitor] max_jump`), across the last
    `creep_versions` (`max_creep`), and against itself over time (a leak: its newest
    benchmark or served window against its first, `max_creep`). A measure the serving
    version lacks while an earlier version has it is `not_configured`, never "ok"; so is a
    serving version that has not served yet."""
    from keel.checks._monitor_state import not_yet_served
    from keel.monitor.performance import MEASURES, creep, jump, leak

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
    unserved = not_yet_served("monitor.6", state, cfg.min_rows)
    if unserved is not None:
        return unserved
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
    history = over_time(version, state.of_version(version.version), cfg.min_rows)
    names = [f"v{v}" for v in measured]
    rows, figures, flagged, missing = [], [], [], []
    for m in MEASURES:
        values = [measured[v].get(m.name) for v in measured]
        if values[-1] is None:
            if any(x is not None for x in values[:-1]):
                missing.append(m)
            continue
        spreads = [measured[v].get(f"{m.name}_spread") for v in measured]
        j, c = jump(m, values, spreads), creep(m, values, cfg.creep_versions, spreads)
        own = history.get(m.name, [])
        lk = leak(m, own, history.get(f"{m.name}_spread"))
        if j is None and c is None and lk is None:
            continue  # measured for the serving version alone: nothing to compare it with
        bad = (
            (j is not None and j > cfg.max_jump)
            or (c is not None and c > cfg.max_creep)
            or (lk is not None and lk > cfg.max_creep)
        )
        if bad:
            flagged.append((m, j, c, lk))
        rows.append(
            [
                m.label,
                m.unit,
                *("—" if x is None else f"{x:.4g}" for x in values),
                "—" if j is None else f"{j:+.0%}",
                "—" if c is None else f"{c:+.0%}",
                "—" if lk is None else f"{lk:+.0%} over {len(own)}",
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
        "Computing performance per version, in promotion order (the serving one last); the "
        "leak is the serving version against itself over time (newest against first "
        "benchmark, or served window)",
        ["measure", "unit", *names, "jump", "creep", "leak", "verdict"],
        rows,
    )
    facts = {
        "champion": version.version,
        "versions": len(measured),
        "measures": len(rows),
        "regressed": len(flagged),
        "missing": [m.name for m in missing],
    }
    if flagged:

        def said(m: Any, j: Any, c: Any, lk: Any) -> str:
            if j is not None and j > cfg.max_jump:
                return f"{m.label} jumped {j:+.0%}"
            if c is not None and c > cfg.max_creep:
                return f"{m.label} crept {c:+.0%}"
            return f"{m.label} leaked {lk:+.0%} over time (the same version, slower now)"

        return Evidence(
            "monitor.6",
            "fail",
            f"version {version.version} regressed: " + "; ".join(said(*f) for f in flagged[:3]),
            hint="Find what made it slower or bigger (the model's size, the feature code, the "
            "packages, the host); roll back with `keel rollback` if serving suffers.",
            tables=[table],
            figures=figures,
            thresholds=thresholds,
            facts=facts,
        )
    if missing:
        return Evidence(
            "monitor.6",
            "not_configured",
            f"version {version.version} lacks {', '.join(m.label for m in missing)}, which "
            "earlier versions have: a measure not taken is not a measure that held",
            hint=f"Benchmark it beside the previous version: `keel bench-model "
            f"{version.version}` (a served latency needs [monitor] min_rows rows it served).",
            tables=[table],
            figures=figures,
            thresholds=thresholds,
            facts=facts,
        )
    return Evidence(
        "monitor.6",
        "pass",
        f"no jump over {cfg.max_jump:.0%} nor creep or leak over {cfg.max_creep:.0%} in "
        f"{len(rows)} measures across versions {', '.join(names)}",
        tables=[table],
        figures=figures,
        thresholds=thresholds,
        facts=facts,
    )
