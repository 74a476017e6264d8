"""`keel explain` on a real system, run with Typer's CliRunner."""

import json

import pytest
import typer
from systems import binary_frame
from typer.testing import CliRunner

from keel.cli import app as keel_app

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    return keel_app


@pytest.fixture
def system(make_system):
    def frame(n: int, seed: int):
        out = binary_frame(n, seed=seed)
        out.insert(0, "application", [f"app-{seed}-{i}" for i in range(n)])
        return out

    return make_system(frame(800, 0), frame(200, 1), sections={"system": {"id": "application"}})


def test_explain_prints_every_stage_the_contributions_and_the_sum_check(app, system):
    result = runner.invoke(app, ["explain", "app-1-7", str(system.root)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Row app-1-7 (evaluation data, position 7)" in out
    assert "1. Raw values" in out and "2. Model inputs" in out
    assert "3. Pipeline step" in out and "(ColumnTransformer)" in out
    assert "Contributions to the log-odds" in out
    assert "adds up" in out and "does NOT" not in out


def test_explain_json_is_plain_json_that_adds_up(app, system):
    result = runner.invoke(app, ["explain", "#4", str(system.root / "keel.toml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["row_id"] == "#4" and data["raw"]["application"] == "app-1-4"
    assert data["adds_up"] is True
    total = data["baseline"] + sum(c["contribution"] for c in data["contributions"])
    assert total == pytest.approx(data["output"], abs=1e-9)
    assert {c["input"] for c in data["contributions"]} == {"x1", "x2", "group"}


def test_explain_finds_training_rows_too(app, system):
    result = runner.invoke(app, ["explain", "app-0-3", str(system.root), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["split"] == "train"


def test_an_unknown_row_id_exits_2_naming_the_id_and_the_column(app, system):
    result = runner.invoke(app, ["explain", "no-such-row", str(system.root)])
    assert result.exit_code == 2
    assert "'no-such-row' is not a value of column \"application\"" in result.output
    assert "Traceback" not in result.output


def test_an_id_on_several_rows_exits_2_listing_every_match(app, make_system):
    def frame(n: int, seed: int):
        out = binary_frame(n, seed=seed)
        out.insert(0, "application", [f"app-{seed}-{i}" for i in range(n)])
        return out

    train, evaluation = frame(800, 0), frame(200, 1)
    evaluation.loc[[3, 9], "application"] = "app-1-7"  # app-1-7 on three evaluation rows
    train.loc[5, "application"] = "app-1-7"  # and on a training row
    system = make_system(train, evaluation, sections={"system": {"id": "application"}})
    result = runner.invoke(app, ["explain", "app-1-7", str(system.root)])
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "'app-1-7' matches 4 rows" in out
    for where in ("evaluation data position 3", "position 7", "position 9"):
        assert where in out
    assert "training data position 5" in out
    assert "keel explain '#3'" in out
    assert "Traceback" not in out


def test_a_log_target_model_prints_how_its_output_becomes_the_prediction(app, make_system):
    from wrapped_systems import LOG_TARGET_COUNTS, REGRESSION, hourly_counts

    system = make_system(
        hourly_counts(800, seed=0),
        hourly_counts(100, seed=1),
        code=LOG_TARGET_COUNTS,
        sections=REGRESSION,
    )
    result = runner.invoke(app, ["explain", "#2", str(system.root)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "HistGradientBoostingRegressor in a TransformedTargetRegressor" in out
    assert "Contributions to the prediction in the transformed target space" in out
    assert "maps this output back to the target's scale with expm1: expm1(" in out


NEIGHBOURS = """
from sklearn.neighbors import KNeighborsClassifier


def train(frame, target, params, seed):
    return KNeighborsClassifier().fit(frame.drop(columns=[target]), frame[target])
"""


def test_sampled_contributions_are_printed_with_their_standard_errors(app, make_system):
    def frame(n: int, seed: int):
        return binary_frame(n, seed=seed).drop(columns="group")

    system = make_system(frame(400, 0), frame(100, 1), code=NEIGHBOURS)
    result = runner.invoke(app, ["explain", "#1", str(system.root)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "± standard error" in out and "Shapley sampling" in out
    assert "adds up" in out


def test_a_model_keel_cannot_explain_exits_2_saying_why(app, make_system):
    from wrapped_systems import LABELS_ONLY_RULE

    system = make_system(
        binary_frame(300, seed=0),
        binary_frame(100, seed=1),
        code=LABELS_ONLY_RULE,
        sections={"system": {"primary_metric": "accuracy"}, "model": {"params": {}}},
    )
    result = runner.invoke(app, ["explain", "#0", str(system.root)])
    assert result.exit_code == 2, result.output
    assert "gives class labels only" in " ".join(result.output.split())
    assert "Traceback" not in result.output
