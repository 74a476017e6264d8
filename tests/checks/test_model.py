import numpy as np
import pandas as pd
import pytest
from systems import HGB_TRAIN, binary_frame

from keel.checks.model import model_5, model_6, model_7
from keel.errors import CheckError, ConfigError

DUMMY_TRAIN = """
from sklearn.dummy import DummyClassifier


def train(frame, target, params, seed):
    return DummyClassifier(strategy="prior").fit(frame.drop(columns=[target]), frame[target])
"""

KEEP_EVERYTHING = (
    HGB_TRAIN
    + """

def build(raw):
    return raw.drop(columns=["y"])
"""
)


def nonlinear_frame(n: int, *, seed: int) -> pd.DataFrame:
    """A checkerboard signal: no linear model or shallow tree can learn it, boosting can."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    y = (np.sin(2 * x1) * np.sin(2 * x2) > 0).astype(int)
    flip = rng.random(n) < 0.1
    return pd.DataFrame({"x1": x1, "x2": x2, "y": np.where(flip, 1 - y, y)})


def linear_frame(n: int, *, seed: int) -> pd.DataFrame:
    """A purely linear logistic signal: logistic regression is the best possible model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    logit = x @ np.array([1.0, -0.8, 0.5, 0.3])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({f"x{i + 1}": x[:, i] for i in range(4)} | {"y": y})


# -- model.5 -------------------------------------------------------------------------------
def test_model_5_passes_a_model_that_learns_a_nonlinear_signal_baselines_cannot(make_system):
    system = make_system(nonlinear_frame(2000, seed=0), nonlinear_frame(800, seed=1))
    evidence = model_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["gain"] > 0.1
    table = evidence.tables[0]
    assert table.columns[2:] == ["roc_auc", "average_precision", "accuracy"]
    assert [row[0] for row in table.rows] == ["model", "constant", "linear", "tree"]
    chart = evidence.figures[0]
    bar = evidence.facts["best_baseline_metric"] + 0.01
    assert chart.reference == {"best baseline + min_gain": pytest.approx(bar)}
    assert chart.flagged == [False] * 4


def test_model_5_fails_a_model_that_predicts_the_prior_like_the_constant(make_system):
    system = make_system(linear_frame(1500, seed=0), linear_frame(600, seed=1), code=DUMMY_TRAIN)
    evidence = model_5(system)
    assert evidence.status == "fail"
    assert evidence.facts["model_metric"] == pytest.approx(0.5)
    assert evidence.facts["best_baseline"] == "linear"
    assert "[baseline] min_gain" in evidence.hint
    assert evidence.figures[0].flagged == [True, False, False, False]


def test_model_5_fails_boosting_on_a_linear_signal_a_logistic_model_captures(make_system):
    system = make_system(linear_frame(2000, seed=0), linear_frame(1000, seed=10))
    evidence = model_5(system)
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["best_baseline"] == "linear"
    assert evidence.facts["gain"] < 0.01
    assert evidence.thresholds == {"min_gain": 0.01}


def test_model_5_uses_the_configured_min_gain(make_system):
    system = make_system(
        nonlinear_frame(2000, seed=0),
        nonlinear_frame(800, seed=1),
        sections={"baseline": {"min_gain": 0.25}},
    )
    evidence = model_5(system)
    assert evidence.facts["gain"] > 0.1  # a clear gain, but not the 0.25 asked for
    assert evidence.status == "fail"
    assert evidence.thresholds == {"min_gain": 0.25}


LOGISTIC_TRAIN = """
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
"""


def separable_frame(n: int, *, seed: int) -> pd.DataFrame:
    """A label that one threshold on x1 decides: every baseline but the constant is perfect."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": (x[:, 0] > 0).astype(int)})


def test_model_5_leaves_the_baseline_of_the_models_own_kind_out_of_the_bar(make_system):
    system = make_system(
        linear_frame(2000, seed=0), linear_frame(1000, seed=10), code=LOGISTIC_TRAIN
    )
    evidence = model_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["model_kind"] == "linear"
    assert evidence.facts["best_baseline"] in ("constant", "tree")
    assert "itself a linear model" in evidence.summary and "left out of the bar" in evidence.summary
    assert [row[0] for row in evidence.tables[0].rows] == ["model", "constant", "linear", "tree"]


def test_model_5_never_asks_for_a_gain_beyond_the_metrics_ceiling(make_system):
    system = make_system(separable_frame(1500, seed=0), separable_frame(600, seed=1))
    evidence = model_5(system)
    assert evidence.facts["best_baseline_metric"] > 0.995
    assert evidence.facts["required_gain"] < 0.01
    assert "no model can show that gain" in evidence.summary
    assert evidence.status == "pass", evidence.summary  # as good as the best baseline
    assert evidence.figures[0].reference["best baseline + min_gain"] <= 1.0


def test_model_5_fails_a_model_worse_than_a_perfect_baseline_asking_only_for_reachable_values(
    make_system,
):
    system = make_system(
        separable_frame(1500, seed=0), separable_frame(600, seed=1), code=DUMMY_TRAIN
    )
    evidence = model_5(system)
    assert evidence.status == "fail"
    assert evidence.facts["model_kind"] == "constant"
    assert "would pass the metric's ceiling of 1" in evidence.hint
    assert "at least 1.0" not in evidence.hint.replace("at least the baseline's", "")


def test_a_negative_min_gain_is_refused_naming_the_key(make_system):
    with pytest.raises(ConfigError, match=r"\[baseline\] min_gain = -0.1: .*greater than or equal"):
        make_system(linear_frame(300, seed=0), sections={"baseline": {"min_gain": -0.1}})


# -- model.6 -------------------------------------------------------------------------------
def regional_frame(n: int, *, seed: int, noisy: str | None = None) -> pd.DataFrame:
    """binary_frame with a region; in the `noisy` region the labels are coin flips."""
    frame = binary_frame(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    frame["region"] = rng.choice(["north", "south", "east", "west"], n)
    if noisy:
        rows = frame["region"] == noisy
        frame.loc[rows, "y"] = rng.integers(0, 2, int(rows.sum()))
    return frame


def test_model_6_fails_the_region_with_noisy_labels_and_names_it_worst(make_system):
    system = make_system(
        regional_frame(2500, seed=0, noisy="east"),
        regional_frame(2000, seed=1, noisy="east"),
        sections={"slices": {"columns": ["region"], "min_size": 150}},
    )
    evidence = model_6(system)
    assert evidence.status == "fail"
    assert evidence.facts["worst_slice"] == "region = east"
    assert "worst slice region = east" in evidence.summary
    assert "region = east" in evidence.hint
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["region = east"][1] == "configured"
    assert rows["region = east"][5] == "fail"
    assert rows["region = west"][5] == "pass"
    chart = evidence.figures[0]
    assert chart.flagged[chart.labels.index("region = east")]
    assert set(chart.reference) == {"overall", "overall − max_gap"}


def test_model_6_search_finds_the_noisy_region_without_configuration(make_system):
    system = make_system(
        regional_frame(2500, seed=0, noisy="east"),
        regional_frame(2000, seed=1, noisy="east"),
        sections={"slices": {"min_size": 150}},
    )
    evidence = model_6(system)
    assert evidence.status == "fail"
    assert evidence.facts["worst_slice"] == "region = east"
    assert evidence.tables[0].rows[0][:2] == ["region = east", "search"]


def test_model_6_passes_when_every_configured_slice_is_as_good_as_overall(make_system):
    system = make_system(
        regional_frame(2500, seed=0),
        regional_frame(2000, seed=1),
        sections={
            "slices": {
                "columns": ["region", "group"],
                "search": False,
                "min_size": 150,
                "min_metric": 0.7,
            }
        },
    )
    evidence = model_6(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["judged_slices"] == 7
    assert set(evidence.figures[0].reference) == {"overall", "overall − max_gap", "min_metric"}


def test_model_6_fails_slices_below_the_configured_floor(make_system):
    system = make_system(
        regional_frame(2000, seed=0),
        regional_frame(1500, seed=1),
        sections={
            "slices": {"columns": ["region"], "search": False, "min_size": 150, "min_metric": 0.99}
        },
    )
    evidence = model_6(system)
    assert evidence.status == "fail"
    assert "[slices] min_metric" in evidence.hint


def test_model_6_reports_an_undefined_slice_and_a_small_one_without_failing(make_system):
    evaluation = regional_frame(2000, seed=1)
    evaluation["channel"] = np.where(evaluation.index < 300, "web", "store")
    evaluation.loc[evaluation.index < 300, "y"] = 0  # a single class: ROC AUC undefined
    evaluation.loc[evaluation.index >= 1960, "channel"] = "phone"
    system = make_system(
        regional_frame(2000, seed=0),
        evaluation,
        sections={"slices": {"columns": ["channel"], "search": False, "min_size": 150}},
    )
    evidence = model_6(system)
    verdicts = {row[0]: row[5] for row in evidence.tables[0].rows}
    assert verdicts["channel = web"].startswith("undefined: roc_auc undefined on 1 class")
    assert verdicts["channel = phone"] == "too small: fewer than 150 rows"
    assert verdicts["channel = store"] == "pass"
    assert evidence.status == "pass"
    assert evidence.facts["undefined"] == 1 and evidence.facts["too_small"] == 1


def test_model_6_names_a_configured_slice_column_missing_from_the_data(make_system):
    system = make_system(
        regional_frame(600, seed=0),
        regional_frame(300, seed=1),
        sections={"slices": {"columns": ["region", "country"]}},
    )
    with pytest.raises(
        CheckError,
        match=r'\[slices\] columns = \["region", "country"\]: '
        r'column "country" is not in the evaluation data',
    ):
        model_6(system)


def test_model_6_is_not_configured_without_slices_or_search(make_system):
    system = make_system(regional_frame(300, seed=0), sections={"slices": {"search": False}})
    evidence = model_6(system)
    assert evidence.status == "not_configured"
    assert "[slices] columns" in evidence.hint


# A model that reads its score from the input column "s": every slice's metric is set by the data.
SCORE_COLUMN_MODEL = """
import numpy as np


class ScoreColumn:
    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        s = X["s"].to_numpy(dtype=float)
        return np.c_[1 - s, s]

    def predict(self, X):
        return (X["s"].to_numpy(dtype=float) > 0.5).astype(int)


def train(frame, target, params, seed):
    return ScoreColumn()
"""


def scored_segments(seed: int, sizes: dict[str, tuple[int, int, float]]) -> pd.DataFrame:
    """Rows of each segment (rows, positives, target ROC AUC), scored by a binormal score "s"."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    parts = []
    for name, (n, positives, auc) in sizes.items():
        y = np.r_[np.ones(positives, int), np.zeros(n - positives, int)]
        z = rng.normal(size=n) + np.sqrt(2) * norm.ppf(auc) * y
        parts.append(pd.DataFrame({"segment": name, "s": 1 / (1 + np.exp(-z)), "y": y}))
    return pd.concat(parts, ignore_index=True)


def test_model_6_fails_a_searched_slice_that_fails_outside_the_displayed_worst(make_system):
    # a: few rows, few positives, lowest ROC AUC but not significantly below 0.75 (passes);
    # b: many rows, a little higher but significantly below 0.75 (fails). Only 1 slice shown.
    segments = {"a": (200, 12, 0.66), "b": (4000, 2000, 0.70), "c": (6000, 3000, 0.92)}
    system = make_system(
        scored_segments(1, segments),
        scored_segments(0, segments),
        code=SCORE_COLUMN_MODEL,
        sections={"slices": {"worst": 1, "min_metric": 0.75, "max_gap": 0.5}},
    )
    evidence = model_6(system)
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["segment = a"][3] < rows["segment = b"][3]  # a is the lowest, shown first
    assert rows["segment = a"][5].startswith("pass")  # not significant
    assert evidence.status == "fail", evidence.summary
    assert rows["segment = b"][5].startswith("fail")  # shown because it fails
    assert "segment = b" in evidence.hint
    assert "segment = c" not in rows  # display still limited to the worst (plus failures)


def test_model_6_is_not_configured_when_no_slice_reaches_min_size(make_system):
    system = make_system(
        regional_frame(600, seed=0),
        regional_frame(300, seed=1),
        sections={"slices": {"columns": ["region"]}},
    )
    evidence = model_6(system)
    assert evidence.status == "not_configured", evidence.summary
    assert "too little data to judge" in evidence.summary
    assert "200 rows ([slices] min_size)" in evidence.summary
    assert "300 evaluation rows" in evidence.summary
    assert "min_size" in evidence.hint


def test_model_6_is_not_configured_when_a_configured_column_has_no_slice_big_enough(make_system):
    evaluation = regional_frame(2000, seed=1)
    evaluation["channel"] = [f"c{i % 20}" for i in range(len(evaluation))]  # 100 rows each
    system = make_system(
        regional_frame(2000, seed=0),
        evaluation,
        sections={"slices": {"columns": ["channel", "region"]}},
    )
    evidence = model_6(system)
    assert evidence.facts["judged_slices"] >= 4  # the regions are judged, and pass
    assert evidence.facts["failing_slices"] == 0
    assert evidence.status == "not_configured", evidence.summary
    assert "[slices] columns channel: no slice has at least 200 rows" in evidence.summary


def test_model_6_still_fails_a_real_failing_slice_when_a_configured_column_is_too_thin(
    make_system,
):
    evaluation = regional_frame(2000, seed=1, noisy="east")
    evaluation["channel"] = [f"c{i % 20}" for i in range(len(evaluation))]
    system = make_system(
        regional_frame(2500, seed=0, noisy="east"),
        evaluation,
        sections={"slices": {"columns": ["channel"], "min_size": 150}},
    )
    evidence = model_6(system)
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["worst_slice"] == "region = east"


# -- model.7 -------------------------------------------------------------------------------
def people_frame(n: int, *, seed: int, proxy: bool = False, biased: bool = False):
    """binary_frame with an independent gender; optionally an input copying it, or a bias."""
    frame = binary_frame(n, seed=seed)
    rng = np.random.default_rng(seed + 200)
    gender = rng.choice(["f", "m"], n)
    frame["gender"] = gender
    if proxy:
        frame["shoe_size"] = (gender == "m") + rng.normal(scale=0.2, size=n)
    if biased:  # x1 shifts with gender (weakly), so the model's decisions do
        frame["x1"] += 0.8 * (gender == "m")
        frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-2 * frame["x1"]))).astype(int)
    return frame


FAIRNESS = {"fairness": {"sensitive": ["gender"]}}


def test_model_7_passes_when_gender_is_independent_of_inputs_and_decisions(make_system):
    system = make_system(people_frame(2500, seed=0), people_frame(2500, seed=1), sections=FAIRNESS)
    evidence = model_7(system)
    assert evidence.status == "pass", evidence.summary
    groups, differences, proxies = evidence.tables
    assert groups.columns[2:-1] == [
        "roc_auc",
        "accuracy",
        "selection_rate",
        "true_positive_rate",
        "false_positive_rate",
    ]
    assert [row[0] for row in groups.rows] == ["f", "m"]
    assert [row[1] for row in differences.rows] == [
        "demographic parity difference",
        "equalized odds difference",
    ]
    assert all(row[4] == "pass" for row in differences.rows)
    assert evidence.facts["flagged_proxies"] == 0
    assert {row[0] for row in proxies.rows} == {"x1", "x2", "group"}
    assert evidence.figures[0].reference == {"max_proxy_association": 0.5}


def test_model_7_fails_and_flags_an_input_that_copies_gender(make_system):
    system = make_system(
        people_frame(2500, seed=0, proxy=True),
        people_frame(2500, seed=1, proxy=True),
        sections=FAIRNESS,
    )
    evidence = model_7(system)
    assert evidence.status == "fail"
    proxies = evidence.tables[-1]
    assert proxies.rows[0][:3] == ["shoe_size", "gender", "correlation ratio"]
    assert proxies.rows[0][3] > 0.9 and proxies.rows[0][4] is True
    assert [row[4] for row in proxies.rows[1:]] == [False] * 3
    assert "shoe_size" in evidence.summary and "shoe_size" in evidence.hint
    assert evidence.figures[0].flagged[0] is True


def test_model_7_fails_decisions_that_differ_by_gender_without_a_strong_proxy(make_system):
    system = make_system(
        people_frame(2500, seed=0, biased=True),
        people_frame(2500, seed=1, biased=True),
        sections=FAIRNESS,
    )
    evidence = model_7(system)
    assert evidence.status == "fail"
    assert evidence.facts["flagged_proxies"] == 0
    assert evidence.facts["gender.demographic_parity_difference"] > 0.1
    assert "demographic parity difference" in evidence.summary
    assert "max_demographic_parity_difference" in evidence.hint


def test_model_7_fails_a_sensitive_attribute_used_as_a_model_input(make_system):
    system = make_system(
        people_frame(1500, seed=0),
        people_frame(1000, seed=1),
        code=KEEP_EVERYTHING,
        sections={**FAIRNESS, "model": {"features": "sysmodel:build"}},
    )
    evidence = model_7(system)
    assert evidence.status == "fail"
    assert "sensitive attribute(s) used as model input: gender" in evidence.summary
    assert evidence.tables[-1].rows[0][:2] == ["gender", "gender"]


# A logistic model (it raises on a missing value) on inputs that re-add gender and a copy of it.
READDS_GENDER = """
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder


def build(raw):
    inputs = raw[["x1", "x2", "gender"]].copy()
    inputs["sex"] = (raw["gender"] == "m").astype(float)
    return inputs


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    prepare = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["gender"]), remainder="passthrough"
    )
    return make_pipeline(prepare, LogisticRegression()).fit(X, y)
"""


def test_model_7_flags_re_added_gender_when_the_model_raises_on_some_rows(make_system):
    evaluation = people_frame(1500, seed=1)
    women = evaluation.index[evaluation["gender"] == "f"]
    evaluation.loc[women, "x2"] = np.nan  # the model raises on every woman's row
    system = make_system(
        people_frame(1500, seed=0),
        evaluation,
        code=READDS_GENDER,
        sections={**FAIRNESS, "model": {"features": "sysmodel:build"}},
    )
    left_out = len(women)
    assert len(system.unpredictable.rows) == left_out
    evidence = model_7(system)
    assert evidence.status == "fail"
    assert "sensitive attribute(s) used as model input: gender" in evidence.summary
    flagged = {row[0] for row in evidence.tables[-1].rows if row[4]}
    assert flagged == {"gender", "sex"}  # on the men alone gender does not vary: all rows read
    assert evidence.facts["left_out_rows"] == left_out
    assert f"{left_out:,} left out: it raises on them" in evidence.summary
    assert "make it predict them" in evidence.hint  # no women left to compare groups with


def test_model_7_leaves_small_groups_out_of_the_differences_but_lists_them(make_system):
    evaluation = people_frame(1500, seed=1)
    evaluation.loc[evaluation.index < 20, "gender"] = "x"
    system = make_system(people_frame(1500, seed=0), evaluation, sections=FAIRNESS)
    evidence = model_7(system)
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["x"][1] == 20 and rows["x"][-1] == "no: fewer than 30 rows"
    assert rows["f"][-1] == "yes"


def test_model_7_compares_the_primary_metric_across_groups_for_multiclass(make_system):
    train, evaluation = people_frame(1500, seed=0), people_frame(1000, seed=1)
    for frame in (train, evaluation):
        frame["y"] = np.where(frame["x2"] > 1, 2, frame["y"])
    system = make_system(train, evaluation, sections={**FAIRNESS, "system": {"task": "multiclass"}})
    evidence = model_7(system)
    differences = evidence.tables[1].rows
    assert [row[1] for row in differences] == ["accuracy gap between groups"]
    assert "demographic parity and equalized odds apply to binary tasks" in differences[0][5]
    assert evidence.tables[0].columns == ["group", "rows", "accuracy", "compared"]


def test_model_7_is_not_configured_without_sensitive_attributes(make_system):
    system = make_system(people_frame(300, seed=0))
    evidence = model_7(system)
    assert evidence.status == "not_configured"
    assert "[fairness] sensitive = [...]" in evidence.hint and '"gender"' not in evidence.hint
    assert '[attest."model.7"]' in evidence.hint  # data about no one: attest it
