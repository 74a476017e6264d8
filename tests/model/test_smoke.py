import numpy as np
import pandas as pd
from systems import binary_frame

from keel.errors import UserCodeError
from keel.model.metrics import Predictions
from keel.model.smoke import edge_rows, smoke_test


def build(raw):
    return raw.drop(columns=["y"])


def fit(inputs, target, *, params=None, seed=None):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["group"]),
        remainder="passthrough",
    )
    return make_pipeline(encode, HistGradientBoostingClassifier(max_iter=20)).fit(inputs, target)


def nan_for_c(estimator, inputs):
    """Predictions of the model, except NaN probabilities for every row of group "c"."""
    proba = estimator.predict_proba(inputs)
    proba[inputs["group"].to_numpy() == "c"] = np.nan
    return Predictions(estimator.predict(inputs), proba, estimator.classes_)


def smoke_of(predict, trained):
    raw = binary_frame(500, seed=0)
    return smoke_test(
        raw,
        build=build,
        fit=fit,
        predict=predict,
        trained=trained,
        target="y",
        task="binary",
        seed=0,
        rows=200,
        schema_features=None,
        source="the training rows",
    )


def test_the_smoke_test_runs_a_fit_and_a_predict_function_on_synthetic_rows():
    raw = binary_frame(500, seed=0)
    model = fit(build(raw), raw["y"])
    result = smoke_of(nan_for_c, lambda: model)
    failed = {s.step: s.detail for s in result.failed}
    assert set(failed) == {"probabilities are finite", "rows the model may crash on"}
    assert [s.step for s in result.steps][:3] == ["synthesis", "features", "training"]
    labels = {p.label for p in result.edge.not_finite}
    assert "group = 'c' (seen)" in labels and "group = 'a' (seen)" not in labels


def test_a_model_that_cannot_be_had_fails_the_edge_rows_step():
    def untrainable():
        raise UserCodeError("boom")

    def predict(estimator, inputs):
        return Predictions(estimator.predict(inputs), estimator.predict_proba(inputs))

    result = smoke_of(predict, untrainable)
    assert result.edge.error == "the model could not be trained on the training data: boom"
    assert [s.step for s in result.failed] == ["rows the model may crash on"]


def test_edge_rows_change_one_input_of_a_real_row_at_a_time():
    raw = pd.DataFrame({"n": [1.0, 5.0, 3.0], "t": ["a", "b", "a"], "y": [0, 1, 0]})
    frame, probes = edge_rows(raw, skip={"y"}, seed=0)
    assert [p.kind for p in probes][:3] == ["real row"] * 3
    assert len(frame) == len(probes)
    missing = next(i for i, p in enumerate(probes) if p.label == "n missing")
    assert np.isnan(frame["n"].iloc[missing]) and frame["y"].iloc[missing] == 0
