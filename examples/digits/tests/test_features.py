"""Unit tests of the feature code: digits.features.build and its helpers."""

import numpy as np
import pandas as pd
import pytest
from digits import features
from digits.features import PIXELS, build


def scans(rows: int = 3, **overrides) -> pd.DataFrame:
    """``rows`` raw scans as they come from the data files: pixel (r, c) of scan k holds
    (r + c + k) % 17, with some columns overridden."""
    raw = pd.DataFrame(
        {name: [(int(name[3]) + int(name[5]) + k) % 17 for k in range(rows)] for name in PIXELS}
    )
    raw.insert(0, "image_id", [f"D{k:04d}" for k in range(1, rows + 1)])
    raw["digit"] = [k % 10 for k in range(rows)]
    for name, values in overrides.items():
        raw[name] = values
    return raw


def test_keeps_rows_order_and_index():
    raw = scans().set_axis([30, 10, 20]).iloc[[2, 0, 1]]
    out = build(raw)
    assert list(out.index) == list(raw.index)
    assert out["px_0_1"].tolist() == (raw["px_0_1"] / 16).tolist()


def test_inputs_are_the_64_pixels_and_the_total_ink():
    out = build(scans())
    assert out.columns.tolist() == [*PIXELS, "ink_total"]
    assert "image_id" not in out.columns and "digit" not in out.columns


def test_does_not_need_the_label():
    out = build(scans().drop(columns=["digit"]))
    assert out.columns.tolist() == build(scans()).columns.tolist()


def test_does_not_modify_its_input():
    raw = scans()
    before = raw.copy()
    build(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_pixels_become_their_inked_share_and_the_total_adds_them_up():
    out = build(scans(1, px_0_0=16, px_0_1=8, px_0_2=0))
    assert out.loc[0, ["px_0_0", "px_0_1", "px_0_2"]].tolist() == [1.0, 0.5, 0.0]
    assert out.loc[0, "ink_total"] == pytest.approx(out.loc[0, list(PIXELS)].sum())


def test_missing_text_and_infinite_pixels_read_as_blank():
    out = build(scans(px_3_3=[np.nan, "n/a", np.inf]))
    assert out["px_3_3"].tolist() == [0.0, 0.0, 0.0]


def test_counts_outside_0_to_16_are_clipped():
    out = build(scans(px_3_3=[-5, 40, 1e308]))
    assert out["px_3_3"].tolist() == [0.0, 1.0, 1.0]
    assert np.isfinite(out.to_numpy()).all()


def test_a_missing_pixel_column_reads_as_blank():
    out = build(scans().drop(columns=["px_4_4"]))
    assert (out["px_4_4"] == 0.0).all()


def test_other_columns_pass_through_as_numbers():
    out = build(scans(new_signal=[1.5, "2.5", None]))
    assert out["new_signal"].tolist() == [1.5, 2.5, 0.0]


def test_empty_frame_gives_empty_inputs_with_the_same_columns():
    out = build(scans().iloc[:0])
    assert len(out) == 0
    assert out.columns.tolist() == build(scans()).columns.tolist()


def test_ink_helper_on_a_text_column():
    assert features.ink(pd.Series(["16", "4", "x"])).tolist() == [1.0, 0.25, 0.0]
