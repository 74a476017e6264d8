"""A system whose Parquet data holds its timestamps as ISO 8601 text, end to end."""

import pandas as pd
from drills import infer_schema
from systems import HGB_TRAIN, binary_frame

from keel.checks.data import data_1
from keel.checks.infra import infra_2
from keel.data.schema import load_schema
from keel.system import System

# The practitioner's feature code reads the hour out of the text, as it is stored.
HOUR_FROM_TEXT = """
import pandas as pd


def build(raw):
    out = raw.drop(columns=["y", "at"], errors="ignore")
    out["hour"] = pd.to_numeric(raw["at"].str.slice(11, 13), errors="coerce")
    return out
"""


def test_text_timestamps_are_a_datetime_that_validates_and_is_synthesised_as_text(make_system):
    frames = []
    for seed, n in ((0, 600), (1, 200)):
        frame = binary_frame(n, seed=seed)
        stamps = pd.date_range("2024-01-01", periods=n, freq="53min") + pd.Timedelta(days=seed * 30)
        frame["at"] = stamps.strftime("%Y-%m-%dT%H:%M:%S")
        frames.append(frame)
    system = make_system(
        *frames,
        code=HGB_TRAIN,
        sections={
            "model": {"features": "feats:build"},
            "data": {"schema": "keel.schema.yaml"},
        },
        files={"feats.py": HOUR_FROM_TEXT},
    )
    infer_schema(system.root)
    feature = load_schema(system.root / "keel.schema.yaml").features["at"]
    assert feature.type == "datetime" and feature.as_text and feature.drift == {}
    system = System.from_path(system.root / "keel.toml")
    assert data_1(system).status == "pass"
    evidence = infra_2(system)  # synthetic rows carry text the feature code can slice
    steps = {row[0]: row[1] for row in evidence.tables[0].rows}
    assert "prediction raised" not in evidence.summary, evidence.summary
    assert "pass" in steps.values() and "fail" not in steps.values(), steps
