"""Fixtures of the CI tests: a pull request in a temporary git repository."""

from pathlib import Path

import pytest
from pull_requests import PullRequest, make_pull_request


@pytest.fixture
def pull_request(tmp_path: Path) -> PullRequest:
    """A workspace at a head commit that breaks data.4, its base branch main on origin."""
    return make_pull_request(tmp_path)
