"""Ctrl-C during `keel score`: it says "interrupted", exits 130 and leaves no temporary folder."""

import os
import signal
import subprocess
import sys
import time

import pytest
from systems import HGB_TRAIN, binary_frame, write_system

from keel.data.commands import infer_path
from keel.data.schema import write_schema

SLOW_TRAIN = (
    HGB_TRAIN
    + """
import time

_fit = train


def train(frame, target, params, seed):
    time.sleep(1.5)
    return _fit(frame, target, params, seed)
"""
)


@pytest.mark.parametrize("practice", ["infra.1", "infra.3"])
def test_ctrl_c_during_score_says_interrupted_and_cleans_up(tmp_path, practice):
    path = write_system(tmp_path / "system", binary_frame(400), code=SLOW_TRAIN)
    schema = infer_path(str(path.parent / "data" / "train.parquet"), target="y")
    write_schema(schema, path.parent / "keel.schema.yaml")  # infra.3 validates with it
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    process = subprocess.Popen(
        [sys.executable, "-m", "keel", "score", str(path), "--only", practice, "--no-cache"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.startswith("keel-") for p in scratch.iterdir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the check never made its temporary folder"
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert [p.name for p in scratch.iterdir() if p.name.startswith("keel-")] == []
    assert not (tmp_path / "system" / ".keel" / "report.json").exists()
