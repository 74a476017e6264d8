"""`keel.explain`: a System's rows explained with its trained model (keel explain, infra.5)."""

import json

import numpy as np
import pandas as pd
import pytest
from systems import HGB_CATEGORICAL, LINEAR_ONE_HOT, binary_frame

from keel.errors import KeelError
from keel.explain import explain, explain_rows, find_row
from keel.model._attribution import unsupported
from keel.model.explain import CannotExplain, split_model

FOREST_REGRESSION = """
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    prepare = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["group"]),
        remainder="passthrough",
    )
    forest = RandomForestRegressor(n_estimators=15, max_depth=8, random_state=seed)
    return make_pipeline(prepare, forest).fit(X, y)
"""


NEAREST = """
from sklearn.compose import make_column_transformer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    prepare = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["group"]),
        remainder="passthrough",
    )
    return make_pipeline(prepare, KNeighborsClassifier()).fit(X, y)
"""


def with_gaps(n: int, *, seed: int) -> pd.DataFrame:
    """binary_frame with missing x1 values, an id column, and a category unseen in training
    (seed 1 only)."""
    frame = binary_frame(n, seed=seed)
    rng = np.random.default_rng(seed + 7)
    frame.loc[rng.random(n) < 0.15, "x1"] = np.nan
    frame.insert(0, "row", [f"r{seed}-{i}" for i in range(n)])
    if seed == 1:
        frame.loc[:9, "group"] = "never-seen"
    return frame


def system_with(make_system, code: str, **sections):
    return make_system(
        with_gaps(1500, seed=0),
        with_gaps(300, seed=1),
        code=code,
        sections={"system": {"id": "row"}, **sections},
    )


def test_linear_model_contributions_add_up_to_the_log_odds(make_system):
    system = system_with(make_system, LINEAR_ONE_HOT)
    found = explain_rows(system, "eval", list(range(0, 300, 10)))
    assert all(e.adds_up for e in found)
    assert max(e.difference for e in found) < 1e-9
    first = found[0]
    assert first.method.startswith("exact linear")
    assert first.output_name.startswith("log-odds")
    model = system.trained.estimator
    inputs = system.dataset("eval").inputs.iloc[[0]]
    assert first.output == pytest.approx(model.decision_function(inputs)[0])


def test_one_hot_columns_are_summed_back_to_their_input(make_system):
    system = system_with(make_system, LINEAR_ONE_HOT)
    found = explain(system, "r1-20")
    by_input = {c.input: c for c in found.contributions}
    assert set(by_input) == {"group", "x1", "x2"}
    assert by_input["group"].features == [
        "onehotencoder__group_a",
        "onehotencoder__group_b",
        "onehotencoder__group_c",
    ]
    assert by_input["x1"].features == ["pipeline__x1"]
    assert by_input["group"].value == found.inputs["group"]


def test_tree_path_attribution_adds_up_with_categorical_splits_and_missing_values(make_system):
    system = system_with(make_system, HGB_CATEGORICAL)
    found = explain_rows(system, "eval", list(range(300)))
    assert all(e.adds_up for e in found)
    assert max(e.difference for e in found) < 1e-9
    assert found[0].method == "tree path attribution (Saabas)"
    # rows with a missing x1 and rows with an unseen category are among them, and add up
    raw = system.raw("eval")
    assert raw["x1"].isna().sum() > 10 and (raw["group"] == "never-seen").sum() == 10
    model = system.trained.estimator
    expected = model.decision_function(system.dataset("eval").inputs)
    np.testing.assert_allclose([e.output for e in found], expected, atol=1e-12)


def test_forest_regression_contributions_add_up_to_the_prediction(make_system):
    frame = with_gaps(1200, seed=0).fillna(0.0)
    frame["y"] = 2 * frame["x1"] - frame["x2"] + (frame["group"] == "a")
    evaluation = with_gaps(200, seed=1).fillna(0.0)
    evaluation["y"] = 0.0
    system = make_system(
        frame,
        evaluation,
        code=FOREST_REGRESSION,
        sections={"system": {"task": "regression", "id": "row"}},
    )
    found = explain_rows(system, "eval", list(range(0, 200, 5)))
    assert all(e.adds_up for e in found)
    assert found[0].output_name == "prediction"
    assert found[0].output == pytest.approx(system.trained.predictions.labels[0])


def test_stages_show_each_pipeline_step_output(make_system):
    system = system_with(make_system, HGB_CATEGORICAL)
    found = explain(system, "#3")
    assert found.row_id == "#3" and found.split == "eval" and found.position == 3
    assert found.raw["row"] == "r1-3"
    assert "row" not in found.inputs and "y" not in found.inputs
    [stage] = found.stages
    assert stage.transformer == "ColumnTransformer"
    assert list(stage.values) == ["ordinalencoder__group", "remainder__x1", "remainder__x2"]


def test_rows_are_found_by_id_in_eval_then_train_or_by_position(make_system):
    system = system_with(make_system, LINEAR_ONE_HOT)
    assert find_row(system, "r1-5") == ("eval", 5)
    assert find_row(system, "r0-7") == ("train", 7)
    assert find_row(system, "#12") == ("eval", 12)


def test_an_unknown_row_id_names_the_id_and_the_column(make_system):
    system = system_with(make_system, LINEAR_ONE_HOT)
    with pytest.raises(KeelError, match=r"'nope' is not a value of column \"row\""):
        find_row(system, "nope")
    with pytest.raises(KeelError, match="#N with N a position"):
        find_row(system, "#300")


def test_without_an_id_column_rows_are_addressed_by_position(make_system):
    system = make_system(binary_frame(600, seed=0), binary_frame(100, seed=1))
    with pytest.raises(KeelError, match="no \\[system\\] id column.*#0"):
        find_row(system, "17")
    assert explain(system, "#0").adds_up


def test_a_model_with_no_exact_method_is_explained_by_shapley_sampling(make_system):
    system = make_system(binary_frame(600, seed=0), binary_frame(100, seed=1), code=NEAREST)
    _, final = split_model(system.trained.estimator)
    assert "KNeighborsClassifier has no exact method" in unsupported(final)
    found = explain_rows(system, "eval", [0, 7, 9])
    alone = explain(system, "#7")
    assert all(e.adds_up for e in found) and found[0].method.startswith("Shapley sampling")
    assert found[1].output == pytest.approx(system.trained.predictions.proba[7, 1])
    by_input = {c.input: c for c in alone.contributions}
    assert set(by_input) == {"group", "x1", "x2"}  # the category is switched as it is
    assert all(c.error is not None and c.error >= 0 for c in alone.contributions)
    # one seed per row: the same estimates alone or among other rows
    assert [c.contribution for c in alone.contributions] == [
        c.contribution for c in found[1].contributions
    ]


def test_a_log_target_is_explained_in_its_own_space_and_mapped_back(make_system):
    from wrapped_systems import LOG_TARGET_COUNTS, REGRESSION, hourly_counts

    system = make_system(
        hourly_counts(1000, seed=0),
        hourly_counts(200, seed=1),
        code=LOG_TARGET_COUNTS,
        sections=REGRESSION,
    )
    found = explain(system, "#5")
    assert found.adds_up and found.difference < 1e-9
    assert found.output == pytest.approx(np.log1p(found.prediction))
    assert f"expm1({found.output:.6g}) = {found.prediction:.6g}, the prediction" in (
        found.mapped_back
    )
    assert [s.transformer for s in found.stages] == ["ColumnTransformer"]
    assert {c.input for c in found.contributions} == {"hour", "workingday", "temp", "weather"}


def test_a_calibrated_svm_is_shown_inside_its_wrapper(make_system):
    from wrapped_systems import CALIBRATED_RBF_SVM, MULTICLASS, digits_frames

    train, evaluation = digits_frames(600, 100)
    system = make_system(
        train, evaluation, code=CALIBRATED_RBF_SVM, sections={**MULTICLASS, "model": {"params": {}}}
    )
    found = explain(system, "#0")
    assert found.adds_up and found.model == "CalibratedClassifierCV of SVC"
    scaled, calibration = found.stages
    assert scaled.name == "copy 1 of 5, standardscaler" and len(scaled.values) == 64
    assert calibration.values["mean of the copies: probability"] == pytest.approx(found.output)
    copies = [v for k, v in calibration.values.items() if "calibrated probability" in k]
    assert len(copies) == 5 and np.mean(copies) == pytest.approx(found.output)
    assert found.output == pytest.approx(found.probability)


def test_a_classifier_giving_labels_only_cannot_be_explained_and_says_why(make_system):
    from wrapped_systems import LABELS_ONLY_RULE

    system = make_system(
        binary_frame(300, seed=0),
        binary_frame(100, seed=1),
        code=LABELS_ONLY_RULE,
        sections={"system": {"primary_metric": "accuracy"}, "model": {"params": {}}},
    )
    with pytest.raises(CannotExplain, match="ThresholdRule gives class labels only"):
        explain(system, "#0")


def test_to_dict_is_strict_json(make_system):
    system = system_with(make_system, HGB_CATEGORICAL)
    missing = int(np.flatnonzero(system.raw("eval")["x1"].isna())[0])
    data = explain(system, f"#{missing}").to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["inputs"]["x1"] is None
    assert data["adds_up"] is True
    assert data["sum"] == pytest.approx(data["output"])


def test_explain_masks_columns_the_schema_declares_personal(make_system):
    from systems import binary_frame

    from keel.data.schema import Feature, Schema, write_schema
    from keel.explain import explain

    data = binary_frame(400)
    data["contact"] = [f"someone{i}@example.org" for i in range(400)]
    system = make_system(
        data,
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": "def build(raw):\n    return raw.drop(columns=['y', 'contact'])\n"},
    )
    schema = Schema(features={"contact": Feature(type="string", pii="drop", pii_kind="email")})
    write_schema(schema, system.root / "keel.schema.yaml")
    shown = explain(system, "#3").raw["contact"]
    assert shown != "someone3@example.org" and "*" in shown
