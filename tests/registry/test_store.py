"""The connection to the registry: where a SQLite store lives, and clear errors when a store
cannot be reached or kept."""

from __future__ import annotations

import time

import pytest
from registries import variant

from keel.errors import RegistryError
from keel.registry.store import tracking_uri
from keel.registry.versions import list_versions
from keel.training import registry_ref, train_and_register


def test_tracking_uri_resolves_relative_sqlite_paths_against_the_system_folder(tmp_path):
    root = tmp_path / "sys"
    assert tracking_uri("sqlite:///.keel/mlflow.db", root) == (
        f"sqlite:///{root.resolve()}/.keel/mlflow.db?timeout=30"
    )
    assert tracking_uri("sqlite:////abs/m.db", root) == "sqlite:////abs/m.db?timeout=30"
    assert tracking_uri("sqlite:////abs/m.db?timeout=5", root) == "sqlite:////abs/m.db?timeout=5"
    assert tracking_uri("http://mlflow.example:5000", root) == "http://mlflow.example:5000"


def test_unreachable_server_is_a_clear_error_at_once(good):
    system = variant(good, registry={"uri": "http://127.0.0.1:9"})
    start = time.perf_counter()
    with pytest.raises(
        RegistryError, match='cannot reach the MLflow server at "http://127.0.0.1:9"'
    ):
        train_and_register(system)
    assert time.perf_counter() - start < 10


def test_unwritable_database_path_is_a_clear_error(good, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    system = variant(good, registry={"uri": f"sqlite:///{tmp_path}/afile/mlflow.db"})
    with pytest.raises(RegistryError, match="cannot keep the registry database"):
        list_versions(registry_ref(system))
