"""Unit tests of the feature code: credit.features.build and its helpers."""

import math

import numpy as np
import pandas as pd
import pytest
from credit import features
from credit.features import build


def applications(**overrides):
    """Three raw applications as they come from the data files, with some values overridden."""
    raw = pd.DataFrame(
        {
            "application_id": ["A0000001", "A0000002", "A0000003"],
            "applied_at": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-04"]),
            "income": [48_000.0, 60_000.0, 30_000.0],
            "loan_amount": [12_000.0, 6_000.0, 15_000.0],
            "term_months": [12, 36, 60],
            "credit_history_years": [4.5, 10.0, 0.5],
            "debt_to_income": [0.2, 0.35, 0.5],
            "num_open_accounts": [3, 5, 0],
            "late_payments_12m": [0, 1, 4],
            "utilization": [0.3, 0.5, 0.95],
            "age": [34, 51, 22],
            "age_band": ["26-35", "51-65", "18-25"],
            "employment": ["salaried", "self_employed", "unemployed"],
            "home_ownership": ["rent", "mortgage", "own"],
            "purpose": ["car", "medical", "small_business"],
            "region": ["north", "east", "west"],
            "gender": ["female", "male", "other"],
            "email": ["a.b1@example.com", "c.d2@example.org", "e.f3@example.net"],
            "phone": ["+1-212-555-0101", "+1-305-555-0102", "+1-312-555-0103"],
            "defaulted": [0, 1, 0],
        }
    )
    for name, values in overrides.items():
        raw[name] = values
    return raw


def test_keeps_rows_order_and_index():
    raw = applications().set_axis([30, 10, 20]).iloc[[2, 0, 1]]
    out = build(raw)
    assert list(out.index) == list(raw.index)
    assert out["loan_amount"].tolist() == raw["loan_amount"].tolist()


def test_drops_identifiers_time_sensitive_attribute_contact_data_and_label():
    out = build(applications())
    for name in ("application_id", "applied_at", "gender", "email", "phone", "defaulted"):
        assert name not in out.columns
    assert "age_band" not in out.columns  # a coarser copy of age, used for slicing only
    assert "region" in out.columns and "age" in out.columns


def test_does_not_need_the_label():
    serving = applications().drop(columns=["defaulted"])
    out = build(serving)
    assert len(out) == 3
    assert out.columns.tolist() == build(applications()).columns.tolist()


def test_does_not_modify_its_input():
    raw = applications()
    before = raw.copy()
    build(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_derived_values_on_hand_computed_rows():
    out = build(applications())
    assert out["loan_to_income"].tolist() == pytest.approx([0.25, 0.1, 0.5])
    # 12,000 over 12 months at 1% a month: 1,066.19 a month, against 4,000 monthly income
    payment = 12_000 * 0.01 / (1 - 1.01**-12)
    assert payment == pytest.approx(1066.19, abs=0.01)
    assert out["payment_to_income"].iloc[0] == pytest.approx(payment / 4_000)


def test_numeric_inputs_are_floats_and_categoricals_are_categories():
    out = build(applications())
    for name in features.NUMERIC + ("loan_to_income", "payment_to_income"):
        assert out[name].dtype == "float64", name
    for name in features.CATEGORICAL:
        assert isinstance(out[name].dtype, pd.CategoricalDtype), name


def test_missing_values_stay_missing_and_do_not_spread():
    raw = applications(income=[np.nan, 60_000.0, 30_000.0], region=[None, "east", "west"])
    out = build(raw)
    assert math.isnan(out["loan_to_income"].iloc[0])
    assert math.isnan(out["payment_to_income"].iloc[0])
    assert pd.isna(out["region"].iloc[0])
    assert out["loan_to_income"].iloc[1:].notna().all()


def test_zero_or_negative_income_and_term_give_missing_not_infinite():
    out = build(applications(income=[0.0, -10.0, 30_000.0], term_months=[12, 36, 0]))
    assert out["loan_to_income"].iloc[:2].isna().all()
    assert math.isnan(out["payment_to_income"].iloc[2])


@pytest.mark.parametrize("extreme", [1e308, -1e308, np.inf, -np.inf, 1e-308])
def test_extreme_values_never_give_infinite_features(extreme):
    numbers = {name: [extreme] * 3 for name in features.NUMERIC}
    out = build(applications(**numbers))
    values = out.select_dtypes("number").to_numpy()
    assert not np.isinf(values).any()


def test_text_in_number_columns_becomes_missing():
    out = build(applications(income=["48000", "n/a", ""]))
    assert out["income"].iloc[0] == 48_000.0
    assert out["income"].iloc[1:].isna().all()


def test_unseen_categories_pass_through_cleaned():
    out = build(applications(region=[" Atlantis ", "EAST", ""]))
    assert out["region"].tolist()[:2] == ["atlantis", "east"]
    assert pd.isna(out["region"].iloc[2])


def test_empty_frame_gives_empty_inputs_with_the_same_columns():
    raw = applications()
    out = build(raw.iloc[:0])
    assert len(out) == 0
    assert out.columns.tolist() == build(raw).columns.tolist()


def test_missing_source_columns_give_missing_derived_features():
    out = build(applications().drop(columns=["income"]))
    assert out["loan_to_income"].isna().all()
    assert out["payment_to_income"].isna().all()


def test_other_columns_pass_through_unchanged():
    out = build(applications(new_signal=[1.5, 2.5, 3.5]))
    assert out["new_signal"].tolist() == [1.5, 2.5, 3.5]


def test_ratio_is_missing_where_the_denominator_is_not_positive():
    out = features.ratio(pd.Series([1.0, 1.0, 1.0, 3.0]), pd.Series([2.0, 0.0, -1.0, np.nan]))
    assert out.iloc[0] == 0.5
    assert out.iloc[1:].isna().all()


def test_monthly_payment_of_an_amortised_loan():
    payment = features.monthly_payment(pd.Series([10_000.0]), pd.Series([36.0]), 0.12)
    assert payment.iloc[0] == pytest.approx(332.14, abs=0.01)
    free = features.monthly_payment(pd.Series([1_200.0, 1_200.0]), pd.Series([12.0, 0.0]), 0.0)
    assert free.iloc[0] == 100.0
    assert math.isnan(free.iloc[1])
