import numpy as np
import pandas as pd
import pytest
from systems import binary_frame

from keel.errors import KeelError
from keel.model._attribution import expectations
from keel.model.explain import explain_rows, lineage
from keel.model.explain_row import find_row
from keel.model.metrics import Predictions


def test_expectations_are_count_weighted_means_of_the_leaves():
    # root 0 → (1, 2); node 1 → leaves (3, 4); node 2 is a leaf
    left = np.array([1, 3, 0, 0, 0])
    right = np.array([2, 4, 0, 0, 0])
    leaf = np.array([False, False, True, True, True])
    value = np.array([0.0, 0.0, 6.0, 1.0, 4.0])
    weight = np.array([0, 0, 2, 1, 3])
    ev = expectations(left, right, leaf, value, weight)
    assert ev[1] == pytest.approx((1 * 1 + 3 * 4) / 4)
    assert ev[0] == pytest.approx((2 * 6 + 1 * 1 + 3 * 4) / 6)


def test_lineage_maps_passthrough_and_one_hot_groups_to_their_inputs():
    from sklearn.compose import make_column_transformer
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"c": ["a", "b", "c", "a"], "x": [1.0, 2, 3, 4], "z": [0.0, 1, 0, 1]})
    encode = make_column_transformer(
        (OneHotEncoder(), ["c"]), remainder="passthrough", sparse_threshold=0
    ).fit(frame)
    assert lineage(encode, 3) == [{0}, {0}, {0}, {1}, {2}]
    mixed = make_column_transformer((PCA(1), ["x", "z"]), remainder="passthrough").fit(frame)
    assert lineage(mixed, 3) is None


def plain_model():
    """A linear pipeline fitted on plain frames, and its data."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    raw = binary_frame(600, seed=0)
    raw.insert(0, "row", [f"r{i}" for i in range(600)])
    inputs = raw[["x1", "x2"]]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(inputs, raw["y"])
    return model, raw, inputs


def predict(estimator, inputs):
    return Predictions(
        estimator.predict(inputs), estimator.predict_proba(inputs), estimator.classes_
    )


def test_explain_rows_takes_a_model_and_plain_frames():
    model, raw, inputs = plain_model()
    found = explain_rows(
        model,
        raw,
        inputs,
        [0, 5],
        predict=predict,
        split="eval",
        tolerance=1e-6,
        train_inputs=inputs,
        id_column="row",
        pii_columns={"row": "name_like_column"},
    )
    assert [e.position for e in found] == [0, 5] and all(e.adds_up for e in found)
    assert found[0].row_id == "r0" and found[0].raw["row"] != "r0"  # masked
    assert found[1].output == pytest.approx(model.decision_function(inputs.iloc[[5]])[0])
    with pytest.raises(ValueError, match="'train_inputs' parameter of explain_rows"):
        explain_rows(model, raw, inputs, [0], predict=predict, split="eval", tolerance=1e-6)


def test_find_row_looks_in_the_evaluation_rows_then_the_training_rows():
    train = pd.DataFrame({"row": ["a", "b", "c"]})
    evaluation = pd.DataFrame({"row": ["c", "d"]})
    rows = {"eval_raw": evaluation, "train_raw": train, "id_column": "row"}
    assert find_row("d", **rows) == ("eval", 1) and find_row("b", **rows) == ("train", 1)
    assert find_row("#1", **rows) == ("eval", 1)
    with pytest.raises(KeelError, match="matches 2 rows"):
        find_row("c", **rows)
    with pytest.raises(KeelError, match="no \\[system\\] id column"):
        find_row("a", eval_raw=evaluation, train_raw=train, id_column=None)


def test_nested_pipelines_and_a_target_transformer_are_taken_off():
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from keel.model._unwrap import unwrap

    raw = binary_frame(400, seed=0)
    inputs = raw[["x1", "x2"]]
    target = np.exp(1 + raw["x1"] - 0.5 * raw["x2"])
    inner = TransformedTargetRegressor(Ridge(), func=np.log, inverse_func=np.exp)
    model = make_pipeline(StandardScaler(), make_pipeline(StandardScaler(), inner))
    model.fit(inputs, target)
    unwrapped = unwrap(model)
    assert [name for name, _ in unwrapped.steps] == [
        "standardscaler",
        "pipeline/standardscaler",
    ]
    assert unwrapped.model_name == "Ridge in a TransformedTargetRegressor"
    found = explain_rows(
        model,
        raw,
        inputs,
        [3],
        predict=lambda e, x: Predictions(e.predict(x)),
        split="eval",
        tolerance=1e-6,
        train_inputs=inputs,
    )[0]
    assert found.method == "exact linear attribution, Ridge" and found.adds_up
    assert [s.name for s in found.stages] == ["standardscaler", "pipeline/standardscaler"]
    assert np.exp(found.output) == pytest.approx(found.prediction)
    assert "with exp: exp(" in found.mapped_back


def test_a_multiclass_linear_svm_is_sampled_not_read_from_its_one_vs_one_coefficients():
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    inputs = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    target = np.digitize(inputs["a"] + 0.5 * inputs["b"], [-0.5, 0.5])
    model = SVC(kernel="linear").fit(inputs, target)
    found = explain_rows(
        model,
        inputs,
        inputs,
        list(range(10)),
        predict=lambda e, x: Predictions(e.predict(x)),
        split="eval",
        tolerance=1e-6,
        train_inputs=inputs,
    )
    assert all(e.adds_up for e in found)
    assert found[0].method.startswith("Shapley sampling")
    assert found[0].output_name == "decision function of the predicted class"
