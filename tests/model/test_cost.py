import math
import time

import numpy as np
import pandas as pd
import pytest
from systems import binary_frame

from keel.model.cost import (
    Measured,
    best_time,
    cost_floor,
    held_constant,
    judge_costs,
    measure_costs,
    time_inputs,
    time_variants,
)


def test_held_constant_uses_the_value_nearest_the_median_and_keeps_the_dtype():
    values = pd.Series([5, 1, 3, 2, 100], index=[10, 11, 12, 13, 14], dtype="int32")
    held = held_constant(values)
    assert held.tolist() == [3] * 5
    assert held.dtype == "int32"
    assert list(held.index) == list(values.index)


def test_held_constant_uses_the_most_common_category():
    values = pd.Series(pd.Categorical(["b", None, "a", "b", "c"]))
    held = held_constant(values)
    assert held.tolist() == ["b"] * 5
    assert isinstance(held.dtype, pd.CategoricalDtype)
    text = pd.Series(["x", "y", "y", None], dtype="str")
    assert held_constant(text).tolist() == ["y"] * 4


def test_held_constant_leaves_a_column_without_values_alone():
    values = pd.Series([np.nan, np.nan])
    assert held_constant(values) is values


def measured(**held: float) -> Measured:
    return Measured(
        latency_rows=1000,
        predict_seconds=1.0,
        held_seconds=held,
        memory_rows=10,
        bytes_per_row={name: 8.0 for name in held},
    )


def test_latency_shares_are_the_time_saved_holding_an_input_constant():
    m = measured(a=0.7, b=0.9, c=1.2, d=0.97)
    assert m.latency_share("a") == pytest.approx(0.3)
    assert m.latency_share("b") == pytest.approx(0.1)
    assert m.latency_share("c") == 0.0  # slower when held: clipped
    assert m.latency_share("d") == 0.0  # 3% faster: within timing noise
    assert m.predict_ms_per_row == pytest.approx(1.0)


def test_latency_shares_never_add_up_to_more_than_one():
    m = measured(a=0.4, b=0.4, c=0.6)  # savings 0.6 + 0.6 + 0.4 = 1.6 of 1.0
    shares = [m.latency_share(n) for n in "abc"]
    assert sum(shares) == pytest.approx(1.0)
    assert shares == pytest.approx([0.375, 0.375, 0.25])


def test_latency_adds_the_feature_function_time():
    m = measured(a=1.0)
    m.feature_rows, m.feature_seconds = 500, 0.5
    assert m.feature_ms_per_row == pytest.approx(1.0)
    assert m.latency_ms_per_row == pytest.approx(2.0)


def test_judge_costs_flags_a_large_cost_share_far_above_its_benefit():
    m = Measured(
        1000,
        1.0,
        {"cheap": 1.0, "costly": 1.0, "useful": 1.0, "unused": 1.0},
        10,
        {"cheap": 8.0, "costly": 60.0, "useful": 24.0, "unused": 8.0},
    )
    shares = {"cheap": 0.01, "costly": 0.05, "useful": 0.9, "unused": 0.0}
    found = {
        c.input: c for c in judge_costs(m, shares, min_cost_share=0.2, max_cost_benefit_ratio=5)
    }
    assert found["costly"].memory_share == pytest.approx(0.6)
    assert found["costly"].ratio == pytest.approx(12)
    assert found["costly"].flagged
    assert not found["useful"].flagged  # 24% of the cost for 90% of the benefit
    assert not found["cheap"].flagged  # 8% of the cost: below min_cost_share
    assert found["unused"].ratio == math.inf and not found["unused"].flagged


def test_best_time_is_the_shortest_run():
    delays = iter([0.02, 0.0, 0.01])
    assert best_time(lambda: __import__("time").sleep(next(delays)), 3) < 0.01


def test_wide_inputs_are_timed_in_groups_and_a_costly_one_is_split_out_alone():
    rng = np.random.default_rng(0)
    batch = pd.DataFrame(rng.normal(size=(50, 200)), columns=[f"c{i:03d}" for i in range(200)])

    def predict(frame: pd.DataFrame) -> None:
        if frame["c137"].nunique() > 1:  # the one input whose values cost time
            time.sleep(0.004)

    best, held, groups = time_inputs(predict, batch, budget=40)
    assert "c137" in held and "c137" not in {m for g in groups.values() for m in g}
    assert best - held["c137"] > 0.003
    assert len(held) <= 40
    members = [m for key in held for m in groups.get(key, [key])]
    assert sorted(members) == sorted(batch.columns)  # a partition of every input
    assert all(held[key] == best for key in groups)  # groups without c137 save nothing


def test_a_saving_seen_in_one_round_only_is_noise():
    batch = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    held_calls = iter(range(1000))

    def predict(frame: pd.DataFrame) -> None:
        if frame["a"].nunique() > 1:
            time.sleep(0.002)  # the batch as it is
        else:  # "a" held: slower, except once (a lucky run the best time alone would believe)
            time.sleep(0.0005 if next(held_calls) == 0 else 0.004)

    best, held = time_variants(predict, batch, {"a": ["a"]})
    assert held == {"a": best}


def test_the_cost_floor_shrinks_with_the_number_of_inputs():
    assert cost_floor(0.2, 3) == pytest.approx(1 / 6)
    assert cost_floor(0.2, 8) == pytest.approx(1 / 16)
    assert cost_floor(0.2, 2) == 0.2
    assert cost_floor(0.2, 8, helps=True) == 0.2
    assert cost_floor(0.2, 16, helps=True) == pytest.approx(1 / 8)


def test_an_input_that_helps_is_judged_only_from_twice_an_equal_share_of_the_cost():
    names = [f"x{i}" for i in range(16)]
    m = Measured(1000, 1.0, dict.fromkeys(names, 1.0), 10, dict.fromkeys(names, 8.0))
    shares = {n: 0.9 / 15 for n in names[1:]} | {"x0": 0.004}  # x0: 1/16 of the cost, 15×
    judged = {
        c.input: c for c in judge_costs(m, shares, min_cost_share=0.2, max_cost_benefit_ratio=10)
    }
    assert not judged["x0"].flagged  # it helps: an average cost is not too much
    unhelpful = judge_costs(
        m, shares, min_cost_share=0.2, max_cost_benefit_ratio=10, helpful=set(names[1:])
    )
    assert [c.input for c in unhelpful if c.flagged] == ["x0"]  # no measured benefit


def test_measure_costs_times_a_predict_function_and_a_build_function_on_plain_frames():
    raw = binary_frame(900, seed=0)
    inputs = raw[["x1", "x2"]]
    calls = []

    def predict(frame):
        calls.append(len(frame))
        return frame["x1"].to_numpy() > 0

    def build(rows):
        return rows.drop(columns=["y", "group"])

    m = measure_costs(predict, inputs, seed=0, build=build, raw=raw)
    assert m.latency_rows == 900 and m.memory_rows == 900 and calls[0] == 900
    assert set(m.held_seconds) == set(m.bytes_per_row) == {"x1", "x2"}
    assert m.bytes_per_row["x1"] == 8.0
    assert m.feature_rows == 900 and m.feature_seconds > 0
    assert measure_costs(predict, inputs, seed=0).feature_seconds is None
