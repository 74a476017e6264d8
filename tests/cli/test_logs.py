"""`keel logs query` over a real prediction-log folder, run with Typer's CliRunner."""

import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.log.quarantine import kept
from keel.log.rollup import query
from keel.log.segments import HEADER, scan
from keel.log.writer import PredictionLog, rolled_dir, segments_dir

runner = CliRunner()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keel.toml").write_text(
        '[system]\nname = "s"\ntask = "binary"\ntarget = "y"\n\n'
        '[data]\ntrain = "train.parquet"\nserving_log = "served"\n\n'
        '[model]\ntrain = "m:train"\n'
    )
    return tmp_path


def _serve(project, n):
    with PredictionLog(segments_dir(project / "served")) as log:
        log.append(
            [
                {"time": "2026-11-29T10:00:00Z", "model_version": 1 + i % 2, "request_id": f"r{i}"}
                for i in range(n)
            ]
        )


def test_query_rolls_closed_segments_and_prints_a_table(project):
    _serve(project, 40)
    sql = "SELECT model_version, count(*) AS n FROM predictions GROUP BY 1 ORDER BY 1"
    result = runner.invoke(app, ["logs", "query", sql, str(project)])
    assert result.exit_code == 0, result.output
    assert "model_version" in result.output and "20" in result.output
    assert list(rolled_dir(project / "served").glob("**/*.parquet"))
    # run again from the project folder (PATH defaults to it): same answer, nothing re-rolled
    result = runner.invoke(app, ["logs", "query", "SELECT count(*) AS total FROM predictions"])
    assert result.exit_code == 0, result.output
    assert "40" in result.output and "rolled" not in result.output


def test_bad_sql_exits_2_with_a_message(project):
    _serve(project, 3)
    result = runner.invoke(app, ["logs", "query", "SELEC oops FROM predictions"])
    assert result.exit_code == 2
    assert "query failed" in result.output and "Traceback" not in result.output


def test_an_empty_log_exits_2_saying_so(project):
    result = runner.invoke(app, ["logs", "query", "SELECT 1"])
    assert result.exit_code == 2
    assert "nothing served yet?" in result.output and "Traceback" not in result.output


def test_a_damaged_record_is_skipped_with_a_warning_naming_the_segment(project):
    _serve(project, 40)
    segments = segments_dir(project / "served")
    (segment,) = segments.glob("*.seg")
    data = bytearray(segment.read_bytes())
    frames = scan(data)[0]
    start, end = frames[7]
    data[start + HEADER.size + 3] ^= 0xFF  # one bit of the eighth record, on disk
    segment.write_bytes(data)
    result = runner.invoke(app, ["logs", "query", "SELECT count(*) AS total FROM predictions"])
    assert result.exit_code == 0, result.output
    assert "39" in result.output  # the 39 intact records, before and after the damage
    assert "warning" in result.output and segment.stem in result.output
    assert "1 record lost" in result.output
    assert [d.records for d in kept(segments)] == [1]


def _interrupt_a_roll(project, parts_before, delay):
    """Run `keel logs query` and send it SIGINT `delay` s after its roll-up wrote a new part;
    its (exit status, stderr), or None when it finished first."""
    rolled = rolled_dir(project / "served")
    child = subprocess.Popen(
        [sys.executable, "-m", "keel", "logs", "query", "SELECT 1 AS answered", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while child.poll() is None and len(list(rolled.glob("**/*.parquet"))) <= parts_before:
        time.sleep(0.005)  # the roll-up has begun: a segment is in a part
    time.sleep(delay)  # then somewhere in the next segments: Python, DuckDB or Parquet
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    if child.returncode == -signal.SIGINT and "answered" in stdout:
        return 0, stderr  # it had answered: the signal came as the interpreter was exiting
    return child.returncode, stderr


def test_ctrl_c_during_the_roll_up_exits_130_and_the_next_run_counts_every_row_once(project):
    total, per = 240_000, 20_000
    with PredictionLog(segments_dir(project / "served"), segment_bytes=1) as log:
        for chunk in range(0, total, per):  # one segment per append, each a moment to roll
            log.append(
                [
                    {
                        "time": "2026-11-29T10:00:00Z",
                        "model_version": 1,
                        "request_id": f"r{i}",
                        "inputs": {f"x{k}": i * k * 0.5 for k in range(20)},
                    }
                    for i in range(chunk, chunk + per)
                ]
            )
    rolled = rolled_dir(project / "served")
    interrupted = 0
    for delay in (0.0, 0.05, 0.1, 0.15, 0.2):  # DuckDB takes SIGINT itself while it parses
        status, stderr = _interrupt_a_roll(project, len(list(rolled.glob("**/*.parquet"))), delay)
        if status == 0:
            break  # it finished all before the signal came
        assert status == 130, stderr  # in the roll-up, or in the query after it
        assert "Traceback" not in stderr, stderr
        assert stderr.strip().splitlines()[-1].startswith("interrupted"), stderr
        assert not list(rolled.glob("**/.*.tmp"))  # nothing half-written
        interrupted += 1
    assert interrupted >= 1  # the roll-up is fast: a later signal may find it done
    sql = "SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM predictions"
    result = runner.invoke(app, ["logs", "query", sql, str(project)])
    assert result.exit_code == 0, result.output
    assert query(sql, rolled).to_pylist() == [{"n": total, "d": total}]  # each row once
    assert not list(segments_dir(project / "served").glob("*.seg"))


def test_query_counts_rows_still_in_an_open_segment_without_rolling_or_disturbing_it(project):
    _serve(project, 10)  # closed: rolled by the query
    segments = segments_dir(project / "served")
    with PredictionLog(segments) as log:  # a running server's open segment
        rows = [{"time": "2026-11-29T11:00:00Z", "model_version": 3, "request_id": "o"}]
        log.append(rows * 25)
        sql = "SELECT model_version, count(*) AS n FROM predictions GROUP BY 1 ORDER BY 1"
        result = runner.invoke(app, ["logs", "query", sql, str(project)])
        assert result.exit_code == 0, result.output
        assert "nothing served yet" not in result.output
        assert " 3 " in result.output and "25" in result.output
        (live,) = segments.glob("*.open")  # still open, still the writer's
        assert not list(rolled_dir(project / "served").glob("**/model_version=3"))
        log.append(rows)  # the writer goes on in the same segment
        assert list(segments.glob("*.open")) == [live]
    result = runner.invoke(app, ["logs", "query", "SELECT count(*) AS total FROM predictions"])
    assert result.exit_code == 0, result.output
    assert "36" in result.output


def test_query_sees_an_open_segment_when_nothing_is_rolled_yet(project):
    with PredictionLog(segments_dir(project / "served")) as log:
        log.append([{"time": "2026-11-29T10:00:00Z", "model_version": 1, "request_id": "r"}] * 300)
        result = runner.invoke(app, ["logs", "query", "SELECT count(*) AS n FROM predictions"])
        assert result.exit_code == 0, result.output  # was: exit 2, "nothing served yet?"
        assert "300" in result.output
