import numpy as np
import pandas as pd
import pytest

from keel.model.clusters import association_matrix, correlated_groups

rng = np.random.default_rng(0)


def test_association_counts_a_monotone_relation_in_full_and_categories_by_cramers_v():
    x = rng.normal(size=1000)
    colour = rng.choice(["red", "blue"], size=1000)
    frame = pd.DataFrame(
        {
            "x": x,
            "exp_x": np.exp(3 * x),  # monotone, far from linear: |Spearman| 1
            "noise": rng.normal(size=1000),
            "colour": colour,
            "team": np.where(colour == "red", "a", "b"),
        }
    )
    found = association_matrix(frame)
    assert found[0, 1] == pytest.approx(1.0)
    assert found[0, 2] < 0.1
    assert found[3, 4] == pytest.approx(1.0, abs=0.01)
    assert found[3, 0] < 0.1  # colour and x are unrelated (correlation ratio)
    assert np.allclose(found, found.T)


def test_correlated_groups_gather_noisy_copies_and_leave_noise_and_constants_alone():
    signal = rng.normal(size=2000)
    frame = pd.DataFrame({f"copy_{i}": signal + 0.5 * rng.normal(size=2000) for i in range(4)})
    frame["noise_a"] = rng.normal(size=2000)
    frame["noise_b"] = rng.normal(size=2000)
    frame["constant"] = 0.0
    assert correlated_groups(frame, min_association=0.5) == [[f"copy_{i}" for i in range(4)]]
    assert correlated_groups(frame, min_association=0.95) == []
