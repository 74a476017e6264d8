"""Benchmark: the prediction log at scale (issue 19, item 5).

Run by `make bench-log` (not a unit test): `python benchmarks/log.py [--rows 10000000]`. It

1. makes a small system in a scratch folder (`--workdir`, default a temporary folder, removed
   at the end unless `--keep`): 20 inputs (12 numbers, 8 categories), a scikit-learn model
   trained with `keel train` and promoted with `keel promote 1`, `[data] serving_log` pointing
   at the generated log, daily windows (`[monitor] window`, the default);
2. writes two prediction logs in the log's own format (framed records in closed `.seg` segment
   files, named as `keel.log.segments.SegmentWriter` names them), each record shaped as
   `keel serve` writes it (`keel.serve.app._log_records`: format, request_id, row, example_id,
   time, model_version, route, inputs, model_inputs, prediction, probabilities,
   latency_seconds, anomalies, nonfinite; ~1 KiB of JSON), with one segment sealed per
   `--seal-seconds` of traffic (60 s: `[serve] seal_seconds`' default), generated with NumPy and
   Arrow and framed in bulk, one process per day over two cores, then flushed to disk
   (`os.sync`: no write-back of it runs under a timed step) (not timed):
   - the large log: `--rows` over `--days` (10,000,000 rows over 30 days);
   - the small log: the same traffic (the same rows per day, the same inputs) over
     `--small-days` days (3: 1,000,000 rows). The cost of the steps below must follow the new
     rows, not the size of the log, so they are compared at the same traffic;
3. on each log: times the first intake (`keel monitor`'s take, as `keel monitor` runs it:
   the roll-up of every closed segment into Parquet and the summary of every part,
   `keel.checks._monitor_state.monitor_state`) in a fresh process, with that process's peak
   memory (VmHWM); then `keel logs query` of one day's count (the `keel` command, start-up
   included); then runs `keel monitor` once, untimed against a target (nothing new to take:
   its checks judge the recent windows once and keep the judgements, as the first
   `keel monitor` of a log does); then appends `--new-rows` rows (100,000, as new segments, at
   the same traffic) and times `keel monitor`'s take of them alone (as the first intake, in a
   fresh process); then appends as many again and times `keel monitor`; then as many again
   and times `keel score --section monitor` (so each step takes 100,000 new rows);
4. prints each figure beside its target with PASS or FAIL, the date, the machine's cores and
   load average, and exits 1 when a target is missed. The targets (the large log): the first
   intake under 60 s with a peak under 2 GiB; `keel monitor` under 3 s and
   `keel score --section monitor` under 15 s, each within 20% of its time on the small log;
   `keel logs query` of a day's count under 1 s.

    python benchmarks/log.py [--rows 10000000] [--days 30] [--small-days 3]
                             [--new-rows 100000] [--seal-seconds 60] [--workdir DIR] [--keep]

Keel's modules are compiled to bytecode first, as pip leaves an installed package (with
PYTHONDONTWRITEBYTECODE set, an editable install would compile them in every command timed).

`--rows 200000` makes a quick run (the small log is then `--rows` x small-days / days).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = 86_400
NUMBERS = 12
CATEGORIES = {f"cat_{k}": [f"c{k}v{j}" for j in range(3 + 6 * k)] for k in range(8)}
GiB = 1024**3
PID = 4242  # the writer's process id in the segment names

TRAIN = """
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    encode = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
         make_column_selector(dtype_include=["object", "string"])),
        remainder="passthrough",
    )
    model = HistGradientBoostingClassifier(random_state=seed, **params)
    return make_pipeline(encode, model).fit(X, y)
"""

# Run in a fresh process: `keel monitor`'s take of the log (roll-up + summaries), its wall
# time and the process's peak memory (VmHWM: its own high-water mark, reset by exec).
FIRST_INTAKE = """
import json, sys, time
from pathlib import Path
from keel.system import System
from keel.checks._monitor_state import monitor_state
system = System.from_path(Path(sys.argv[1]))
start = time.perf_counter()
state = monitor_state(system)
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "rows": state.run.rows, "parts": state.run.parts,
                  "windows": len(state.windows), "peak_bytes": hwm * 1024}))
"""


# -- the log ---------------------------------------------------------------------------------


def _text(values: np.ndarray):
    """Numbers as their JSON text (Arrow's shortest round-trip form)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pa.array(values), pa.string())


def _quoted(values):
    import pyarrow.compute as pc

    return pc.binary_join_element_wise('"', values, '"', "")


def _payloads(rng: np.random.Generator, start: float, n: int, span: float, tag: str):
    """`n` records' JSON texts (an Arrow string array), their times spread over `span` seconds
    from `start` (epoch seconds), in time order; and those times."""
    import pyarrow as pa
    import pyarrow.compute as pc

    seconds = start + np.sort(rng.random(n)) * span
    stamps = (seconds * 1e6).astype("datetime64[us]")
    times = pa.array(np.char.add(np.datetime_as_string(stamps, unit="us"), "+00:00"))
    numbers = rng.normal(size=(n, NUMBERS)).round(4)
    numbers[:, 3] = np.floor(numbers[:, 3] * 100)  # an integer input
    codes = {name: rng.integers(0, len(v), n) for name, v in CATEGORIES.items()}
    pieces: list = ["{"]
    for k in range(NUMBERS):
        column = numbers[:, k].astype(np.int64) if k == 3 else numbers[:, k]
        pieces += [f'"num_{k:02d}":' if k == 0 else f',"num_{k:02d}":', _text(column)]
    for name, vocabulary in CATEGORIES.items():
        pieces += [f',"{name}":', _quoted(pa.array(np.array(vocabulary)[codes[name]]))]
    pieces.append("}")
    inputs = pc.binary_join_element_wise(*pieces, "")
    logit = numbers[:, 0] - 0.5 * numbers[:, 1] + (codes["cat_0"] == 0) * 0.8
    p1 = (1 / (1 + np.exp(-logit))).round(6)
    proba = pc.binary_join_element_wise(
        '{"0":', _text((1 - p1).round(6)), ',"1":', _text(p1), "}", ""
    )
    index = np.arange(n)
    odd = rng.random(n)
    anomalies = np.where(
        odd < 0.005, '["rows[0].num_03: expected a number \\u2265 -250, got -300"]', "[]"
    )
    payloads = pc.binary_join_element_wise(
        '{"format":1,"request_id":"',
        pa.array(np.char.add(f"r{tag}-", (index // 4).astype(str))),
        '","row":',
        _text(index % 4),
        ',"example_id":"',
        pa.array(np.char.add(f"e{tag}-", index.astype(str))),
        '","time":"',
        times,
        '","model_version":1,"route":"champion","inputs":',
        inputs,
        ',"model_inputs":',
        inputs,
        ',"prediction":',
        _text((p1 > 0.5).astype(np.int64)),
        ',"probabilities":',
        proba,
        ',"latency_seconds":',
        _text((0.002 + rng.exponential(0.002, n)).round(6)),
        ',"anomalies":',
        pa.array(anomalies),
        ',"nonfinite":[]}',
        "",
    )
    return payloads, seconds


def write_span(job: tuple[str, float, int, float, int, int, float]) -> tuple[int, int]:
    """Write `n` records over `span` seconds from `start` into closed segments of
    `seal` seconds each (numbered from `seq`); (segments written, bytes written)."""
    folder, start, n, span, seq, seed, seal = job
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    payloads, seconds = _payloads(rng, start, n, span, str(seed))
    payloads = payloads.cast(pa.large_string())
    _, offsets_buf, data_buf = payloads.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64, count=n + 1)
    data = memoryview(data_buf)
    lengths = np.diff(offsets)
    crcs = np.fromiter(
        (zlib.crc32(data[a:b]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)),
        np.uint32,
        n,
    )
    headers = np.empty(n, dtype=[("length", ">u4"), ("crc", ">u4")])
    headers["length"], headers["crc"] = lengths, crcs
    head = memoryview(headers.tobytes())
    which = np.floor((seconds - start) / seal).astype(np.int64)
    bounds = np.flatnonzero(np.diff(which)) + 1
    runs = zip([0, *bounds.tolist()], [*bounds.tolist(), n], strict=True)
    written = 0
    segments = 0
    for a, b in runs:
        parts = []
        for i in range(a, b):
            parts.append(head[8 * i : 8 * i + 8])
            parts.append(data[offsets[i] : offsets[i + 1]])
        blob = b"".join(parts)
        name = f"seg-{PID}-{seq + segments:08d}-{seed & 0xFFFFFFFF:08x}.seg"
        Path(folder, name).write_bytes(blob)
        written += len(blob)
        segments += 1
    return segments, written


class Log:
    """A generated prediction log: `per_day` rows a day, one segment per `seal` seconds."""

    def __init__(self, root: Path, per_day: int, seal: float) -> None:
        self.root, self.per_day, self.seal = root, per_day, seal
        self.segments = root / "segments"
        self.segments.mkdir(parents=True, exist_ok=True)
        self.seq, self.seed, self.end = 0, 1, START.timestamp()
        self.bytes = 0

    def append(self, rows: int, pool: multiprocessing.pool.Pool | None = None) -> None:
        """`rows` more rows at the log's traffic, after what it holds, a day per job."""
        jobs = []
        while rows > 0:
            n = min(rows, self.per_day)
            span = n / self.per_day * DAY
            count = int(np.ceil(span / self.seal)) + 1
            jobs.append((str(self.segments), self.end, n, span, self.seq, self.seed, self.seal))
            self.seq += count
            self.seed += 1
            self.end += span
            rows -= n
        results = pool.map(write_span, jobs) if pool is not None and len(jobs) > 1 else None
        for _, written in results or map(write_span, jobs):
            self.bytes += written
        # on disk before anything is timed: a log written over days is not in dirty pages,
        # and the kernel writing back gigabytes would take CPU and disk from the step timed
        os.sync()


# -- the system ------------------------------------------------------------------------------


def keel(*args: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    """Run the `keel` command; its wall time (start-up included) and the finished process."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "keel", *args], capture_output=True, text=True, env=_env()
    )
    seconds = time.perf_counter() - start
    if check and proc.returncode not in (0, 1):  # keel monitor / score exit 1 on a failing check
        sys.exit(f"keel {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, proc


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def make_system(folder: Path) -> Path:
    """A 20-input binary system, version 1 trained and promoted; its folder."""
    import pandas as pd

    system = folder / "system"
    (system / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    n = 3_000
    frame = pd.DataFrame(rng.normal(size=(n, NUMBERS)).round(4))
    frame.columns = [f"num_{k:02d}" for k in range(NUMBERS)]
    frame["num_03"] = np.floor(frame["num_03"] * 100).astype(int)
    for name, vocabulary in CATEGORIES.items():
        frame[name] = np.array(vocabulary)[rng.integers(0, len(vocabulary), n)]
    logit = frame["num_00"] - 0.5 * frame["num_01"] + (frame["cat_0"] == "c0v0") * 0.8
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.iloc[:2_400].to_parquet(system / "data" / "train.parquet")
    frame.iloc[2_400:].to_parquet(system / "data" / "eval.parquet")
    (system / "sysmodel.py").write_text(textwrap.dedent(TRAIN))
    (system / "keel.toml").write_text(
        textwrap.dedent(
            """\
            [system]
            name = "log-benchmark"
            task = "binary"
            target = "y"

            [data]
            train = "data/train.parquet"
            eval = "data/eval.parquet"
            serving_log = "log"

            [model]
            train = "sysmodel:train"
            params = { max_iter = 20 }
            seed = 1
            """
        )
    )
    keel("train", str(system))
    keel("promote", "1", str(system))
    return system


def reset(system: Path) -> Path:
    """No log and no monitoring state: the system as before it served; the log's folder."""
    shutil.rmtree(system / "log", ignore_errors=True)
    shutil.rmtree(system / ".keel" / "monitor", ignore_errors=True)
    return system / "log"


# -- the measures ----------------------------------------------------------------------------


def take(system: Path, rows: int) -> dict:
    """`keel monitor`'s take of the log in a fresh process (FIRST_INTAKE), which must take
    `rows` rows: its seconds, parts, windows and peak memory."""
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_INTAKE, str(system)],
        capture_output=True,
        text=True,
        env=_env(),
    )
    if proc.returncode != 0:
        sys.exit(f"the intake failed:\n{proc.stderr[-3000:]}")
    taken = json.loads(proc.stdout.strip().splitlines()[-1])
    if taken["rows"] != rows:
        sys.exit(f"the intake took {taken['rows']:,} rows of {rows:,}")
    return taken


def measure(system: Path, rows: int, days: int, new_rows: int, seal: float, pool) -> dict:
    """Generate a log of `rows` over `days`, then time every step on it (see the docstring)."""
    root = reset(system)
    log = Log(root, rows // days, seal)
    began = time.perf_counter()
    log.append(rows, pool)
    made = time.perf_counter() - began
    segments = len(list(log.segments.glob("*.seg")))
    print(
        f"  generated {rows:,} rows over {days} days: {segments:,} segments, "
        f"{log.bytes / GiB:.2f} GiB, in {made:.0f} s (not timed)",
        flush=True,
    )
    first = take(system, rows)
    print(
        f"  first intake: {first['seconds']:.1f} s, peak {first['peak_bytes'] / GiB:.2f} GiB, "
        f"{first['parts']:,} parts, {first['windows']} windows",
        flush=True,
    )
    day = (START + dt.timedelta(days=days // 2)).date().isoformat()
    sql = f"SELECT count(*) AS n FROM predictions WHERE date = '{day}'"
    query_s, proc = keel("logs", "query", sql, str(system))
    print(f"  keel logs query of {day}'s count: {query_s:.2f} s", flush=True)
    settle_s, proc = keel("monitor", str(system))  # the checks judge the windows once
    print(
        f"  the first keel monitor after it (nothing new to take; the checks judge every recent "
        f"window once and keep the judgements): {settle_s:.2f} s (no target)",
        flush=True,
    )
    log.append(new_rows)
    again = take(system, new_rows)
    print(
        f"  intake of {new_rows:,} new rows (keel monitor's take, in-process): "
        f"{again['seconds']:.2f} s",
        flush=True,
    )
    log.append(new_rows)
    monitor_s, proc = keel("monitor", str(system))
    if f"{new_rows:,} served rows taken" not in proc.stdout:
        sys.exit(f"keel monitor did not take the {new_rows:,} new rows:\n{proc.stdout[-3000:]}")
    print(f"  keel monitor over {new_rows:,} new rows: {monitor_s:.2f} s", flush=True)
    log.append(new_rows)
    score_s, proc = keel("score", "--section", "monitor", str(system))
    print(f"  keel score --section monitor over {new_rows:,} new rows: {score_s:.2f} s", flush=True)
    return {
        "rows": rows,
        "days": days,
        "segments": segments,
        "log_bytes": log.bytes,
        "first_intake_s": first["seconds"],
        "first_intake_peak_bytes": first["peak_bytes"],
        "query_s": query_s,
        "settle_s": settle_s,
        "intake_s": again["seconds"],
        "monitor_s": monitor_s,
        "score_s": score_s,
    }


def compile_keel() -> None:
    """Keel's modules as bytecode before anything is timed, as pip leaves an installed package
    (`make bytecode`): with PYTHONDONTWRITEBYTECODE set, an editable install would compile its
    source in every `keel` command timed."""
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parents[1] / "src" / "keel", quiet=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the large log")
    parser.add_argument("--days", type=int, default=30, help="days the large log spans")
    parser.add_argument("--small-days", type=int, default=3, help="days of the small log")
    parser.add_argument("--new-rows", type=int, default=100_000, help="rows appended per step")
    parser.add_argument("--seal-seconds", type=float, default=60.0, help="traffic per segment")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    if args.rows < args.days or args.small_days > args.days:
        parser.error("--rows must be at least --days, and --small-days at most --days")
    work = Path(tempfile.mkdtemp(prefix="keel-bench-log-", dir=args.workdir))
    small_rows = args.rows // args.days * args.small_days
    print(
        f"prediction log benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, in {work}",
        flush=True,
    )
    compile_keel()
    try:
        system = make_system(work)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            print(f"small log ({small_rows:,} rows, {args.small_days} days):", flush=True)
            small = measure(
                system, small_rows, args.small_days, args.new_rows, args.seal_seconds, pool
            )
            print(f"large log ({args.rows:,} rows, {args.days} days):", flush=True)
            large = measure(system, args.rows, args.days, args.new_rows, args.seal_seconds, pool)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return report(small, large, args.new_rows)


def report(small: dict, large: dict, new_rows: int) -> int:
    """Print every figure beside its target; 0 when all are met."""
    ratio_i = large["intake_s"] / small["intake_s"]
    ratio_m = large["monitor_s"] / small["monitor_s"]
    ratio_s = large["score_s"] / small["score_s"]
    targets = [
        (
            f"first intake of {large['rows']:,} rows under 60 s",
            f"{large['first_intake_s']:.1f} s",
            large["first_intake_s"] < 60,
        ),
        (
            "first intake's peak memory under 2 GiB",
            f"{large['first_intake_peak_bytes'] / GiB:.2f} GiB "
            f"(at {small['rows']:,} rows: {small['first_intake_peak_bytes'] / GiB:.2f} GiB)",
            large["first_intake_peak_bytes"] < 2 * GiB,
        ),
        (
            f"keel monitor's intake of {new_rows:,} new rows within 20% of the "
            f"{small['rows']:,}-row log's (no target of its own: the part of the next line "
            "that is the log's)",
            f"{large['intake_s']:.2f} s, {small['intake_s']:.2f} s there, x{ratio_i:.2f}",
            ratio_i <= 1.2,
        ),
        (
            f"keel monitor over {new_rows:,} new rows under 3 s",
            f"{large['monitor_s']:.2f} s",
            large["monitor_s"] < 3,
        ),
        (
            f"... within 20% of the {small['rows']:,}-row log's",
            f"{small['monitor_s']:.2f} s there, x{ratio_m:.2f}",
            ratio_m <= 1.2,
        ),
        (
            f"keel score --section monitor over {new_rows:,} new rows under 15 s",
            f"{large['score_s']:.2f} s",
            large["score_s"] < 15,
        ),
        (
            f"... within 20% of the {small['rows']:,}-row log's",
            f"{small['score_s']:.2f} s there, x{ratio_s:.2f}",
            ratio_s <= 1.2,
        ),
        (
            "keel logs query of a day's count under 1 s",
            f"{large['query_s']:.2f} s",
            large["query_s"] < 1,
        ),
    ]
    print()
    print("| target | measured | |")
    print("| --- | --- | --- |")
    for text, figure, ok in targets:
        print(f"| {text} | {figure} | {'PASS' if ok else 'FAIL'} |")
    print(
        f"\nno target: the first keel monitor after the first intake (its checks judge the "
        f"recent windows once): {large['settle_s']:.2f} s, {small['settle_s']:.2f} s on the "
        "small log"
    )
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average (1, 5, 15 min) {load}; logs: {small['segments']:,} and "
        f"{large['segments']:,} segments, {small['log_bytes'] / GiB:.2f} and "
        f"{large['log_bytes'] / GiB:.2f} GiB"
    )
    return 0 if all(ok for _, _, ok in targets) else 1


if __name__ == "__main__":
    begun = time.perf_counter()
    code = main()
    print(f"\n(benchmark took {time.perf_counter() - begun:.0f} s)")
    sys.exit(code)
