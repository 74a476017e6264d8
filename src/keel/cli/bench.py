"""`keel bench-model VERSION [PATH]`: the standard micro-benchmark of a registered version.

The version is loaded from the registry through its artefact (as `keel serve` loads it) and
timed on the system's evaluation rows: single-row and 100-row predictions, latency p50 and p99
and rows per second (`keel.monitor.performance.bench`). The result is stored on the version as
`keel.bench.*` tags, which monitor.6 compares across versions.
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
    from keel.monitor.performance import bench, bench_tags, store_tags
    from keel.registry.artefact import predict_raw
    from keel.registry.versions import get_version, load_model
    from keel.system import System
    from keel.training import registry_ref

    system = System.from_path(path)
    ref = registry_ref(system)
    found = get_version(ref, version)
    model = load_model(ref, found.version)
    rows = system.raw("eval", all_rows=True).drop(columns=[system.target])
    with err.status(f"benchmarking version {found.version}"):
        result = bench(lambda frame: predict_raw(model, frame), rows)
    store_tags(ref, found.version, bench_tags(result, datetime.now(UTC).isoformat()))
    out.print(
        f"version {found.version}: 1 row p50 {result['single_p50'] * 1000:.2f} ms, "
        f"p99 {result['single_p99'] * 1000:.2f} ms; {int(result['batch_rows'])} rows p50 "
        f"{result['batch_p50'] * 1000:.2f} ms, p99 {result['batch_p99'] * 1000:.2f} ms; "
        f"{result['rows_per_second']:,.0f} rows/s. Stored as keel.bench.* tags (monitor.6).",
        highlight=False,
    )
