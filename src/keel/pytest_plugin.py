"""The pytest plugin: `pytest --keel [PATH]` runs the ML Test Score as part of the test run.

Each of the 28 practices becomes one test item, named by its id (`keel.toml::data.1`), marked
by its section (`keel_data`, `keel_model`, `keel_infra`, `keel_monitor`, so `-m keel_model`
selects a section), in the team's usual test run and CI test view:

    pass, attested     passed
    fail, error        failed, the evidence summary and the hint as the failure message
    not_configured     skipped, with the hint (what to configure); see the README, "In CI"

`--keel-only data.1,model.5` collects only these practices.

The checks run once, when the first practice's item is set up (`keel.checks.runner.run`),
with Keel's cache, so a second run with nothing changed is quick.

pytest loads this module into every test run of an environment where Keel is installed (entry
point `pytest11`), Keel's own test suite included: without `--keel` it adds its two options
and does nothing else, and it imports nothing of Keel's until `--keel` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SECTION_MARKERS = {
    "data": "keel_data: a Keel practice of the data section (pytest --keel)",
    "model": "keel_model: a Keel practice of the model section (pytest --keel)",
    "infra": "keel_infra: a Keel practice of the infrastructure section (pytest --keel)",
    "monitor": "keel_monitor: a Keel practice of the monitoring section (pytest --keel)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--keel [PATH]` and `--keel-only IDS`."""
    group = parser.getgroup("keel", "Keel: the ML Test Score as tests")
    group.addoption(
        "--keel",
        action="store",
        nargs="?",
        const=".",
        default=None,
        metavar="PATH",
        help="Run the ML Test Score of the system whose keel.toml is at PATH (default: here), "
        "one test per practice. Write --keel=PATH when test paths follow.",
    )
    group.addoption(
        "--keel-only",
        action="store",
        default=None,
        metavar="IDS",
        help="With --keel: run only these practices (comma-separated ids, e.g. data.1,model.5).",
    )


def pytest_configure(config: pytest.Config) -> None:
    """With `--keel`: register the section markers and the collector of the practices."""
    if config.getoption("keel") is None:
        return
    for line in SECTION_MARKERS.values():
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(_KeelCollection(config), "keel-collection")


class _KeelCollection:
    """Adds the practices of the system to the collected items (only under `--keel`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)  # before -m and -k deselect items
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[Any]) -> None:
        path = Path(self.config.getoption("keel"))
        only = self.config.getoption("keel_only")
        file = _config_file(path)
        try:
            nodeid = file.relative_to(self.config.rootpath).as_posix()
        except ValueError:
            nodeid = file.as_posix()
        system = KeelSystem.from_parent(
            session, name=file.name, path=file, nodeid=nodeid, only=only
        )
        items.extend(system.collect())


def _config_file(path: Path) -> Path:
    """keel.toml at `path` (the file or its folder), absolute; checked later, in setup."""
    path = path.resolve()
    return path / "keel.toml" if path.is_dir() else path


class KeelSystem(pytest.Collector):
    """The system's practices (all 28, or those of `--keel-only`); its setup runs the checks
    once for all of them."""

    def __init__(self, *, only: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.only = [p.strip() for p in only.split(",") if p.strip()] if only else None
        self.result: Any = None

    def collect(self) -> list[pytest.Item]:
        from keel.checks.runner import select
        from keel.errors import KeelError
        from keel.rubric import BY_ID

        try:
            chosen = select(self.only)
        except KeelError as exc:
            raise pytest.UsageError(str(exc).replace("--only:", "--keel-only:")) from None
        items = []
        for practice in (BY_ID[pid] for pid in chosen):
            item = KeelPractice.from_parent(self, name=practice.id, title=practice.title)
            item.add_marker(f"keel_{practice.section}")
            items.append(item)
        return items

    def setup(self) -> None:
        from keel.checks.runner import run
        from keel.errors import KeelError
        from keel.system import System

        try:
            system = System.from_path(self.path)
            self.result = run(system, only=self.only, record=False)
            return
        except KeelError as exc:
            message = str(exc)
        pytest.fail(message, pytrace=False)  # Keel's message, as `keel score` says it


class KeelPracticeFailed(Exception):
    """A practice whose check fails or errs: its status, evidence summary and hint."""


class KeelPractice(pytest.Item):
    """One practice of the rubric, passing when the system meets it."""

    def __init__(self, *, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, KeelSystem) and parent.result is not None
        evidence = next(e for e in parent.result.evidence if e.practice == self.name)
        if evidence.status in ("pass", "attested"):
            return
        hint = f" {evidence.hint}" if evidence.hint else ""
        if evidence.status == "not_configured":
            pytest.skip(f"{self.name} not configured: {evidence.summary}.{hint}")
        if evidence.status == "left_out":
            pytest.skip(f"{self.name} left out of this run (--keel-only)")
        message = f"{self.name} {evidence.status}: {evidence.summary}"
        raise KeelPracticeFailed(message + (f"\nhint:{hint}" if hint else ""))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The evidence (or Keel's error message) instead of a traceback into Keel."""
        from keel.errors import KeelError

        if isinstance(excinfo.value, KeelPracticeFailed | KeelError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.name} {self.title}"
