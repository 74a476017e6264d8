"""The registered system the registry tests share: trained once, registered once."""

from __future__ import annotations

import pytest
from registries import good_system

from keel.system import System
from keel.training import train_and_register


@pytest.fixture(scope="session")
def good(tmp_path_factory) -> System:
    """A system with a feature function, registering into a shared SQLite store."""
    return good_system(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def first(good) -> object:
    return train_and_register(good)
