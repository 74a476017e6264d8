"""data.6 on the bundled example (examples/credit), copied to a temporary folder: the example's
feature code passes new raw columns through and its training code trains with them."""

import shutil
from pathlib import Path

import pytest

from keel.checks.data import data_6
from keel.system import System

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> System:
    if not (EXAMPLE / "data" / "train.parquet").exists():
        pytest.skip("the example's data is not generated (python examples/credit/generate.py)")
    folder = tmp_path_factory.mktemp("credit")
    shutil.copytree(EXAMPLE, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".keel*"))
    return System.from_path(folder)


def test_data_6_on_the_example_proves_a_new_raw_column_reaches_the_model(example):
    evidence = data_6(example)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["stage"] == "done"
    assert evidence.facts["predictions_changed"] > 0
    added = dict(evidence.tables[0].rows)["model inputs the feature code built from it"]
    assert added == "keel_trial_input"
