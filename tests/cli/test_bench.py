"""`keel bench-model VERSION [PATH]`: the micro-benchmark of a registered version, stored on it."""

from __future__ import annotations

from health_systems import register
from registries import good_system
from typer.testing import CliRunner

from keel.cli import COMMANDS, app
from keel.monitor.performance import read_bench
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
