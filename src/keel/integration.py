"""The whole pipeline on a sample, end to end, into a scratch registry (infra.3).

Load, validate against the schema, build features, train, evaluate, register in a registry of
its own in a temporary folder, serve the registered version from a fresh process (the real
`keel serve` app on a free loopback port), send it the raw evaluation rows over HTTP, and compare
what it served with the predictions made offline in this process. Nothing of the user's cache,
registry or prediction log is touched.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keel.model.importance import sample_rows
from keel.system import System

SAMPLE_ROWS = 5_000
EVAL_ROWS = 1_000
# On wide data the training sample shrinks to at most MAX_CELLS cells (rows × raw columns),
# never under MIN_ROWS rows: the stages are what is tested here, not the model's quality.
MAX_CELLS = 1_000_000
MIN_ROWS = 500


def training_rows(columns: int) -> int:
    """Training rows of the sample for data with this many raw columns."""
    return min(SAMPLE_ROWS, max(MIN_ROWS, MAX_CELLS // max(columns, 1)))


FRESH_PROCESS_TIMEOUT_S = 300


@dataclass
class Step:
    """One stage of the pipeline run: its name, outcome, time and what it found."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class PipelineRun:
    """The steps of one integration run and the comparison of served with offline output."""

    steps: list[Step] = field(default_factory=list)
    max_difference: float | None = None
    rows: int = 0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


def _step(run: PipelineRun, name: str, action: Callable[[], tuple[Any, str]]) -> Any:
    start = time.perf_counter()
    try:
        value, detail = action()
    except Exception as exc:  # each stage's failure is the evidence
        run.steps.append(
            Step(name, False, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
        )
        return None
    run.steps.append(Step(name, True, time.perf_counter() - start, detail))
    return value


def run_pipeline(system: System) -> PipelineRun:
    """Run every stage on a sample of the system's data (see the module docstring)."""
    from keel.data.schema import load_schema, validate
    from keel.training import train_and_register

    run = PipelineRun()
    seed = system.config.model.seed
    with tempfile.TemporaryDirectory(prefix="keel-infra3-") as scratch:
        folder = Path(scratch)

        def load():
            train, evaluation = system.raw("train"), system.raw("eval")
            rows = training_rows(train.shape[1])
            t = train.iloc[sample_rows(len(train), rows, seed=seed)]
            e = evaluation.iloc[sample_rows(len(evaluation), EVAL_ROWS, seed=seed)]
            why = f" (at most {MAX_CELLS:,} cells on {train.shape[1]:,} columns)"
            return (t, e), f"{len(t)} training and {len(e)} evaluation rows sampled" + (
                why if rows < SAMPLE_ROWS else ""
            )

        loaded = _step(run, "load", load)
        if loaded is None:
            return run
        train, evaluation = loaded
        sample = system.with_data(train, evaluation, registry_uri=f"sqlite:///{folder}/mlflow.db")
        run.rows = len(evaluation)

        def check_schema():
            path = system.root / system.config.data.schema_file
            if not path.exists():  # never a pass: validation did not run
                raise FileNotFoundError(f"no schema file {path.name} ([data] schema)")
            schema = load_schema(path)
            problems = validate(train, schema) + validate(evaluation, schema)
            if problems:
                raise ValueError(f"{len(problems)} anomalies, e.g. {problems[0].message}")
            return True, f"conforms to {path.name}"

        if _step(run, "validate", check_schema) is None:
            return run
        if _step(run, "build features", lambda: (sample.dataset("train"), "ok")) is None:
            return run
        trained = _step(
            run,
            "train and evaluate",
            lambda: (sample.trained, f"{sample.metric_name} {sample.trained.metric:.4f}"),
        )
        if trained is None:
            return run
        version = _step(
            run, "register", lambda: ((v := train_and_register(sample)), f"version {v.version}")
        )
        if version is None:
            return run
        features = sample.config.system
        served_raw = evaluation.drop(columns=[features.target], errors="ignore")

        def serve():
            from keel.serve.process import json_rows, predict_over_http, serve_version, served_frame
            from keel.training import registry_ref

            schema_file = system.root / system.config.data.schema_file
            with serve_version(
                registry_ref(sample),
                version.version,
                schema_file,
                id_column=features.id,
                timeout=FRESH_PROCESS_TIMEOUT_S,
            ) as server:
                answers = predict_over_http(server.url, json_rows(served_raw))
            return served_frame(answers), (
                "served over HTTP by a fresh `keel serve` process on "
                + server.url.removeprefix("http://")
            )

        served = _step(run, "serve over HTTP from a fresh process", serve)
        if served is None:
            return run

        def compare():
            offline = sample.predict(trained.estimator, sample.inputs(evaluation))
            same_labels = bool(
                np.array_equal(served["prediction"].to_numpy(), np.asarray(offline.labels))
            )
            differences = [0.0]
            if offline.proba is not None and offline.classes is not None:
                columns = [f"proba_{c}" for c in offline.classes]
                missing = [c for c in columns if c not in served.columns]
                if missing:
                    raise ValueError(f"served output lacks {', '.join(missing)}")
                online = served[columns].to_numpy(dtype=float)
                differences.append(float(np.max(np.abs(online - offline.proba))))
            run.max_difference = max(differences)
            if not same_labels or run.max_difference > 1e-12:
                raise ValueError(
                    f"served output differs from offline: labels equal {same_labels}, largest "
                    f"difference {run.max_difference:.3g}"
                )
            return True, f"identical on {len(evaluation)} rows"

        _step(run, "compare served with offline", compare)
    return run
