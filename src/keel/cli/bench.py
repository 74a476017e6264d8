"""`keel bench-model VERSION [PATH]`: the standard micro-benchmark of a registered version.

The version is loaded from the registry through its artefact (as `keel serve` loads it), in a
fresh process of its own, and timed on the system's evaluation rows: single-row and 100-row
predictions, latency p50 and p99 and rows per second (`keel.monitor.bench_apart`). The result
is stored on the version as `keel.bench.*` tags, and added to its `keel.bench.history`, which
monitor.6 compares across versions (a jump, a creep) and over time for one version (a leak).
The version the serving chain had before it (the one monitor.6 compares it with) is timed in
the same run, in its own process, rounds alternating, and its tags are refreshed too: two
benchmarks taken minutes apart on a shared machine differ by tens of percent, two taken side
by side do not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from keel.cli._app import PathArg, command, err, out

VersionArg = Annotated[str, typer.Argument(help="A version number (3 or v3) or an alias.")]


@command("bench-model")
def bench_model(version: VersionArg, path: PathArg = Path(".")) -> None:
    """Benchmark a registered version's predictions and store the result on it."""
    from keel.checks._monitor_inputs import promotion_order
    from keel.monitor.bench_apart import bench_versions
    from keel.monitor.performance import bench_history, bench_tags, store_tags
    from keel.registry.versions import get_version
    from keel.system import System
    from keel.training import registry_ref

    system = System.from_path(path)
    ref = registry_ref(system)
    found = get_version(ref, version)
    order = [v.version for v in promotion_order(system, found.version)]
    earlier = [v for v in order if v != found.version]
    versions = [*earlier[-1:], found.version]  # the previous version first, when there is one
    rows = system.raw("eval", all_rows=True).drop(columns=[system.target])
    shown = " and ".join(f"version {v}" for v in versions)
    with err.status(f"benchmarking {shown} side by side, each in its own process"):
        results = bench_versions(ref, versions, rows)
    when = datetime.now(UTC).isoformat()
    for v, measured in zip(versions, results, strict=True):
        history = bench_history(get_version(ref, v).tags)
        store_tags(ref, v, bench_tags(measured, when, history))
    result = results[-1]
    out.print(
        f"version {found.version}: 1 row p50 {result['single_p50'] * 1000:.2f} ms, "
        f"p99 {result['single_p99'] * 1000:.2f} ms; {int(result['batch_rows'])} rows p50 "
        f"{result['batch_p50'] * 1000:.2f} ms, p99 {result['batch_p99'] * 1000:.2f} ms; "
        f"{result['rows_per_second']:,.0f} rows/s. Stored as keel.bench.* tags (monitor.6)"
        + (f"; version {versions[0]} timed beside it and refreshed." if len(versions) > 1 else "."),
        highlight=False,
    )
