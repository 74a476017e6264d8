"""Benchmark: Keel's profile against whylogs 1.6 on a seeded 1,000,000 x 20 Parquet file.

Run by `make bench` (not a unit test): `python benchmarks/profile.py`. It

1. writes the data once into benchmarks/.data/: a seeded Parquet file of 1,000,000 rows and
   20 columns (12 floats with about 5% nulls, 4 integers, 4 strings with 5, 100, 2,000 and
   20,000 distinct values), and one of 10,000,000 rows made of ten such seeded chunks;
2. installs whylogs 1.6 into a venv of its own, benchmarks/.venv-whylogs (whylogs 1.6 needs
   NumPy 1.26, pandas 2 and pyarrow 20), unless it is there already;
3. times, each in a fresh process and excluding interpreter start-up and imports: the bare
   Parquet read with pyarrow (the whole table at once, and streamed in batches as Keel reads
   it: the floor), whylogs (pandas read, then `why.log(df).view()`) and Keel's
   `profile_source` (read included) on the 1M file, and Keel on the 10M file;
4. prints a table (tool, rows, seconds, CPU seconds, rows/s, peak MiB, processes) and the
   targets, and exits 1 if one fails: Keel at least 10 times faster than whylogs and at least
   1,000,000 rows/s; its peak memory under 1 GiB, and at 10M rows within 10% of that at 1M.

CPU seconds (user and system, of the process and of the workers it joined) stand beside the
wall seconds because Keel profiles with one process per core and whylogs with one. Peak memory
is each process's own high-water mark (`VmHWM`, which exec resets; `ru_maxrss` does not, and
would report the size of whichever process started the tool) summed over the process and its
workers: an upper bound of what they held at once, which counts the pages a worker shares with
the process it was forked from (the interpreter and libraries) once per process. Keel's time is
the best of `--repeat` runs (default 3); whylogs runs once (it takes about 20 s, and a repeat
could only make it faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
WHYLOGS_VENV = HERE / ".venv-whylogs"
WHYLOGS_REQUIREMENTS = ["whylogs==1.6.*", "numpy==1.26.*", "pandas<3", "pyarrow==20.*"]
ROWS = 1_000_000
CHUNKS_10M = 10
SEED = 20_240_601

GiB = 1024**3

# Prepended to every measured program. Memory: on Linux, `ru_maxrss` survives fork and exec,
# so a process started by a parent that had generated the data would report the parent's size
# as its own peak. `VmHWM` in /proc/<pid>/status is reset by exec (and by fork, to the size at
# that moment), so the program reads its own, and every worker that multiprocessing starts
# (Keel's profile forks them) appends its own VmHWM to a file when it ends. CPU: user and
# system seconds of the process and of the workers it has joined, over the measured span.
_PEAK = """
import multiprocessing.process, os, resource, tempfile
_FD, _WORKERS = tempfile.mkstemp(prefix="keel-bench-hwm-")

def _hwm_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

_bootstrap = multiprocessing.process.BaseProcess._bootstrap

def _bootstrap_reporting_hwm(self, *args, **kwargs):
    try:
        return _bootstrap(self, *args, **kwargs)
    finally:
        with open(_WORKERS, "a") as out:
            out.write(f"{_hwm_kib()}\\n")

multiprocessing.process.BaseProcess._bootstrap = _bootstrap_reporting_hwm

def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    joined = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + joined.ru_utime + joined.ru_stime

def memory():
    with open(_WORKERS) as f:
        workers = [int(line) / 1024 for line in f if line.strip()]
    os.close(_FD)
    os.unlink(_WORKERS)
    main = _hwm_kib() / 1024
    return {"main_mib": main, "workers_mib": workers, "peak_mib": main + sum(workers)}
"""

KEEL = (
    _PEAK
    + """
import json, sys, time
from pathlib import Path
from keel.data.profiling import profile_source
path = Path(sys.argv[1])
cpu, start = cpu_seconds(), time.perf_counter()
profile = profile_source(path.name, path.parent, key="benchmark")
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
assert profile.rows == int(sys.argv[2]), profile.rows
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rows": profile.rows, **memory()}))
"""
)

WHYLOGS = (
    _PEAK
    + """
import json, sys, time
import pandas as pd
import whylogs as why
cpu, start = cpu_seconds(), time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
view = why.log(frame).view()
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
assert len(view.get_columns()) == 20
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rows": len(frame), **memory()}))
"""
)

READ = (
    _PEAK
    + """
import json, sys, time
import pyarrow.parquet as pq
cpu, start = cpu_seconds(), time.perf_counter()
if sys.argv[2] == "whole":
    rows = pq.read_table(sys.argv[1]).num_rows
else:  # streamed, as Keel reads: one batch at a time
    batches = pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=65_536)
    rows = sum(batch.num_rows for batch in batches)
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rows": rows, **memory()}))
"""
)


def chunk(rows: int, seed: int):
    """One seeded chunk of the benchmark table."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(12):
        values = rng.normal(10.0 * i, 1.0 + i, rows)
        columns[f"f{i:02d}"] = pa.array(values, mask=rng.random(rows) < 0.05)
    for i, high in enumerate((10, 1_000, 100_000, 10**9)):
        columns[f"i{i}"] = pa.array(rng.integers(0, high, rows))
    for i, distinct in enumerate((5, 100, 2_000, 20_000)):
        vocabulary = np.array([f"value-{j:05d}" for j in range(distinct)], dtype=object)
        # Uneven shares (Zipf-like), as real categories are.
        weights = 1.0 / np.arange(1, distinct + 1) ** 0.8
        picks = rng.choice(distinct, rows, p=weights / weights.sum())
        columns[f"s{i}"] = pa.array(vocabulary[picks], type=pa.string())
    return pa.table(columns)


def write_data(path: Path, chunks: int) -> Path:
    """The benchmark file of `chunks` x 1M rows, written once, a chunk at a time."""
    import pyarrow.parquet as pq

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    print(f"writing {path.relative_to(HERE.parent)} ({chunks * ROWS:,} rows) ...", flush=True)
    writer = None
    for i in range(chunks):
        table = chunk(ROWS, SEED + i)
        if writer is None:
            writer = pq.ParquetWriter(partial, table.schema)
        writer.write_table(table)
    writer.close()
    partial.replace(path)
    return path


def whylogs_python() -> Path:
    """The venv with whylogs 1.6, made on first use."""
    python = WHYLOGS_VENV / "bin" / "python"
    stamp = WHYLOGS_VENV / ".installed"
    if stamp.exists():
        return python
    print(f"installing whylogs into {WHYLOGS_VENV.relative_to(HERE.parent)} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(WHYLOGS_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*pip, *WHYLOGS_REQUIREMENTS], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"installing whylogs failed:\n{done.stderr[-3000:]}")
    stamp.touch()
    return python


def measure(python: Path | str, code: str, *args: object) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line of measurements."""
    env = {**os.environ, "WHYLOGS_NO_ANALYTICS": "True", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [str(python), "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Keel runs on the 1M file")
    parser.add_argument("--no-whylogs", action="store_true", help="skip whylogs (no target)")
    args = parser.parse_args(argv)

    small = write_data(DATA / "profile-1m.parquet", 1)
    large = write_data(DATA / "profile-10m.parquet", CHUNKS_10M)
    results: list[tuple[str, dict]] = []

    results.append(("pyarrow, read whole", measure(sys.executable, READ, small, "whole")))
    results.append(("pyarrow, read streamed", measure(sys.executable, READ, small, "streamed")))
    whylogs = None
    if not args.no_whylogs:
        whylogs = measure(whylogs_python(), WHYLOGS, small)
        results.append(("whylogs 1.6", whylogs))
    runs = [measure(sys.executable, KEEL, small, ROWS) for _ in range(args.repeat)]
    keel = min(runs, key=lambda r: r["seconds"])
    results.append((f"Keel (best of {len(runs)})", keel))
    keel_10m = measure(sys.executable, KEEL, large, CHUNKS_10M * ROWS)
    results.append(("Keel", keel_10m))

    print()
    print("| tool | rows | seconds | CPU seconds | rows/s | peak MiB | processes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results:
        rate = r["rows"] / r["seconds"]
        print(
            f"| {name} | {r['rows']:,} | {r['seconds']:.2f} | {r['cpu_s']:.2f} | {rate:,.0f} "
            f"| {r['peak_mib']:,.0f} | {1 + len(r['workers_mib'])} |"
        )
    print("\nPeak MiB per process (main, then workers):")
    for name, r in results:
        parts = [r["main_mib"], *r["workers_mib"]]
        print(f"  {name}: {' + '.join(f'{m:,.0f}' for m in parts)}")
    seconds = sorted(r["seconds"] for r in runs)
    print(f"\nKeel on 1M rows, all runs: {', '.join(f'{s:.2f} s' for s in seconds)}")

    targets = []
    if whylogs is not None:
        speedup = whylogs["seconds"] / keel["seconds"]
        targets.append((f"at least 10x faster than whylogs ({speedup:.1f}x)", speedup >= 10))
    rate = keel["rows"] / keel["seconds"]
    targets.append((f"at least 1,000,000 rows/s ({rate:,.0f})", rate >= 1_000_000))
    peak = max(keel["peak_mib"], keel_10m["peak_mib"])
    targets.append((f"peak memory under 1 GiB ({peak:,.0f} MiB)", peak * 2**20 < GiB))
    growth = keel_10m["peak_mib"] / keel["peak_mib"] - 1
    targets.append((f"peak at 10M rows within 10% of 1M ({growth:+.1%})", growth <= 0.10))
    print()
    for text, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    if whylogs is None:
        print("SKIP  the comparison with whylogs (--no-whylogs)")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} (2 cores: 2.0 is busy)")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(textwrap.dedent(f"\n(benchmark took {time.perf_counter() - start:.0f} s)"))
    sys.exit(code)
