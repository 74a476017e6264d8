"""Unit tests of the feature code: diamonds.features.build and its helpers."""

import math

import numpy as np
import pandas as pd
import pytest
from diamonds import features
from diamonds.features import build


def listings(**overrides) -> pd.DataFrame:
    """Three raw diamonds as they come from the data files, with some values overridden."""
    raw = pd.DataFrame(
        {
            "diamond_id": ["G00001", "G00002", "G00003"],
            "carat": [0.23, 1.01, 2.5],
            "cut": ["Ideal", "Fair", "Very Good"],
            "color": ["E", "J", "D"],
            "clarity": ["SI2", "IF", "I1"],
            "depth": [61.5, 64.0, 60.2],
            "table": [55.0, 58.0, 57.0],
            "price": [326, 3_500, 15_000],
            "x": [3.95, 6.3, 8.7],
            "y": [3.98, 6.25, 8.65],
            "z": [2.43, 4.0, 5.22],
        }
    )
    for name, values in overrides.items():
        raw[name] = values
    return raw


def test_keeps_rows_order_and_index():
    raw = listings().set_axis([30, 10, 20]).iloc[[2, 0, 1]]
    out = build(raw)
    assert list(out.index) == list(raw.index)
    assert out["carat"].tolist() == raw["carat"].tolist()


def test_drops_the_id_and_the_price():
    out = build(listings())
    assert "diamond_id" not in out.columns and "price" not in out.columns


def test_does_not_need_the_price():
    out = build(listings().drop(columns=["price"]))
    assert out.columns.tolist() == build(listings()).columns.tolist()


def test_does_not_modify_its_input():
    raw = listings()
    before = raw.copy()
    build(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_grades_become_their_rank_worst_first():
    out = build(listings())
    assert out["cut"].tolist() == [4.0, 0.0, 2.0]  # Ideal, Fair, Very Good
    assert out["color"].tolist() == [5.0, 0.0, 6.0]  # E, J, D
    assert out["clarity"].tolist() == [1.0, 7.0, 0.0]  # SI2, IF, I1


def test_grades_are_read_whatever_their_case_and_spacing():
    out = build(listings(cut=[" ideal", "VERY GOOD", "fair "]))
    assert out["cut"].tolist() == [4.0, 2.0, 0.0]


def test_unknown_or_missing_grades_become_missing():
    out = build(listings(color=["Z", None, "D"]))
    assert out["color"].isna().tolist() == [True, True, False]


def test_volume_is_the_product_of_the_dimensions():
    out = build(listings())
    assert out["volume"].iloc[0] == pytest.approx(3.95 * 3.98 * 2.43)


def test_an_unmeasured_dimension_is_missing_and_so_is_the_volume():
    out = build(listings(z=[0.0, 4.0, -1.0]))
    assert math.isnan(out["z"].iloc[0]) and math.isnan(out["volume"].iloc[0])
    assert math.isnan(out["z"].iloc[2])
    assert out["volume"].iloc[1] == pytest.approx(6.3 * 6.25 * 4.0)


def test_text_and_infinite_numbers_become_missing():
    out = build(listings(carat=["0.5", "n/a", np.inf]))
    assert out["carat"].iloc[0] == 0.5
    assert out["carat"].iloc[1:].isna().all()


def test_missing_source_columns_give_missing_inputs():
    out = build(listings().drop(columns=["x", "clarity"]))
    assert out["x"].isna().all() and out["volume"].isna().all() and out["clarity"].isna().all()


def test_other_columns_pass_through_as_numbers():
    out = build(listings(new_signal=[1.5, "2.5", "high"]))
    assert out["new_signal"].tolist()[:2] == [1.5, 2.5]
    assert math.isnan(out["new_signal"].iloc[2])


def test_empty_frame_gives_empty_inputs_with_the_same_columns():
    out = build(listings().iloc[:0])
    assert len(out) == 0
    assert out.columns.tolist() == build(listings()).columns.tolist()


def test_grade_rank_helper():
    ranks = features.grade_rank(pd.Series(["b", "a", "c"]), ("a", "b"))
    assert ranks.iloc[:2].tolist() == [1.0, 0.0] and math.isnan(ranks.iloc[2])
