"""Benchmark: Keel's Spark profile against the local engine and against Spark's own summary().

Run by `make bench` (not a unit test): `python benchmarks/spark.py` (`--rows 200000` for a
quick run). It

1. writes the data once into /tmp/keel-bench-spark/ (`--cache`): a seeded Parquet file of
   10,000,000 rows (`--rows`) and 20 columns, shaped like a real table: 12 float64 (some with
   nulls, NaN or infinities, normal, skewed, uniform, rounded), 4 int64 (from ten values to
   63 bits), 3 strings (8, 1,000 and 50,000 values, Zipf-like shares, one with nulls) and a
   timestamp[us]. It is written a row group at a time (1,000,000 rows, or a tenth of the rows
   when fewer), so memory stays modest and Spark gets several input splits. A file of the
   same rows is reused;
2. reads the file once, streamed, so that every engine below finds it in the page cache;
3. times the local engine, `keel.data.profiling.profile_source` with its default workers;
4. starts Spark (`local[2]`) and times the start apart; runs both Spark paths once on the
   first 100,000 rows in two partitions (the JVM's warm-up, code generation and the start of
   both Python workers are billed to neither); then times, on one `read_source` frame with
   Spark's default input splits, Keel's `profile_frame` and Spark's own
   `frame.summary().collect()` (count, mean, stddev, min, 25%, 50%, 75%, max; Spark leaves
   out the timestamp column, Keel profiles all 20);
5. profiles the file again with exactly 1, 2, 4 and 8 input partitions. No shuffle: the split
   size is set (`spark.sql.files.maxPartitionBytes`, `minPartitionNum`, `openCostInBytes`) so
   the file scan itself makes n splits, each of whole row groups;
6. compares every Spark profile with the local engine's, column by column: rows, count,
   nulls, NaN, infinities, minimum and maximum identical; mean and standard deviation equal to
   a relative 1e-9; the distinct count inside the local one's HyperLogLog bounds at three
   standard errors (`ColumnProfile.distinct_bounds(3)`); and the quantiles at 0.01 .. 0.99
   compared by rank both ways: each one's quantile at q has, in the other's sketch, a rank
   range within 2 x the larger KLL rank error of q;
7. prints a table (engine, partitions, seconds, rows/s) and the targets, and exits 1 if one
   fails: Keel's Spark profile no slower than Spark's summary(), the exact statistics
   identical across 1, 2, 4 and 8 partitions, the default splits and the local engine, and
   the approximate ones within their bounds. `--json FILE` writes the figures.

Each timed run is the best of `--repeat` (default 1: summary() alone takes minutes at 10M rows).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path, and its profile.py would stand in for
# the standard library's `profile`, which PySpark imports (through cProfile).
HERE = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
    sys.path.pop(0)

ROWS = 10_000_000
GROUP_ROWS = 1_000_000
SEED = 20_261_129
PARTITIONS = (1, 2, 4, 8)
QUANTILES = [i / 100 for i in range(1, 100)]
MOMENT_TOLERANCE = 1e-9
HLL_STD = 3
RANK_ERRORS = 2


# -- data ------------------------------------------------------------------------------------


def chunk(rows: int, seed: int, vocabularies: list[Any]) -> Any:
    """One seeded row group of the benchmark table."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(12):
        if i == 8:  # skewed, as amounts are
            values = rng.lognormal(3.0, 1.2, rows)
        elif i == 9:
            values = rng.uniform(-1.0, 1.0, rows)
        elif i == 10:  # prices: few distinct values, many repeats
            values = np.round(rng.gamma(2.0, 20.0, rows), 2)
        else:
            values = rng.normal(10.0 * i - 35.0, 1.0 + i, rows)
        mask = None
        if i < 4 or i == 6:
            mask = rng.random(rows) < 0.05
        if i in (4, 5, 6):
            values[rng.random(rows) < 0.02] = np.nan
        if i == 7:
            values[rng.random(rows) < 1e-4] = np.inf
            values[rng.random(rows) < 1e-4] = -np.inf
        columns[f"f{i:02d}"] = pa.array(values, mask=mask)
    columns["i0"] = pa.array(rng.integers(0, 10, rows))
    columns["i1"] = pa.array(rng.integers(0, 1_000, rows), mask=rng.random(rows) < 0.01)
    columns["i2"] = pa.array(rng.integers(-1_000_000, 1_000_000, rows))
    columns["i3"] = pa.array(rng.integers(-(2**62), 2**62, rows))
    for i, vocabulary in enumerate(vocabularies):
        distinct = len(vocabulary)
        weights = 1.0 / np.arange(1, distinct + 1) ** 0.8  # uneven shares, as categories have
        picks = rng.choice(distinct, rows, p=weights / weights.sum()).astype(np.int32)
        mask = rng.random(rows) < 0.03 if i == 2 else None
        codes = pa.array(picks, mask=mask)
        strings = pa.DictionaryArray.from_arrays(codes, vocabulary).cast(pa.string())
        columns[f"s{i}"] = strings
    start = np.datetime64("2021-01-01T00:00:00", "us").astype(np.int64)
    span = 5 * 365 * 86_400 * 1_000_000
    stamps = start + rng.integers(0, span, rows)
    columns["t0"] = pa.array(stamps, mask=rng.random(rows) < 0.01).view(pa.timestamp("us"))
    return pa.table(columns)


def write_data(folder: Path, rows: int) -> tuple[Path, int]:
    """The benchmark file of `rows` rows (written once, a row group at a time); its groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    group = min(GROUP_ROWS, max(rows // 10, 1_000))
    path = folder / f"spark-{rows}.parquet"
    if path.exists():
        return path, pq.ParquetFile(path).metadata.num_row_groups
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    print(f"writing {path} ({rows:,} rows, row groups of {group:,}) ...", flush=True)
    vocabularies = [
        pa.array([f"{prefix}-{j:05d}" for j in range(n)], pa.string())
        for prefix, n in (("tier", 8), ("city", 1_000), ("sku", 50_000))
    ]
    writer = None
    for i, first in enumerate(range(0, rows, group)):
        table = chunk(min(group, rows - first), SEED + i, vocabularies)
        if writer is None:
            writer = pq.ParquetWriter(partial, table.schema)
        writer.write_table(table, row_group_size=group)
    writer.close()
    partial.replace(path)
    return path, pq.ParquetFile(path).metadata.num_row_groups


def warm_page_cache(path: Path) -> None:
    """Read the file once, streamed, so no engine below pays for the disk."""
    import pyarrow.parquet as pq

    for _ in pq.ParquetFile(path).iter_batches(batch_size=65_536):
        pass


# -- timing ----------------------------------------------------------------------------------


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of `repeat` runs, and the last run's result."""
    seconds, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        seconds = min(seconds, time.perf_counter() - start)
    return seconds, result


def split_into(spark: Any, partitions: int, size: int) -> None:
    """Make the next file scan cut the file into `partitions` splits, without a shuffle.

    Spark's split size is min(maxPartitionBytes, max(openCostInBytes, total // minPartitionNum)),
    the total counting the file's size plus openCostInBytes. With a large maximum and an open
    cost of n bytes (tiny, yet enough that the floor division cannot leave a split of a few
    bytes over) it is about size / n, and the scan makes n splits, each of the row groups
    whose middle falls inside it."""
    spark.conf.set("spark.sql.files.openCostInBytes", str(partitions))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(size + partitions))
    spark.conf.set("spark.sql.files.minPartitionNum", str(partitions))


def default_splits(spark: Any) -> None:
    for key in (
        "spark.sql.files.openCostInBytes",
        "spark.sql.files.maxPartitionBytes",
        "spark.sql.files.minPartitionNum",
    ):
        spark.conf.unset(key)


# -- comparing profiles ----------------------------------------------------------------------


def differences(reference: Any, other: Any) -> tuple[list[str], list[str]]:
    """Where `other` departs from `reference`: (exact statistics, approximate ones)."""
    exact: list[str] = []
    approx: list[str] = []
    if reference.rows != other.rows:
        exact.append(f"rows {reference.rows} != {other.rows}")
    if list(reference.columns) != list(other.columns):
        exact.append(f"columns {list(reference.columns)} != {list(other.columns)}")
        return exact, approx
    for name, a in reference.columns.items():
        b = other.columns[name]
        for stat in ("kind", "count", "nulls", "nan", "inf", "min", "max"):
            x, y = getattr(a, stat), getattr(b, stat)
            if x != y or type(x) is not type(y):
                exact.append(f"{name}.{stat}: {x!r} != {y!r}")
        for stat in ("mean", "std"):
            x, y = getattr(a, stat), getattr(b, stat)
            if (x is None) != (y is None) or (
                x is not None and not math.isclose(x, y, rel_tol=MOMENT_TOLERANCE, abs_tol=0.0)
            ):
                approx.append(f"{name}.{stat}: {x!r} vs {y!r} (relative 1e-9)")
        if a.hll is not None:
            lo, hi = a.distinct_bounds(HLL_STD)
            if b.hll is None or not lo <= b.distinct <= hi:
                approx.append(
                    f"{name}.distinct: {b.distinct} outside [{lo:,.0f}, {hi:,.0f}] "
                    f"(local {a.distinct}, {HLL_STD} standard errors)"
                )
        if a.kll is not None and a.finite:
            approx += [f"{name}.{d}" for d in rank_gaps(a, b) + rank_gaps(b, a)]
    return exact, approx


def rank_gaps(a: Any, b: Any) -> list[str]:
    """Quantiles of `a` whose rank in `b` is off by more than 2 x the larger rank error.

    The rank of a value x in `b` is a range: from the fraction below x to the fraction at or
    below it (a value many rows share, as in an integer column of ten values, spans a wide
    one); q is fine when it lies within the tolerance of that range."""
    if b.kll is None or not b.finite:
        return ["quantiles: missing in one profile"]
    tolerance = RANK_ERRORS * max(a.rank_error, b.rank_error)
    gaps = []
    for q, x in zip(QUANTILES, a.quantiles(QUANTILES), strict=True):
        below = b.cdf([math.nextafter(x, -math.inf)])[0]
        at_or_below = b.cdf([x])[0]
        if not below - tolerance <= q <= at_or_below + tolerance:
            gaps.append(
                f"quantile {q:.2f} = {x!r}: rank [{below:.4f}, {at_or_below:.4f}] in the "
                f"other profile, beyond {tolerance:.4f}"
            )
    return gaps


# -- the benchmark ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="rows in the data (10,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each (best kept)")
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/keel-bench-spark"), help="data folder"
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)

    path, groups = write_data(args.cache, args.rows)
    size = path.stat().st_size
    print(f"data: {path} ({args.rows:,} rows, {groups} row groups, {size / 2**20:,.0f} MiB)")
    warm_page_cache(path)

    from keel.data.profiling import profile_source
    from keel.data.spark import SparkSettings, profile_frame, read_source, session

    root = path.parent
    local_s, local = best(args.repeat, lambda: profile_source(path.name, root, key="benchmark"))
    runs: list[dict[str, Any]] = [
        {"engine": "local engine (profile_source)", "partitions": None, "seconds": local_s}
    ]

    start = time.perf_counter()
    spark = session(SparkSettings(master="local[2]"))
    started_s = time.perf_counter() - start

    def frame() -> Any:  # a fresh frame: the split settings apply when a scan is planned
        return read_source(spark, path.name, root, key="benchmark")

    # Two partitions, so that both of local[2]'s Python workers start and import Keel here.
    for n in PARTITIONS:  # planning is cheap: fail now, not after minutes of profiling
        split_into(spark, n, size)
        if frame().rdd.getNumPartitions() != n:
            raise RuntimeError(f"cannot make the scan cut the file into {n} partitions")
    default_splits(spark)

    warm = frame().limit(min(args.rows, 100_000)).repartition(2)
    start = time.perf_counter()
    profile_frame(warm)
    warm.summary().collect()
    warm_s = time.perf_counter() - start

    data = frame()
    splits = data.rdd.getNumPartitions()
    keel_s, keel = best(args.repeat, lambda: profile_frame(data))
    summary_s, summary = best(args.repeat, lambda: data.summary().collect())
    runs.append({"engine": "Keel profile_frame", "partitions": splits, "seconds": keel_s})
    runs.append({"engine": "Spark summary()", "partitions": splits, "seconds": summary_s})
    if len(summary) != 8:
        raise RuntimeError(f"summary() gave {len(summary)} statistics, expected 8")

    profiles = {f"Spark, default {splits} splits": keel}
    for n in PARTITIONS:
        split_into(spark, n, size)
        data = frame()  # each job plans its scan afresh, with the settings of the moment
        made = data.rdd.getNumPartitions()
        if made != n:
            raise RuntimeError(f"asked the scan for {n} partitions, it made {made}")
        seconds, profiles[f"Spark, {n} partitions"] = best(
            args.repeat, lambda data=data: profile_frame(data)
        )
        runs.append({"engine": "Keel profile_frame", "partitions": n, "seconds": seconds})
    default_splits(spark)
    spark.stop()

    print()
    print(
        f"Spark session start (local[2]): {started_s:.1f} s; warm-up on the first rows "
        f"(both paths, not timed below): {warm_s:.1f} s"
    )
    print("| engine | partitions | seconds | rows/s |")
    print("| --- | ---: | ---: | ---: |")
    for run in runs:
        run["rows_per_s"] = args.rows / run["seconds"]
        shown = "local processes" if run["partitions"] is None else run["partitions"]
        print(f"| {run['engine']} | {shown} | {run['seconds']:.2f} | {run['rows_per_s']:,.0f} |")

    exact_ok = approx_ok = True
    print("\nEach Spark profile against the local engine's:")
    for label, profile in profiles.items():
        exact, approx = differences(local, profile)
        exact_ok &= not exact
        approx_ok &= not approx
        verdict = "identical exact statistics" if not exact else f"{len(exact)} exact differ"
        verdict += ", sketches within bounds" if not approx else f", {len(approx)} beyond bounds"
        print(f"  {label}: {verdict}")
        for line in (exact + approx)[:10]:
            print(f"    {line}")

    ratio = keel_s / summary_s
    targets = [
        (
            f"Keel Spark profile <= Spark summary() ({keel_s:.1f} s vs {summary_s:.1f} s, "
            f"{ratio:.2f}x)",
            keel_s <= summary_s,
        ),
        ("merge exact: exact stats identical across 1/2/4/8 partitions and local", exact_ok),
        (
            "mean/std within 1e-9, distinct counts within HLL bounds, quantiles within "
            "2 x KLL rank error, across 1/2/4/8 partitions and local",
            approx_ok,
        ),
    ]
    print()
    for text, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    load = os.getloadavg()[0]
    print(f"1-minute load average at the end: {load:.2f} (2 cores: 2.0 is busy)")

    if args.json:
        figures = {
            "rows": args.rows,
            "columns": len(local.columns),
            "row_groups": groups,
            "file_bytes": size,
            "session_start_s": started_s,
            "warm_up_s": warm_s,
            "runs": runs,
            "targets": {text: ok for text, ok in targets},
            "load_average": load,
        }
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")
    sys.exit(code)
