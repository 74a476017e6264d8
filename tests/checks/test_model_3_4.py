import numpy as np
from systems import binary_frame, monthly

from keel.checks.model import model_3, model_4

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


def _log_trials(system, trials):
    """Log a tuning search's trials into the system's own tracking store, as Optuna would."""
    from keel.model.tuning import TUNING_TAG
    from keel.registry import connect

    store = connect(system)
    experiment = store.experiment("tuning")
    for params, value in trials:
        run = store.client.create_run(experiment, tags={TUNING_TAG: "true"})
        for k, v in params.items():
            store.client.log_param(run.info.run_id, k, v)
        store.client.log_metric(run.info.run_id, "roc_auc", value)
        store.client.set_terminated(run.info.run_id)


def test_model_3_passes_when_a_recorded_search_found_the_configured_values_best(make_system):
    from keel.checks.model import model_3

    system = make_system(binary_frame(600), sections={"model": {"params": {"max_iter": 50}}})
    _log_trials(
        system, [({"max_iter": 50}, 0.84), ({"max_iter": 10}, 0.80), ({"max_iter": 200}, 0.845)]
    )
    evidence = model_3(system)
    assert evidence.status == "pass", evidence.summary
    assert "recorded search of 3 trials" in evidence.summary


def test_model_3_fails_when_a_recorded_search_found_much_better_values(make_system):
    from keel.checks.model import model_3

    system = make_system(binary_frame(600), sections={"model": {"params": {"max_iter": 50}}})
    _log_trials(system, [({"max_iter": 50}, 0.70), ({"max_iter": 400}, 0.85)])
    evidence = model_3(system)
    assert evidence.status == "fail"
    assert "best roc_auc 0.85" in evidence.summary
