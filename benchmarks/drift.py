"""Benchmark: Keel's drift report against Evidently's DataDriftPreset, and incremental intake.

Run by `make bench` (not a unit test): `python benchmarks/drift.py`. It

1. reuses benchmarks/profile.py's seeded generator: the reference is its 1,000,000 x 20
   Parquet file; the current file is another seeded 1,000,000 rows of the same generator
   with four columns changed (f00 shifted by 1.5 standard deviations, f01 twice as spread,
   the 5-value s0 and the 100-value s1 with their category shares reversed) and sixteen
   unchanged (among them the 20,000-value categorical s3). The first 100,000 rows of each
   make a second, smaller pair, where sampling noise on s3 is larger;
2. installs Evidently 0.7 and the pandas it supports (pandas < 3) into a virtualenv of its
   own, /tmp/keel-bench-evidently, unless it is there already; if that fails, it says why
   and reports Keel alone;
3. runs, each in a fresh process: Keel (profile both files with `keel.data.profiling`, then
   `keel.monitor.drift.compare` at the default thresholds, 0.1) and Evidently (pandas read,
   then `Report([DataDriftPreset()]).run(current, reference)`), on both pairs; wall time and
   peak memory (each process's VmHWM plus its workers', as benchmarks/profile.py measures),
   and the columns each flags;
4. writes 100,000 new rows to a prediction log with `PredictionLog` (after 20,000 taken
   before), shaped like `keel serve`'s (15 raw inputs, 15 model inputs, class probabilities,
   anomaly and non-finite lists; ~730 bytes of JSON each), and times
   `keel.monitor.intake.intake` over them (rolling the segments into Parquet, then
   summarising the windows, the feature code rerun included); `--intake-only` runs this alone;
5. prints a table and the targets, and exits 1 if one fails: Keel at least 30x faster than
   Evidently at 1M rows, at most half its peak memory, the same drifted columns found, no
   unchanged column flagged by Keel (at either size), and the intake under 2 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("keel_bench_profile", HERE / "profile.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

DATA = bench.DATA
ROWS = bench.ROWS
SMALL = 100_000
EVIDENTLY_VENV = Path("/tmp/keel-bench-evidently")
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.*", "pandas<3", "pyarrow"]
CHANGED = ["f00", "f01", "s0", "s1"]
INTAKE_ROWS = 100_000

KEEL = (
    bench._PEAK
    + """
import json, sys, time
from pathlib import Path
from keel.data.profiling import profile_source
from keel.monitor.drift import compare
cpu, start = cpu_seconds(), time.perf_counter()
ref, cur = (Path(p) for p in sys.argv[1:3])
reference = profile_source(ref.name, ref.parent, key="benchmark-reference")
current = profile_source(cur.name, cur.parent, key="benchmark-current")
found = compare(reference, current, linf=0.1, js=0.1)
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
flagged = sorted(d.column for d in found if d.flagged)
scores = {d.column: [d.measure, d.value, d.noise] for d in found}
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rows": current.rows, "flagged": flagged,
                  "scores": scores, **memory()}))
"""
)

EVIDENTLY = (
    bench._PEAK
    + """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
cpu, start = cpu_seconds(), time.perf_counter()
reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
snapshot = Report([DataDriftPreset()]).run(current, reference)
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
flagged, scores = [], {}
for metric in snapshot.dict()["metrics"]:
    config = metric["config"]
    if "column" not in config:
        continue
    method, value = config["method"], metric["value"]
    drifted = value < config["threshold"] if "p_value" in method else value >= config["threshold"]
    scores[config["column"]] = [method, value]
    if drifted:
        flagged.append(config["column"])
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rows": len(current),
                  "flagged": sorted(flagged), "scores": scores, **memory()}))
"""
)

INTAKE = (
    bench._PEAK
    + """
import json, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
from keel.monitor.intake import intake
from keel.log.writer import PredictionLog, segments_dir

root, state, rows = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)

def records(start, n):
    # shaped like keel serve's: 15 raw inputs (12 numbers, 3 categories), 15 model inputs,
    # class probabilities, and the anomaly and non-finite lists (mostly empty)
    x = rng.normal(size=(n, 12)).round(6)
    g = rng.choice(["north", "south", "east", "west"], size=(n, 3))
    odd = rng.random(n)
    for i in range(n):
        j = start + i
        raw = {f"x{k:02d}": float(x[i, k]) for k in range(12)}
        raw.update({f"c{k}": str(g[i, k]) for k in range(3)})
        raw["x03"] = int(x[i, 3] * 100)  # an integer input
        built = {f"x{k:02d}": float(x[i, k]) for k in range(12)}
        built["x03"] = float(raw["x03"])
        built["x01_x02"] = float(x[i, 1] * x[i, 2])
        built.update({f"c{k}_north": float(g[i, k] == "north") for k in range(2)})
        anomalies, nonfinite = [], []
        if odd[i] < 0.01:
            anomalies = [f"rows[{i % 50}].x03: expected a number \u2265 -250, got {raw['x03']}"]
        if odd[i] > 0.995:
            raw["x05"], built["x05"], nonfinite = None, None, ["x05"]
        p1 = round(float(1 / (1 + np.exp(-x[i, 0]))), 6)
        yield {
            "request_id": f"r{j // 8}", "row": j % 8, "example_id": f"e{j}",
            "time": f"2026-11-{1 + j // 50_000:02d}T{(j // 2_000) % 24:02d}:00:00"
                    f".{j % 999_983:06d}+00:00",
            "model_version": 1, "route": "champion",
            "inputs": raw, "model_inputs": built,
            "prediction": int(p1 > 0.5), "probabilities": {"0": round(1 - p1, 6), "1": p1},
            "latency_seconds": 0.001 + (j % 7) / 1000, "anomalies": anomalies,
            "nonfinite": nonfinite,
        }

def rebuild(raw):
    frame = pd.DataFrame(raw)
    out = frame[[f"x{k:02d}" for k in range(12)]].astype(float)
    out["x01_x02"] = frame["x01"] * frame["x02"]
    for k in range(2):
        out[f"c{k}_north"] = (frame[f"c{k}"] == "north").astype(float)
    return out

def write(start, n):
    with PredictionLog(segments_dir(root), segment_bytes=64 * 2**20) as log:
        batch = []
        for r in records(start, n):
            batch.append(r)
            if len(batch) == 1_000:
                log.append(batch)
                batch = []
        log.append(batch)

write(0, 20_000)
intake(root, state, window_seconds=86_400.0, rebuild=rebuild)  # taken before
write(20_000, rows)
import keel.monitor.intake as intake_module
rolling = intake_module.roll
took = []
def timed_roll(*args, **kwargs):  # what intake does first, its share timed
    begun = time.perf_counter()
    try:
        return rolling(*args, **kwargs)
    finally:
        took.append(time.perf_counter() - begun)
intake_module.roll = timed_roll
cpu, start = cpu_seconds(), time.perf_counter()
run = intake(root, state, window_seconds=86_400.0, rebuild=rebuild)
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
assert run.rows == rows, run.rows
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rows": run.rows, "flagged": [],
                  "roll_seconds": sum(took), "load": os.getloadavg()[0], **memory()}))
"""
)


def shifted(rows: int, seed: int):
    """The current data: a fresh sample of the generator with four columns changed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = bench.chunk(rows, seed)
    columns = {name: table.column(name) for name in table.column_names}
    columns["f00"] = pc.add(columns["f00"], 1.5 * 1.0)  # f00 ~ N(0, 1): +1.5 sd
    f01 = columns["f01"]  # f01 ~ N(10, 2): spread twice as wide around its mean
    columns["f01"] = pc.add(pc.multiply(pc.subtract(f01, 10.0), 2.0), 10.0)
    for name, distinct in (("s0", 5), ("s1", 100)):  # the category shares reversed
        codes = pc.cast(pc.utf8_slice_codeunits(columns[name], 6), pa.int64())
        flipped = pc.subtract(distinct - 1, codes).to_numpy(zero_copy_only=False)
        vocabulary = np.array([f"value-{j:05d}" for j in range(distinct)], dtype=object)
        columns[name] = pa.array(vocabulary[flipped], pa.string())
    return pa.table(columns)


def write_pair() -> tuple[Path, Path, Path, Path]:
    """(reference 1M, current 1M, reference 100k, current 100k), written once."""
    import pyarrow.parquet as pq

    reference = bench.write_data(DATA / "profile-1m.parquet", 1)
    current = DATA / "drift-1m-current.parquet"
    if not current.exists():
        print(f"writing {current.relative_to(HERE.parent)} ...", flush=True)
        pq.write_table(shifted(ROWS, bench.SEED + 101), current.with_suffix(".partial"))
        current.with_suffix(".partial").replace(current)
    small = []
    for big, name in ((reference, "drift-100k-reference"), (current, "drift-100k-current")):
        path = DATA / f"{name}.parquet"
        if not path.exists():
            pq.write_table(pq.read_table(big).slice(0, SMALL), path)
        small.append(path)
    return reference, current, small[0], small[1]


def evidently_python() -> Path | None:
    """The venv with Evidently 0.7, made on first use; None (and why) when that fails."""
    python = EVIDENTLY_VENV / "bin" / "python"
    stamp = EVIDENTLY_VENV / ".installed"
    if stamp.exists():
        return python
    print(f"installing Evidently into {EVIDENTLY_VENV} ...", flush=True)
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        done = subprocess.run([*pip, *EVIDENTLY_REQUIREMENTS], capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not make the Evidently virtualenv: {exc}; reporting Keel alone")
        return None
    if done.returncode != 0:
        print(f"installing Evidently failed; reporting Keel alone:\n{done.stderr[-2000:]}")
        return None
    stamp.touch()
    return python


def measure_intake() -> dict:
    """Step 4 in a fresh process: the intake of INTAKE_ROWS new logged rows, printed."""
    with_tmp = Path(f"/tmp/keel-bench-intake-{time.time_ns()}")
    try:
        intake = bench.measure(
            sys.executable, INTAKE, with_tmp / "log", with_tmp / "state", INTAKE_ROWS
        )
    finally:
        subprocess.run(["rm", "-rf", str(with_tmp)], check=False)
    rolled = intake["roll_seconds"]
    print(
        f"intake of {INTAKE_ROWS:,} new rows: {intake['seconds']:.2f} s "
        f"(CPU {intake['cpu_s']:.2f} s, peak {intake['peak_mib']:,.0f} MiB) = rolling the log's "
        f"segments into Parquet (keel.log.rollup) {rolled:.2f} s + summarising the windows "
        f"(keel.monitor.intake) {intake['seconds'] - rolled:.2f} s"
    )
    return intake


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-evidently", action="store_true", help="Keel alone (no target)")
    parser.add_argument("--intake-only", action="store_true", help="only the intake (step 4)")
    args = parser.parse_args(argv)
    if args.intake_only:
        intake = measure_intake()
        print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} (2 cores: 2.0 is busy)")
        return 0 if intake["seconds"] < 2 else 1

    ref_1m, cur_1m, ref_small, cur_small = write_pair()
    python = None if args.no_evidently else evidently_python()
    results: list[tuple[str, dict]] = []
    keel = bench.measure(sys.executable, KEEL, ref_1m, cur_1m)
    results.append(("Keel drift report", keel))
    keel_small = bench.measure(sys.executable, KEEL, ref_small, cur_small)
    results.append(("Keel drift report", keel_small))
    evidently = evidently_small = None
    if python is not None:
        try:
            evidently = bench.measure(python, EVIDENTLY, ref_1m, cur_1m)
            results.append(("Evidently 0.7 DataDriftPreset", evidently))
            evidently_small = bench.measure(python, EVIDENTLY, ref_small, cur_small)
            results.append(("Evidently 0.7 DataDriftPreset", evidently_small))
        except RuntimeError as exc:
            print(f"Evidently failed; reporting Keel alone:\n{exc}")
            evidently = evidently_small = None
    intake = measure_intake()
    results.append(("Keel intake (incremental)", intake))

    unchanged = set(bench.chunk(10, 0).column_names) - set(CHANGED)
    print()
    print(
        "| run | rows per side | seconds | CPU seconds | peak MiB | flagged | unchanged flagged |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
    for name, r in results:
        wrong = sorted(set(r["flagged"]) & unchanged)
        print(
            f"| {name} | {r['rows']:,} | {r['seconds']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['peak_mib']:,.0f} | {', '.join(r['flagged']) or '-'} "
            f"| {', '.join(wrong) or 'none'} |"
        )
    for label, r in (("Keel 100k", keel_small), ("Evidently 100k", evidently_small)):
        if r is not None and "s3" in r["scores"]:
            print(f"{label}: s3 (20,000 values, unchanged) scored {r['scores']['s3']}")

    targets = []
    if evidently is not None:
        speedup = evidently["seconds"] / keel["seconds"]
        targets.append((f"at least 30x faster than Evidently ({speedup:.1f}x)", speedup >= 30))
        share = keel["peak_mib"] / evidently["peak_mib"]
        targets.append((f"at most half Evidently's peak memory ({share:.0%})", share <= 0.5))
        found = set(evidently["flagged"]) - unchanged
        targets.append(
            (
                f"the drifted columns Evidently finds, found ({', '.join(sorted(found))})",
                found <= set(keel["flagged"]),
            )
        )
    targets.append(
        (
            f"Keel flags exactly the changed columns at 1M ({', '.join(CHANGED)})",
            keel["flagged"] == sorted(CHANGED),
        )
    )
    wrong = sorted((set(keel["flagged"]) | set(keel_small["flagged"])) & unchanged)
    targets.append(
        (f"no unchanged column flagged by Keel ({', '.join(wrong) or 'none'})", not wrong)
    )
    targets.append(
        (
            f"intake of {INTAKE_ROWS:,} new rows under 2 s ({intake['seconds']:.2f} s)",
            intake["seconds"] < 2,
        )
    )
    print()
    for text, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    if evidently is None:
        print("SKIP  the comparison with Evidently")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} (2 cores: 2.0 is busy)")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")
    sys.exit(code)
