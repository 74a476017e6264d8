"""What infra.1 and infra.2 measure on a System.

`reproduce` trains the system twice, side by side, each in a fresh process
(`python -m keel.checks._training_process CONFIG SAMPLE OUT`: it builds the System from
keel.toml without the cache and runs `keel.model.reproduce.train_once`), and compares the two
with `keel.model.reproduce.compare`. `smoke` runs `keel.model.smoke.smoke_test` with the
system's training rows, schema, feature and training code, cached by the system's state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from keel.data.schema import load_schema
from keel.errors import CheckError
from keel.model import reproduce as model_reproduce
from keel.model import smoke as model_smoke
from keel.system import System

TIMEOUT_S = 900  # per training process
CHILD = "keel.checks._training_process"


def _start(system: System, sample: int, out: Path) -> subprocess.Popen[str]:
    import keel

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **model_reproduce.shared_cores(os.environ)}
    source = str(Path(keel.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        "-m",
        CHILD,
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


def _finish(process: subprocess.Popen[str], out: Path, which: int) -> model_reproduce.Run:
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
    return model_reproduce.Run(**data)


def reproduce(system: System) -> model_reproduce.Reproduction:
    """Train twice in fresh processes from the same inputs and compare the results."""
    if system.config_file is None:
        raise CheckError("infra.1 needs the system's keel.toml to start fresh training processes")
    cfg = system.config.reproducibility
    start = time.perf_counter()
    inputs = system.dataset("train").inputs.shape[1]
    sample, bounded = model_reproduce.bounded_sample(cfg.sample, inputs)
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
    found = model_reproduce.compare(
        runs,
        first,
        second,
        seed=system.config.model.seed,
        max_prediction_difference=cfg.max_prediction_difference,
        max_metric_difference=cfg.max_metric_difference,
    )
    found.bounded = bounded
    found.seconds = time.perf_counter() - start
    return found


def _trained_model(system: System) -> Any:
    """The system's model trained on its training data: the shared one, or, when evaluating
    it failed (the evaluation is not what is tested here), the same training again."""
    try:
        return system.trained.estimator
    except Exception:  # reported by the checks that evaluate; the estimator is still wanted
        train = system.dataset("train")
        return system.fit(train.inputs, train.target)


def smoke_test(system: System) -> model_smoke.Smoke:
    """Train the system's model on rows synthesised from its schema (or like its training
    rows) and check its predictions; probe its trained model with the edge rows."""
    name = system.config.data.schema_file
    path = system.root / name
    features = load_schema(path).features if path.exists() else None
    source = f"schema {name}" if features else f"the training data (no schema file {name})"
    return model_smoke.smoke_test(
        system.raw("train"),
        build=system.inputs,
        fit=system.fit,
        predict=system.predict,
        trained=lambda: _trained_model(system),
        target=system.target,
        task=system.task,
        seed=system.config.model.seed,
        rows=system.config.smoke.rows,
        schema_features=features,
        source=source,
        id_column=system.config.system.id,
    )


def smoke(system: System) -> model_smoke.Smoke:
    """The smoke test of a system, cached by its state and the [smoke] settings."""
    return system.cached(
        "smoke", lambda: smoke_test(system), system.config.smoke.model_dump(mode="json"), "edge"
    )
