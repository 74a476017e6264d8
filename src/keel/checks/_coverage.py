"""The user's tests run under coverage, measuring the feature code (data.7, first part).

The tests run in a separate process, from the system's folder, as

    python -m coverage run --rcfile=<empty> --data-file=<tmp> --source=<feature code folder>
        -m pytest -q -p no:cacheprovider --junitxml=<tmp> <tests>

then `coverage json` reports the line coverage of the feature module's file. A neutral,
empty coverage configuration is used, so the figure does not depend on the project's own
coverage settings (omitted files, say); `# pragma: no cover` still excludes lines. The project's
pytest configuration applies as usual. Counts of passed, failed, erroring and skipped tests
come from pytest's JUnit XML report. The run is stopped after `timeout` seconds.

`feature_tests` runs [model] tests this way for a system, cached by the system's state and a
hash of the tests' own code, and says what is missing when there is nothing to run;
`training_tests` runs every test file that imports the training module (infra.2). The rest
says in words why a run did not count, and shows a run in evidence tables.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.evidence import BarChart, Table
from keel.system import System, code_hash

TIMEOUT_S = 300
OUTPUT_LINES = 30  # the tail of pytest's output kept for the evidence
NOT_RUN = -2  # SuiteRun.returncode when the tests could not be started at all


@dataclass
class SuiteRun:
    """The outcome of the user's tests and the coverage of the feature module (plain data)."""

    returncode: int
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    covered_lines: int = 0
    total_lines: int = 0
    missing_lines: list[int] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False
    output: str = ""

    @property
    def coverage(self) -> float:
        """Line coverage of the feature module in [0, 1] (0 when it has no lines)."""
        return self.covered_lines / self.total_lines if self.total_lines else 0.0

    @property
    def tests_pass(self) -> bool:
        """Tests ran, and none failed or errored (pytest exit status 0)."""
        return self.returncode == 0 and not self.timed_out and self.passed > 0

    @property
    def problem(self) -> str:
        """Why these tests do not count as passing ("" when they do), in a few words."""
        if self.timed_out:
            return "timed out"
        if self.failed or self.errors:
            return f"{self.failed + self.errors} failing"
        if self.returncode == NOT_RUN:
            return self.output or "did not run"
        if self.passed == 0:
            skipped = f" ({self.skipped} skipped)" if self.skipped else ""
            return f"no test ran{skipped}"
        if self.returncode != 0:
            return f"pytest exited with status {self.returncode}"
        return ""


def find_test_files(folder: Path) -> list[Path]:
    """The pytest test files under `folder`: test_*.py and *_test.py."""
    found = {*folder.rglob("test_*.py"), *folder.rglob("*_test.py")}
    return sorted(p for p in found if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, by absolute name (`from a import b` gives `a` and
    `a.b`, since `b` may be a submodule); empty when the file does not parse."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def tests_importing(folder: Path, module: str) -> list[Path]:
    """The test files under `folder` that import `module` (or one of its submodules): the
    tests of that code, whatever the files are called."""
    return [
        path
        for path in find_test_files(folder)
        if any(m == module or m.startswith(module + ".") for m in imported_modules(path))
    ]


def _junit_counts(path: Path) -> dict[str, int]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if not path.exists():
        return counts
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
    return counts


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-OUTPUT_LINES:])


def run_tests_with_coverage(
    root: Path, tests: Path, source: Path, *, timeout: float = TIMEOUT_S
) -> SuiteRun:
    """Run pytest on `tests` from `root` under coverage; measure the file `source`.

    The folder holding `source` is what coverage traces, so a feature module that no test
    imports still counts, at 0 %.
    """
    root, tests, source = root.resolve(), tests.resolve(), source.resolve()
    if importlib.util.find_spec("pytest") is None or importlib.util.find_spec("coverage") is None:
        return SuiteRun(NOT_RUN, output="pytest or coverage is not installed where Keel runs")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("COVERAGE_PROCESS_START", None)
    with tempfile.TemporaryDirectory(prefix="keel-coverage-") as tmp:
        work = Path(tmp)
        rcfile, data, junit, report = (
            work / "coveragerc",
            work / ".coverage",
            work / "junit.xml",
            work / "coverage.json",
        )
        rcfile.write_text("[run]\n")
        common = [f"--rcfile={rcfile}", f"--data-file={data}"]
        command = [
            sys.executable,
            "-m",
            "coverage",
            "run",
            *common,
            f"--source={source.parent}",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            str(tests),
        ]
        start = time.perf_counter()
        try:
            done = subprocess.run(
                command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            return SuiteRun(
                -1, seconds=time.perf_counter() - start, timed_out=True, output=_tail(output)
            )
        seconds = time.perf_counter() - start
        counts = _junit_counts(junit)
        run = SuiteRun(
            done.returncode,
            passed=counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
            failed=counts["failures"],
            errors=counts["errors"],
            skipped=counts["skipped"],
            seconds=seconds,
            output=_tail(done.stdout + "\n" + done.stderr),
        )
        if not data.exists():
            return run
        subprocess.run(
            [
                sys.executable,
                "-m",
                "coverage",
                "json",
                *common,
                f"--include={source}",
                "-o",
                str(report),
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if not report.exists():
            return run
        files = json.loads(report.read_text())["files"]
        for name, entry in files.items():
            if (root / name).resolve() == source:
                summary = entry["summary"]
                run.covered_lines = int(summary["covered_lines"])
                run.total_lines = int(summary["num_statements"])
                run.missing_lines = [int(n) for n in entry["missing_lines"]]
        return run


def line_ranges(lines: list[int], limit: int = 12) -> str:
    """Line numbers as ranges ("3-5, 9"), at most `limit` of them."""
    ranges: list[list[int]] = []
    for n in sorted(lines):
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    text = [f"{a}-{b}" if b > a else str(a) for a, b in ranges[:limit]]
    return ", ".join(text) + (" …" if len(ranges) > limit else "")


def feature_tests(system: System, source: Path) -> tuple[SuiteRun | None, str, str]:
    """The run of [model] tests under coverage of the feature file `source`, cached; or None,
    with what is missing and how to fix it, when there are no tests to run."""
    tests = system.config.model.tests
    module = (system.config.model.features or "").split(":")[0]
    write = (
        f"Write pytest tests of the feature code in {tests or 'tests'}/ (e.g. test_features.py "
        f"importing {module} and calling it on small hand-made frames)"
    )
    if not tests:
        return None, "no tests configured", f'{write} and set [model] tests = "tests".'
    folder = system.root / tests
    if not folder.is_dir():
        return None, f"the tests folder {tests} does not exist", f"{write}."
    files = find_test_files(folder)
    if not files:
        return None, f"no test files (test_*.py, *_test.py) in {tests}", f"{write}."
    if importlib.util.find_spec("pytest") is None:
        return (
            None,
            "pytest is not installed, so the tests cannot run",
            "Install pytest where Keel runs: pip install pytest.",
        )
    run = system.cached(
        "feature_tests",
        lambda: run_tests_with_coverage(system.root, folder, source),
        tests,
        code_hash(folder),
        str(source),
        TIMEOUT_S,
    )
    return run, "", ""


def feature_module(system: System, build: Callable[..., Any]) -> tuple[Path, str]:
    """(the source file of the feature function `build`, the file as shown in evidence)."""
    source = Path(sys.modules[build.__module__].__file__ or "").resolve()
    shown = (
        str(source.relative_to(system.root)) if source.is_relative_to(system.root) else str(source)
    )
    return source, shown


def _training_module(system: System) -> tuple[str, Path, str]:
    """(the module of [model] train, its source file, the file as shown in evidence)."""
    name = system.config.model.train.split(":")[0]
    module = sys.modules.get(system.train_function.__module__)
    source = Path(getattr(module, "__file__", "") or "").resolve()
    shown = (
        str(source.relative_to(system.root)) if source.is_relative_to(system.root) else str(source)
    )
    return name, source, shown


def training_tests(system: System) -> tuple[list[str], list[SuiteRun], str, str]:
    """(test files that import the training module, their runs, the training file shown, why
    there are none), the runs cached by the tests' code."""
    tests = system.config.model.tests
    name, source, shown = _training_module(system)
    folder = system.root / tests if tests else None
    if folder is None:
        return [], [], shown, "no tests configured ([model] tests is empty)"
    if not folder.is_dir():
        return [], [], shown, f"the tests folder {tests}/ ([model] tests) does not exist"
    files = tests_importing(folder, name)
    if not files:
        return [], [], shown, f"no test file in {tests}/ imports the training module {name}"
    names = [str(f.relative_to(system.root)) for f in files]
    timeout = system.config.smoke.timeout_seconds
    runs = system.cached(
        "training_tests",
        lambda: [run_tests_with_coverage(system.root, f, source, timeout=timeout) for f in files],
        names,
        code_hash(folder),
        str(source),
        timeout,
    )
    return names, runs, shown, ""


# What pytest's exit statuses mean when no test result came back (pytest's ExitCode).
PYTEST_EXITS = {
    2: "pytest was interrupted: the tests could not be collected (an import or syntax error "
    "in a test module or conftest.py?)",
    3: "pytest stopped on an internal error",
    4: "pytest could not start: a usage error (unknown options, or a conftest.py or plugin "
    "that fails)",
    5: "pytest collected no tests",
}


def first_error(output: str) -> str:
    """The first line of pytest's output that names an error, to quote in a summary: an
    exception line ("E   ModuleNotFoundError: ...") before any other line naming an error."""
    lines = output.splitlines()
    exceptions = [x[1:].strip() for x in lines if x.startswith("E ")]
    for text in [*exceptions, *(x.strip() for x in lines)]:
        if "Error" in text or "error:" in text:
            return text[:200]
    return ""


def why_not_run(run: SuiteRun) -> str:
    """Why a test run that passed no test did not run, in words."""
    if run.returncode == NOT_RUN:
        return f"the tests could not be started: {run.output or 'no reason given'}"
    collected = run.returncode in (2, 3, 4) and run.passed + run.failed == 0
    if run.passed + run.failed + run.errors and not collected:
        return f"{run.failed + run.errors} test(s) fail (exit status {run.returncode})"
    why = PYTEST_EXITS.get(run.returncode, f"pytest ran no tests (exit status {run.returncode})")
    error = first_error(run.output)
    return why + (f": {error}" if error else "")


def suite_table(run: SuiteRun, title: str, shown: str) -> Table:
    """A test run's counts and the line coverage of the module `shown`."""
    return Table(
        title,
        ["measure", "value"],
        [
            ["tests passed", run.passed],
            ["tests failed", run.failed],
            ["tests with errors", run.errors],
            ["tests skipped", run.skipped],
            ["seconds", run.seconds],
            [f"line coverage of {shown}", run.coverage],
            ["lines covered / statements", f"{run.covered_lines} / {run.total_lines}"],
            ["lines not covered", line_ranges(run.missing_lines) or "none"],
        ],
    )


def suite_facts(run: SuiteRun) -> dict[str, Any]:
    """A test run's counts and coverage, as evidence facts."""
    return {
        "tests_passed": run.passed,
        "tests_failed": run.failed + run.errors,
        "coverage": run.coverage,
        "covered_lines": run.covered_lines,
        "statements": run.total_lines,
    }


def output_table(output: str, title: str = "The end of pytest's output") -> Table:
    """The tail of pytest's output kept with a run, one line per row."""
    return Table(title, ["line"], [[x] for x in output.splitlines()])


def coverage_chart(run: SuiteRun, shown: str, min_coverage: float) -> BarChart:
    """The line coverage of the feature module `shown` against [model] min_coverage."""
    return BarChart(
        "Line coverage of the feature code by its tests",
        [shown],
        [run.coverage],
        x_label="share of statements run by the tests",
        reference={"min_coverage": min_coverage},
        flagged=[run.coverage < min_coverage],
    )


def runs_table(files: list[str], runs: list[SuiteRun], module: str) -> Table:
    """One row per test file run: its counts, seconds and the line coverage of `module`."""
    return Table(
        f"Tests of the training code, under coverage of {module}",
        ["file", "passed", "failed", "errors", "skipped", "seconds", "line coverage"],
        [
            [f, r.passed, r.failed, r.errors, r.skipped, r.seconds, r.coverage]
            for f, r in zip(files, runs, strict=True)
        ],
    )


def runs_chart(files: list[str], runs: list[SuiteRun], module: str) -> BarChart:
    """The line coverage of `module` by each test file, files whose tests fail flagged."""
    return BarChart(
        f"Line coverage of {module} by each test file of the training code",
        files,
        [r.coverage for r in runs],
        x_label="share of statements run",
        flagged=[not r.tests_pass for r in runs],
    )
