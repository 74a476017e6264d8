"""`keel bench-model VERSION [PATH]`: the micro-benchmark of a registered version, stored on it."""

from __future__ import annotations

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
    """Versions 1 and 2 share the feature module's name; version 2's sleeps 20 ms a call.
    Timed in one process, version 2 ran version 1's module (the first imported) and timed as
    fast; each in its own process, each runs the code it was registered with."""
    system = good_system(tmp_path)
    first = register(system).version
    features = system.root / "sysfeatures.py"
    slow = features.read_text().replace(
        "def build(raw):", "import time\n\n\ndef build(raw):\n    time.sleep(0.02)"
    )
    features.write_text(slow)
    trained = subprocess.run(
        [sys.executable, "-m", "keel", "train", str(system.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    second = first + 1
    result = CliRunner().invoke(app, ["bench-model", str(second), str(system.root)])
    assert result.exit_code == 0, result.output
    assert "each in its own process" in result.output or "rows/s" in result.output
    ref = registry_ref(system)
    fast = read_bench(get_version(ref, first).tags)
    slowed = read_bench(get_version(ref, second).tags)
    assert slowed["bench_single_p50"] >= 0.02 > fast["bench_single_p50"]
    assert len(bench_history(get_version(ref, second).tags)) == 1
