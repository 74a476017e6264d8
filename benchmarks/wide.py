"""Benchmark: `keel score` on wide data, 1,000 and 2,000 numeric inputs of 20,000 rows.

Run by `make bench` (not a unit test): `python benchmarks/wide.py`. For each width it

1. builds, once, a system under benchmarks/.data/wide-<inputs>/ (git-ignored): 20,000 seeded
   rows (the newest 20% by time as the evaluation file) of <inputs> float inputs, an id, a
   timestamp spread over a year, a sensitive attribute `group` drawn independently of
   everything, and a binary target that depends on five inputs only; a keel.toml training
   `keel.trainers:gradient_boosting` on every input (no features function), slices on `group`,
   a gate; a `keel.schema.yaml` written by `keel schema infer`; and a git repository with
   everything but the data committed, so model.1 can judge;
2. removes the system's .keel/ (cache and registry), so nothing is reused from an earlier run;
3. runs `keel score` on it in a fresh process and reads every check's `duration_s` from the
   report.json it writes.

It prints one table (check, then status and seconds per width) and the target, and exits 1
when it is missed: a full `keel score` under 5 minutes at 2,000 inputs on 2 cores.

With `--per-check`, each automated check runs in a process of its own instead (`keel score
--only <id>`, in rubric order, sharing the cache as one run does, after a process that only
trains the model), killed after `--timeout` seconds and shown as "over N s": a slow check
then cannot hide the others. The total is then the sum of the processes' wall times, an upper
bound of one full run (each process also starts Python and reads the data again). Keel's
cache key holds a hash of Keel's own source, so in a working tree being edited meanwhile each
process retrains the model and the per-check figures are not the checks' own: measure on a
tree nobody edits. `--keep-model` keeps a trained model from an earlier run (if still valid)
and `--only` picks checks: for looking at a few checks, not for the target.

    python benchmarks/wide.py [--inputs 1000,2000] [--per-check] [--timeout S] [--keep-out]
                              [--only data.2,model.6] [--keep-model]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
ROWS = 20_000
EVAL_SHARE = 0.2
WIDTHS = (1_000, 2_000)
SEED = 20_240_602
TARGET_INPUTS = 2_000
LIMIT_S = 300.0
FULL_TIMEOUT_S = 1_800.0
CHECK_TIMEOUT_S = 300.0
TRAIN_TIMEOUT_S = 900.0
# Bump when the generated system changes, so an old one under .data/ is rebuilt.
BUILD = "wide-1"

KEEL_TOML = """\
# Written by benchmarks/wide.py: a wide binary classifier with no feature code of its own.
[system]
name = "wide-{inputs}"
task = "binary"
target = "label"
id = "row_id"
timestamp = "event_time"
primary_metric = "roc_auc"

[data]
train = "data/train.parquet"
eval = "data/eval.parquet"
schema = "keel.schema.yaml"

[model]
train = "keel.trainers:gradient_boosting"
params = {{ max_iter = 100, learning_rate = 0.1 }}
seed = 3

[slices]
columns = ["group"]
min_size = 200

[fairness]
sensitive = ["group"]

[registry]
model = "wide-{inputs}"

[gate]
min = {{ roc_auc = 0.70 }}
max_regression = {{ roc_auc = 0.01 }}
"""

TRAIN_ONLY = """
import sys
from keel.system import System
System.from_path(sys.argv[1]).trained
"""


@dataclass
class Run:
    """One width's measurements: per check (status, seconds) and the total wall time."""

    inputs: int
    checks: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    total_s: float = 0.0
    timed_out: list[str] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)


def frame(inputs: int):
    """The seeded table: id, time, group, `inputs` floats and a label that uses five of them."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED + inputs)
    x = rng.normal(0.0, 1.0, (ROWS, inputs))
    seconds = np.sort(rng.uniform(0, 365 * 86_400, ROWS)).astype("int64")
    times = np.datetime64("2025-01-01T00:00:00", "s") + seconds
    logit = (
        1.4 * x[:, 0]
        - 1.1 * x[:, 1]
        + 0.8 * x[:, 2] * x[:, 3]
        + 1.0 * (x[:, 4] > 0.5)
        - 0.4
        + rng.logistic(0.0, 0.6, ROWS)
    )
    columns = {
        "row_id": pa.array(np.arange(ROWS, dtype="int64")),
        "event_time": pa.array(times),
        "group": pa.array(rng.choice(["a", "b", "c"], ROWS, p=[0.5, 0.3, 0.2])),
    }
    for i in range(inputs):
        columns[f"x{i:04d}"] = pa.array(x[:, i])
    columns["label"] = pa.array((logit > 0).astype("int64"))
    return pa.table(columns)


def build(folder: Path, inputs: int) -> None:
    """Write the system of `inputs` inputs into `folder`, unless the same build is there."""
    import pyarrow.parquet as pq

    stamp = folder / ".built"
    if stamp.exists() and stamp.read_text() == BUILD:
        return
    print(f"building {folder.relative_to(HERE.parent)} ...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    table = frame(inputs)
    split = int(ROWS * (1 - EVAL_SHARE))
    pq.write_table(table.slice(0, split), folder / "data" / "train.parquet")
    pq.write_table(table.slice(split), folder / "data" / "eval.parquet")
    (folder / "keel.toml").write_text(KEEL_TOML.format(inputs=inputs))
    (folder / ".gitignore").write_text("data/\n.keel/\n.built\n")
    infer = [sys.executable, "-m", "keel", "schema", "infer", "data/*.parquet"]
    _run([*infer, "--config", "keel.toml", "-o", "keel.schema.yaml"], folder)
    git = ["git", "-c", "user.name=keel-bench", "-c", "user.email=bench@keel.invalid"]
    _run(["git", "init", "-q"], folder)
    _run(["git", "add", "keel.toml", "keel.schema.yaml", ".gitignore"], folder)
    _run([*git, "commit", "-q", "-m", f"wide benchmark system, {inputs} inputs"], folder)
    stamp.write_text(BUILD)


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{done.stderr[-2000:]}")


def timed(command: list[str], timeout: float) -> tuple[float, int | None, str]:
    """Wall time, exit code (None when killed at `timeout`) and stderr of a fresh process.

    The process gets a session of its own so that, on timeout, the workers it started
    (training in subprocesses, joblib pools) are killed with it.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return time.perf_counter() - start, None, ""
    return time.perf_counter() - start, proc.returncode, err


def score(system: Path, out: Path, timeout: float, only: str | None = None) -> tuple[float, dict]:
    """Wall time of one `keel score` and its report ({} when killed at `timeout`)."""
    command = [sys.executable, "-m", "keel", "score", str(system), "--out", str(out)]
    seconds, code, err = timed([*command, *(["--only", only] if only else [])], timeout)
    if code is None:
        return seconds, {}
    if code != 0:
        sys.exit(f"keel score {system} failed ({code}):\n{err[-2000:]}")
    return seconds, json.loads((out / "report.json").read_text())


def measure_full(system: Path, scratch: Path, timeout: float) -> Run:
    """One `keel score` of every check in a fresh process."""
    run = Run(int(system.name.split("-")[1]))
    seconds, report = score(system, scratch / system.name, timeout)
    run.total_s = seconds
    if not report:
        run.checks["keel score (every check)"] = ("killed", None)
        run.timed_out.append("keel score")
        return run
    for p in report["practices"]:
        if p["id"] in report["selected"]:
            run.checks[p["id"]] = (p["status"], p["duration_s"])
    return run


def clear(system: Path, *, keep_model: bool) -> None:
    """Remove the system's .keel/ (cache, registry), or all of it but the trained model."""
    if not keep_model:
        shutil.rmtree(system / ".keel", ignore_errors=True)
        return
    for path in (system / ".keel").glob("*"):
        if path.name != "cache":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in (system / ".keel" / "cache").glob("*"):
        if not path.name.startswith("trained-"):
            path.unlink()


def measure_per_check(
    system: Path, scratch: Path, timeout: float, only: list[str] | None = None
) -> Run:
    """Each automated check (or those in `only`) in its own process, after one that trains."""
    from keel.rubric import PRACTICES

    run = Run(int(system.name.split("-")[1]))
    train_timeout = max(timeout, TRAIN_TIMEOUT_S)  # killed, it would be paid by every check
    seconds, code, err = timed([sys.executable, "-c", TRAIN_ONLY, str(system)], train_timeout)
    if code not in (0, None):
        sys.exit(f"training the model of {system} failed ({code}):\n{err[-2000:]}")
    run.checks["(train the model)"] = ("done", seconds) if code == 0 else ("killed", None)
    if code is None:
        print(f"  training was killed after {train_timeout:.0f} s", flush=True)
    run.total_s += seconds
    if code is None:
        run.timed_out.append("(train the model)")
    for practice in [p.id for p in PRACTICES if p.check and (only is None or p.id in only)]:
        seconds, report = score(system, scratch / system.name / practice, timeout, practice)
        run.total_s += seconds
        print(f"  {practice}: {seconds:.1f} s", flush=True)
        if not report:
            run.checks[practice] = ("killed", None)
            run.timed_out.append(practice)
            continue
        found = next(p for p in report["practices"] if p["id"] == practice)
        run.checks[practice] = (found["status"], found["duration_s"])
    return run


def table(runs: list[Run], timeout: float) -> None:
    """The Markdown table: one row per check, status and seconds per width."""
    names = list(dict.fromkeys(name for run in runs for name in run.checks))
    print("| check | " + " | ".join(f"{r.inputs:,} inputs | (s)" for r in runs) + " |")
    print("| --- | " + " | ".join("--- | ---:" for _ in runs) + " |")
    for name in names:
        cells = []
        for r in runs:
            status, seconds = r.checks.get(name, ("", None))
            if status == "killed":
                cells.append(f"killed | over {timeout:.0f}")
            else:
                cells.append(f"{status} | {'' if seconds is None else f'{seconds:.2f}'}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"| **{r.total_s:.1f}**" for r in runs)
    print(f"| **total, processes included** | {totals} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default=",".join(map(str, WIDTHS)), help="widths to run")
    parser.add_argument("--per-check", action="store_true", help="one process per check")
    parser.add_argument("--timeout", type=float, help="seconds before a process is killed")
    parser.add_argument("--keep-out", action="store_true", help="keep the reports' folder")
    parser.add_argument("--only", help="with --per-check: these checks only (comma-separated)")
    parser.add_argument(
        "--keep-model",
        action="store_true",
        help="reuse the model an earlier run trained, if still valid (not a full-run figure)",
    )
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.inputs.split(",")]
    timeout = args.timeout or (CHECK_TIMEOUT_S if args.per_check else FULL_TIMEOUT_S)
    only = args.only.split(",") if args.only else None
    if args.per_check:

        def measure(system: Path, scratch: Path, timeout: float) -> Run:
            return measure_per_check(system, scratch, timeout, only)

    else:
        measure = measure_full

    scratch = Path(tempfile.mkdtemp(prefix="keel-bench-wide-"))
    runs: list[Run] = []
    try:
        for inputs in widths:
            system = DATA / f"wide-{inputs}"
            build(system, inputs)
            clear(system, keep_model=args.keep_model)
            before = os.getloadavg()[0]
            print(f"scoring {system.relative_to(HERE.parent)} ...", flush=True)
            run = measure(system, scratch, timeout)
            run.load = (before, os.getloadavg()[0])
            runs.append(run)
    finally:
        if args.keep_out:
            print(f"reports kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    table(runs, timeout)
    mode = "one process per check" if args.per_check else "one `keel score` process"
    for r in runs:
        print(
            f"\n{r.inputs:,} inputs ({mode}): {r.total_s:.1f} s; "
            f"1-minute load average {r.load[0]:.2f} before, {r.load[1]:.2f} after"
        )
    print()
    judged = [r for r in runs if r.inputs == TARGET_INPUTS]
    if not judged:
        print(f"SKIP  the target (no run at {TARGET_INPUTS:,} inputs)")
        return 0
    r = judged[0]
    killed = f", killed: {', '.join(r.timed_out)}" if r.timed_out else ""
    ok = r.total_s < LIMIT_S and not r.timed_out
    print(
        f"{'PASS' if ok else 'FAIL'}  full score at {TARGET_INPUTS:,} inputs under "
        f"{LIMIT_S:.0f} s ({r.total_s:.1f} s{killed})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
