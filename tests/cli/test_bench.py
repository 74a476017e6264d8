"""`keel bench-model VERSION [PATH]`: the micro-benchmark of a registered version, stored on it."""

from __future__ import annotations

import os
import subprocess
import sys

from health_systems import register
from registries import good_system
from typer.testing import CliRunner

from keel.cli import COMMANDS, app
from keel.monitor.performance import bench_history, read_bench
from keel.registry.versions import get_version
from keel.training import registry_ref


def test_bench_model_times_a_version_and_stores_keel_bench_tags(tmp_path):
    assert COMMANDS.index("bench") == COMMANDS.index("registry") + 1
    system = good_system(tmp_path)
    version = register(system).version
    result = CliRunner().invoke(app, ["bench-model", str(version), str(system.root)])
    assert result.exit_code == 0, result.output
    assert "rows/s" in result.output and "keel.bench" in result.output
    stored = get_version(registry_ref(system), version).tags
    bench = read_bench(stored)
    assert 0 < bench["bench_single_p50"] <= bench["bench_single_p99"]
    assert 0 < bench["bench_batch_p50"] <= bench["bench_batch_p99"]
    assert bench["bench_rows_per_second"] > 0 and stored["keel.bench.when"].startswith("20")


def test_bench_model_names_an_unknown_version(tmp_path):
    system = good_system(tmp_path)
    register(system)
    result = CliRunner().invoke(app, ["bench-model", "9", str(system.root)])
    assert result.exit_code == 2 and "no version 9" in result.output


def test_bench_model_times_each_version_on_its_own_code_in_its_own_process(tmp_path):
    """Versions 1 and 2 share the feature module's name, and each version's code says which
    it is (and in which process) whenever it runs. Timed in one process, version 2 ran
    version 1's module (the first imported); each in its own process, each runs its own."""
    system = good_system(tmp_path)
    features = system.root / "sysfeatures.py"
    marks = tmp_path / "ran.txt"
    code = features.read_text()
    for version in (1, 2):
        features.write_text(
            code.replace(
                "def build(raw):",
                f"import os\n\n\ndef build(raw):\n"
                f"    with open({str(marks)!r}, 'a') as f:\n"
                f"        f.write('v{version} ' + str(os.getpid()) + '\\n')",
            )
        )
        trained = subprocess.run(
            [sys.executable, "-m", "keel", "train", str(system.root)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert trained.returncode == 0, trained.stdout + trained.stderr
    marks.unlink()
    result = CliRunner().invoke(app, ["bench-model", "2", str(system.root)])
    assert result.exit_code == 0, result.output
    ran: dict[str, set[str]] = {}
    for line in marks.read_text().splitlines():
        version, pid = line.split()
        ran.setdefault(version, set()).add(pid)
    assert set(ran) == {"v1", "v2"}  # both versions timed, each with its own code
    assert len(ran["v1"]) == len(ran["v2"]) == 1  # each in one process of its own
    assert not ran["v1"] & ran["v2"] and str(os.getpid()) not in ran["v1"] | ran["v2"]
    ref = registry_ref(system)
    assert read_bench(get_version(ref, 2).tags)["bench_single_p50"] > 0
    assert len(bench_history(get_version(ref, 2).tags)) == 1
