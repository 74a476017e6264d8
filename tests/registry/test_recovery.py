"""`keel train` killed or interrupted mid-training: nothing is left stuck or orphaned.

Real `keel train` processes on a real system, with a training function that announces that it
started and then sleeps; the test kills it (SIGKILL) or interrupts it (SIGINT, as Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from systems import HGB_TRAIN, binary_frame, write_system

from keel.registry.store import sqlite_file, tracking_uri

SLOW_TRAIN = (
    HGB_TRAIN.replace("def train(", "def _fit(")
    + """

import time
from pathlib import Path


def train(frame, target, params, seed):
    Path(__file__).with_name("training-started").write_text("yes")
    time.sleep(300)
    return _fit(frame, target, params, seed)
"""
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start_train(root: Path, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "keel", "train", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_training(root: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not (root / "training-started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "keel train never started training"
        time.sleep(0.2)


def client_of(root: Path):
    from mlflow import MlflowClient

    uri = tracking_uri("sqlite:///.keel/mlflow.db", root)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def train_runs(root: Path) -> list:
    client = client_of(root)
    experiment = client.get_experiment_by_name("keel/test-system")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def artefact_folder(run) -> Path:
    return Path(run.info.artifact_uri.removeprefix("file://")).parent


@pytest.fixture
def slow_system(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "system"
    write_system(root, binary_frame(400), binary_frame(200, seed=1), code=SLOW_TRAIN)
    temp = tmp_path / "tmp"
    temp.mkdir()
    return root, temp


def test_a_training_killed_with_sigkill_is_cleaned_up_by_the_next_keel_train(slow_system):
    root, temp = slow_system
    proc = start_train(root, temp)
    wait_for_training(root, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    [stuck] = train_runs(root)
    assert stuck.info.status == "RUNNING"  # what kill -9 leaves behind
    assert stuck.data.tags["keel.pid"] == str(proc.pid)
    assert artefact_folder(stuck).is_dir()  # keel.toml was logged when the run started
    assert [p.name.split("-")[2] for p in temp.glob("keel-model-*")] == [str(proc.pid)]

    write_system(root, binary_frame(400), binary_frame(200, seed=1))  # a training that ends
    (root / "training-started").unlink()
    again = start_train(root, temp)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "registered test-system version 1" in out
    runs = {r.info.run_id: r for r in train_runs(root)}
    old = runs[stuck.info.run_id]
    assert old.info.status == "FAILED"
    assert f"process {proc.pid}" in old.data.tags["keel.abandoned"]
    assert not artefact_folder(old).exists()
    assert not list(temp.glob(f"keel-model-{proc.pid}-*"))
    [new] = [r for r in runs.values() if r.info.run_id != stuck.info.run_id]
    assert new.info.status == "FINISHED" and artefact_folder(new).is_dir()


def test_ctrl_c_during_training_says_interrupted_and_ends_the_run_as_killed(slow_system):
    root, temp = slow_system
    proc = start_train(root, temp)
    wait_for_training(root, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted" in err
    [run] = train_runs(root)
    assert run.info.status == "KILLED"
    assert not artefact_folder(run).exists()
    assert not list(temp.glob("keel-model-*"))
    assert sqlite_file(tracking_uri("sqlite:///.keel/mlflow.db", root)).exists()
