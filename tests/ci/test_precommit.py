"""The keel-validate hook of .pre-commit-hooks.yaml, run by pre-commit itself
(`pre-commit try-repo KEEL keel-validate --all-files`) in a user's repository."""

from __future__ import annotations

import subprocess

from pull_requests import ROOT


def try_hook(pr) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "pre-commit",
            "try-repo",
            str(ROOT),
            "keel-validate",
            "--all-files",
            "--color",
            "never",
        ],
        cwd=pr.workspace,
        env=pr.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_hook_passes_a_valid_system_and_notes_the_missing_schema(pull_request):
    done = try_hook(pull_request)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "keel validate" in done.stdout and "Passed" in done.stdout


def test_the_hook_fails_on_a_bad_key_naming_the_file_and_key(pull_request):
    toml = pull_request.workspace / "keel.toml"
    toml.write_text(toml.read_text().replace("seed = 1", "seed = 1\nsede = 2"))
    done = try_hook(pull_request)
    assert done.returncode == 1
    assert "Failed" in done.stdout
    assert "keel.toml" in done.stdout and "sede" in done.stdout


def test_the_hook_fails_on_a_broken_schema_naming_the_file(pull_request):
    (pull_request.workspace / "keel.schema.yaml").write_text("features: [not, a, mapping]\n")
    done = try_hook(pull_request)
    assert done.returncode == 1
    assert "keel.schema.yaml: features" in done.stdout
