"""data.2 and data.3 on inputs that stand in for each other: advice to drop inputs is given
only when retraining without them keeps quality, and following it does."""

import numpy as np
import pandas as pd
from redundant_inputs import SVC_PARAMS, SVC_TRAIN, copies_frame, digits_frames
from systems import binary_frame

from keel.checks.data import data_2, data_3
from keel.system import System

MAX_DROP = 0.01  # [importance] max_drop by default


def digits_system(make_system) -> System:
    train, evaluation = digits_frames()
    return make_system(
        train,
        evaluation,
        code=SVC_TRAIN,
        sections={"system": {"task": "multiclass"}, "model": {"params": SVC_PARAMS}},
    )


def metric_without(system: System, dropped: list[str]) -> float:
    """The primary metric of the user's training function retrained without `dropped`."""
    train, evaluation = system.dataset("train"), system.dataset("eval")
    kept = [c for c in train.inputs.columns if c not in dropped]
    model = system.fit(train.inputs[kept], train.target)
    return system.evaluate(evaluation.target, system.predict(model, evaluation.inputs[kept]))


def shuffled_together_drop(system: System, columns: list[str]) -> float:
    """How much the trained model's metric drops when `columns` are shuffled together (one row
    permutation for all of them), the mean of three seeded shuffles."""
    evaluation = system.dataset("eval")
    model = system.trained.estimator
    full = system.evaluate(evaluation.target, system.predict(model, evaluation.inputs))
    drops = []
    for seed in range(3):
        frame = evaluation.inputs.copy()
        order = np.random.default_rng(seed).permutation(len(frame))
        frame[columns] = evaluation.inputs[columns].iloc[order].to_numpy()
        drops.append(full - system.evaluate(evaluation.target, system.predict(model, frame)))
    return float(np.mean(drops))


def named(facts_value: str) -> list[str]:
    return [name for name in facts_value.split(", ") if name]


def test_data_2_on_digits_advises_no_drop_that_hurts_the_model_when_followed(make_system):
    system = digits_system(make_system)
    evidence = data_2(system)
    flagged = named(evidence.facts["flagged"])
    full = system.trained.metric
    assert metric_without(system, flagged) >= full - MAX_DROP
    constant = [
        c
        for c in system.dataset("train").inputs
        if system.dataset("train").inputs[c].nunique() == 1
    ]
    assert constant and set(constant) <= set(flagged)  # truly useless pixels are still named
    assert len(flagged) < 32  # not the 58 of 64 pixels that are merely redundant one by one
    assert evidence.facts["drop_holds"] is True and f"Drop {flagged[0]}" in evidence.hint
    assert "retrained without them: accuracy" in evidence.summary
    rows = {row[0]: row[-1] for row in evidence.tables[0].rows}
    assert sum(v.startswith("beneficial with others") for v in rows.values()) > 20


def test_data_3_on_digits_flags_only_pixels_that_carry_nothing_together_and_can_be_dropped(
    make_system,
):
    system = digits_system(make_system)
    evidence = data_3(system)
    flagged = named(evidence.facts["flagged"])
    assert flagged, evidence.summary  # the constant pixels cost memory for nothing
    # no flagged pixel stands in for another: together they carry nothing the model reads
    assert shuffled_together_drop(system, flagged) <= MAX_DROP
    full = system.trained.metric
    assert metric_without(system, flagged) >= full - MAX_DROP
    assert "retrained without" in evidence.hint


def test_data_2_still_flags_noise_among_redundant_copies_and_its_advice_keeps_quality(
    make_system,
):
    system = make_system(copies_frame(2000, seed=0), copies_frame(1000, seed=1))
    evidence = data_2(system)
    assert evidence.status == "fail"
    assert named(evidence.facts["flagged"]) == ["noise_0", "noise_1", "noise_2"]
    assert evidence.facts["drop_holds"] is True
    assert "Drop noise_0, noise_1, noise_2" in evidence.hint
    left_out = evidence.tables[-1].rows[0][1]  # every input Keel would advise dropping
    advised = left_out.replace(" and ", ", ").split(", ")
    assert {"noise_0", "noise_1", "noise_2"} <= set(advised)
    assert sum(name.startswith("copy_") for name in advised) == 5  # one of the copies is kept
    full = system.trained.metric
    assert metric_without(system, advised) >= full - MAX_DROP


def with_noise(n: int, *, seed: int) -> pd.DataFrame:
    frame = binary_frame(n, seed=seed)
    frame["noise"] = np.random.default_rng(seed + 50).normal(size=n)
    return frame


def test_data_2_withholds_drop_advice_it_could_not_verify_within_the_training_budget(
    make_system,
):
    system = make_system(
        with_noise(2000, seed=0),
        with_noise(1000, seed=1),
        sections={"importance": {"max_seconds": 1e-6}},
    )
    evidence = data_2(system)
    assert evidence.status == "fail"
    assert "1 of 4 input(s) show no effect when shuffled" in evidence.summary
    assert "not verified" in evidence.summary and "[importance] max_seconds" in evidence.summary
    assert "Drop" not in evidence.hint and "keel score --deep" in evidence.hint
    assert evidence.facts["drop_verified"] is False
    rows = {row[0]: row for row in evidence.tables[0].rows}
    assert rows["noise"][4] == "not above noise, dropping it not verified"


def test_data_3_does_not_flag_a_costly_input_whose_drop_it_could_not_verify(make_system):
    rng = np.random.default_rng(50)

    def with_note(n: int, seed: int) -> pd.DataFrame:
        frame = binary_frame(n, seed=seed)
        frame["note"] = ["".join(rng.choice(list("abcdefgh"), 200)) for _ in range(n)]
        return frame

    system = make_system(
        with_note(1500, 0), with_note(800, 1), sections={"importance": {"max_seconds": 1e-6}}
    )
    evidence = data_3(system)
    assert evidence.status == "fail"
    assert evidence.facts["flagged"] == ""
    assert "1 input(s) cost more than their measured benefit, but dropping them" in evidence.summary
    assert "Drop note" not in evidence.hint
    row = next(r for r in evidence.tables[0].rows if r[0] == "note")
    assert row[7].startswith("costly for its measured benefit, but not verified")
