"""Feature code of the credit-default model: raw application rows -> model inputs.

``build`` is the one entry point; Keel calls it on training, evaluation and serving data alike,
so it never needs the label and it tolerates whatever serving sends: missing values, missing
columns, text in number columns, extreme values and categories it has not seen before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Columns that never become model inputs: identifiers, event time, the sensitive attribute,
# personal contact data, the label, and the age band (a coarser copy of ``age``, kept for
# slicing the evaluation only).
DROPPED = (
    "application_id",
    "applied_at",
    "gender",
    "email",
    "phone",
    "defaulted",
    "age_band",
)
NUMERIC = (
    "income",
    "loan_amount",
    "term_months",
    "credit_history_years",
    "debt_to_income",
    "num_open_accounts",
    "late_payments_12m",
    "utilization",
    "age",
)
CATEGORICAL = ("employment", "home_ownership", "purpose", "region")

# The notional yearly interest rate used to estimate the monthly repayment of a loan.
ANNUAL_RATE = 0.12


def as_number(values: pd.Series) -> pd.Series:
    """Float values; anything that is not a finite number becomes missing (NaN)."""
    if not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values.astype(object), errors="coerce")
    numbers = values.astype("float64")
    return numbers.where(~np.isinf(numbers))


def as_category(values: pd.Series) -> pd.Series:
    """Trimmed lower-case labels as a pandas category; blanks become missing (NaN)."""
    text = values.astype("string").str.strip().str.lower()
    present = (text != "").fillna(False)
    return text.astype(object).where(present, np.nan).astype("category")


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator`` where the denominator is positive, else missing."""
    positive = denominator.where(denominator > 0)
    return as_number(numerator / positive)


def monthly_payment(amount: pd.Series, term_months: pd.Series, annual_rate: float) -> pd.Series:
    """Repayment per month of an amortised loan; missing where the term is not positive."""
    rate = annual_rate / 12
    term = term_months.where(term_months > 0)
    if rate == 0:
        return as_number(amount / term)
    return as_number(amount * rate / (1 - (1 + rate) ** -term))


def column(raw: pd.DataFrame, name: str) -> pd.Series:
    """``raw[name]``, or an all-missing column when ``raw`` lacks it."""
    if name in raw.columns:
        return raw[name]
    return pd.Series(float("nan"), index=raw.index, dtype="float64")


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The model inputs for ``raw``: same rows, same order, same index.

    Known numeric columns become floats and known categorical columns pandas categories; other
    columns (a newly added feature, say) pass through unchanged. Adds ``loan_to_income``
    (loan amount over yearly income) and ``payment_to_income`` (the estimated monthly repayment
    over monthly income).
    """
    inputs = raw.drop(columns=[c for c in DROPPED if c in raw.columns])
    for name in NUMERIC:
        if name in inputs.columns:
            inputs[name] = as_number(inputs[name])
    for name in CATEGORICAL:
        if name in inputs.columns:
            inputs[name] = as_category(inputs[name])

    income = as_number(column(raw, "income"))
    loan = as_number(column(raw, "loan_amount"))
    term = as_number(column(raw, "term_months"))
    inputs["loan_to_income"] = ratio(loan, income)
    inputs["payment_to_income"] = ratio(monthly_payment(loan, term, ANNUAL_RATE), income / 12)
    return inputs
