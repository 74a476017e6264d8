"""monitor.6's benchmark of registered versions, each timed in its own fresh process.

A version's figures must be its own: a process that loaded another version (or imported the
working tree's feature code) could run that code instead, so a slow version would time as
fast as the one loaded first. `bench_versions` starts one Python process per version; each
loads only its version from the registry, in an empty working folder (nothing of the working
tree on its path), and waits. The rounds still alternate (`keel.monitor.performance.alternate`)
by asking each process in turn for one timed round, so a machine that slows down for a while
slows every version alike and their figures compare.

The processes speak JSON lines on their standard input and output: `{"round": offset}` asks
for one round (answered with its figures), `{"quit": true}` ends it. Anything the model or
MLflow prints goes to standard error, never into the answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import pandas as pd

from keel.errors import KeelError
from keel.monitor.performance import BATCH, BATCH_CALLS, SINGLE_CALLS, alternate
from keel.registry.ref import RegistryRef

__all__ = ["BenchProcessError", "bench_versions"]


class BenchProcessError(KeelError):
    """A version's benchmark process failed (it could not load the version, say)."""


class _Timer:
    """One running benchmark process of one version."""

    def __init__(self, ref: RegistryRef, version: int, rows: Path, folder: Path, batch: int):
        where = {"root": str(Path(ref.root).resolve()), "state": str(Path(ref.state).resolve())}
        setup = {"ref": {**asdict(ref), **where}}
        setup |= {"version": version, "rows": str(rows), "batch": batch}
        self.version = version
        self.log = folder / f"version-{version}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "keel.monitor.bench_apart", json.dumps(setup)],
                cwd=folder,  # never the system's folder: its code is not on this process's path
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(30)
            error = self.log.read_text(errors="replace").strip() if self.log.is_file() else ""
            last = error.splitlines()[-1] if error else f"exit code {self.process.returncode}"
            raise BenchProcessError(f"the benchmark of version {self.version} failed: {last}")
        answer = json.loads(line)
        if "error" in answer:
            raise BenchProcessError(
                f"the benchmark of version {self.version} failed: {answer['error']}"
            )
        return answer

    def ready(self) -> None:
        self._answer()

    def round(self, offset: int, single_calls: int, batch_calls: int) -> dict[str, float]:
        assert self.process.stdin is not None
        ask = {"round": offset, "single_calls": single_calls, "batch_calls": batch_calls}
        self.process.stdin.write(json.dumps(ask) + "\n")
        self.process.stdin.flush()
        return self._answer()["figures"]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"quit": True}) + "\n")
                self.process.stdin.close()
                self.process.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def bench_versions(
    ref: RegistryRef,
    versions: list[int],
    rows: pd.DataFrame,
    *,
    single_calls: int = SINGLE_CALLS,
    batch_calls: int = BATCH_CALLS,
    batch: int = BATCH,
) -> list[dict[str, float]]:
    """`keel.monitor.performance.bench` of each registered version, each loaded and timed in
    its own fresh process, the rounds alternating between them; in the order of `versions`."""
    if rows.empty:
        raise ValueError("the benchmark needs evaluation rows")
    with tempfile.TemporaryDirectory(prefix="keel-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "rows.pkl"
        rows.reset_index(drop=True).to_pickle(path)
        timers = [_Timer(ref, v, path, folder, batch) for v in versions]
        try:
            for timer in timers:
                timer.ready()
            runners = [
                lambda offset, t=t: t.round(offset, single_calls, batch_calls) for t in timers
            ]
            return alternate(
                runners, single_calls=single_calls, batch_calls=batch_calls, batch=batch
            )
        finally:
            for timer in timers:
                timer.close()


def _serve(setup: dict[str, Any], answers: IO[str]) -> None:
    """The benchmark process: load one version, answer each round asked on stdin."""
    from keel.monitor.performance import batch_of, one_round, warm_up
    from keel.registry.artefact import predict_raw
    from keel.registry.versions import load_model

    raw = setup["ref"]
    ref = RegistryRef(
        raw["uri"], Path(raw["root"]), raw["model"], raw["system"], Path(raw["state"])
    )
    model = load_model(ref, int(setup["version"]))
    rows = pd.read_pickle(setup["rows"])
    batch_rows = batch_of(rows, int(setup["batch"]))

    def predict(frame: pd.DataFrame) -> Any:
        return predict_raw(model, frame)

    warm_up(predict, batch_rows)
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in sys.stdin:
        ask = json.loads(line)
        if ask.get("quit"):
            return
        figures = one_round(
            predict,
            rows,
            batch_rows,
            int(ask["round"]),
            int(ask["single_calls"]),
            int(ask["batch_calls"]),
        )
        answers.write(json.dumps({"figures": figures}) + "\n")
        answers.flush()


def main() -> None:
    """Entry point of a benchmark process (`python -m keel.monitor.bench_apart SETUP`)."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # what the model prints never mixes with the answers
    os.dup2(sys.stderr.fileno(), 1)
    try:
        _serve(json.loads(sys.argv[1]), answers)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        first = str(exc).splitlines()[0] if str(exc) else ""
        answers.write(json.dumps({"error": f"{type(exc).__name__}: {first}"}) + "\n")
        answers.flush()
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
