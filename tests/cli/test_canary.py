"""`keel canary` as a user runs it, beside a real `keel serve` process on 127.0.0.1."""

from __future__ import annotations

import signal
import sys
import time

from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app
from keel.serve.process import get_json, launch, post_json

runner = CliRunner()


def keel(*args, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def with_ids(frame, start=0):
    return frame.assign(id=[f"ex-{start + i}" for i in range(len(frame))])


def test_a_canary_from_start_to_promotion_and_infra_6_passes(tmp_path):
    from keel.checks.infra import infra_6
    from keel.serve.process import free_port
    from keel.system import System

    write_system(
        tmp_path,
        with_ids(binary_frame(600)),
        with_ids(binary_frame(300, seed=1), start=10_000),
        sections={
            "system": {"id": "id"},
            "serve": {"poll_seconds": 0.2},
            # latency is not what this test is about: p99 of ~40 requests a side is noise,
            # and so is a KS distance of their probabilities under about 0.43
            "canary": {
                "window": "1s",
                "min_requests": 10,
                "max_prediction_distance": 0.3,
                "max_probability_distance": 0.5,
                "max_p99_ratio": 20,
            },
            "gate": {"min": {"roc_auc": 0.6}},
        },
    )
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    keel("train", tmp_path)
    keel("train", tmp_path)
    keel("promote", "1", tmp_path)
    result = runner.invoke(app, ["canary", "status", str(tmp_path)])
    assert result.exit_code == 2 and "no canary is running" in result.output
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "keel", "serve", str(tmp_path), "--port", str(port)]
    server = launch(argv, url=url)  # waits for /ready
    try:
        output = keel("canary", "start", "2", tmp_path, "--share", "0.5")
        assert "canary of version 2 started" in output
        assert "([serve] poll_seconds = 0.2)" in output  # text, not eaten as Rich markup
        for _ in range(50):
            if get_json(url + "/version")[1]["candidate"] == 2:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the share arrives with the same poll
        rows = with_ids(binary_frame(80, seed=3), start=50_000)[["id", "x1", "x2", "group"]]
        routes = {}
        for row in rows.to_dict(orient="records"):
            status, answer = post_json(url + "/predict", row)
            assert status == 200, answer
            routes[row["id"]] = answer["predictions"][0]["route"]
        assert set(routes.values()) == {"champion", "canary"}
        again = post_json(url + "/predict", rows.iloc[0].to_dict())[1]
        assert again["predictions"][0]["route"] == routes[rows.iloc[0]["id"]]  # sticky by id
        time.sleep(1.0)  # the window
        report = keel("canary", "status", tmp_path)
        assert "rows served" in report and "promote" in report
        output = keel("canary", "status", tmp_path, "--decide")
        assert "version 2 is the champion now" in output
    finally:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(60)
        server.stop()
    evidence = infra_6(System.from_path(tmp_path))
    assert evidence.status == "pass", evidence.summary


def test_canary_start_refuses_an_unknown_version_and_abort_needs_a_canary(tmp_path):
    write_system(tmp_path, binary_frame(400), binary_frame(200, seed=1))
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    keel("train", tmp_path)
    keel("promote", "1", tmp_path)
    result = runner.invoke(app, ["canary", "start", "7", str(tmp_path)])
    assert result.exit_code == 2 and "7" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["canary", "abort", str(tmp_path)])
    assert result.exit_code == 2 and "no canary is running" in result.output


def test_the_status_table_shows_each_routes_labelled_metric_to_four_digits():
    from rich.console import Console

    from keel.cli.canary import _report_table
    from keel.serve.canary import CanaryReport, RouteStats

    def route(name: str, version: int, quality: float) -> RouteStats:
        stats = RouteStats(name, version, 196, 10, 0, 0.0, 304.3, 559.0)
        stats.labelled, stats.quality = 196, quality
        return stats

    report = CanaryReport(
        {}, 20.0, 10.0, route("champion", 1, 1.0), route("canary", 2, 0.98469), metric="accuracy"
    )
    console = Console(record=True, width=120)
    console.print(_report_table(report))
    row = next(line for line in console.export_text().splitlines() if "labelled rows" in line)
    assert "0.9847 (196)" in row and "1 (196)" in row, row
