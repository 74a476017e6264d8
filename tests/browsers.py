"""Headless Debian Chromium for the browser tests, through Playwright's `executable_path`.

Playwright's own browser downloads are never used. Without Chromium a browser test is skipped
on a workstation but fails when the CI environment variable is set, so CI cannot skip it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser test may not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright, or a skip (a failure under CI)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """What a page did while a test watched it: console errors, uncaught script errors, and
    every URL it requested."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors


def watch(page: Any) -> Watched:
    """Start recording a Playwright page's console errors, script errors and requests."""
    seen = Watched()
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    page.on("request", lambda request: seen.requests.append(request.url))
    return seen
