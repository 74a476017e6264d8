"""Bad input stops `keel score` once, before the checks: one message on stderr, exit 2, no report.

Each case is a small real system that a newcomer could write; none may end in exit 0 with the
problem buried in every practice's evidence, or in a Keel traceback.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()


def _score(path: Path, *extra: str):
    result = runner.invoke(app, ["score", str(path), *extra])
    text = result.output.replace("\n", " ")
    return result, " ".join(text.split())


def _no_report(folder: Path) -> bool:
    return not any((folder / ".keel" / n).exists() for n in ("report.json", "report.html"))


def test_target_column_absent_from_the_data_exits_2_naming_it(tmp_path):
    path = write_system(tmp_path, binary_frame(300), sections={"system": {"target": "label"}})
    result, text = _score(path)
    assert result.exit_code == 2
    assert '[system] target = "label": no such column in [data] train' in text
    assert _no_report(tmp_path)


def test_id_column_absent_exits_2(tmp_path):
    path = write_system(tmp_path, binary_frame(300), sections={"system": {"id": "row_id"}})
    result, text = _score(path)
    assert result.exit_code == 2
    assert '[system] id = "row_id": no such column' in text


def test_glob_matching_nothing_exits_2(tmp_path):
    path = write_system(tmp_path, binary_frame(300), sections={"data": {"train": "data/*.csv"}})
    result, text = _score(path)
    assert result.exit_code == 2
    assert "no file found" in text and "data/*.csv" in text


def test_header_only_csv_exits_2_as_empty(tmp_path):
    path = write_system(tmp_path, binary_frame(300), sections={"data": {"train": "data/t.csv"}})
    (tmp_path / "data" / "t.csv").write_text("x1,x2,group,y\n")
    result, text = _score(path)
    assert result.exit_code == 2
    assert "empty (0 rows)" in text


def test_all_null_target_exits_2(tmp_path):
    frame = binary_frame(300)
    frame["y"] = np.nan
    path = write_system(tmp_path, frame)
    result, text = _score(path)
    assert result.exit_code == 2
    assert "300 of 300 rows" in text and "have no label" in text


def test_single_class_target_exits_2(tmp_path):
    frame = binary_frame(300)
    frame["y"] = 1
    path = write_system(tmp_path, frame)
    result, text = _score(path)
    assert result.exit_code == 2
    assert "has the same label" in text and "at least two classes" in text


def test_unreadable_parquet_exits_2_naming_the_file(tmp_path):
    path = write_system(tmp_path, binary_frame(300))
    (tmp_path / "data" / "train.parquet").write_bytes(b"PAR1 this is not parquet")
    result, text = _score(path)
    assert result.exit_code == 2
    assert "train.parquet: cannot be read as parquet" in text


def test_training_function_that_raises_shows_the_users_file_and_line(tmp_path):
    code = """
    def helper(frame):
        raise RuntimeError("bad column mapping")


    def train(frame, target, params, seed):
        return helper(frame)
    """
    path = write_system(tmp_path, binary_frame(300), code=code)
    result, text = _score(path)
    assert result.exit_code == 2
    assert "raised RuntimeError: bad column mapping" in text
    assert "sysmodel.py" in text and "line 3" in text and "in helper" in text
    assert "keel/system.py" not in text  # Keel's own frames are not the user's business
    assert _no_report(tmp_path)


def test_training_function_returning_no_model_exits_2(tmp_path):
    code = """
    def train(frame, target, params, seed):
        return {"weights": [1, 2]}
    """
    path = write_system(tmp_path, binary_frame(300), code=code)
    result, text = _score(path)
    assert result.exit_code == 2
    assert "returned dict; expected a fitted estimator with predict()" in text


def test_feature_function_that_drops_rows_exits_2(tmp_path):
    files = {"feats.py": "def build(raw):\n    return raw.drop(columns=['y']).iloc[:10]\n"}
    path = write_system(
        tmp_path,
        binary_frame(300),
        files=files,
        sections={"model": {"features": "feats:build"}},
    )
    result, text = _score(path)
    assert result.exit_code == 2
    assert "returned DataFrame of 10 rows" in text and "one row per input row" in text


def test_latin1_csv_names_file_column_row_and_the_encoding_key(tmp_path):
    frame = binary_frame(300)
    frame["name"] = "Ann"
    frame.loc[41, "name"] = "José"
    path = write_system(tmp_path, frame, sections={"data": {"train": "data/t.csv"}})
    frame.to_csv(tmp_path / "data" / "t.csv", index=False, encoding="latin-1")
    result, text = _score(path, "--only", "data.1")
    assert result.exit_code == 2
    assert 'column "name", row 43' in text
    assert '[data] encoding = "latin-1"' in text


def test_latin1_csv_reads_with_the_encoding_key(tmp_path):
    from keel.system import System

    frame = binary_frame(300)
    frame["name"] = "José"
    path = write_system(
        tmp_path, frame, sections={"data": {"train": "data/t.csv", "encoding": "latin-1"}}
    )
    frame.to_csv(tmp_path / "data" / "t.csv", index=False, encoding="latin-1")
    system = System.from_path(path)
    assert set(system.raw("train", all_rows=True)["name"]) == {"José"}


def test_unknown_encoding_is_a_configuration_error(tmp_path):
    path = write_system(tmp_path, binary_frame(300), sections={"data": {"encoding": "klingon"}})
    result, text = _score(path)
    assert result.exit_code == 2
    assert '[data] encoding = "klingon": unknown text encoding' in text


@pytest.mark.parametrize("only", ["data.1", "model.5"])
def test_a_healthy_system_still_exits_0(tmp_path, only):
    path = write_system(tmp_path, binary_frame(600), binary_frame(300, seed=1))
    result, _ = _score(path, "--only", only)
    assert result.exit_code == 0, result.output


def test_model_raising_on_every_row_exits_2(tmp_path):
    code = """
    class Broken:
        classes_ = [0, 1]

        def predict(self, X):
            raise ValueError("Input X contains NaN")

        predict_proba = predict


    def train(frame, target, params, seed):
        return Broken()
    """
    path = write_system(tmp_path, binary_frame(300), pd.DataFrame(binary_frame(100)), code=code)
    result, text = _score(path)
    assert result.exit_code == 2
    assert "raises on every evaluation row" in text
