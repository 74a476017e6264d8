"""model.6 on a regression and on the handwritten digits: slices judged on what they say."""

import numpy as np
import pandas as pd
from systems import HGB_TRAIN

from keel.checks.model import model_6

# The practitioner's feature code: casual and registered riders add up to the target (cnt), so
# they are dropped; the model sees the hour, the weather and the temperature.
BIKE_FEATURES = """
def build(raw):
    return raw.drop(columns=["cnt", "casual", "registered"], errors="ignore")
"""

BIKE = {
    "system": {"name": "bikes", "task": "regression", "target": "cnt"},
    "model": {"params": {"kind": "regressor", "max_iter": 100}, "features": "feats:build"},
}


def bike_frame(n: int, *, seed: int, scrambled: str | None = None) -> pd.DataFrame:
    """Hourly bike rentals shaped like the UCI bike-sharing data: rush-hour peaks, fewer and
    steadier riders in light rain, counts = casual + registered. In the `scrambled` district
    the counts have nothing to do with the inputs."""
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 24, n)
    weather = rng.choice(["clear", "mist", "light rain/snow"], n, p=[0.55, 0.3, 0.15])
    temp = rng.uniform(0, 35, n)
    shape = (
        20
        + 180 * np.exp(-((hr - 8) ** 2) / 3)
        + 250 * np.exp(-((hr - 17.5) ** 2) / 4)
        + 60 * ((hr > 9) & (hr < 17))
    )
    factor = np.select([weather == "clear", weather == "mist"], [1.0, 0.8], 0.35)
    mean = shape * factor * (0.5 + temp / 35) * rng.lognormal(0, 0.35, n)
    district = rng.choice(["centre", "harbour", "hills"], n)
    if scrambled:
        mean = np.where(district == scrambled, rng.uniform(0, 600, n), mean)
    registered, casual = rng.poisson(0.8 * mean), rng.poisson(0.2 * mean)
    return pd.DataFrame(
        {
            "hr": hr,
            "weathersit": weather,
            "temp": temp.round(1),
            "district": district,
            "casual": casual,
            "registered": registered,
            "cnt": casual + registered,
        }
    )


def bike_system(make_system, **frames_kwargs):
    return make_system(
        bike_frame(4000, seed=0, **frames_kwargs),
        bike_frame(2000, seed=1, **frames_kwargs),
        code=HGB_TRAIN,
        sections=BIKE,
        files={"feats.py": BIKE_FEATURES},
    )


def test_model_6_passes_a_rainy_slice_whose_r2_is_low_but_whose_errors_are_smaller(
    make_system,
):
    # Light rain: R² far below the whole's (its riders vary little), MAE well below the whole's.
    evidence = model_6(bike_system(make_system))
    assert evidence.status == "pass", evidence.summary
    rows = {row[0]: row for row in evidence.tables[0].rows}
    rain = rows["weathersit = light rain/snow"]
    assert evidence.tables[0].columns[3:6] == ["MAE", "MAE ÷ overall", "r2"]
    assert rain[4] < 1 and rain[5] < evidence.facts["overall"] - 0.1  # smaller errors, low R²
    assert rain[6] == "pass"
    assert evidence.facts["error"] == "MAE"
    assert evidence.thresholds["max_error_ratio"] == 1.5 and "max_gap" not in evidence.thresholds
    assert evidence.figures[0].reference == {"overall": 1.0, "max_error_ratio": 1.5}


def test_model_6_does_not_search_the_parts_of_the_target_the_feature_code_drops(make_system):
    evidence = model_6(bike_system(make_system))
    assert evidence.facts["not_searched"] == "casual, registered"
    shown = {row[0].split(" ")[0] for row in evidence.tables[0].rows}
    assert {"casual", "registered"}.isdisjoint(shown)
    assert "not searched: casual, registered" in evidence.summary


def test_model_6_fails_a_regression_slice_whose_errors_are_far_above_the_wholes(make_system):
    evidence = model_6(bike_system(make_system, scrambled="hills"))
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["worst_slice"] == "district = hills"
    assert evidence.facts["worst_error_ratio"] > 1.5
    assert "worst slice district = hills: MAE" in evidence.summary
    assert "[slices] max_error_ratio" in evidence.hint


def test_model_6_says_why_nothing_on_the_digits_was_judged(make_system):
    from sklearn_data import SVC_TRAIN, digits_frames, digits_sections

    sections = digits_sections(C=1.0, gamma=0.001)
    sections["slices"] = {"min_size": 80}
    evidence = model_6(make_system(*digits_frames(), code=SVC_TRAIN, sections=sections))
    assert evidence.status == "not_configured", evidence.summary
    sizes = [row[2] for row in evidence.tables[0].rows]
    assert sizes and min(sizes) >= 80  # the table shows slices of 80 rows and more ...
    assert "no slice has at least" not in evidence.summary  # ... so that is not the reason
    assert "no [slices] columns are configured" in evidence.summary
    assert "numeric column(s), which are reported, not judged" in evidence.summary
    assert "[slices] columns" in evidence.hint and "min_size" not in evidence.hint
