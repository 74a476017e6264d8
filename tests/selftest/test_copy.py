"""Scratch copies: their own registry and log, and the user's cache reused."""

from __future__ import annotations

from pathlib import Path

from selftest_systems import policy_system

from keel.cache import digest
from keel.selftest._copy import clone, make_template
from keel.system import System


def test_a_copy_elsewhere_with_its_own_registry_and_log_keys_the_same_trained_state(
    tmp_path: Path,
) -> None:
    path = policy_system(tmp_path / "user")
    user = System.from_path(path)
    user.trained  # noqa: B018 (writes the user's cache)
    copy = make_template(path, tmp_path / "scratch" / "template")
    copied = System.from_path(copy.config_file)
    assert copied.config.registry.uri == copy.registry_uri
    assert copied.config.registry.uri.endswith("/scratch/template/.selftest/registry.db")
    assert copied.config.data.serving_log == str(copy.log_folder)
    assert copied.key == user.key
    cached = copied.cache.get("trained", digest(copied.key, "trained", ()))
    assert cached is not None  # the copied cache answers: no retraining
    again = clone(copy, tmp_path / "scratch" / "clone")
    assert System.from_path(again.config_file).key == user.key
    assert again.registry_uri != copy.registry_uri


def test_data_outside_the_folder_is_named_absolutely_and_git_is_not_copied(
    tmp_path: Path,
) -> None:
    path = policy_system(tmp_path / "user")
    (path.parent / ".git").mkdir()
    (path.parent / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    shared = tmp_path / "shared"
    (path.parent / "data" / "eval.parquet").rename(shared.with_suffix(".parquet"))
    text = path.read_text().replace('eval = "data/eval.parquet"', 'eval = "../shared.parquet"')
    path.write_text(text)
    copy = make_template(path, tmp_path / "scratch" / "template")
    copied = System.from_path(copy.config_file)
    assert copied.config.data.eval == str(shared.with_suffix(".parquet"))
    assert len(copied.raw("eval", all_rows=True)) == 300
    assert not (copy.root / ".git").exists()
