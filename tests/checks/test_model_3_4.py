import time

import numpy as np
import pytest
from systems import HGB_TRAIN, binary_frame, monthly

from keel.checks.model import model_3, model_4
from keel.system import System

STALENESS = {"system": {"timestamp": "at"}, "staleness": {"period_days": 30, "max_age_periods": 3}}


# -- model.3 -------------------------------------------------------------------------------
def test_model_3_passes_hyperparameters_near_the_best_of_the_sweep(make_system):
    system = make_system(
        binary_frame(2000, seed=0),
        binary_frame(1000, seed=1),
        sections={"model": {"params": {"max_iter": 50, "learning_rate": 0.1}}},
    )
    evidence = model_3(system)
    assert evidence.status == "pass", evidence.summary
    assert "within 0.01 roc_auc of the best found" in evidence.summary
    table = evidence.tables[0]
    assert [row[:2] for row in table.rows] == [
        ["max_iter", 25],
        ["max_iter", 50],
        ["max_iter", 100],
        ["learning_rate", 0.05],
        ["learning_rate", 0.1],
        ["learning_rate", 0.2],
    ]
    assert [row[4] for row in table.rows].count("configured") == 2
    chart = evidence.figures[0]
    assert chart.labels[0] == "max_iter = 25" and not any(chart.flagged)
    assert evidence.thresholds == {"factor": 2.0, "tolerance": 0.01, "sample": 20000}
    assert evidence.facts["trainings"] == 5


def test_model_3_fails_a_clearly_bad_learning_rate_and_names_a_better_one(make_system):
    system = make_system(
        binary_frame(2000, seed=0),
        binary_frame(1000, seed=1),
        sections={"model": {"params": {"max_iter": 50, "learning_rate": 5.0}}},
    )
    evidence = model_3(system)
    assert evidence.status == "fail"
    assert evidence.facts["off"] == "learning_rate"
    assert "learning_rate" in evidence.summary and "(configured 5)" in evidence.summary
    assert "in [model] params" in evidence.hint
    assert any(evidence.figures[0].flagged)


def test_model_3_sweeps_only_the_named_params(make_system):
    system = make_system(
        binary_frame(1000, seed=0),
        binary_frame(500, seed=1),
        sections={
            "model": {"params": {"max_iter": 20, "learning_rate": 0.1}},
            "tuning": {"params": ["learning_rate"], "factor": 3.0},
        },
    )
    evidence = model_3(system)
    assert [row[:2] for row in evidence.tables[0].rows] == [
        ["learning_rate", 0.1 / 3],
        ["learning_rate", 0.1],
        ["learning_rate", 0.1 * 3],
    ]


def test_model_3_is_not_configured_without_numeric_hyperparameters(make_system):
    system = make_system(
        binary_frame(300, seed=0), sections={"model": {"params": {"loss": "log_loss"}}}
    )
    evidence = model_3(system)
    assert evidence.status == "not_configured"
    assert "loss: not a number" in evidence.summary
    assert "learning_rate" in evidence.hint


# -- model.4 -------------------------------------------------------------------------------
def test_model_4_shows_the_drop_on_data_whose_relationship_drifts(make_system):
    system = make_system(*monthly(8, 600, turn=np.pi / 12), sections=STALENESS)
    evidence = model_4(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.summary.startswith("roc_auc falls more than 0.02 at age 30 days")
    assert evidence.facts["limit_days"] == 30
    table = evidence.tables[0]
    assert [row[0] for row in table.rows] == [0, 30, 60, 90]
    assert table.rows[-1][4] > 0.2  # the oldest model is far worse on the newest period
    chart = evidence.figures[0]
    assert chart.labels == ["0 days", "30 days", "60 days", "90 days"]
    assert chart.flagged == [False, True, True, True]


def test_model_4_shows_no_drop_on_stationary_data(make_system):
    system = make_system(*monthly(8, 600, turn=0.0), sections=STALENESS)
    evidence = model_4(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.summary.startswith("no drop of more than 0.02 in roc_auc up to 90 days")
    assert evidence.facts["drop_age_days"] is None and evidence.facts["limit_days"] == 90
    assert not any(evidence.figures[0].flagged)


def test_model_4_fails_when_the_history_is_too_short(make_system):
    system = make_system(*monthly(3, 300, turn=0.0), sections=STALENESS)
    evidence = model_4(system)
    assert evidence.status == "fail"
    assert "cannot be computed" in evidence.summary
    assert "period_days" in evidence.hint


def test_model_4_is_not_configured_without_a_timestamp(make_system):
    evidence = model_4(make_system(binary_frame(300, seed=0)))
    assert evidence.status == "not_configured"
    assert "[system] timestamp" in evidence.hint


IGNORES_PARAMS = """
from sklearn.ensemble import HistGradientBoostingClassifier


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    return HistGradientBoostingClassifier(max_iter=30, random_state=seed).fit(X, y)
"""

ONLY_CONFIGURED = """
from sklearn.ensemble import HistGradientBoostingClassifier


def train(frame, target, params, seed):
    if params != {"max_iter": 30, "learning_rate": 0.1}:
        raise ValueError(f"only the configured values are supported, got {params}")
    X, y = frame.drop(columns=[target]), frame[target]
    return HistGradientBoostingClassifier(random_state=seed, **params).fit(X, y)
"""

TWO_PARAMS = {"model": {"params": {"max_iter": 30, "learning_rate": 0.1}}}


def test_model_3_fails_when_the_training_function_ignores_the_params(make_system):
    system = make_system(
        binary_frame(1500, seed=0).drop(columns="group"),
        binary_frame(600, seed=1).drop(columns="group"),
        code=IGNORES_PARAMS,
        sections=TWO_PARAMS,
    )
    evidence = model_3(system)
    assert evidence.status == "fail", evidence.summary
    assert "seems to ignore [model] params" in evidence.summary
    assert evidence.facts["responsive"] == ""
    assert "params" in evidence.hint
    assert "identical outputs on 600 evaluation rows" in evidence.summary
    assert evidence.facts["unchanged"] == "max_iter, learning_rate"
    notes = {row[4] for row in evidence.tables[0].rows}
    assert notes == {"configured", "same fitted model as configured"}


def test_model_3_fails_when_every_move_fails_to_train(make_system):
    system = make_system(
        binary_frame(1500, seed=0).drop(columns="group"),
        binary_frame(600, seed=1).drop(columns="group"),
        code=ONLY_CONFIGURED,
        sections=TWO_PARAMS,
    )
    evidence = model_3(system)
    assert evidence.status == "fail", evidence.summary
    assert evidence.summary.startswith("every move of every swept hyperparameter failed to train")
    assert "only the configured values are supported" in evidence.summary
    assert "[tuning] params" in evidence.hint


def test_model_3_passes_when_the_metric_responds_to_one_param_and_notes_the_idle_one(
    make_system,
):
    # `kind` is not a number; `verbose` is read but does not change the model.
    system = make_system(
        binary_frame(2000, seed=0),
        binary_frame(1000, seed=1),
        sections={"model": {"params": {"max_iter": 50, "verbose": 1}}},
    )
    evidence = model_3(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["responsive"] == "max_iter"
    assert "no effect on the fitted model (identical outputs at every move): verbose" in (
        evidence.summary
    )


# -- model.3 with a recorded search --------------------------------------------------------
def _log_trials(system, trials, *, experiment=None, start_time=None, tags=None):
    """Log a tuning search's trials into the system's own tracking store, as Optuna would."""
    from keel.model.tuning import TUNING_TAG, tuning_experiment
    from keel.registry.store import connect
    from keel.training import registry_ref

    store = connect(registry_ref(system))
    experiment_id = store.experiment(experiment or tuning_experiment(system.name))
    for params, value in trials:
        run = store.client.create_run(
            experiment_id, start_time=start_time, tags={TUNING_TAG: "true", **(tags or {})}
        )
        for k, v in params.items():
            store.client.log_param(run.info.run_id, k, v)
        store.client.log_metric(run.info.run_id, "roc_auc", value)
        store.client.set_terminated(run.info.run_id)


def _real_search(system, values):
    """A real search over max_iter: train each value on the training data, evaluate on eval."""
    train, evaluation = system.dataset("train"), system.dataset("eval")
    trials = []
    for max_iter in values:
        params = {**system.config.model.params, "max_iter": max_iter}
        model = system.fit(train.inputs, train.target, params=params)
        metric = system.evaluate(evaluation.target, system.predict(model, evaluation.inputs))
        trials.append(({"max_iter": max_iter}, metric))
    return trials


SEARCHED = [40, 42, 44, 46, 48, 50, 52, 54, 56, 58]


def searched_system(make_system):
    return make_system(
        binary_frame(1500, seed=0),
        binary_frame(800, seed=1),
        sections={"model": {"params": {"max_iter": 50}}},
    )


def test_model_3_passes_a_real_recorded_search_and_re_measures_the_configured_values(
    make_system,
):
    system = searched_system(make_system)
    _log_trials(system, _real_search(system, SEARCHED))
    evidence = model_3(system)
    assert evidence.status == "pass", evidence.summary
    assert "recorded search of 10 trials" in evidence.summary
    assert evidence.facts["measured_configured_metric"] == pytest.approx(system.trained.metric)
    assert evidence.thresholds["min_trials"] == 10


def test_model_3_fails_a_recorded_search_whose_claims_keel_cannot_reproduce(make_system):
    system = searched_system(make_system)
    made_up = [({"max_iter": v}, 0.95 + v / 10_000) for v in SEARCHED]  # claims ~0.955
    _log_trials(system, made_up)
    evidence = model_3(system)
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["recorded_configured_metric"] == pytest.approx(0.955)
    assert evidence.facts["measured_configured_metric"] < 0.9
    assert "re-measured by Keel" in evidence.summary and "not within 0.01" in evidence.summary


def test_model_3_does_not_count_one_hand_logged_run_and_sweeps_instead(make_system):
    system = searched_system(make_system)
    _log_trials(system, [({"max_iter": 50}, 0.99)])
    evidence = model_3(system)
    assert evidence.tables[0].title.startswith("Sweep")
    assert "the recorded search was not counted: 1 qualifying trial(s)" in evidence.summary
    assert "fewer than [tuning] min_trials = 10" in evidence.facts["recorded_search"]


def test_model_3_does_not_count_a_search_in_another_experiment(make_system):
    system = searched_system(make_system)
    _log_trials(system, _real_search(system, SEARCHED), experiment="someone-else")
    evidence = model_3(system)
    assert evidence.tables[0].title.startswith("Sweep")
    assert "10 run(s) in other experiments (someone-else)" in evidence.facts["recorded_search"]


def test_model_3_does_not_count_a_search_older_than_the_code_and_data(make_system):
    system = searched_system(make_system)
    an_hour_ago = int((time.time() - 3600) * 1000)
    _log_trials(system, _real_search(system, SEARCHED), start_time=an_hour_ago)
    evidence = model_3(system)
    assert evidence.tables[0].title.startswith("Sweep")
    assert (
        "10 started before the last change of the code or data" in evidence.facts["recorded_search"]
    )


def test_model_3_counts_an_older_search_tagged_with_the_present_fingerprint(make_system):
    from keel.checks._recorded_search import search_fingerprint
    from keel.model.tuning import FINGERPRINT_TAG

    system = searched_system(make_system)
    an_hour_ago = int((time.time() - 3600) * 1000)
    trials = _real_search(system, SEARCHED)
    _log_trials(
        system,
        trials,
        start_time=an_hour_ago,
        tags={FINGERPRINT_TAG: search_fingerprint(system)},
    )
    assert model_3(system).summary.startswith("recorded search of 10 trials")
    other = make_system(  # other training data: the same tag no longer matches
        binary_frame(1500, seed=2),
        binary_frame(800, seed=1),
        sections={"model": {"params": {"max_iter": 50}}},
    )
    _log_trials(
        other, trials, start_time=an_hour_ago, tags={FINGERPRINT_TAG: search_fingerprint(system)}
    )
    evidence = model_3(other)
    assert "10 tagged keel.fingerprint with other code or data" in evidence.facts["recorded_search"]


# -- model.3 and model.4 within their CPU budget --------------------------------------------
SLOW_TRAIN = (
    HGB_TRAIN
    + """
import time

_fit = train


def train(frame, target, params, seed):
    start = time.process_time()
    while time.process_time() - start < 0.3:  # a costly model: 0.3 CPU s per training
        pass
    return _fit(frame, target, params, seed)
"""
)


def test_model_3_is_not_configured_when_the_sweep_would_exceed_its_budget_but_runs_deep(
    make_system,
):
    system = make_system(
        binary_frame(600, seed=0),
        binary_frame(300, seed=1),
        code=SLOW_TRAIN,
        sections={**TWO_PARAMS, "tuning": {"max_seconds": 0.5}},
    )
    evidence = model_3(system)
    assert evidence.status == "not_configured", evidence.summary
    assert "the sweep was not run: one training took" in evidence.summary
    assert "the 4 more it needs" in evidence.summary and "[tuning] max_seconds" in evidence.summary
    assert "keel score --deep" in evidence.hint
    deep = model_3(System.from_path(system.config_file, deep=True))
    assert deep.status in ("pass", "fail") and deep.facts["trainings"] == 5


def test_model_4_is_not_configured_when_older_windows_would_exceed_the_budget_but_runs_deep(
    make_system,
):
    sections = {**STALENESS, "staleness": {**STALENESS["staleness"], "max_seconds": 0.5}}
    system = make_system(*monthly(8, 300, turn=0.0), code=SLOW_TRAIN, sections=sections)
    evidence = model_4(system)
    assert evidence.status == "not_configured", evidence.summary
    assert "the older windows were not trained: one training took" in evidence.summary
    assert "[staleness] max_seconds" in evidence.summary and "--deep" in evidence.hint
    deep = model_4(System.from_path(system.config_file, deep=True))
    assert deep.status == "pass" and len(deep.tables[0].rows) == 4


# -- model.3 on the handwritten digits: a flat metric is not ignored params -----------------
def test_model_3_passes_a_flat_accuracy_whose_models_differ_and_does_not_say_ignored(
    make_system,
):
    from sklearn_data import SVC_TRAIN, digits_frames, digits_sections

    # Every move of C and gamma gives accuracy 0.9889 on the 360 rows, yet each fits another
    # SVM (its decision function differs): the params are read, the metric is just flat.
    system = make_system(
        *digits_frames(), code=SVC_TRAIN, sections=digits_sections(C=1.0, gamma=0.001)
    )
    evidence = model_3(system)
    assert evidence.status == "pass", evidence.summary
    assert "ignore" not in evidence.summary and "ignore" not in evidence.hint
    assert "accuracy is flat around the configured values" in evidence.summary
    assert "360 evaluation rows" in evidence.summary
    assert evidence.facts["flat"] == "C, gamma" and evidence.facts["unchanged"] == ""
    notes = {row[4] for row in evidence.tables[0].rows}
    assert notes == {"configured", "same metric, different model"}


def test_model_3_names_a_param_that_leaves_the_fitted_model_unchanged(make_system):
    from sklearn_data import SVC_TRAIN, digits_frames, digits_sections

    # At C = 10 the digits are separated with no margin violation: C ×÷ 2 fits the very same
    # SVM, which the sweep says; gamma changes the model, not the accuracy.
    system = make_system(
        *digits_frames(), code=SVC_TRAIN, sections=digits_sections(C=10.0, gamma=0.001)
    )
    evidence = model_3(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["unchanged"] == "C" and evidence.facts["flat"] == "gamma"
    assert "no effect on the fitted model (identical outputs at every move): C" in (
        evidence.summary
    )


def test_model_4_without_a_timestamp_names_the_datas_own_time_column_in_its_hint(make_system):
    with_time = make_system(*monthly(3, 100, turn=0.0))  # a datetime column `at`, not named
    evidence = model_4(with_time)
    assert evidence.status == "not_configured"
    assert '[system] timestamp = "at"' in evidence.hint and "applied_at" not in evidence.hint
    without = make_system(binary_frame(300))
    hint = model_4(without).hint
    assert "no date or time column" in hint and "applied_at" not in hint
