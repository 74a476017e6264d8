"""What `keel.training` gathers from a System for the registry: the lineage, the metrics, the
code that travels with the model."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from systems import HGB_TRAIN, binary_frame

from keel.fingerprint import data_fingerprint, schema_hash
from keel.registry.lineage import lineage_tags, metric_name
from keel.training import code_paths, config_sha256, lineage, slice_metrics

FEATURES = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["ratio"] = raw["x1"] / (1 + raw["x2"].abs())
    return out
"""


def git(folder, *args: str) -> str:
    command = ["git", "-c", "user.email=t@example.com", "-c", "user.name=T", *args]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_lineage_records_commit_config_data_params_seed_time_and_memory(make_system):
    system = make_system(binary_frame(600), binary_frame(300, seed=1))
    git(system.root, "init", "-q")
    git(system.root, "add", ".")
    git(system.root, "commit", "-q", "-m", "system")
    record = lineage(system, packages=["scikit-learn==1.0"])
    assert record["git_commit"] == git(system.root, "rev-parse", "HEAD")
    assert record["config_sha256"] == hashlib.sha256(system.config_file.read_bytes()).hexdigest()
    assert record["params"] == {"max_iter": 50} and record["seed"] == 1
    assert record["train_seconds"] == pytest.approx(system.trained.train_seconds, abs=1e-4)
    assert record["peak_memory_mb"] > 10
    assert record["requirements"] == ["scikit-learn==1.0"]
    train = record["data"]["train"]
    assert train["source"] == '"data/train.parquet"' and train["rows"] == 600
    assert train["content_hash"] == system.fingerprint()["train"]
    tags = lineage_tags(record)
    assert tags["keel.git_commit"] == record["git_commit"]
    assert tags["keel.data.eval.rows"] == "300"


def test_held_out_evaluation_data_is_described_as_such(make_system):
    system = make_system(binary_frame(500))
    facts = data_fingerprint(system, "eval", "hash")
    assert facts["source"] == '"data/train.parquet" (held out: 20%, seeded random)'
    assert facts["rows"] == 100


def test_schema_hash_follows_names_and_types_not_values():
    frame = binary_frame(50)
    assert schema_hash(frame) == schema_hash(binary_frame(50, seed=3))
    assert schema_hash(frame) != schema_hash(frame.astype({"y": "float64"}))
    assert schema_hash(frame) != schema_hash(frame.rename(columns={"x1": "z"}))


def test_config_hash_changes_with_keel_toml(make_system):
    system = make_system(binary_frame(300))
    before = config_sha256(system)
    system.config_file.write_text(system.config_file.read_text() + "\n# reviewed\n")
    assert config_sha256(system) != before


def test_slice_metrics_are_named_for_mlflow_and_computed_per_value(make_system):
    system = make_system(
        binary_frame(800), binary_frame(400, seed=1), sections={"slices": {"columns": ["group"]}}
    )
    evaluation = system.dataset("eval")
    found = slice_metrics(system, evaluation.raw, evaluation.target, system.trained.predictions)
    assert set(found) == {f"slice.group.{g}.roc_auc" for g in "abc"}
    assert all(0.5 < v <= 1 for v in found.values())
    assert metric_name("slice", "region", "north/east=1", "roc_auc") == (
        "slice.region.north_east_1.roc_auc"
    )


def test_code_paths_carry_the_user_module_or_package_but_not_installed_code(make_system):
    single = make_system(binary_frame(200))
    assert code_paths(single) == [single.root / "sysmodel.py"]
    package = make_system(
        binary_frame(200),
        files={"credit/__init__.py": "", "credit/train.py": HGB_TRAIN},
        sections={"model": {"train": "credit.train:train"}},
    )
    assert code_paths(package) == [package.root / "credit"]
    installed = make_system(
        binary_frame(200), sections={"model": {"train": "keel.trainers:gradient_boosting"}}
    )
    assert code_paths(installed) == []


def test_the_staleness_limit_of_model_4_is_stored_with_the_version(make_system):
    import numpy as np
    import pandas as pd
    from systems import binary_frame

    from keel.checks._measure_model import staleness_limit
    from keel.training import lineage

    frame = binary_frame(3000)
    start = np.datetime64("2026-01-01")
    frame["t"] = pd.to_datetime(start + (np.arange(3000) * 4 * 3600).astype("timedelta64[s]"))
    system = make_system(
        frame,
        sections={
            "system": {"timestamp": "t"},
            "staleness": {"period_days": 30, "max_age_periods": 2},
        },
    )
    record = lineage(system, staleness_limit=True)
    assert record["staleness_limit_days"] == staleness_limit(system)
    assert record["staleness_limit_days"] is not None


def test_the_staleness_limit_is_computed_only_when_asked(make_system, monkeypatch):
    import keel.checks._measure_model

    def sweep(system):
        raise AssertionError("model.4's sweep ran without being asked for")

    monkeypatch.setattr(keel.checks._measure_model, "staleness_limit", sweep)
    record = lineage(make_system(binary_frame(300)))
    assert record["staleness_limit_days"] is None
    assert lineage_tags(record)["keel.staleness_limit_days"] == "None"


def test_code_hash_covers_keels_ready_made_trainer_and_the_model_section(make_system):
    from keel.training import model_code_hash

    gradient_boosting = {"model": {"train": "keel.trainers:gradient_boosting"}}
    train, evaluation = binary_frame(300), binary_frame(100, seed=1)
    system = make_system(train, evaluation, sections=gradient_boosting)
    digest, files = model_code_hash(system)
    assert "keel/trainers.py" in files  # the trainer that defines the model, not nothing
    assert digest != hashlib.sha256().hexdigest()
    assert lineage(system)["code_hash"] == digest
    assert lineage(system)["code_files"] == files
    # the same code and specification elsewhere: the same hash (no machine paths in it)
    assert model_code_hash(make_system(train, evaluation, sections=gradient_boosting))[0] == digest
    other = {"model": {**gradient_boosting["model"], "params": {"max_iter": 20}}}
    assert model_code_hash(make_system(train, evaluation, sections=other))[0] != digest


def test_code_hash_changes_with_the_feature_module(make_system):
    from keel.training import model_code_hash

    features = {"model": {"features": "feats:build"}}
    train, evaluation = binary_frame(300), binary_frame(100, seed=1)
    first = make_system(train, evaluation, sections=features, files={"feats.py": FEATURES})
    changed = FEATURES.replace("1 + raw", "2 + raw")
    second = make_system(train, evaluation, sections=features, files={"feats.py": changed})
    assert "feats.py" in model_code_hash(first)[1]
    assert model_code_hash(first)[0] != model_code_hash(second)[0]
