"""Generate the synthetic credit-default data set of the example system.

Every run with the same arguments (``--end`` included) writes the same bytes: all randomness
comes from one ``numpy.random.default_rng`` with a fixed seed, drawn in a fixed order.

    python examples/credit/generate.py --out examples/credit/data [--rows 60000] [--end DAY]

writes ``train.parquet`` (applications of the first 15 months) and ``eval.parquet`` (the last
3 months) of the 18 months before ``--end`` (today by default, so the example's data are as
recent as a running system's: monitor.4 judges the training data's age).

The label comes from a logistic model of the applicant's features with threshold effects and
interactions, so a gradient-boosted tree beats a linear model. Applications from the
"east" region carry much more label noise, so the model is measurably worse there. The sensitive
attribute ``gender`` is drawn independently of everything else: no feature is a proxy for it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 5
DEFAULT_ROWS = 60_000
MONTHS = 18
TRAIN_MONTHS = 15

REGIONS = {"north": 0.22, "south": 0.24, "east": 0.18, "west": 0.20, "central": 0.16}
HARD_REGION = "east"
PURPOSES = {
    "debt_consolidation": 0.28,
    "credit_card": 0.18,
    "home_improvement": 0.12,
    "car": 0.14,
    "medical": 0.07,
    "education": 0.07,
    "small_business": 0.06,
    "other": 0.08,
}
# Typical loan size (USD) per purpose, for an applicant with the median income.
PURPOSE_LOAN = {
    "debt_consolidation": 14_000,
    "credit_card": 8_000,
    "home_improvement": 18_000,
    "car": 16_000,
    "medical": 5_000,
    "education": 11_000,
    "small_business": 28_000,
    "other": 6_000,
}
PURPOSE_RISK = {
    "debt_consolidation": 0.2,
    "credit_card": 0.26,
    "home_improvement": -0.26,
    "car": -0.33,
    "medical": 0.39,
    "education": 0.06,
    "small_business": 0.58,
    "other": 0.13,
}
EMPLOYMENT_INCOME = {"salaried": 0.0, "self_employed": 0.05, "unemployed": -0.95, "retired": -0.35}
EMPLOYMENT_RISK = {"salaried": 0.0, "self_employed": 0.4, "unemployed": 1.1, "retired": 0.13}
HOME_RISK = {"rent": 0.2, "mortgage": -0.13, "own": -0.4, "other": 0.32}
REGION_INCOME = {"north": 0.05, "south": -0.08, "east": -0.02, "west": 0.10, "central": 0.0}
REGION_RISK = {"north": 0.0, "south": 0.10, "east": 0.05, "west": -0.05, "central": 0.0}
TERMS = np.array([12, 24, 36, 48, 60])
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
NULL_SHARES = {
    "income": 0.03,
    "credit_history_years": 0.02,
    "debt_to_income": 0.015,
    "utilization": 0.04,
}
AGE_BANDS = (
    (18, 25, "18-25"),
    (26, 35, "26-35"),
    (36, 50, "36-50"),
    (51, 65, "51-65"),
    (66, 200, "65+"),
)
FIRST_NAMES = np.array(
    ["alex", "jamie", "sam", "taylor", "jordan", "morgan", "casey", "riley", "avery", "quinn"]
    + ["robin", "drew", "charlie", "jesse", "kai", "rowan", "sasha", "toni", "dana", "lee"]
)
LAST_NAMES = np.array(
    ["smith", "johnson", "lee", "garcia", "brown", "miller", "davis", "martin", "nguyen"]
    + ["clark", "lewis", "walker", "young", "hall", "allen", "king", "wright", "lopez", "hill"]
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
AREA_CODES = np.array([212, 305, 312, 415, 503, 602, 617, 702, 713, 808, 917, 971])


def _pick(rng: np.random.Generator, options: dict[str, float], size: int) -> np.ndarray:
    """Draw ``size`` values from ``options`` (value -> probability)."""
    names = np.array(list(options), dtype=object)
    probs = np.array(list(options.values()), dtype=float)
    return names[rng.choice(len(names), size=size, p=probs / probs.sum())]


def _lookup(table: dict[str, float], values: np.ndarray) -> np.ndarray:
    return np.array([table[v] for v in values], dtype=float)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _with_nulls(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    """Blank out ``share`` of the values (as NaN)."""
    out = values.astype(float)
    out[rng.random(len(out)) < share] = np.nan
    return out


def age_band(age: np.ndarray) -> np.ndarray:
    """The age band ("18-25" ... "65+") of each age."""
    conditions = [(age >= low) & (age <= high) for low, high, _ in AGE_BANDS]
    return np.select(conditions, [name for _, _, name in AGE_BANDS], default="65+").astype(object)


def default_end() -> pd.Timestamp:
    """Today (UTC, midnight): the data end where the example is run, so its model is as fresh
    as a real team's would be (monitor.4 measures the training data's age)."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()


# The data are drawn on a fixed calendar (so every value is the same whatever the day), then
# moved in time by whole days so that they end on `end`: only `applied_at` depends on the day.
START = pd.Timestamp("2025-01-01")
END = START + pd.DateOffset(months=MONTHS)


def shift_to(end: pd.Timestamp | None = None) -> pd.Timedelta:
    """How far the fixed calendar moves so that the data end on `end` (default: today)."""
    end = end if end is not None else default_end()
    return pd.Timedelta(days=(pd.Timestamp(end).normalize() - END).days)


def _timestamps(rng: np.random.Generator, n: int) -> pd.Series:
    end = START + pd.DateOffset(months=MONTHS)
    span = int((end - START).total_seconds())
    seconds = np.sort(rng.integers(0, span, size=n))
    return pd.Series(START + pd.to_timedelta(seconds, unit="s")).astype("datetime64[ns]")


def _contacts(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    first = rng.choice(FIRST_NAMES, size=n)
    last = rng.choice(LAST_NAMES, size=n)
    number = rng.integers(1, 1000, size=n)
    domain = rng.choice(EMAIL_DOMAINS, size=n)
    emails = [f"{f}.{la}{k}@{d}" for f, la, k, d in zip(first, last, number, domain, strict=True)]
    area = rng.choice(AREA_CODES, size=n)
    line = rng.integers(100, 200, size=n)  # 555-0100 .. 555-0199 are reserved for fiction
    phones = [f"+1-{a}-555-{k:04d}" for a, k in zip(area, line, strict=True)]
    return emails, phones


def _applicants(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Who applies: age, region, employment, housing and the purpose of the loan."""
    age = np.clip(np.round(rng.normal(43, 14, n)), 18, 85).astype(np.int64)
    retired = rng.random(n) < np.clip((age - 58) / 15, 0, 0.6)
    working = _pick(rng, {"salaried": 0.78, "self_employed": 0.15, "unemployed": 0.07}, n)
    owns = rng.random(n) < np.clip((age - 25) / 60, 0.02, 0.55)
    owner = _pick(rng, {"own": 0.45, "mortgage": 0.55}, n)
    tenant = _pick(rng, {"rent": 0.9, "other": 0.1}, n)
    return {
        "age": age,
        "region": _pick(rng, REGIONS, n),
        "employment": np.where(retired, "retired", working).astype(object),
        "home_ownership": np.where(owns, owner, tenant).astype(object),
        "purpose": _pick(rng, PURPOSES, n),
    }


def _finances(
    rng: np.random.Generator, who: dict[str, np.ndarray], months: np.ndarray
) -> dict[str, np.ndarray]:
    """Income, the loan asked for, and the applicant's credit record."""
    n = len(months)
    age = who["age"]
    # Incomes rise slowly over the 18 months (0.4% a month): a mild drift.
    log_income = (
        10.75
        + 0.012 * (age - 40)
        - 0.0004 * (age - 40) ** 2
        + _lookup(EMPLOYMENT_INCOME, who["employment"])
        + _lookup(REGION_INCOME, who["region"])
        + 0.004 * months
        + rng.normal(0, 0.42, n)
    )
    income = np.round(np.exp(log_income), -2).clip(6_000, 900_000)
    loan = _lookup(PURPOSE_LOAN, who["purpose"]) * (income / 47_000) ** 0.45
    loan = np.round((loan * np.exp(rng.normal(0, 0.45, n))).clip(500, 120_000) / 50) * 50
    term_index = np.round(1.2 + 1.1 * np.log(loan / 6_000) + rng.normal(0, 0.8, n))
    term = TERMS[np.clip(term_index, 0, len(TERMS) - 1).astype(np.int64)]
    history = np.round(np.maximum(age - 18, 0) * rng.beta(2.2, 1.6, n), 1)
    # A latent financial stress drives debt load, card utilisation and missed payments.
    stress = rng.normal(0, 1, n) + 0.3 * (who["employment"] == "unemployed")
    return {
        "income": income,
        "loan_amount": loan,
        "term_months": term.astype(np.int64),
        "credit_history_years": history,
        "debt_to_income": np.exp(rng.normal(-1.55 + 0.22 * stress, 0.45, n)).clip(0, 1.6).round(3),
        "num_open_accounts": rng.poisson(1.2 + 0.22 * np.minimum(history, 25)).clip(0, 30),
        "late_payments_12m": rng.poisson(np.exp(-1.5 + 0.75 * stress)).clip(0, 12),
        "utilization": _sigmoid(-0.6 + 0.9 * stress + rng.normal(0, 0.9, n)).round(3),
    }


def default_logit(x: dict[str, np.ndarray]) -> np.ndarray:
    """Log-odds of default: the true risk model, with thresholds and interactions."""
    dti, late, util = x["debt_to_income"], x["late_payments_12m"], x["utilization"]
    income, loan, term = x["income"], x["loan_amount"], x["term_months"]
    history, accounts, age = x["credit_history_years"], x["num_open_accounts"], x["age"]
    employment, purpose = x["employment"], x["purpose"]
    rate = 0.12 / 12
    burden = loan * rate / (1 - (1 + rate) ** -term) * 12 / income  # repayments / income
    return (
        -2.45
        + 2.8 * (dti > 0.40)  # lenders' 40% debt-to-income rule
        + 0.3 * dti
        + 5.0 * util * np.minimum(late, 3) / 3  # high utilisation hurts with missed payments
        + 1.2 * (util > 0.9)  # maxed-out cards
        + 0.15 * np.minimum(late, 4)
        - 0.6 * np.log(income / 47_000)
        + 4.5 * np.maximum(burden - 0.10, 0)  # repayments above 10% of income strain
        + 0.8 * np.maximum(loan / income - 0.5, 0)
        + 0.5 * np.log(loan / 10_000)
        + 1.0 * (loan < 4_000)  # small unsecured loans default more often
        + 0.25 * (term - 36) / 12  # so do long terms
        + 0.0007 * (age - 45) ** 2  # and young and old applicants
        - 1.3 * (1 - np.exp(-history / 4))
        + 0.6 * (history < 1)  # no track record yet
        + 0.9 * (accounts == 0)
        + 0.12 * np.maximum(accounts - 8, 0)
        + _lookup(EMPLOYMENT_RISK, employment)
        + 0.9 * ((employment == "self_employed") & (dti > 0.3))  # irregular income, high debt
        + _lookup(HOME_RISK, x["home_ownership"])
        + _lookup(PURPOSE_RISK, purpose)
        + 0.6 * ((purpose == "small_business") & (term >= 48))
        + _lookup(REGION_RISK, x["region"])
    )


def generate(
    rows: int = DEFAULT_ROWS, seed: int = SEED, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """All applications of the MONTHS before `end` (default: today), ordered by time, with
    the label ``defaulted``."""
    rng = np.random.default_rng(seed)
    applied_at = _timestamps(rng, rows)
    months = ((applied_at - START).dt.total_seconds() / (86_400 * 30.44)).to_numpy()
    who = _applicants(rng, rows)
    x = who | _finances(rng, who, months)

    logit = default_logit(x)
    # In the hard region outcomes depend much less on what the application says.
    hard = x["region"] == HARD_REGION
    logit = np.where(hard, 0.6 * logit - 0.85 + rng.normal(0, 1.0, rows), logit)
    defaulted = (rng.random(rows) < _sigmoid(logit)).astype(np.int64)

    gender = _pick(rng, {"female": 0.48, "male": 0.475, "other": 0.045}, rows)
    emails, phones = _contacts(rng, rows)
    # Some values are missing from the applications (after the label was drawn from them).
    for name, share in NULL_SHARES.items():
        x[name] = _with_nulls(rng, x[name], share)
    return pd.DataFrame(
        {
            "application_id": [f"A{i:07d}" for i in range(1, rows + 1)],
            "applied_at": applied_at + shift_to(end),
            **{name: x[name] for name in NUMERIC},
            "age_band": age_band(x["age"]),
            **{name: x[name] for name in CATEGORICAL},
            "gender": gender,
            "email": emails,
            "phone": phones,
            "defaulted": defaulted,
        }
    )


def split(
    frame: pd.DataFrame, end: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows (the first 15 months) and evaluation rows (the last 3), split on time;
    `end` as given to `generate`."""
    cutoff = START + pd.DateOffset(months=TRAIN_MONTHS) + shift_to(end)
    late = frame["applied_at"] >= cutoff
    return frame[~late].reset_index(drop=True), frame[late].reset_index(drop=True)


def write(
    out: Path, rows: int = DEFAULT_ROWS, seed: int = SEED, end: pd.Timestamp | None = None
) -> tuple[Path, Path]:
    """Write ``out/train.parquet`` and ``out/eval.parquet``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    end = end if end is not None else default_end()
    train, evaluation = split(generate(rows, seed, end), end)
    paths = out / "train.parquet", out / "eval.parquet"
    for part, path in zip((train, evaluation), paths, strict=True):
        part.to_parquet(path, index=False)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="applications in total")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    parser.add_argument(
        "--end",
        type=pd.Timestamp,
        default=None,
        help="the day the data end (YYYY-MM-DD; default: today, UTC)",
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be positive")
    started = time.perf_counter()
    paths = write(args.out, args.rows, args.seed, args.end)
    elapsed = time.perf_counter() - started
    print(f"wrote {', '.join(str(p) for p in paths)} ({args.rows} rows) in {elapsed:.1f}s")


if __name__ == "__main__":
    main()
