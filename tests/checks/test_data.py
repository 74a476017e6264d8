import numpy as np
import pandas as pd
import pytest
from systems import HGB_TRAIN, binary_frame

from keel.checks.data import data_1, data_2, data_3, data_4, data_5, data_6
from keel.data.schema import Feature, Schema, write_schema
from keel.system import System


def with_noise(n: int, *, seed: int) -> pd.DataFrame:
    """binary_frame and an input of pure noise, unrelated to the label."""
    frame = binary_frame(n, seed=seed)
    frame["noise"] = np.random.default_rng(seed + 50).normal(size=n)
    return frame


def with_note(n: int, *, seed: int) -> pd.DataFrame:
    """binary_frame and a wide free-text input of noise: costly to hold, useless to the model."""
    frame = binary_frame(n, seed=seed)
    rng = np.random.default_rng(seed + 50)
    frame["note"] = ["".join(rng.choice(list("abcdefgh"), 200)) for _ in range(n)]
    return frame


def deep(system: System) -> System:
    return System.from_path(system.config_file, deep=True)


# -- data.2 --------------------------------------------------------------------------------
def test_data_2_passes_inputs_that_all_carry_signal(make_system):
    system = make_system(binary_frame(2000, seed=0), binary_frame(1000, seed=1))
    evidence = data_2(system)
    assert evidence.status == "pass", evidence.summary
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert set(rows) == {"x1", "x2", "group"}
    assert all(row[3] > 0 and row[4] == "beneficial" for row in rows.values())
    assert evidence.tables[0].rows[0][0] == "x1"  # strongest first
    assert evidence.figures[0].flagged == [False, False, False]
    assert evidence.tables[1].rows == []
    assert evidence.facts["strongest_input"] == "x1"


def test_data_2_fails_a_pure_noise_input_and_names_it(make_system):
    system = make_system(with_noise(2000, seed=0), with_noise(1000, seed=1))
    evidence = data_2(system)
    assert evidence.status == "fail"
    assert evidence.facts["flagged"] == "noise"
    assert "noise" in evidence.summary and "Drop noise" in evidence.hint
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["noise"][3] <= 0 and rows["noise"][4] == "not above noise"
    chart = evidence.figures[0]
    assert chart.flagged == [label == "noise" for label in chart.labels]


def test_data_2_fails_near_duplicate_inputs(make_system):
    def frame(n: int, seed: int) -> pd.DataFrame:
        out = binary_frame(n, seed=seed)
        out["x1_cents"] = out["x1"] * 100 + 3
        out["team"] = out["group"].map({"a": "red", "b": "green", "c": "blue"})
        return out

    system = make_system(frame(2000, 0), frame(1000, 1))
    evidence = data_2(system)
    assert evidence.status == "fail"
    pairs = {(row[0], row[1], row[2]) for row in evidence.tables[1].rows}
    assert pairs == {("x1", "x1_cents", "|Pearson r|"), ("group", "team", "Cramér's V")}
    assert "x1 ~ x1_cents" in evidence.hint and "[importance] max_correlation" in evidence.hint


def test_data_2_deep_adds_leave_one_feature_out_and_flags_what_removal_does_not_hurt(
    make_system,
):
    system = deep(make_system(with_noise(2000, seed=0), with_noise(1000, seed=1)))
    evidence = data_2(system)
    table = evidence.tables[0]
    assert table.columns == [
        "input",
        "importance mean",
        "std",
        "lower bound",
        "LOFO delta",
        "verdict",
    ]
    rows = {row[0]: row for row in table.rows}
    assert rows["x1"][4] > 0.05 and rows["x1"][5] == "beneficial"
    assert rows["noise"][4] <= 0
    assert rows["noise"][5].startswith("not above noise")
    assert evidence.facts["lofo"] is True


# -- data.3 --------------------------------------------------------------------------------
def test_data_3_passes_inputs_whose_cost_matches_their_benefit(make_system):
    system = make_system(binary_frame(2000, seed=0), binary_frame(1000, seed=1))
    evidence = data_3(system)
    assert evidence.status == "pass", evidence.summary
    assert {row[0] for row in evidence.tables[0].rows} == {"x1", "x2", "group"}
    assert evidence.facts["bytes_per_row"] == pytest.approx(8 + 8 + 9, abs=8)
    assert evidence.facts["latency_ms_per_row"] > 0
    assert evidence.facts["feature_ms_per_row"] is None
    assert evidence.tables[1].rows[1][1] == "no feature function"


def test_data_3_fails_a_wide_useless_text_input(make_system):
    system = make_system(with_note(1500, seed=0), with_note(800, seed=1))
    evidence = data_3(system)
    assert evidence.status == "fail"
    assert evidence.facts["flagged"] == "note"
    row = evidence.tables[0].rows[0]
    assert row[0] == "note" and row[1] > 200 and row[2] > 0.8
    assert row[4] == "alone"
    assert row[6] == "no benefit" and row[7] == "too costly"
    assert "Drop note" in evidence.hint
    assert evidence.figures[0].flagged[0]


def eight_inputs(n: int, *, seed: int) -> pd.DataFrame:
    """Seven inputs that carry the label alike and one of noise: eight floats, equally costly."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(7)})
    logit = frame.sum(axis=1).to_numpy()
    frame["useless"] = rng.normal(size=n)
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def test_data_3_fails_a_useless_input_among_eight_equally_costly_ones(make_system):
    system = make_system(eight_inputs(3000, seed=0), eight_inputs(1500, seed=1))
    evidence = data_3(system)
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["flagged"] == "useless"
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["useless"][2] == pytest.approx(1 / 8)  # below the old absolute floor of 0.2
    assert evidence.thresholds["cost_floor"] == pytest.approx(1 / 16)
    assert all(rows[f"x{i}"][7] == "ok" for i in range(7))


def test_data_3_fails_over_the_memory_budget_and_names_the_largest_inputs(make_system):
    system = make_system(
        binary_frame(1500, seed=0),
        binary_frame(800, seed=1),
        sections={"cost": {"max_bytes_per_row": 4}},
    )
    evidence = data_3(system)
    assert evidence.status == "fail"
    assert "bytes/row > 4" in evidence.summary
    assert "[cost] max_bytes_per_row (now 4)" in evidence.hint
    assert evidence.thresholds["max_bytes_per_row"] == 4


def test_data_3_fails_over_the_latency_budget_and_times_the_feature_function(make_system):
    code = HGB_TRAIN + "\n\ndef build(raw):\n    return raw.drop(columns=['y'])\n"
    system = make_system(
        binary_frame(1500, seed=0),
        binary_frame(800, seed=1),
        code=code,
        sections={
            "model": {"features": "sysmodel:build"},
            "cost": {"max_latency_ms_per_row": 1e-6},
        },
    )
    evidence = data_3(system)
    assert evidence.status == "fail"
    assert "ms/row >" in evidence.summary
    assert evidence.facts["feature_ms_per_row"] > 0


# -- data.6 --------------------------------------------------------------------------------
def test_data_6_passes_a_training_function_that_takes_any_inputs(make_system):
    system = make_system(binary_frame(1500, seed=0), binary_frame(600, seed=1))
    evidence = data_6(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["stage"] == "done"
    assert evidence.facts["reached_model"] is True
    assert evidence.facts["train_rows"] == 1500
    assert 0 < evidence.facts["seconds"] < 60
    assert evidence.facts["metric_without"] == pytest.approx(system.trained.metric)
    assert evidence.facts["metric_with"] > 0.6
    assert "keel_trial_input added" in evidence.summary
    assert "noisy copy of the target y" in evidence.facts["source"]
    assert 0 < evidence.facts["predictions_changed"] <= 600
    assert evidence.facts["metric_with"] > evidence.facts["metric_without"]  # the model used it


def test_data_6_adds_an_expression_over_raw_columns(make_system):
    system = make_system(
        binary_frame(1500, seed=0),
        binary_frame(600, seed=1),
        sections={"new_feature": {"name": "x1_squared", "expression": "x1 * x1"}},
    )
    evidence = data_6(system)
    assert evidence.status == "pass", evidence.summary
    assert ["new column's type", "float64"] in evidence.tables[0].rows
    assert ["model inputs the feature code built from it", "x1_squared"] in evidence.tables[0].rows
    assert evidence.facts["predictions_changed"] > 0


HARD_CODED_TRAIN = """
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline

COLUMNS = ["x1", "x2"]


def train(frame, target, params, seed):
    unexpected = sorted(set(frame.columns) - set(COLUMNS) - {target, "group"})
    if unexpected:
        raise ValueError(f"unexpected columns: {unexpected}")
    select = make_column_transformer(("passthrough", COLUMNS))
    model = make_pipeline(select, HistGradientBoostingClassifier(random_state=seed, **params))
    return model.fit(frame.drop(columns=[target]), frame[target])
"""


def test_data_6_fails_a_training_function_with_a_hard_coded_column_list(make_system):
    system = make_system(
        binary_frame(800, seed=0), binary_frame(400, seed=1), code=HARD_CODED_TRAIN
    )
    evidence = data_6(system)
    assert evidence.status == "fail"
    assert evidence.facts["stage"] == "training"
    assert "ValueError: unexpected columns: ['keel_trial_input']" in evidence.summary
    assert "make_column_selector" in evidence.hint


def test_data_6_fails_a_broken_expression_with_the_duckdb_error(make_system):
    system = make_system(
        binary_frame(800, seed=0),
        binary_frame(400, seed=1),
        sections={"new_feature": {"expression": "no_such_column * 2"}},
    )
    evidence = data_6(system)
    assert evidence.status == "fail"
    assert evidence.facts["stage"] == "expression"
    assert "BinderException" in evidence.summary and "no_such_column" in evidence.summary
    assert "[new_feature] expression" in evidence.hint


def test_data_6_fails_a_name_the_model_already_has(make_system):
    system = make_system(
        binary_frame(800, seed=0), sections={"new_feature": {"name": "x1", "expression": "1"}}
    )
    evidence = data_6(system)
    assert evidence.status == "fail"
    assert "already has a column named x1" in evidence.summary


# -- data.7 --------------------------------------------------------------------------------
DROP_EMAIL = """
def build(raw):
    return raw.drop(columns=["y", "email"], errors="ignore")
"""


def with_contacts(n=600, seed=0):
    data = binary_frame(n, seed=seed)
    data["email"] = [f"person{i}@example.org" for i in range(n)]
    return data


def schema_of(system, **overrides):
    features = {
        "x1": Feature(type="float"),
        "x2": Feature(type="float"),
        "group": Feature(type="string", domain=["a", "b", "c"]),
        "y": Feature(type="int", absent_in=["serving"]),
    }
    features.update(overrides)
    schema = Schema(features=features)
    write_schema(schema, system.root / "keel.schema.yaml")
    return schema


def test_data_1_passes_when_both_splits_conform_to_the_schema(make_system):
    system = make_system(binary_frame(400), binary_frame(200, seed=1))
    schema_of(system)
    e = data_1(system)
    assert e.status == "pass", e.summary
    assert e.facts["anomalies"] == 0


def test_data_1_fails_on_a_value_outside_the_domain_and_names_it(make_system):
    evaluation = binary_frame(200, seed=1)
    evaluation.loc[:4, "group"] = "zz"
    system = make_system(binary_frame(400), evaluation)
    schema_of(system)
    e = data_1(system)
    assert e.status == "fail"
    assert "group" in e.summary and "outside its domain" in e.summary
    assert e.tables[1].rows[0][:4] == ["eval", "group", "out_of_domain", 5]


def test_data_1_without_a_schema_file_says_how_to_infer_one(make_system):
    e = data_1(make_system(binary_frame(300)))
    assert e.status == "not_configured"
    assert "keel schema infer" in e.hint


def test_data_4_fails_on_a_deny_listed_input(make_system):
    data = binary_frame(300)
    data["ssn_raw"] = np.arange(300)
    system = make_system(data, sections={"policy": {"deny": ["ssn*"]}})
    e = data_4(system)
    assert e.status == "fail"
    assert "ssn_raw matches deny pattern 'ssn*'" in e.summary


def test_data_4_passes_when_inputs_obey_the_policy(make_system):
    system = make_system(binary_frame(300), sections={"policy": {"deny": ["ssn*", "*_raw"]}})
    e = data_4(system)
    assert e.status == "pass"


def test_data_4_requires_owner_and_description_when_the_policy_says_so(make_system):
    system = make_system(binary_frame(300), sections={"policy": {"require_owner": True}})
    schema_of(system, x1=Feature(type="float", owner="risk", description="first score"))
    e = data_4(system)
    assert e.status == "fail"
    assert "x2 has no owner" in e.summary
    assert "x1" not in e.summary


def test_data_4_without_any_policy_is_not_configured(make_system):
    e = data_4(make_system(binary_frame(300)))
    assert e.status == "not_configured"
    assert "[policy] deny" in e.hint


def test_data_5_fails_when_a_raw_email_column_reaches_the_model(make_system):
    system = make_system(with_contacts())
    schema_of(system, email=Feature(type="string", pii="redact", pii_kind="email"))
    e = data_5(system)
    assert e.status == "fail"
    assert "email (email)" in e.summary and "reaches the model raw" in e.summary


def test_data_5_fails_when_a_pii_column_has_no_declared_handling(make_system):
    system = make_system(
        with_contacts(),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": DROP_EMAIL},
    )
    schema_of(system, email=Feature(type="string"))
    e = data_5(system)
    assert e.status == "fail"
    assert "no handling declared" in e.summary


def test_data_5_passes_when_pii_is_declared_and_dropped_before_the_model(make_system):
    system = make_system(
        with_contacts(),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": DROP_EMAIL},
    )
    schema_of(system, email=Feature(type="string", pii="drop", pii_kind="email"))
    e = data_5(system)
    assert e.status == "pass", e.summary
    assert e.facts["pii_columns"] == 1


def log_served(system, rows, time="2026-11-01T12:00:00+00:00"):
    """Records in the system's prediction log, as a server (or an older one) wrote them."""
    from keel.log.writer import PredictionLog, segments_dir

    folder = segments_dir(system.root / system.config.data.serving_log)
    with PredictionLog(folder) as log:
        log.append({"time": time, "model_version": 1, "inputs": row} for row in rows)


def test_data_5_fails_when_the_prediction_log_holds_an_email_raw_and_passes_when_hashed(
    make_system,
):
    from keel.data.pii import apply_handling

    system = make_system(
        with_contacts(),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": DROP_EMAIL},
    )
    schema_of(system, email=Feature(type="string", pii="hash", pii_kind="email"))
    emails = pd.Series([f"client{i}@example.org" for i in range(50)])
    hashed = apply_handling(emails, "hash", kind="email", key=b"k" * 32)
    log_served(system, [{"x1": 0.1, "email": e} for e in hashed])
    e = data_5(system)
    assert e.status == "pass", e.summary
    assert e.facts["logged_rows_scanned"] == 50 and "50 logged serving rows" in e.summary
    log_served(system, [{"x1": 0.1, "email": e} for e in emails])  # a server that did not hash
    e = data_5(System.from_path(system.root))  # the next run takes the new rows
    assert e.status == "fail"
    assert "prediction log holds email values raw in inputs.email" in e.summary
    assert e.tables[-1].title == "Personal data found raw in the prediction log"


def test_data_5_finds_raw_emails_in_older_logged_rows_and_keeps_its_findings(make_system):
    system = make_system(
        with_contacts(),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": DROP_EMAIL},
    )
    schema_of(system, email=Feature(type="string", pii="drop", pii_kind="email"))
    # 2,355 raw addresses in a free-text field, then 6,000 clean rows after them
    older, newer = "2026-11-01T09:00:00+00:00", "2026-11-01T12:00:00+00:00"
    log_served(system, [{"x1": 0.1, "note": f"mail p{i}@example.org"} for i in range(2_355)], older)
    log_served(system, [{"x1": 0.1, "note": "no contact"} for _ in range(6_000)], newer)
    e = data_5(system)
    assert e.status == "fail", e.summary
    assert "prediction log holds email values raw in inputs.note" in e.summary
    assert e.facts["logged_rows_scanned"] == 8_355
    assert e.tables[-1].rows[0][2] == "2,355 of the 8,355 logged values"
    # a later run takes nothing new and judges from the findings kept with the summaries
    log_served(system, [{"x1": 0.1, "note": "no contact"} for _ in range(10)])
    again = data_5(System.from_path(system.root))
    assert again.status == "fail" and again.facts["logged_rows_scanned"] == 8_365


def test_data_5_passes_on_data_without_personal_data(make_system):
    e = data_5(make_system(binary_frame(300)))
    assert e.status == "pass"
    assert "no personal data" in e.summary


def test_data_5_flags_a_model_input_holding_pii_under_another_name(make_system):
    data = binary_frame(300)
    data["contact"] = pd.Series([f"p{i}@mail.example.com" for i in range(300)])
    system = make_system(data)
    schema_of(system, contact=Feature(type="string", pii="hash", pii_kind="email"))
    e = data_5(system)
    assert e.status == "fail"
    assert "contact" in e.summary


def with_ids(n: int, *, seed: int, prefix: str) -> pd.DataFrame:
    frame = binary_frame(n, seed=seed)
    frame.insert(0, "app", [f"{prefix}-{i}" for i in range(n)])
    return frame


def test_data_1_fails_on_repeated_example_ids_and_names_them(make_system):
    train = with_ids(400, seed=0, prefix="t")
    train.loc[[10, 11, 12], "app"] = "t-7"  # t-7 on four rows
    evaluation = with_ids(200, seed=1, prefix="e")
    evaluation.loc[5, "app"] = "t-100"  # an id the training data has too
    system = make_system(train, evaluation, sections={"system": {"id": "app"}})
    schema_of(system, app=Feature(type="string"))
    e = data_1(system)
    assert e.status == "fail", e.summary
    assert "'t-7' (4 rows)" in e.summary
    assert "in both the training and the evaluation data" in e.summary and "'t-100'" in e.summary
    assert "unique" in e.hint
    table = e.tables[-1]
    assert ["train", "t-7", 4] in table.rows and ["train and eval", "t-100", None] in table.rows


def test_data_1_passes_unique_example_ids(make_system):
    system = make_system(
        with_ids(400, seed=0, prefix="t"),
        with_ids(200, seed=1, prefix="e"),
        sections={"system": {"id": "app"}},
    )
    schema_of(system, app=Feature(type="string"))
    e = data_1(system)
    assert e.status == "pass", e.summary
    assert "every app names one row" in e.summary
    assert e.tables[-1].rows == []


def test_data_1_fails_repeated_ids_even_without_a_schema(make_system):
    train = with_ids(300, seed=0, prefix="t")
    train.loc[1, "app"] = "t-0"
    e = data_1(make_system(train, sections={"system": {"id": "app"}}))
    assert e.status == "fail"
    assert "'t-0' (2 rows)" in e.summary and "keel schema infer" in e.hint


def test_data_4_with_only_sensitive_attributes_is_not_configured(make_system):
    data = binary_frame(300)
    data["gender"] = np.where(np.arange(300) % 2, "f", "m")
    e = data_4(make_system(data, sections={"fairness": {"sensitive": ["gender"]}}))
    assert e.status == "not_configured", e.summary
    assert "by construction" in e.summary and "[policy] deny" in e.hint


def test_data_4_fails_a_sensitive_attribute_that_the_feature_code_re_adds(make_system):
    data = binary_frame(300)
    data["gender"] = np.where(np.arange(300) % 2, "f", "m")
    system = make_system(
        data,
        sections={"fairness": {"sensitive": ["gender"]}, "model": {"features": "feats:build"}},
        files={"feats.py": "def build(raw):\n    return raw.drop(columns=['y'])\n"},
    )
    e = data_4(system)
    assert e.status == "fail"
    assert "gender is a sensitive attribute" in e.summary


def test_data_5_lists_a_yes_no_column_named_like_a_phone_for_review_and_passes(make_system):
    data = binary_frame(600)
    data["owns_phone"] = np.where(np.arange(600) % 3, "yes", "no")
    e = data_5(make_system(data))
    assert e.status == "pass", e.summary
    assert "to review: owns_phone" in e.summary
    [row] = e.tables[0].rows
    assert row[0] == "owns_phone" and row[-1].startswith("review")


def test_data_5_fails_e_mails_in_4_percent_of_a_free_text_input(make_system):
    data = binary_frame(1000)
    rng = np.random.default_rng(0)
    notes = [" ".join(rng.choice(["paid", "late", "agreed", "fee"], 5)) for _ in range(1000)]
    for i in range(0, 1000, 25):
        notes[i] += f" reply to client{i}@example.com"
    data["note"] = notes
    e = data_5(make_system(data, binary_frame(200, seed=1).assign(note="none")))
    assert e.status == "fail", e.summary
    assert "note (email)" in e.summary
    [row] = e.tables[0].rows
    assert row[2] == "40 of the sampled values" and row[3] == 0.04


FIXED_LIST_FEATURES = """
import pandas as pd

def build(raw):
    return pd.DataFrame({"x1": raw["x1"], "x2": raw["x2"], "group": raw["group"]})
"""

IGNORES_EXTRA_COLUMNS = '''
from sklearn.ensemble import HistGradientBoostingClassifier

COLUMNS = ["x1", "x2"]


class OnlyTheKnownColumns:
    """Trained on a fixed list of columns; silently ignores any other it is given."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict(self, X):
        return self.model.predict(X[COLUMNS])

    def predict_proba(self, X):
        return self.model.predict_proba(X[COLUMNS])


def train(frame, target, params, seed):
    model = HistGradientBoostingClassifier(random_state=seed, **params)
    return OnlyTheKnownColumns(model.fit(frame[COLUMNS], frame[target]))
'''


def test_data_6_fails_feature_code_that_selects_a_fixed_list_of_columns(make_system):
    system = make_system(
        binary_frame(800, seed=0),
        binary_frame(400, seed=1),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": FIXED_LIST_FEATURES},
    )
    evidence = data_6(system)
    assert evidence.status == "fail"
    assert evidence.facts["stage"] == "feature code"
    assert "no input can be added by configuration" in evidence.summary
    assert "fixed list of columns" in evidence.summary
    assert "pass through raw columns it does not know" in evidence.hint
    assert "pd.concat([inputs, raw[new]], axis=1)" in evidence.hint


def test_data_6_fails_a_training_function_that_ignores_extra_columns(make_system):
    system = make_system(
        binary_frame(800, seed=0), binary_frame(400, seed=1), code=IGNORES_EXTRA_COLUMNS
    )
    evidence = data_6(system)
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["stage"] == "model inputs"
    assert evidence.facts["predictions_changed"] == 0
    assert "the model ignores it" in evidence.summary
    assert "pass every input it receives" in evidence.hint


def test_data_6_fails_a_configured_expression_the_model_does_not_use(make_system):
    system = make_system(
        binary_frame(800, seed=0),
        binary_frame(400, seed=1),
        sections={"new_feature": {"expression": "42"}},  # a constant cannot move a prediction
    )
    evidence = data_6(system)
    assert evidence.status == "fail"
    assert evidence.facts["stage"] == "model inputs"
    assert "remove it so Keel uses a noisy copy of the target" in evidence.hint
