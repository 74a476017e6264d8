"""Whether training is reproducible (infra.1): the same inputs, trained twice in fresh processes.

Two processes, `python -m keel.model.reproduce CONFIG SAMPLE OUT`, started side by side, each
build the System from keel.toml without the cache, train the user's model on the same seeded
sample of at most [reproducibility] sample training rows, and predict the same seeded sample of
at most as many evaluation rows. Each writes its predictions (class probabilities for
classifiers, else the predicted values) to `OUT/predictions.npy`, and to `OUT/run.json` what it
can tell about itself: the metric, the training time, its thread pools (threadpoolctl and the
`*_NUM_THREADS` variables) and every `random_state` parameter of the fitted model.

Compared: the largest absolute difference of the two processes' predictions, the share of
rows whose predictions differ by more than `max_prediction_difference`, and the difference of
the primary metric. When they differ, the causes Keel can see are named:

    unseeded estimator     a `random_state` parameter left None (pipeline steps included)
    seed not passed on     a `random_state` other than [model] seed
    threads                the two processes ran with different thread counts
    otherwise              randomness outside the model's parameters: `numpy.random` or
                           `random` without a seed, iteration over sets (string hashing is
                           salted per process), the order of rows read
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keel.errors import CheckError, KeelError
from keel.system import System

TIMEOUT_S = 900  # per training process
# Training cells (rows × model inputs) each process trains on at most: on wide data the sample
# shrinks below [reproducibility] sample (never under MIN_ROWS rows), and the evidence says so.
MAX_CELLS = 4_000_000
MIN_ROWS = 1_000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DIFFERENCE_BINS = (1e-12, 1e-9, 1e-6, 1e-3)  # upper edges of the |difference| histogram


@dataclass
class Run:
    """What one training process reported."""

    metric: float
    seconds: float
    rows: int
    eval_rows: int
    threads: dict[str, Any]
    random_states: dict[str, Any]


@dataclass
class Reproduction:
    """Two trainings from the same inputs, compared."""

    runs: list[Run]
    seed: int
    max_difference: float
    differing_share: float
    metric_difference: float
    bins: dict[str, float]  # share of rows by |difference|
    causes: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)  # latent: unseeded, but identical this time
    seconds: float = 0.0
    bounded: str = ""  # why fewer rows than [reproducibility] sample were used, if so


def random_states(estimator: Any) -> dict[str, Any]:
    """Every `random_state` parameter of a fitted model and its steps, as plain values."""
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    try:
        params = get_params(deep=True)
    except Exception:
        return {}
    found = {}
    for key, value in params.items():
        if key == "random_state" or key.endswith("__random_state"):
            found[key] = value if value is None or isinstance(value, int) else repr(value)
    return found


def thread_settings() -> dict[str, Any]:
    """This process's thread pools and thread-count environment variables."""
    from threadpoolctl import threadpool_info

    found: dict[str, Any] = {
        f"{pool['internal_api']} threads": pool["num_threads"] for pool in threadpool_info()
    }
    for name in THREAD_VARIABLES:
        found[name] = os.environ.get(name)
    found["cpus available"] = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    return found


def _train_once(config_file: str, sample: int, out: Path) -> None:
    """One training process: train on the sample, predict, write predictions and run.json."""
    from keel.model.importance import sample_rows

    system = System.from_path(config_file, use_cache=False)
    seed = system.config.model.seed
    # all evaluation rows, less those the parent found the model raises on: asking the System
    # for its predictable rows would train the full model again in this process
    train, evaluation = system.dataset("train"), system.dataset("eval", all_rows=True)
    left_out = out / "unpredictable.npy"
    keep = np.ones(len(evaluation.inputs), dtype=bool)
    if left_out.exists():
        keep[np.load(left_out)] = False
    eval_rows = np.flatnonzero(keep)[sample_rows(int(keep.sum()), sample, seed=seed)]
    rows = sample_rows(len(train.inputs), sample, seed=seed)
    start = time.perf_counter()
    estimator = system.fit(train.inputs.iloc[rows], train.target.iloc[rows])
    seconds = time.perf_counter() - start
    predictions = system.predict(estimator, evaluation.inputs.iloc[eval_rows])
    metric = system.evaluate(evaluation.target.iloc[eval_rows], predictions)
    values = predictions.proba if predictions.proba is not None else predictions.labels
    values = np.asarray(values)
    np.save(out / "predictions.npy", values if values.dtype != object else values.astype(str))
    run = {
        "metric": metric,
        "seconds": seconds,
        "rows": len(rows),
        "eval_rows": len(eval_rows),
        "threads": thread_settings(),
        "random_states": random_states(estimator),
    }
    (out / "run.json").write_text(json.dumps(run, default=repr))


def _shared_cores(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """Thread counts for each of the two processes trained side by side: half the cores each,
    unless the user set them. Two OpenMP pools each as wide as the machine spin against each
    other (HistGradientBoosting at 2,000 inputs trained 6x slower that way on 2 cores)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = str(max(1, (cpus or 1) // 2))
    return {name: share for name in THREAD_VARIABLES if not environ.get(name)}


def _start(system: System, sample: int, out: Path) -> subprocess.Popen[str]:
    import keel

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **_shared_cores(os.environ)}
    source = str(Path(keel.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        "-m",
        "keel.model.reproduce",
        str(Path(system.config_file).resolve()),
        str(sample),
        str(out),
    ]
    return subprocess.Popen(
        command,
        cwd=system.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str], out: Path, which: int) -> Run:
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise CheckError(f"training process {which} did not finish within {TIMEOUT_S} s") from None
    if process.returncode != 0 or not (out / "run.json").exists():
        tail = "\n".join(output.strip().splitlines()[-8:])
        raise CheckError(
            f"training process {which} failed (exit status {process.returncode}): {tail}"
        )
    data = json.loads((out / "run.json").read_text())
    return Run(**data)


def _bins(difference: np.ndarray) -> dict[str, float]:
    """The share of rows by how much their two predictions differ."""
    n = max(len(difference), 1)
    shares = {"identical": float(np.sum(difference == 0)) / n}
    low = 0.0
    for high in DIFFERENCE_BINS:
        shares[f"≤ {high:g}"] = float(np.sum((difference > low) & (difference <= high))) / n
        low = high
    shares[f"> {low:g}"] = float(np.sum(difference > low)) / n
    return shares


def bin_beyond(label: str, limit: float) -> bool:
    """Whether the rows of a bin of `Reproduction.bins` (by its label) differ beyond `limit`."""
    if label == "identical":
        return False
    bound = float(label.split()[-1])
    return bound > limit if label.startswith("≤") else True


def _row_differences(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    if first.shape != second.shape:
        raise CheckError(
            f"the two trainings predicted different shapes: {first.shape} and {second.shape}"
        )
    if first.dtype.kind in "fiub" and second.dtype.kind in "fiub":
        diff = np.abs(first.astype(float) - second.astype(float))
        diff = np.where(np.isnan(first.astype(float)) & np.isnan(second.astype(float)), 0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)
    else:  # labels: differ or not
        diff = np.where(first == second, 0.0, np.inf)
    return diff.reshape(len(diff), -1).max(axis=1) if diff.size else np.zeros(len(diff))


def causes(runs: list[Run], seed: int) -> tuple[list[str], list[str]]:
    """(what the runs show could make training differ, what was fine but is a risk)."""
    states = runs[0].random_states
    unseeded = [k for k, v in states.items() if v is None]
    other = [f"{k}={v}" for k, v in states.items() if isinstance(v, int) and v != seed]
    seen = []
    if unseeded:
        seen.append(f"unseeded estimator: {', '.join(f'{k}=None' for k in unseeded)}")
    if other:
        seen.append(
            f"the training function does not pass [model] seed = {seed} on: {', '.join(other)}"
        )
    if runs[0].threads != runs[1].threads:
        changed = [
            f"{k}: {runs[0].threads.get(k)} vs {runs[1].threads.get(k)}"
            for k in sorted(set(runs[0].threads) | set(runs[1].threads))
            if runs[0].threads.get(k) != runs[1].threads.get(k)
        ]
        seen.append(f"thread counts differ between the processes ({'; '.join(changed)})")
    return seen, [s for s in seen if not s.startswith("thread")]


def bounded_sample(sample: int, inputs: int) -> tuple[int, str]:
    """The training rows each process uses: [reproducibility] sample, bounded to MAX_CELLS
    training cells on wide data; with why, when bounded."""
    rows = max(MIN_ROWS, MAX_CELLS // max(inputs, 1))
    if rows >= sample:
        return sample, ""
    return rows, (
        f"sampled to {rows:,} rows ({inputs:,} model inputs; at most {MAX_CELLS:,} training "
        f"cells per process, below [reproducibility] sample = {sample:,})"
    )


def reproduce(system: System) -> Reproduction:
    """Train twice in fresh processes from the same inputs and compare the results."""
    if system.config_file is None:
        raise CheckError("infra.1 needs the system's keel.toml to start fresh training processes")
    cfg = system.config.reproducibility
    seed = system.config.model.seed
    start = time.perf_counter()
    sample, bounded = bounded_sample(cfg.sample, system.dataset("train").inputs.shape[1])
    with tempfile.TemporaryDirectory(prefix="keel-reproduce-") as tmp:
        outs = [Path(tmp) / "first", Path(tmp) / "second"]
        try:
            unpredictable = getattr(system, "unpredictable", None)
        except Exception:  # training fails here too: the two processes report how
            unpredictable = None
        for out in outs:
            out.mkdir()
            if unpredictable is not None:
                np.save(out / "unpredictable.npy", np.asarray(unpredictable.rows, dtype=np.int64))
        processes = [_start(system, sample, out) for out in outs]
        try:
            runs = [
                _finish(p, out, i + 1)
                for i, (p, out) in enumerate(zip(processes, outs, strict=True))
            ]
        finally:  # stop the other process when one fails, and close every pipe
            for p in processes:
                if p.poll() is None:
                    p.kill()
                if p.stdout is not None and not p.stdout.closed:
                    p.communicate()
        first, second = (np.load(out / "predictions.npy") for out in outs)
    difference = _row_differences(first, second)
    limit = cfg.max_prediction_difference
    metric_difference = abs(runs[0].metric - runs[1].metric)
    if np.isnan(metric_difference):
        metric_difference = 0.0 if np.isnan(runs[0].metric) and np.isnan(runs[1].metric) else np.inf
    found = Reproduction(
        runs=runs,
        seed=seed,
        max_difference=float(difference.max()) if difference.size else 0.0,
        differing_share=float(np.mean(difference > limit)) if difference.size else 0.0,
        metric_difference=float(metric_difference),
        bins=_bins(difference),
        bounded=bounded,
    )
    seen, risks = causes(runs, seed)
    identical = (
        found.max_difference <= limit and found.metric_difference <= cfg.max_metric_difference
    )
    if identical:
        found.risks = risks
    else:
        found.causes = seen or [
            "randomness outside the model's parameters: numpy.random or random without a seed, "
            "iteration over sets or dict keys built from them (string hashing is salted per "
            "process), or the order in which rows are read"
        ]
    found.seconds = time.perf_counter() - start
    return found


if __name__ == "__main__":
    try:
        _train_once(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
    except KeelError as exc:  # the message is for the user; a traceback only for a Keel bug
        print(exc, file=sys.stderr)
        sys.exit(1)
