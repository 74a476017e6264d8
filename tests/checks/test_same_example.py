"""monitor.3 part (d): served rows joined by id with the training rows of the same example,
on the local engine and on Spark, with the same verdicts."""

from __future__ import annotations

import pytest
from served_logs import serve
from systems import MONITORED_FEATURES, binary_frame

from keel.checks.monitor import monitor_3


@pytest.fixture(params=["local", "spark"])
def engine(request):
    if request.param == "spark":
        request.getfixturevalue("spark")  # the shared local[2] session
    return request.param


def _system(make_system, engine):
    train = binary_frame(1500)
    train.insert(0, "app_id", [f"t{i}" for i in range(len(train))])
    sections = {
        "system": {"id": "app_id"},
        "model": {"features": "feats:build"},
        "engine": {"kind": engine, **({"master": "local[2]"} if engine == "spark" else {})},
    }
    held_out = binary_frame(400, seed=1)
    held_out.insert(0, "app_id", [f"e{i}" for i in range(len(held_out))])
    system = make_system(train, held_out, sections=sections, files={"feats.py": MONITORED_FEATURES})
    return system, train


def _records(frame, day, ids, *, changed=()):
    out = []
    for i, (row, example) in enumerate(zip(frame.itertuples(), ids, strict=True)):
        x2 = float(row.x2) + (1.0 if example in changed else 0.0)
        inputs = {"x1": float(row.x1), "x2": x2, "group": row.group}
        out.append(
            {
                "example_id": example,
                "time": f"2026-11-{day:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00",
                "model_version": 1,
                "inputs": inputs,
                "model_inputs": {**inputs, "x1_x2": float(row.x1) * x2},
                "prediction": int(row.y),
                "latency_seconds": 0.002,
                "anomalies": [],
            }
        )
    return out


def _served(system, train, *, changed=(), overlap=True):
    day1 = binary_frame(300, seed=5)
    serve(system, _records(day1, 1, [f"n{i}" for i in range(300)]))
    rows = train.iloc[:300]
    ids = list(rows["app_id"]) if overlap else [f"m{i}" for i in range(300)]
    serve(system, _records(rows, 2, ids, changed=set(changed)))


pytestmark = pytest.mark.spark


def test_served_values_other_than_the_training_row_of_the_same_id_fail_monitor_3(
    make_system, engine
):
    system, train = _system(make_system, engine)
    changed = [f"t{i}" for i in range(0, 300, 10)]  # 30 of 300 served examples: x2 + 1
    _served(system, train, changed=changed)
    e = monitor_3(system)
    assert e.status == "fail", e.summary
    assert e.facts["same_example_flagged"] == ["x2"]
    assert e.facts["same_example_compared_rows"] == 300
    assert "x2 in 30 of 300 rows" in e.summary and "look at t0, t10, t100" in e.summary
    assert "same-example:x2" in e.facts["cause"]
    table = e.tables[-1]
    assert {r[0]: r[2] for r in table.rows} == {"x1": 0, "x2": 30, "group": 0}


def test_served_values_equal_to_their_training_rows_pass_and_say_so(make_system, engine):
    system, train = _system(make_system, engine)
    _served(system, train)
    e = monitor_3(system)
    assert e.facts["same_example_flagged"] == [] and e.facts["same_example_compared_rows"] == 300
    assert "300 served example(s) found in the training data" in e.summary, e.summary


def test_no_served_id_in_the_training_data_compares_nothing_and_says_why(make_system, engine):
    system, train = _system(make_system, engine)
    _served(system, train, overlap=False)
    e = monitor_3(system)
    assert e.facts["same_example_compared_rows"] == 0
    assert "no served example id is in the training data" in e.tables[-1].title
    assert "found in the training data" not in e.summary
