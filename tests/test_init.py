import numpy as np
import pandas as pd
import pytest

from keel.config import load_config
from keel.errors import ConfigError
from keel.init import guess, guess_task, write_config


def applications(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "signed_up_at": pd.date_range("2026-01-01", periods=n, freq="h"),
            "income": rng.normal(50, 10, n),
            "plan": rng.choice(["basic", "pro"], n),
            "gender": rng.choice(["f", "m"], n),
            "churned": rng.integers(0, 2, n),
        }
    )


def test_guesses_target_task_id_timestamp_and_sensitive_columns(tmp_path):
    g = guess(applications(), file=tmp_path / "x.parquet")
    assert (g.target, g.task, g.id, g.timestamp) == (
        "churned",
        "binary",
        "customer_id",
        "signed_up_at",
    )
    assert g.sensitive == ["gender"]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([0.5, 1.2, 3.3], "regression"),
        (list(range(100)), "regression"),
        ([1, 2, 3, 4], "multiclass"),
    ],
)
def test_task_is_guessed_from_the_label_values(values, task):
    assert guess_task(pd.Series(values)) == task


def test_written_config_loads_and_points_at_the_data(tmp_path):
    data = tmp_path / "data" / "apps.parquet"
    data.parent.mkdir()
    applications().to_parquet(data)
    path, _ = write_config(data, directory=tmp_path / "proj")
    config, _ = load_config(path)
    assert config.data.train == "../data/apps.parquet"
    assert config.system.target == "churned"
    assert config.fairness.sensitive == ["gender"]
    assert config.model.train == "keel.trainers:gradient_boosting"


def test_refuses_to_overwrite_without_force(tmp_path):
    data = tmp_path / "apps.csv"
    applications().to_csv(data, index=False)
    write_config(data, directory=tmp_path)
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        write_config(data, directory=tmp_path)
    write_config(data, directory=tmp_path, force=True)


def test_unguessable_target_asks_for_target_option(tmp_path):
    frame = applications().rename(columns={"churned": "z"})
    with pytest.raises(ConfigError, match="--target COLUMN"):
        guess(frame, file=tmp_path / "x.parquet")
    with pytest.raises(ConfigError, match="--target 'nope': no such column"):
        guess(frame, file=tmp_path / "x.parquet", target="nope")


def test_tests_key_is_written_only_when_the_folder_exists(tmp_path):
    data = tmp_path / "apps.parquet"
    applications().to_parquet(data)
    path, _ = write_config(data, directory=tmp_path / "bare")
    assert '\ntests = "tests"' not in path.read_text()
    assert '# tests = "tests"' in path.read_text()
    (tmp_path / "with" / "tests").mkdir(parents=True)
    path, _ = write_config(data, directory=tmp_path / "with")
    assert '\ntests = "tests"' in path.read_text()


def test_init_makes_git_ignore_keel_state_once(tmp_path):
    data = tmp_path / "apps.parquet"
    applications().to_parquet(data)
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / ".gitignore").write_text("*.pyc")
    write_config(data, directory=folder)
    write_config(data, directory=folder, force=True)
    lines = (folder / ".gitignore").read_text().splitlines()
    assert lines.count(".keel/") == 1 and "*.pyc" in lines
