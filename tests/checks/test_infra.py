import contextlib

import numpy as np
import pandas as pd
import pytest
from systems import HGB_CATEGORICAL, LINEAR_ONE_HOT, NAN_FOR_C, binary_frame, write_system
from threadpoolctl import threadpool_limits

from keel.checks._coverage import SuiteRun
from keel.checks.infra import infra_1, infra_2, infra_5
from keel.system import System

UNSEEDED_FOREST = """
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    encode = make_column_transformer((OrdinalEncoder(), ["group"]), remainder="passthrough")
    forest = RandomForestClassifier(n_estimators=20)  # random_state left out: unseeded
    return make_pipeline(encode, forest).fit(X, y)
"""


TRAINING_TESTS = {
    "tests/test_train.py": """
        import pandas as pd
        from sysmodel import train


        def test_trains_on_a_few_rows():
            frame = pd.DataFrame({"x1": [0.0, 1.0] * 20, "x2": [1.0, 0.0] * 20,
                                  "group": ["a", "b"] * 20, "y": [0, 1] * 20})
            assert train(frame, "y", {"max_iter": 5}, 0).predict(frame).shape == (40,)
        """,
    "tests/conftest.py": """
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        """,
}


NEAREST_NEIGHBOURS = """
from sklearn.neighbors import KNeighborsClassifier


def train(frame, target, params, seed):
    return KNeighborsClassifier().fit(frame.drop(columns=[target]), frame[target])
"""


def numeric_frame(n: int, *, seed: int) -> pd.DataFrame:
    return binary_frame(n, seed=seed).drop(columns="group")


def with_missing(n: int, *, seed: int) -> pd.DataFrame:
    frame = binary_frame(n, seed=seed)
    frame.loc[np.random.default_rng(seed).random(n) < 0.2, "x2"] = np.nan
    return frame


# -- infra.1 -------------------------------------------------------------------------------
def test_infra_1_passes_seeded_training_that_reproduces_in_fresh_processes(make_system):
    system = make_system(binary_frame(1000, seed=0), binary_frame(400, seed=1))
    evidence = infra_1(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["max_difference"] == 0.0
    assert "predict the same on 400 evaluation rows" in evidence.summary
    comparison = evidence.tables[0]
    assert comparison.rows[0][:2] == ["largest |prediction difference|", 0.0]
    assert evidence.tables[2].rows == [
        ["histgradientboostingclassifier__random_state", 1, "the configured seed"]
    ]
    assert evidence.figures[0].values[0] == 1.0  # every row identical
    assert evidence.thresholds["max_prediction_difference"] == 1e-9


def test_infra_1_fails_training_with_unseeded_randomness_and_names_it(make_system):
    system = make_system(
        binary_frame(1000, seed=0), binary_frame(400, seed=1), code=UNSEEDED_FOREST
    )
    evidence = infra_1(system)
    assert evidence.status == "fail"
    assert evidence.facts["max_difference"] > 0.01
    assert evidence.facts["differing_share"] > 0.5
    assert "unseeded estimator: randomforestclassifier__random_state=None" in evidence.summary
    assert "random_state=seed" in evidence.hint
    assert any(evidence.figures[0].flagged)


# -- infra.2 -------------------------------------------------------------------------------
def test_infra_2_passes_training_code_that_handles_synthetic_rows_and_runs_its_tests(make_system):
    system = make_system(with_missing(600, seed=0), binary_frame(200, seed=1), files=TRAINING_TESTS)
    evidence = infra_2(system)
    assert evidence.status == "pass", evidence.summary
    assert "well formed" in evidence.summary
    assert "1 test(s) of the training code in tests/test_train.py pass" in evidence.summary
    steps = {row[0]: row[1] for row in evidence.tables[0].rows}
    assert set(steps.values()) == {"pass"}
    assert evidence.tables[1].rows[0][:3] == ["tests/test_train.py", 1, 0]
    assert evidence.facts["training_tests_passed"] == 1


def test_infra_2_fails_a_model_that_returns_nan_for_a_valid_input(make_system):
    system = make_system(binary_frame(600, seed=0), binary_frame(200, seed=1), code=NAN_FOR_C)
    evidence = infra_2(system)
    assert evidence.status == "fail"
    assert "probabilities are finite" in evidence.summary
    assert "NaN" in evidence.summary and "malformed output for valid input" in evidence.hint
    assert "no schema file" in evidence.tables[0].title


def test_infra_2_fails_when_the_users_training_tests_fail(make_system):
    failing = {
        "tests/test_training.py": "import sysmodel\n\n\ndef test_broken():\n    assert False\n"
    }
    system = make_system(binary_frame(600, seed=0), binary_frame(200, seed=1), files=failing)
    evidence = infra_2(system)
    assert evidence.status == "fail"
    assert evidence.summary == "training tests in tests/test_training.py: 1 failing"
    assert "python -m pytest tests/test_training.py" in evidence.hint


# -- infra.5 -------------------------------------------------------------------------------
def test_infra_5_passes_when_linear_contributions_add_up(make_system):
    system = make_system(
        numeric_frame(800, seed=0).assign(group=binary_frame(800)["group"]),
        binary_frame(300, seed=1),
        code=LINEAR_ONE_HOT,
    )
    evidence = infra_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["rows"] == 20 and evidence.facts["rows_not_adding_up"] == 0
    assert evidence.facts["method"] == "exact linear attribution, LogisticRegression"
    assert "try `keel explain #" in evidence.summary
    assert {row[0] for row in evidence.tables[1].rows} == {"group", "x1", "x2"}


def test_infra_5_passes_when_tree_contributions_add_up(make_system):
    system = make_system(
        with_missing(800, seed=0),
        with_missing(300, seed=1),
        code=HGB_CATEGORICAL,
        sections={"explain": {"rows": 40}},
    )
    evidence = infra_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["rows"] == 40
    assert evidence.facts["max_difference"] < 1e-9
    assert all(row[-1] == "yes" for row in evidence.tables[0].rows)
    assert set(evidence.figures[0].labels) == {"group", "x1", "x2"}


def test_infra_5_explains_nearest_neighbours_by_shapley_sampling(make_system):
    system = make_system(
        numeric_frame(400, seed=0), numeric_frame(100, seed=1), code=NEAREST_NEIGHBOURS
    )
    evidence = infra_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["model"] == "KNeighborsClassifier"
    assert evidence.facts["output"] == "probability of 1"
    assert evidence.facts["method"] == (
        "Shapley sampling, 64 input orders per row, additive by construction"
    )


# -- infra.3, infra.4 ----------------------------------------------------------------------
UNSEEDED_FEATURES = """
import numpy as np


def build(raw):
    out = raw.drop(columns=["y"], errors="ignore")
    out["jitter"] = np.random.default_rng().normal(size=len(out))  # differs on every call
    return out
"""


def with_binary_schema(system, group_domain=("a", "b", "c")):
    """The schema of binary_frame's columns, written where [data] schema points."""
    from keel.data.schema import Feature, Schema, write_schema

    features = {
        "x1": Feature(type="float"),
        "x2": Feature(type="float"),
        "group": Feature(type="string", domain=list(group_domain)),
        "y": Feature(type="int"),
    }
    write_schema(Schema(features=features), system.root / "keel.schema.yaml")
    return system


def test_infra_3_without_a_schema_is_not_configured_since_validation_cannot_run(make_system):
    from keel.checks.infra import infra_3

    evidence = infra_3(make_system(binary_frame(300), binary_frame(100, seed=1)))
    assert evidence.status == "not_configured"
    assert "no schema file keel.schema.yaml" in evidence.summary
    assert "keel schema infer data/train.parquet -o keel.schema.yaml" in evidence.hint


def test_infra_3_fails_at_validation_when_the_data_breaks_the_schema(make_system):
    from keel.checks.infra import infra_3

    system = make_system(binary_frame(1500), binary_frame(500, seed=1))
    evidence = infra_3(with_binary_schema(system, group_domain=("a", "b")))
    assert evidence.status == "fail"
    assert evidence.summary.startswith("the pipeline breaks at 'validate'")


def test_infra_3_runs_the_pipeline_and_serves_what_it_predicted_offline(make_system):
    from keel.checks.infra import infra_3

    system = make_system(binary_frame(1500), binary_frame(500, seed=1))
    evidence = infra_3(with_binary_schema(system))
    assert evidence.status == "pass", evidence.summary
    stages = [row[0] for row in evidence.tables[0].rows]
    assert stages[-2:] == ["serve over HTTP from a fresh process", "compare served with offline"]
    assert "keel serve" in evidence.tables[0].rows[-2][-1]
    assert evidence.facts["max_difference"] == 0
    assert not (system.root / ".keel" / "mlflow.db").exists()  # the user's registry untouched


def test_infra_3_fails_when_served_output_differs_from_offline(make_system):
    from keel.checks.infra import infra_3

    system = make_system(
        binary_frame(1500),
        binary_frame(500, seed=1),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": UNSEEDED_FEATURES},
    )
    evidence = infra_3(with_binary_schema(system))
    assert evidence.status == "fail"
    # registering re-loads the saved model and refuses one that predicts differently
    assert "'register'" in evidence.summary and "deterministic" in evidence.summary


SERVING_ONLY_BUG = """
import sys


def build(raw):
    out = raw.drop(columns=["y"], errors="ignore")
    if sys.argv[0].endswith("pinned.py"):  # a bug only the serving process runs into
        out["x1"] = out["x1"] * 1.5
    return out
"""


def test_infra_3_fails_when_the_served_process_predicts_differently(make_system):
    from keel.checks.infra import infra_3

    system = make_system(
        binary_frame(1500),
        binary_frame(500, seed=1),
        sections={"model": {"features": "feats:build"}},
        files={"feats.py": SERVING_ONLY_BUG},
    )
    evidence = infra_3(with_binary_schema(system))
    assert evidence.status == "fail"
    assert "'compare served with offline'" in evidence.summary, evidence.summary


def test_infra_4_needs_a_configured_gate(make_system):
    from keel.checks.infra import infra_4

    evidence = infra_4(make_system(binary_frame(300)))
    assert evidence.status == "not_configured"
    assert "[gate] min" in evidence.hint


def test_infra_4_passes_only_once_a_version_is_promoted_through_the_gate(make_system):
    from keel.checks.infra import infra_4
    from keel.registry.promotion import promote
    from keel.training import gate_inputs, registry_ref, train_and_register

    gate = {"gate": {"min": {"roc_auc": 0.6}, "max_regression": {"roc_auc": 0.05}}}
    system = make_system(binary_frame(1500), binary_frame(500, seed=1), sections=gate)
    assert infra_4(system).status == "fail"  # nothing serves yet
    version = train_and_register(system)
    verdict = promote(registry_ref(system), version.version, gate_inputs(system), who="tester")
    assert verdict.passed
    evidence = infra_4(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["champion"] == version.version


def test_infra_4_fails_when_the_serving_version_was_forced_past_the_gate(make_system):
    from keel.checks.infra import infra_4
    from keel.registry.promotion import promote
    from keel.training import gate_inputs, registry_ref, train_and_register

    gate = {"gate": {"min": {"roc_auc": 0.99}}}
    system = make_system(binary_frame(1500), binary_frame(500, seed=1), sections=gate)
    version = train_and_register(system)
    promote(
        registry_ref(system),
        version.version,
        gate_inputs(system),
        force=True,
        reason="incident 42",
        who="tester",
    )
    evidence = infra_4(system)
    assert evidence.status == "fail"
    assert "forced (incident 42)" in evidence.summary


def three_classes(n: int, *, seed: int) -> pd.DataFrame:
    """Three classes cleanly separated by x1 and x2 (boosting soon fits some classes with
    single-leaf trees), and a categorical `group` with no signal."""
    frame = binary_frame(n, seed=seed)
    frame["y"] = np.where(frame["x1"] > 0.5, "high", np.where(frame["x2"] > 0, "mid", "low"))
    return frame


MULTICLASS = {"system": {"task": "multiclass", "primary_metric": "accuracy"}}


def test_infra_5_takes_apart_a_multiclass_tree_model_with_single_leaf_trees(make_system):
    system = make_system(
        three_classes(600, seed=0),
        three_classes(200, seed=1),
        sections={**MULTICLASS, "model": {"params": {"max_iter": 200}}},
    )
    trees = [t for it in system.trained.estimator[-1]._predictors for t in it]
    assert any(t.nodes["is_leaf"][0] for t in trees)  # the case that used to crash
    evidence = infra_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["output"] == "decision function of the predicted class"
    assert evidence.facts["max_difference"] < 1e-9


def test_infra_5_takes_apart_a_multiclass_linear_model(make_system):
    system = make_system(
        three_classes(600, seed=0),
        three_classes(200, seed=1),
        sections=MULTICLASS,
        code=LINEAR_ONE_HOT,
    )
    evidence = infra_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["method"] == "exact linear attribution, LogisticRegression"
    assert evidence.facts["max_difference"] < 1e-9


# -- infra.2: tests found by what they import, rows the model may crash on ----------------
def test_infra_2_fails_when_no_test_imports_the_training_code(make_system):
    # named like a training test, but it tests nothing of sysmodel
    unrelated = {"tests/test_train.py": "def test_arithmetic():\n    assert 1 + 1 == 2\n"}
    system = make_system(binary_frame(600, seed=0), binary_frame(200, seed=1), files=unrelated)
    evidence = infra_2(system)
    assert evidence.status == "fail"
    assert "no test of the training code" in evidence.summary
    assert "imports the training module sysmodel" in evidence.summary
    assert "import sysmodel" in evidence.hint or "import sysmodel" in evidence.hint.replace(
        "that import ", "import "
    )
    assert evidence.facts["training_test_files"] == 0


def test_infra_2_finds_tests_of_the_training_code_by_their_imports_not_their_names(make_system):
    tests = {
        "tests/test_model_contract.py": TRAINING_TESTS["tests/test_train.py"],
        "tests/conftest.py": TRAINING_TESTS["tests/conftest.py"],
        "tests/test_other.py": "def test_other():\n    assert True\n",
    }
    system = make_system(binary_frame(600, seed=0), binary_frame(200, seed=1), files=tests)
    evidence = infra_2(system)
    assert evidence.status == "pass", evidence.summary
    assert "1 test(s) of the training code in tests/test_model_contract.py pass" in (
        evidence.summary
    )
    assert evidence.facts["training_test_files"] == 1


def test_infra_2_fails_with_a_reason_when_a_test_file_of_the_training_code_runs_no_test(
    make_system,
):
    tests = {
        "tests/test_train.py": """
            import pytest
            import sysmodel


            @pytest.mark.skip(reason="later")
            def test_later():
                sysmodel.train
            """,
        "tests/test_empty.py": "from sysmodel import train  # no tests yet\n",
    }
    system = make_system(binary_frame(600, seed=0), binary_frame(200, seed=1), files=tests)
    evidence = infra_2(system)  # used to crash with zip(): files without runs
    assert evidence.status == "fail"
    assert "training tests in tests/test_empty.py: no test ran" in evidence.summary
    assert "training tests in tests/test_train.py: no test ran (1 skipped)" in evidence.summary


def test_a_suite_that_could_not_start_is_not_passing():
    from keel.checks._coverage import NOT_RUN

    run = SuiteRun(NOT_RUN, output="pytest or coverage is not installed where Keel runs")
    assert not run.tests_pass
    assert run.problem == "pytest or coverage is not installed where Keel runs"


# A logistic regression without an imputer, behind feature code that turns blank amounts into
# NaN: it trains on clean rows and raises on a missing or blank value.
LOGISTIC_NO_IMPUTER = """
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["amount"] = pd.to_numeric(raw["amount"].replace("", np.nan))
    return out


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    numeric = ["x1", "x2", "amount"]
    steps = [SimpleImputer()] if params.get("impute") else []
    prepare = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["group"]),
        (make_pipeline(*steps, StandardScaler()), numeric),
    )
    return make_pipeline(prepare, LogisticRegression()).fit(X, y)
"""


def with_amount(n: int, *, seed: int, blanks: int = 0) -> pd.DataFrame:
    """binary_frame with an `amount` column held as text (as read from a CSV), the first
    `blanks` of them blank."""
    frame = binary_frame(n, seed=seed)
    amount = np.round(np.random.default_rng(seed + 3).uniform(100, 900, n), 2).astype(str)
    frame["amount"] = amount.astype(object)
    frame.loc[: blanks - 1, "amount"] = ""
    return frame


def logistic_system(make_system, *, impute: bool, eval_blanks: int = 0):
    return make_system(
        with_amount(600, seed=0),
        with_amount(200, seed=1, blanks=eval_blanks),
        code=LOGISTIC_NO_IMPUTER,
        files={
            "tests/test_train.py": TRAINING_TESTS["tests/test_train.py"]
            .replace("from sysmodel import train", "from sysmodel import build, train")
            .replace(
                '"group": ["a", "b"] * 20, "y": [0, 1] * 20})',
                '"group": ["a", "b"] * 20, "amount": ["1.5"] * 40, "y": [0, 1] * 20})',
            )
            .replace(
                'train(frame, "y", {"max_iter": 5}, 0).predict(frame)',
                'train(build(frame).assign(y=frame["y"]), "y", {}, 0).predict(build(frame))',
            ),
            "tests/conftest.py": TRAINING_TESTS["tests/conftest.py"],
        },
        sections={
            "model": {
                "features": "sysmodel:build",
                "params": {"impute": impute},
            }
        },
    )


def test_infra_2_fails_a_model_that_raises_on_blank_and_missing_inputs_and_names_them(
    make_system,
):
    system = logistic_system(make_system, impute=False)
    evidence = infra_2(system)
    assert evidence.status == "fail"
    assert "rows the model may crash on: prediction raised on" in evidence.summary
    assert "contains NaN" in evidence.summary
    failing = set(evidence.facts["edge_inputs_failing"].split(", "))
    assert failing == {"amount", "x1", "x2"}  # group's one-hot encoder ignores a missing value
    table = next(t for t in evidence.tables if t.title.startswith("Rows of the"))
    labels = {row[0] for row in table.rows}
    assert {"amount blank ('')", "amount missing", "x1 missing", "x2 missing"} <= labels
    assert not any(label.startswith("training row") for label in labels)  # real rows predict
    assert "amount, x1, x2" in evidence.hint or "x1, x2, amount" in evidence.hint


def test_infra_2_passes_the_same_model_once_it_imputes(make_system):
    evidence = infra_2(logistic_system(make_system, impute=True))
    assert evidence.status == "pass", evidence.summary
    assert "edge rows (real, missing, blank, seen values)" in evidence.summary
    assert evidence.facts["edge_rows_raising"] == 0 and evidence.facts["edge_rows"] > 100


def test_infra_2_fails_and_reports_evaluation_rows_the_model_raises_on(make_system):
    system = logistic_system(make_system, impute=False, eval_blanks=7)
    evidence = infra_2(system)
    assert evidence.status == "fail"
    assert "the model raises on 7 of 200 evaluation rows" in evidence.summary
    assert evidence.facts["unpredictable_eval_rows"] == 200
    table = next(t for t in evidence.tables if t.title.startswith("Evaluation rows the trained"))
    assert table.rows[0] == ["evaluation rows that raise", 200]


def test_infra_2_speaks_of_values_not_probabilities_on_a_regression(make_system):
    train, evaluation = binary_frame(600, seed=0), binary_frame(200, seed=1)
    train["y"], evaluation["y"] = train["x1"] * 2.0, evaluation["x1"] * 2.0
    system = make_system(
        train,
        evaluation,
        files=TRAINING_TESTS,
        sections={
            "system": {"task": "regression", "primary_metric": "r2"},
            "model": {"params": {"max_iter": 20, "kind": "regressor"}},
        },
    )
    evidence = infra_2(system)
    assert evidence.status == "pass", evidence.summary
    assert "one finite number per row" in evidence.summary
    assert "probabilit" not in evidence.summary


# -- infra.4: the serving version against the current gate and data -----------------------
def test_infra_4_judges_the_serving_version_by_the_current_gate_not_the_recorded_verdict(
    make_system,
):
    from keel.checks.infra import infra_4
    from keel.registry.promotion import promote
    from keel.training import gate_inputs, registry_ref, train_and_register

    train, evaluation = binary_frame(1500), binary_frame(500, seed=1)
    system = make_system(train, evaluation)  # no gate
    version = train_and_register(system)
    assert promote(
        registry_ref(system), version.version, gate_inputs(system), who="tester"
    ).passed  # an empty gate passes all
    assert infra_4(system).status == "not_configured"

    def regated(gate):
        return System.from_path(write_system(system.root, train, evaluation, sections=gate))

    strict = regated({"gate": {"min": {"roc_auc": 0.99}}})
    evidence = infra_4(strict)
    assert evidence.status == "fail"
    assert "fails the current gate on the current evaluation data" in evidence.summary
    assert "below the floor 0.99" in evidence.summary
    assert evidence.facts["gate_changed"] is True
    assert 0.7 < evidence.facts["metric_now"] < 0.99

    fair = regated({"gate": {"min": {"roc_auc": 0.7}}})
    evidence = infra_4(fair)
    assert evidence.status == "pass", evidence.summary
    assert "passes the current gate now" in evidence.summary
    assert evidence.facts["rules_applied"] == 1


def test_infra_4_fails_when_the_evaluation_data_changed_and_the_champion_no_longer_passes(
    make_system,
):
    from keel.checks.infra import infra_4
    from keel.registry.promotion import promote
    from keel.training import gate_inputs, registry_ref, train_and_register

    gate = {"gate": {"min": {"roc_auc": 0.7}}}
    train, evaluation = binary_frame(1500), binary_frame(500, seed=1)
    system = make_system(train, evaluation, sections=gate)
    assert promote(
        registry_ref(system), train_and_register(system).version, gate_inputs(system), who="tester"
    ).passed
    assert infra_4(system).status == "pass"
    shifted = evaluation.assign(y=1 - evaluation["y"])  # the world turned: labels flipped
    changed = System.from_path(write_system(system.root, train, shifted, sections=gate))
    evidence = infra_4(changed)
    assert evidence.status == "fail"
    assert evidence.facts["metric_now"] < 0.5
    assert evidence.facts["gate_changed"] is False


def test_infra_4_fails_a_regression_only_gate_with_nothing_to_compare(make_system):
    from keel.checks.infra import infra_4
    from keel.registry.promotion import promote
    from keel.training import gate_inputs, registry_ref, train_and_register

    gate = {"gate": {"max_regression": {"roc_auc": 0.01}}}
    system = make_system(binary_frame(1500), binary_frame(500, seed=1), sections=gate)
    assert promote(
        registry_ref(system), train_and_register(system).version, gate_inputs(system), who="tester"
    ).passed
    evidence = infra_4(system)
    assert evidence.status == "fail"
    assert "the gate checks nothing" in evidence.summary
    assert "[gate] min" in evidence.hint


def test_infra_3_samples_fewer_training_rows_on_wide_data():
    from keel.integration import MAX_CELLS, SAMPLE_ROWS, training_rows

    assert training_rows(10) == SAMPLE_ROWS
    assert training_rows(1_500) == MAX_CELLS // 1_500 < SAMPLE_ROWS
    assert training_rows(100_000) == 500


# -- infra.7: the rollback drill -----------------------------------------------------------
@pytest.fixture(scope="module")
def two_champions(tmp_path_factory):
    """A system whose registry had two champions in turn (2 serves, 1 before it), no drill."""
    from drills import drill_system

    with threadpool_limits(1):
        return drill_system(tmp_path_factory.mktemp("infra7") / "credit")


@contextlib.contextmanager
def drill_recorded(system, *, days_ago: float = 0.0, **result):
    """A `drill` event of a successful drill (changed by `result`) recorded `days_ago`, removed
    from the audit history afterwards."""
    import datetime as dt

    from keel.registry.audit import Event, read_events, write_event
    from keel.registry.store import connect, translated
    from keel.training import registry_ref

    verdict = {
        "from_version": 2,
        "to_version": 1,
        "concurrency": 3,
        "requests": 120,
        "failed": 0,
        "errors": [],
        "switch_seconds": 0.6,
        "max_seconds": 10.0,
        "settled": True,
        "stray": 0,
        "unnamed": 0,
        "restored": True,
        "restore_reason": None,
        "restore_switch_seconds": 0.5,
        **result,
    }
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    store = connect(registry_ref(system))
    with translated(store.uri), store.locked():
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(store.client, audit)
        event = Event(
            seq=events[0].seq + 1,
            kind="drill",
            version=1,
            previous=2,
            champion=2,
            who="tester",
            when=when.isoformat(timespec="seconds"),
            reason="rollback drill",
            verdict=verdict,
        )
        write_event(store.client, audit, event)
    try:
        yield event
    finally:
        with translated(store.uri):
            store.client.delete_run(event.run_id)


def test_infra_7_fails_when_nothing_serves(make_system):
    from keel.checks.infra import infra_7

    evidence = infra_7(make_system(binary_frame(300)))
    assert evidence.status == "fail"
    assert evidence.summary.startswith("nothing serves")
    assert "keel drill rollback" in evidence.hint


def test_infra_7_fails_with_no_drill_recorded(two_champions):
    from keel.checks.infra import infra_7

    evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "no rollback drill is recorded for 'drilled'" in evidence.summary
    assert "keel drill rollback" in evidence.hint
    assert evidence.facts["drills"] == 0


def test_infra_7_fails_when_the_newest_drill_is_older_than_max_age_days(two_champions):
    from keel.checks.infra import infra_7

    with drill_recorded(two_champions, days_ago=45):
        evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "is 45 days old; a drill counts for 30 days" in evidence.summary
    assert evidence.facts["age_days"] == pytest.approx(45, abs=0.01)
    assert "keel drill rollback" in evidence.hint
    assert evidence.tables[0].rows[0][2] == "2 → 1"


def test_infra_7_fails_a_drill_with_failed_requests_or_too_slow_a_switch(two_champions):
    from keel.checks.infra import infra_7

    errors = ["HTTP 503: not ready", "ConnectionResetError: reset"]
    with drill_recorded(two_champions, failed=3, errors=errors):
        evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "3 of 120 requests failed (HTTP 503: not ready; ConnectionResetError" in evidence.summary
    assert (evidence.facts["failed"], evidence.facts["seconds"]) == (3, 0.6)
    with drill_recorded(two_champions, switch_seconds=12.5):
        evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "the switch took 12.50 s (limit 10 s)" in evidence.summary
    with drill_recorded(two_champions, restored=False, restore_reason="the gate refused it"):
        evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "not restored: the gate refused it" in evidence.summary


def test_infra_7_fails_a_drill_whose_restore_switched_too_slowly_or_never(two_champions):
    from keel.checks.infra import infra_7

    with drill_recorded(two_champions, restore_switch_seconds=15.0):
        evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "the restore's switch to version 2 took 15.00 s (limit 10 s)" in evidence.summary
    never = [{"name": "rollback", "settled": True}, {"name": "restore", "settled": False}]
    with drill_recorded(two_champions, phases=never):
        evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "after the restore, version 2 never alone answered every client" in evidence.summary


def test_infra_7_fails_a_drill_that_ended_with_registry_and_server_disagreeing(two_champions):
    from keel.checks.infra import infra_7

    with drill_recorded(two_champions, agreed=False, champion=1, server_champion=2):
        evidence = infra_7(two_champions)
    assert evidence.status == "fail"
    assert "the registry named version 1 champion but the server served version 2" in (
        evidence.summary
    )


def test_infra_7_counts_only_a_drill_of_the_champion_since_it_became_champion(tmp_path):
    from drills import drill_system

    from keel.checks.infra import infra_7
    from keel.registry.promotion import promote, rollback
    from keel.training import gate_inputs, registry_ref, train_and_register

    with threadpool_limits(1):
        system = drill_system(tmp_path / "credit")
        ref = registry_ref(system)
        with drill_recorded(system):  # version 2 → 1, successful, while 2 serves
            assert infra_7(system).status == "pass"
            version = train_and_register(system).version
            assert promote(ref, version, gate_inputs(system), who="tester").promoted
            evidence = infra_7(system)  # version 3 serves: the drill was of version 2
            assert evidence.status == "fail"
            assert (
                "no rollback drill of version 3, the champion now, is recorded since it became "
                "champion (promote, " in evidence.summary
            )
            assert "concerned another champion (version 2 → 1)" in evidence.summary
            assert evidence.facts["champion_drills"] == 0 and evidence.facts["drills"] == 1
            rollback(ref, who="tester")  # version 2 serves again, after the drill of it
            evidence = infra_7(system)
    assert evidence.status == "fail"
    assert "no rollback drill of version 2, the champion now, is recorded since it became " in (
        evidence.summary
    )
    assert "is older than that" in evidence.summary


def test_infra_7_passes_after_a_real_successful_drill(two_champions):
    import sys

    from keel.checks.infra import infra_7
    from keel.registry.drill import drills
    from keel.serve.drill import rollback_drill
    from keel.serve.process import LOOPBACK, free_port, json_rows, launch
    from keel.training import gate_inputs, registry_ref

    system = two_champions
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "keel", "serve", str(system.root), "--port", str(port)]
    gate = gate_inputs(system)
    rows = json_rows(gate.frame.drop(columns="y").head(100))
    with launch(argv, url=url, cwd=system.root):
        result = rollback_drill(
            registry_ref(system),
            url,
            rows,
            concurrency=3,
            load_seconds=1,
            max_seconds=10,
            gate=gate,
        )
    assert result.passed and result.restored, result.to_dict()
    try:
        evidence = infra_7(system)
        assert evidence.status == "pass", evidence.summary
        assert "version 2 → 1" in evidence.summary and "no failed request" in evidence.summary
        assert evidence.facts["failed"] == 0 and evidence.facts["restored"] is True
        assert evidence.facts["seconds"] == result.switch_seconds <= 10
        assert evidence.tables[0].rows[0][5] == 0
    finally:
        from keel.registry.store import connect, translated

        store = connect(registry_ref(system))
        with translated(store.uri):
            store.client.delete_run(drills(registry_ref(system))[0].run_id)


# -- infra.5: wrapped models, models with no exact method, what Keel cannot explain --------
def test_infra_5_takes_apart_a_log_target_regressor_around_a_pipeline(make_system):
    from wrapped_systems import LOG_TARGET_COUNTS, REGRESSION, hourly_counts

    system = make_system(
        hourly_counts(1200, seed=0),
        hourly_counts(300, seed=1),
        code=LOG_TARGET_COUNTS,
        sections=REGRESSION,
    )
    evidence = infra_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["model"] == (
        "HistGradientBoostingRegressor in a TransformedTargetRegressor"
    )
    assert evidence.facts["method"] == "tree path attribution (Saabas)"
    assert evidence.facts["output"] == "prediction in the transformed target space"
    assert evidence.facts["max_difference"] < 1e-9
    assert "with expm1" in evidence.facts["mapped_back"]
    assert "TransformedTargetRegressor maps back" in evidence.summary.replace("which the ", "")


def test_infra_5_explains_a_calibrated_rbf_svm_on_the_digits_by_shapley_sampling(make_system):
    from wrapped_systems import CALIBRATED_RBF_SVM, MULTICLASS, digits_frames

    train, evaluation = digits_frames()
    system = make_system(
        train,
        evaluation,
        code=CALIBRATED_RBF_SVM,
        sections={**MULTICLASS, "explain": {"rows": 3}, "model": {"params": {}}},
    )
    evidence = infra_5(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["model"] == "CalibratedClassifierCV of SVC"
    assert evidence.facts["method"].startswith("Shapley sampling")
    assert evidence.facts["output"] == "probability of the predicted class"
    assert evidence.facts["max_difference"] < 1e-9
    assert 0 < evidence.facts["max_standard_error"] < 0.2
    assert "the contributions are estimates" in evidence.summary


def test_infra_5_is_not_configured_for_a_classifier_that_gives_labels_only(make_system):
    from wrapped_systems import LABELS_ONLY_RULE

    system = make_system(
        numeric_frame(400, seed=0),
        numeric_frame(100, seed=1),
        code=LABELS_ONLY_RULE,
        sections={"system": {"primary_metric": "accuracy"}, "model": {"params": {}}},
    )
    evidence = infra_5(system)
    assert evidence.status == "not_configured"
    assert "ThresholdRule gives class labels only" in evidence.summary
    assert "limit of Keel" in evidence.summary
    assert "predict_proba or decision_function" in evidence.hint
