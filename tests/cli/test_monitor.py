"""`keel monitor` and `keel alerts` as a user runs them, after a real `keel serve` served."""

from __future__ import annotations

import json
import signal
import sys

from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app
from keel.serve.process import free_port, get_json, launch, post_json

runner = CliRunner()


def keel(*args, code: int | None = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    if code is not None:
        assert result.exit_code == code, result.output
    return result.output


def with_ids(frame, start=0):
    return frame.assign(id=[f"ex-{start + i}" for i in range(len(frame))])


def test_monitor_takes_what_was_served_writes_the_dashboard_and_records_alerts(tmp_path):
    write_system(
        tmp_path,
        with_ids(binary_frame(600)),
        with_ids(binary_frame(300, seed=1), start=10_000),
        sections={"system": {"id": "id"}, "monitor": {"min_rows": 10}},
    )
    train = tmp_path / "data" / "train.parquet"
    keel("schema", "infer", train, "-o", tmp_path / "keel.schema.yaml", "--config", tmp_path)
    output = keel("monitor", tmp_path, code=None)
    assert "not_configured" in output or "fail" in output  # nothing served, nothing serving
    keel("train", tmp_path)
    keel("promote", "1", tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "keel", "serve", str(tmp_path), "--port", str(port)]
    server = launch(argv, url=url)  # waits for /ready
    try:
        rows = with_ids(binary_frame(120, seed=5), start=50_000)[["id", "x1", "x2", "group"]]
        status, answer = post_json(url + "/predict", {"rows": rows.to_dict(orient="records")})
        assert status == 200, answer
        status, page = get_json(url + "/dashboard")
        assert status == 200 and "keel monitor" in page  # not written yet: how to write it
    finally:
        server.process.send_signal(signal.SIGINT)  # closes the log's segment
        server.process.wait(60)
        server.stop()
    html = tmp_path / "dash.html"
    result = runner.invoke(app, ["monitor", str(tmp_path), "--html", str(html)])
    assert result.exit_code in (0, 1), result.output
    assert "120 served rows taken" in result.output
    assert "monitor.5" in result.output and "Traceback" not in result.output
    assert html.is_file() and (tmp_path / ".keel" / "monitor" / "dashboard.html").is_file()
    report = json.loads((tmp_path / ".keel" / "monitor" / "report.json").read_text())
    statuses = {p["id"]: p["status"] for p in report["practices"] if p["id"].startswith("monitor")}
    assert statuses["monitor.5"] == "pass", statuses
    again = runner.invoke(app, ["monitor", str(tmp_path)])
    assert "0 served rows taken" in again.output  # exactly once
    alerts = keel("alerts", tmp_path)
    for practice, status in statuses.items():
        if status == "fail":  # each failing check was alerted (recorded: no webhooks set)
            assert practice in alerts


def test_monitor_every_refuses_a_bad_period(tmp_path):
    write_system(tmp_path, binary_frame(200))
    result = runner.invoke(app, ["monitor", str(tmp_path), "--every", "soon"])
    assert result.exit_code == 2 and "--every" in result.output


def test_monitor_warns_naming_a_damaged_segment_and_the_records_lost(tmp_path):
    from served_logs import record, write_log

    from keel.config import load_config
    from keel.log.segments import HEADER, scan
    from keel.log.writer import segments_dir

    write_system(tmp_path, binary_frame(200), binary_frame(100, seed=1))
    cfg, file = load_config(tmp_path)
    root = file.parent / cfg.data.serving_log
    write_log(root, [record(i) for i in range(30)])
    segment = sorted(segments_dir(root).glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    start, _ = scan(data)[0][2]
    data[start + HEADER.size + 6] ^= 0xFF  # the third record's payload, on disk
    segment.write_bytes(data)
    output = keel("monitor", tmp_path, code=None)
    assert "warning" in output and segment.stem in output and "1 record lost" in output
    assert "29 served rows taken" in output and "Traceback" not in output
