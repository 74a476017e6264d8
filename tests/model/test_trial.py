import numpy as np
import pandas as pd
import pytest

from keel.model.trial import evaluate_expression, reaches_model


def test_evaluate_expression_is_seeded_and_keeps_row_order():
    raw = pd.DataFrame({"a": np.arange(5000), "s": ["x"] * 5000}).set_axis(np.arange(5000)[::-1])
    first = evaluate_expression(raw, "random()", seed=3)
    assert first.equals(evaluate_expression(raw, "random()", seed=3))
    assert not first.equals(evaluate_expression(raw, "random()", seed=4))
    assert list(first.index) == list(raw.index)
    doubled = evaluate_expression(raw, "a * 2 + length(s)")
    assert doubled.tolist() == (raw["a"] * 2 + 1).tolist()
    with pytest.raises(ValueError, match="gave 1 values for 5000 rows"):
        evaluate_expression(raw, "count(*)")


def test_reaches_model_reads_pipelines_and_plain_estimators():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "new": [1.0, 0.0, 1.0, 0.0]})
    y = [0, 1, 0, 1]
    assert reaches_model(LogisticRegression().fit(frame, y), "new")[0] is True
    assert reaches_model(LogisticRegression().fit(frame.to_numpy(), y), "new")[0] is None
    kept = make_pipeline(make_column_transformer(("passthrough", ["a"]), remainder="passthrough"))
    kept.steps.append(("model", LogisticRegression()))
    assert reaches_model(kept.fit(frame, y), "new")[0] is True
    dropped = make_pipeline(make_column_transformer(("passthrough", ["a"])), LogisticRegression())
    reached, note = reaches_model(dropped.fit(frame, y), "new")
    assert reached is False and "preprocessing drops it" in note
