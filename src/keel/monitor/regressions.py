"""monitor.6: no regression in training speed, serving latency, throughput or memory: the whole
judgement (`judge_performance`), on the maths of `keel.monitor.performance`.

Each version's measures (its lineage: training time and peak memory; its stored benchmark;
the latency the server logged while it served) are laid out in promotion order, the serving
version last, and judged: the serving version against the previous one (`[monitor]
max_jump`), across the last `creep_versions` (`max_creep`), and against itself over time (a
leak: its newest benchmark or served window against its first, `max_creep`). A measure the
serving version lacks while an earlier version has it is `not_configured`, never "ok"; so is a
serving version that has not served yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.monitor.gates import no_champion
from keel.monitor.performance import (
    MEASURES,
    Measure,
    bench_history,
    creep,
    jump,
    leak,
    read_bench,
    serving_latency,
    serving_latency_per_window,
)
from keel.monitor.state import MonitorState, not_yet_served

if TYPE_CHECKING:
    from keel.registry.versions import ModelVersion

__all__ = ["PerformanceInputs", "judge_performance", "measures_of", "over_time"]


def measures_of(version: Any, windows: list[Any], min_rows: int) -> dict[str, float]:
    """Every measure of one version: lineage, its stored benchmark, the served latency."""
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
    series: dict[str, list[Any]] = {}
    for entry in bench_history(version.tags):
        for key, value in entry.items():
            if key != "when" and isinstance(value, int | float):
                series.setdefault(f"bench_{key}", []).append(float(value))
    for window in serving_latency_per_window(windows, min_rows):
        for key, value in window.items():
            series.setdefault(key, []).append(value)
    return series


@dataclass(frozen=True)
class PerformanceInputs:
    """What monitor.6 judges: the serving version (None when nothing serves), `[monitor]`'s
    limits, and, read only once a version serves, the log taken for this run (`state`) and
    the versions in the order they served, the serving one last (`promotion_order(version)`)."""

    champion: ModelVersion | None
    max_jump: float
    max_creep: float
    creep_versions: int
    min_rows: int
    state: Callable[[], MonitorState]
    promotion_order: Callable[[int], list[ModelVersion]]


def _said(m: Measure, j: Any, c: Any, lk: Any, inputs: PerformanceInputs) -> str:
    """How one regressed measure is worded: its jump, else its creep, else its leak."""
    if j is not None and j > inputs.max_jump:
        return f"{m.label} jumped {j:+.0%}"
    if c is not None and c > inputs.max_creep:
        return f"{m.label} crept {c:+.0%}"
    return f"{m.label} leaked {lk:+.0%} over time (the same version, slower now)"


def judge_performance(inputs: PerformanceInputs) -> Evidence:
    """monitor.6: each measure of computing performance per version, in promotion order: the
    serving version against the previous one (`max_jump`), across the last `creep_versions`
    (`max_creep`), and against itself over time (`max_creep`). See the module docstring."""
    thresholds = {
        "max_jump": inputs.max_jump,
        "max_creep": inputs.max_creep,
        "creep_versions": inputs.creep_versions,
    }
    version = inputs.champion
    if version is None:
        return no_champion("monitor.6", "there is no version to compare")
    state = inputs.state()
    unserved = not_yet_served("monitor.6", state, inputs.min_rows)
    if unserved is not None:
        return unserved
    order = inputs.promotion_order(version.version)
    min_rows = inputs.min_rows
    measured = {v.version: measures_of(v, state.of_version(v.version), min_rows) for v in order}
    measured = {v: m for v, m in measured.items() if m}
    if len(measured) < 2 or version.version not in measured:
        return not_configured(
            "monitor.6",
            f"{len(measured)} measured version(s): a regression needs the serving version and "
            "an earlier one measured",
            "Register and promote at least two versions (`keel train`, `keel promote "
            "VERSION`) and benchmark each with `keel bench-model VERSION`.",
        )
    history = over_time(version, state.of_version(version.version), min_rows)
    names = [f"v{v}" for v in measured]
    rows, figures, flagged, missing = [], [], [], []
    for m in MEASURES:
        values = [measured[v].get(m.name) for v in measured]
        if values[-1] is None:
            if any(x is not None for x in values[:-1]):
                missing.append(m)
            continue
        spreads = [measured[v].get(f"{m.name}_spread") for v in measured]
        j, c = jump(m, values, spreads), creep(m, values, inputs.creep_versions, spreads)
        own = history.get(m.name, [])
        lk = leak(m, own, history.get(f"{m.name}_spread"))
        if j is None and c is None and lk is None:
            continue  # measured for the serving version alone: nothing to compare it with
        bad = (
            (j is not None and j > inputs.max_jump)
            or (c is not None and c > inputs.max_creep)
            or (lk is not None and lk > inputs.max_creep)
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
    shown_with = {"tables": [table], "figures": figures, "thresholds": thresholds, "facts": facts}
    if flagged:
        return Evidence(
            "monitor.6",
            "fail",
            f"version {version.version} regressed: "
            + "; ".join(_said(*f, inputs) for f in flagged[:3]),
            hint="Find what made it slower or bigger (the model's size, the feature code, the "
            "packages, the host); roll back with `keel rollback` if serving suffers.",
            **shown_with,
        )
    if state.foreign and not serving_latency(state.of_version(version.version), min_rows):
        facts["missing_field"] = "latency_seconds"
        return Evidence(
            "monitor.6",
            "fail" if flagged else "not_configured",
            (
                f"version {version.version} regressed: "
                + "; ".join(_said(*f, inputs) for f in flagged[:3])
                + "; "
                if flagged
                else ""
            )
            + f"serving latency not measured: the {state.source_format} log has no latency "
            "field (`latency_seconds`), and a latency not logged is not a latency that held",
            hint="Log each row's latency in a column and name it in [serving.columns] latency."
            if state.source_format == "table"
            else f"The {state.source_format} log does not hold latency: log it to a table "
            'your service writes ([serving] format = "table", [serving.columns] latency), or '
            "serve with `keel serve`.",
            **shown_with,
        )
    if missing:
        return Evidence(
            "monitor.6",
            "not_configured",
            f"version {version.version} lacks {', '.join(m.label for m in missing)}, which "
            "earlier versions have: a measure not taken is not a measure that held",
            hint=f"Benchmark it beside the previous version: `keel bench-model "
            f"{version.version}` (a served latency needs [monitor] min_rows rows it served).",
            **shown_with,
        )
    return Evidence(
        "monitor.6",
        "pass",
        f"no jump over {inputs.max_jump:.0%} nor creep or leak over {inputs.max_creep:.0%} in "
        f"{len(rows)} measures across versions {', '.join(names)}",
        **shown_with,
    )
