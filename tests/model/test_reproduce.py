import os

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keel.model.reproduce import (
    THREAD_VARIABLES,
    Run,
    causes,
    random_states,
    shared_cores,
)

THREADS = {"openmp threads": 2, "OMP_NUM_THREADS": None}


def run(states: dict, threads: dict | None = None) -> Run:
    return Run(0.8, 1.0, 100, 50, threads or THREADS, states)


def test_random_states_lists_every_step_of_a_pipeline():
    model = make_pipeline(StandardScaler(), RandomForestClassifier(random_state=None))
    assert random_states(model) == {"randomforestclassifier__random_state": None}
    assert random_states(RandomForestClassifier(random_state=3)) == {"random_state": 3}
    assert random_states(object()) == {}


def test_causes_name_unseeded_estimators_and_seeds_not_passed_on():
    seen, risks = causes([run({"a__random_state": None, "b__random_state": 42})] * 2, seed=7)
    assert seen[0] == "unseeded estimator: a__random_state=None"
    assert "does not pass [model] seed = 7 on: b__random_state=42" in seen[1]
    assert risks == seen


def test_causes_name_thread_counts_that_differ():
    first, second = run({}), run({}, {"openmp threads": 1, "OMP_NUM_THREADS": "1"})
    seen, risks = causes([first, second], seed=0)
    assert seen == [
        "thread counts differ between the processes (OMP_NUM_THREADS: None vs 1; "
        "openmp threads: 2 vs 1)"
    ]
    assert risks == []


def test_bins_sum_to_one():
    from keel.model.reproduce import _bins

    shares = _bins(np.array([0.0, 0.0, 1e-10, 0.5]))
    assert shares["identical"] == 0.5 and shares["≤ 1e-09"] == 0.25 and shares["> 0.001"] == 0.25
    assert sum(shares.values()) == pytest.approx(1.0)


def test_wide_data_bounds_the_training_sample_and_says_why():
    from keel.model.reproduce import MAX_CELLS, bounded_sample

    assert bounded_sample(20_000, 10) == (20_000, "")  # narrow data: the configured sample
    rows, why = bounded_sample(20_000, 2_000)
    assert rows == MAX_CELLS // 2_000 < 20_000
    assert f"sampled to {rows:,} rows (2,000 model inputs" in why
    assert "[reproducibility] sample = 20,000" in why
    assert bounded_sample(20_000, 1_000_000)[0] == 1_000  # never fewer than 1,000 rows


def test_the_two_training_processes_share_the_cores_unless_the_user_set_threads():
    cpus = len(os.sched_getaffinity(0))
    shared = shared_cores({})
    assert set(shared) == set(THREAD_VARIABLES)
    assert all(value == str(max(1, cpus // 2)) for value in shared.values())
    assert "OMP_NUM_THREADS" not in shared_cores({"OMP_NUM_THREADS": "3"})
