"""The prediction log is live: a running `keel serve` (a real process on 127.0.0.1) serves 300
rows and keeps running; `keel logs query` counts them at once (open segments are read) and
`keel monitor` counts them once the segments are sealed by age (`[serve] seal_seconds`)."""

from __future__ import annotations

import re
import sys
import time

from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app
from keel.serve.process import free_port, get_json, launch, post_json

runner = CliRunner()
ROWS = 300
TAKEN = re.compile(r"([\d,]+) served rows taken")
COUNT = re.compile(r"│\s*(\d+)\s*│")


def keel(*args, code: int | None = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    if code is not None:
        assert result.exit_code == code, result.output
    return result.output


def with_ids(frame, start=0):
    return frame.assign(id=[f"ex-{start + i}" for i in range(len(frame))])


def trained_system(folder, serve: dict | None = None) -> None:
    """A trained system with version 1 as champion, served rows identified by `id`."""
    sections = {"system": {"id": "id"}, "monitor": {"min_rows": 10}}
    if serve:
        sections["serve"] = serve
    write_system(
        folder,
        with_ids(binary_frame(600)),
        with_ids(binary_frame(300, seed=1), start=10_000),
        sections=sections,
    )
    train = folder / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", folder / "keel.schema.yaml", "--config", folder)
    keel("train", folder)
    keel("promote", "1", folder)


def logged(folder) -> int:
    """The rows `keel logs query` counts now (0 when it says nothing is served yet)."""
    sql = "SELECT count(*) AS n FROM predictions"
    result = runner.invoke(app, ["logs", "query", sql, str(folder)])
    if result.exit_code == 2 and "nothing served yet" in result.output:
        return 0
    assert result.exit_code == 0, result.output
    return int(COUNT.findall(result.output)[-1])


def monitored(folder) -> int:
    """The served rows one `keel monitor` run takes (each row is taken once)."""
    result = runner.invoke(app, ["monitor", str(folder)])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    return int(TAKEN.search(result.output).group(1).replace(",", ""))


def serve_and_count(folder, *, within: float, workers: int = 1) -> tuple[float, float]:
    """Start `keel serve`, send ROWS rows, and poll `keel logs query` and `keel monitor` until
    both count them all; (seconds until logs query did, seconds until monitor did), from the
    first row sent. The server is checked running and healthy at the end, then stopped."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "keel", "serve", str(folder), "--port", str(port)]
    server = launch(argv + ["--workers", str(workers)], url=url)
    try:
        rows = with_ids(binary_frame(ROWS, seed=5), start=50_000)[["id", "x1", "x2", "group"]]
        start = time.monotonic()
        for chunk in range(0, ROWS, 30):  # ten requests, spread over the workers
            body = {"rows": rows.iloc[chunk : chunk + 30].to_dict(orient="records")}
            status, answer = post_json(url + "/predict", body)
            assert status == 200, answer
        deadline = start + within
        seen_logged = seen_monitored = None
        taken = 0
        while time.monotonic() < deadline and (seen_logged is None or seen_monitored is None):
            if seen_logged is None and logged(folder) == ROWS:
                seen_logged = time.monotonic() - start
            if seen_monitored is None:
                taken += monitored(folder)
                assert taken <= ROWS  # exactly once: never a row twice
                if taken == ROWS:
                    seen_monitored = time.monotonic() - start
            time.sleep(1)
        assert seen_logged is not None, f"keel logs query did not count {ROWS} rows in {within} s"
        assert seen_monitored is not None, f"keel monitor took {taken} of {ROWS} in {within} s"
        assert server.process.poll() is None, server.stderr_tail()  # still serving
        status, health = get_json(url + "/health")
        assert status == 200, health
        print(f"logs query: {seen_logged:.1f} s, monitor: {seen_monitored:.1f} s")  # pytest -s
        return seen_logged, seen_monitored
    finally:
        server.stop()


def test_a_running_server_s_rows_reach_logs_query_at_once_and_monitor_within_70_s(tmp_path):
    trained_system(tmp_path)  # the default [serve] seal_seconds: 60
    at_query, at_monitor = serve_and_count(tmp_path, within=70)
    assert at_query < 30  # open segments are read: no wait for the seal
    assert at_monitor > 20  # the monitor waited for the seal (60 s), it read no open segment


def test_with_a_short_seal_every_worker_s_rows_reach_monitor_in_seconds(tmp_path):
    trained_system(tmp_path, serve={"seal_seconds": 2})
    _, at_monitor = serve_and_count(tmp_path, within=40, workers=2)
    assert at_monitor < 40
