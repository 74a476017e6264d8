"""README "Already serving elsewhere": each format's keel.toml snippet, taken from the README
itself, added to a registered project whose log that server wrote, and the commands the README
shows (`keel monitor`, `keel score --section monitor`) run as a user types them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from foreign_logs import registered, traffic, write_bentoml, write_capture, write_table

README = Path(__file__).resolve().parents[2] / "README.md"


def example(title: str) -> tuple[str, list[str]]:
    """The README subsection's keel.toml snippet and its commands."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"### {title}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    console = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    return toml, [line for line in console.splitlines() if line.startswith("keel ")]


def keel(project: Path, command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "keel", *command.split()[1:]],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


WRITERS = {
    "A table your service writes": ("table", lambda days, root: write_table(days, root / "served")),
    "SageMaker Data Capture": (
        "sagemaker",
        lambda days, root: write_capture(days, root / "capture"),
    ),
    "BentoML": (
        "bentoml",
        lambda days, root: write_bentoml(days, root / "service" / "monitoring" / "credit"),
    ),
}


@pytest.mark.parametrize("title", list(WRITERS))
def test_the_readme_example_runs_as_written(tmp_path, title):
    fmt, write = WRITERS[title]
    system, _ = registered(tmp_path)
    project = system.root
    write(traffic(system, "none", n=150), project)
    toml, commands = example(title)
    with open(project / "keel.toml", "a", encoding="utf-8") as handle:
        handle.write("\n" + toml)
    assert commands == ["keel monitor", "keel score --section monitor"]
    monitored = keel(project, commands[0])
    assert monitored.returncode in (0, 1), monitored.stderr
    assert f"took 300 new {fmt} records" in monitored.stdout, monitored.stdout
    assert "monitor.3" in monitored.stdout and "Traceback" not in monitored.stderr
    scored = keel(project, commands[1])
    assert scored.returncode in (0, 1), scored.stderr
    assert "monitor.7" in scored.stdout and "Traceback" not in scored.stderr
    again = keel(project, commands[0])
    assert f"took 0 new {fmt} records" in again.stdout  # taken once
