"""`keel train` and `keel score` run the user's training with BLAS/OpenMP limited to one
thread (as `keel serve` does), unless the user set the thread count; the caller's environment
is as it was afterwards."""

from __future__ import annotations

import json
import os

import pytest
from systems import HGB_TRAIN, binary_frame, write_system
from threadpoolctl import threadpool_info
from typer.testing import CliRunner

from keel.cli import app
from keel.cli._threads import THREAD_VARIABLES, one_thread

# The training module records the thread settings it runs under, then trains as usual.
RECORDING_TRAIN = (
    HGB_TRAIN
    + """
import json, os
from threadpoolctl import threadpool_info

_fit = train


def train(frame, target, params, seed):
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    seen = {
        "env": {name: os.environ.get(name) for name in names},
        "pools": [pool["num_threads"] for pool in threadpool_info()],
    }
    with open(os.environ["SYSMODEL_THREADS"], "w") as out:
        json.dump(seen, out)
    return _fit(frame, target, params, seed)
"""
)


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """(system folder, the file its training writes what it saw to); no thread variable set."""
    for name in (*THREAD_VARIABLES, "KEEL_ONE_THREAD"):
        monkeypatch.delenv(name, raising=False)
    file = tmp_path / "threads.json"
    monkeypatch.setenv("SYSMODEL_THREADS", str(file))
    write_system(tmp_path / "s", binary_frame(300), binary_frame(200, seed=1), code=RECORDING_TRAIN)
    return tmp_path / "s", file


@pytest.mark.parametrize("command", [["train"], ["score", "--only", "model.5", "--no-cache"]])
def test_the_training_runs_with_one_blas_and_openmp_thread(recorded, command):
    folder, file = recorded
    result = CliRunner().invoke(app, [*command, str(folder)])
    assert result.exit_code in (0, 1), result.output
    seen = json.loads(file.read_text())
    assert seen["env"] == dict.fromkeys(THREAD_VARIABLES, "1")
    assert seen["pools"] and set(seen["pools"]) == {1}
    assert not any(name in os.environ for name in THREAD_VARIABLES)  # put back afterwards


def test_a_thread_count_the_user_set_is_kept(recorded, monkeypatch):
    folder, file = recorded
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    result = CliRunner().invoke(app, ["train", str(folder)])
    assert result.exit_code == 0, result.output
    seen = json.loads(file.read_text())
    assert seen["env"] == {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": None,
                           "MKL_NUM_THREADS": None}  # fmt: skip
    assert os.environ["OMP_NUM_THREADS"] == "2"


def test_one_thread_limits_loaded_pools_and_restores_them(monkeypatch):
    for name in (*THREAD_VARIABLES, "KEEL_ONE_THREAD"):
        monkeypatch.delenv(name, raising=False)
    import numpy  # noqa: F401  (a BLAS pool is loaded)

    before = [pool["num_threads"] for pool in threadpool_info()]
    with one_thread() as limited:
        assert limited
        assert {pool["num_threads"] for pool in threadpool_info()} == {1}
    assert [pool["num_threads"] for pool in threadpool_info()] == before
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    with one_thread() as limited:
        assert not limited and os.environ["MKL_NUM_THREADS"] == "3"


def test_train_score_and_monitor_run_under_the_limit():
    from keel.cli._threads import limits_threads
    from keel.cli.monitor import monitor
    from keel.cli.registry import train
    from keel.cli.score import score

    wrapper = limits_threads(lambda: None).__code__
    for command in (train, score, monitor):
        chain = [command]
        while hasattr(chain[-1], "__wrapped__"):
            chain.append(chain[-1].__wrapped__)
        assert wrapper in [f.__code__ for f in chain], command.__name__
