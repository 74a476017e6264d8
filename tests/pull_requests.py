"""A pull request as a CI runner sees it: an origin repository with a base branch (main) and a
feature branch whose head commit breaks data.4, cloned into a workspace checked out at the head.

`runner_env` is the environment a runner gives the steps: this checkout's Keel on PATH (the
`keel` and `python` of Keel's virtualenv, with this work tree's sources first), git identity.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from systems import binary_frame, write_system

ROOT = Path(__file__).resolve().parents[1]  # the Keel repository: action.yml, ci/, src/
ONLY = "--only data.1,data.4"  # two data practices: no training, so a score takes seconds


@dataclass
class PullRequest:
    origin: Path  # the bare repository both branches are pushed to
    workspace: Path  # a clone checked out at the head commit, as actions/checkout leaves it
    base: str  # the base branch
    env: dict[str, str]


def runner_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a CI runner's shell steps, with this Keel installed."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"] = "CI test"
        env[f"GIT_{who}_EMAIL"] = "ci@example.invalid"
    env.pop("PYTEST_ADDOPTS", None)
    return env


def git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def make_pull_request(tmp_path: Path) -> PullRequest:
    """main: a small system with a feature policy (deny `ssn*`); the feature branch's head adds
    an `ssn_hash` input, so data.4 goes from pass to fail."""
    env = runner_env(tmp_path)
    origin, author = tmp_path / "origin.git", tmp_path / "author"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin), env=env)
    write_system(
        author,
        binary_frame(300),
        binary_frame(200, seed=1),
        sections={"policy": {"deny": ["ssn*"]}},
    )
    (author / ".gitignore").write_text(".keel/\n__pycache__/\n")
    git(author, "init", "-q", "-b", "main", env=env)
    git(author, "add", "-A", env=env)
    git(author, "commit", "-qm", "a small system", env=env)
    git(author, "remote", "add", "origin", str(origin), env=env)
    git(author, "push", "-q", "origin", "main", env=env)
    git(author, "checkout", "-qb", "feature", env=env)
    for split in ("train", "eval"):
        file = author / "data" / f"{split}.parquet"
        frame = pd.read_parquet(file)
        frame["ssn_hash"] = range(len(frame))
        frame.to_parquet(file)
    git(author, "commit", "-qam", "add ssn_hash", env=env)
    git(author, "push", "-q", "origin", "feature", env=env)
    workspace = tmp_path / "workspace"
    git(
        tmp_path,
        "clone",
        "-q",
        "--depth=1",
        "-b",
        "feature",
        origin.as_uri(),
        str(workspace),
        env=env,
    )
    return PullRequest(origin=origin, workspace=workspace, base="main", env=env)
