"""The System side of infra.1 and infra.2: fresh training processes, the cached smoke test."""

import pytest
from systems import NAN_FOR_C, binary_frame

from keel.checks._measure_infra import reproduce, smoke_test
from keel.data.schema import Feature, Range, Schema, write_schema
from keel.errors import CheckError


def test_a_crashing_training_process_is_an_error_with_its_output(make_system):
    code = "def train(frame, target, params, seed):\n    raise RuntimeError('boom')\n"
    system = make_system(binary_frame(200, seed=0), binary_frame(100, seed=1), code=code)
    with pytest.raises(CheckError, match="training process 1 failed.*boom"):
        reproduce(system)


CRASHES_ON_FEW_ROWS = """
def train(frame, target, params, seed):
    if len(frame) < 1000:
        raise ValueError("needs at least 1000 rows")
    from sklearn.dummy import DummyClassifier
    return DummyClassifier().fit(frame.drop(columns=[target]), frame[target])
"""


def with_schema(system, features: dict[str, Feature]) -> None:
    write_schema(Schema(features=features), system.root / "keel.schema.yaml")


def test_smoke_test_passes_a_model_that_trains_and_predicts_on_synthetic_rows(make_system):
    system = make_system(binary_frame(500, seed=0), binary_frame(100, seed=1))
    with_schema(
        system,
        {
            "x1": Feature(type="float", range=Range(min=-3, max=3)),
            "x2": Feature(type="float", presence=0.7),
            "group": Feature(type="string", domain=["a", "b", "c", "d"]),
            "y": Feature(type="int"),
        },
    )
    result = smoke_test(system)
    assert result.failed == [], result.steps
    assert result.source == "schema keel.schema.yaml"
    assert [s.step for s in result.steps][:3] == ["synthesis", "features", "training"]


def test_smoke_test_fails_a_model_that_returns_nan_for_a_valid_category(make_system):
    system = make_system(binary_frame(500, seed=0), binary_frame(100, seed=1), code=NAN_FOR_C)
    result = smoke_test(system)
    assert result.source.startswith("the training data (no schema file")
    failed = {s.step: s.detail for s in result.failed}
    assert set(failed) == {"probabilities are finite", "rows the model may crash on"}
    assert "rows hold NaN or infinity" in failed["probabilities are finite"]
    assert "NaN or infinity on" in failed["rows the model may crash on"]
    labels = {p.label for p in result.edge.not_finite}
    assert "group = 'c' (seen)" in labels and "group = 'a' (seen)" not in labels
    assert result.edge.inputs() == ["group"]


def test_smoke_test_reports_training_that_crashes_on_few_rows(make_system):
    system = make_system(
        binary_frame(1200, seed=0), binary_frame(100, seed=1), code=CRASHES_ON_FEW_ROWS
    )
    [failed] = smoke_test(system).failed
    assert failed.step == "training" and "needs at least 1000 rows" in failed.detail
