"""Summaries of data checks read as what they measured (no sign on a drop, no lost words)."""

from systems import binary_frame

from keel.checks.data import data_2, data_6


def test_data_2_names_the_strongest_inputs_drop_without_a_minus_sign(make_system):
    evidence = data_2(make_system(binary_frame(1500, seed=0), binary_frame(600, seed=1)))
    strongest = evidence.facts["strongest_input"]
    assert f"strongest {strongest} (shuffling it lowers roc_auc by " in evidence.summary
    assert "roc_auc −" not in evidence.summary


def test_data_6_summary_says_how_long_training_with_the_new_input_took(make_system):
    evidence = data_6(make_system(binary_frame(1500, seed=0), binary_frame(600, seed=1)))
    assert evidence.status == "pass", evidence.summary
    assert "trained with in" not in evidence.summary
    assert "; training with it took " in evidence.summary
