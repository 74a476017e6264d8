import numpy as np
import pytest
from systems import binary_frame

from keel.system import System


def test_trained_model_is_reused_from_cache_on_second_system(make_system):
    system = make_system(binary_frame(2000), binary_frame(800, seed=1))
    first = system.trained
    again = System.from_path(system.config_file)
    second = again.trained
    assert second.metric == first.metric
    assert second.train_seconds == first.train_seconds  # identical record: loaded, not retrained
    assert first.metric > 0.7


def _churn(tmp_path, **kwargs):
    from systems import write_churn_system

    return System.from_path(write_churn_system(tmp_path, **kwargs))


def test_rows_the_model_raises_on_are_named_and_left_out_of_evaluation(tmp_path):
    system = _churn(tmp_path)
    left = system.unpredictable
    assert left is not None
    assert left.rows == [3, 17, 40] and left.total == 300
    assert left.ids == ["c603", "c617", "c640"]
    assert left.inputs == {"charges": 3}
    assert "NaN" in left.error
    assert "raises on 3 of 300 evaluation rows (ids c603, c617, c640)" in left.summary()
    assert len(system.raw("eval")) == 297 and len(system.raw("eval", all_rows=True)) == 300
    evaluation = system.dataset("eval")
    assert len(evaluation.inputs) == len(evaluation.target) == 297
    assert len(system.trained.predictions.labels) == 297
    assert not system.raw("eval")["customer"].isin(left.ids).any()


def test_a_model_that_predicts_every_row_leaves_nothing_out(tmp_path):
    system = _churn(tmp_path, blanks=())
    assert system.unpredictable is None
    assert len(system.raw("eval")) == 300


def _key(folder):
    return System.from_path(folder / "keel.toml", use_cache=False).key


def test_cache_key_covers_feature_code_in_a_folder_named_data(tmp_path):
    from systems import write_system

    files = {
        "pipeline/__init__.py": "",
        "pipeline/data/__init__.py": "",
        "pipeline/data/build.py": "def build(raw):\n    return raw.drop(columns=['y'])\n",
    }
    write_system(
        tmp_path,
        binary_frame(200),
        files=files,
        sections={"model": {"features": "pipeline.data.build:build"}},
    )
    before = _key(tmp_path)
    (tmp_path / "pipeline/data/build.py").write_text(
        "def build(raw):\n    return raw.drop(columns=['y', 'x1'])\n"
    )
    assert _key(tmp_path) != before


def test_cache_key_covers_user_code_imported_from_outside_the_system_folder(tmp_path):
    import sys

    from systems import write_system

    shared = tmp_path / "shared_lib"
    shared.mkdir()
    (shared / "teamfeats.py").write_text("SCALE = 1\n")
    code = "import teamfeats\n" + __import__("systems").HGB_TRAIN
    folder = tmp_path / "system"
    write_system(folder, binary_frame(200), code=code)
    sys.path.insert(0, str(shared))
    try:
        before = _key(folder)
        (shared / "teamfeats.py").write_text("SCALE = 2\n")
        assert _key(folder) != before
    finally:
        sys.path.remove(str(shared))
        sys.modules.pop("teamfeats", None)


def test_environment_names_python_and_the_packages_the_code_imports(make_system):
    system = make_system(binary_frame(200))
    env = system.environment()
    assert env["python"]
    assert "scikit-learn" in env["packages"] and "numpy" in env["packages"]
    assert "scipy" in env["packages"]  # required by scikit-learn, so it shapes the model too
    assert "fastapi" not in env["packages"]


def _install(site, name: str, version: str) -> None:
    """A distribution `name` providing module `name`, installed in folder `site` as pip does."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    (site / f"{name}.py").write_text("")


def test_the_environment_is_read_again_once_a_package_is_installed_or_upgraded(
    make_system, tmp_path
):
    """The installed versions are kept (in the process and on disk) while nothing is
    installed: a package installed or upgraded after that is still in the next reading."""
    import sys

    site = tmp_path / "site"
    site.mkdir()
    system = make_system(binary_frame(200))
    (system.root / "usesit.py").write_text("import keelprobedist\n")
    sys.path.append(str(site))
    try:
        assert "keelprobedist" not in system.environment()["packages"]
        assert list(system.cache.folder.glob("environment-*.pkl"))  # kept for the next process
        _install(site, "keelprobedist", "1.0")
        assert system.environment()["packages"]["keelprobedist"] == "1.0"
        again = System.from_path(system.config_file)  # the on-disk copy is not reused either
        assert again.environment()["packages"]["keelprobedist"] == "1.0"
        for old in site.glob("keelprobedist-1.0.dist-info/*"):
            old.unlink()
        (site / "keelprobedist-1.0.dist-info").rmdir()
        _install(site, "keelprobedist", "2.0")
        assert again.environment()["packages"]["keelprobedist"] == "2.0"
    finally:
        sys.path.remove(str(site))


class _ProbabilitiesOnly:
    """A classifier whose `predict` must not be called."""

    classes_ = np.array([0, 1])

    def predict(self, inputs):
        raise AssertionError("predict was called")

    def predict_proba(self, inputs):
        p = np.linspace(0.1, 0.9, len(inputs))
        return np.column_stack([1 - p, p])


def test_predict_only_for_a_metric_of_probabilities_asks_for_probabilities_only(make_system):
    system = make_system(binary_frame(200))
    frame = binary_frame(10)
    found = system.predict(_ProbabilitiesOnly(), frame, only_for="roc_auc")
    assert np.allclose(found.proba[:, 1], np.linspace(0.1, 0.9, 10))
    assert found.labels.tolist() == [0] * 5 + [1] * 5
    with pytest.raises(AssertionError, match="predict was called"):
        system.predict(_ProbabilitiesOnly(), frame, only_for="accuracy")
