"""Benchmark: taking foreign logs into Keel: SageMaker Data Capture through the intake, and
`keel ingest` receiving KServe's payload-logging CloudEvents.

Run by `make bench` (not a unit test): `python benchmarks/ingest.py [--only sagemaker|kserve]`.

(a) SageMaker: writes 1,000,000 Data Capture JSON lines (one request of one row each, 20
    numeric inputs as a JSON object, the output a JSON object with the prediction and class
    probabilities, `eventMetadata` with eventId, inferenceId and inferenceTime over 2 days) in
    SageMaker's S3 layout (`<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`, 100 files) under a
    scratch folder (kept between runs: $TMPDIR/keel-bench-ingest-capture); then times what
    `keel monitor` does with them:
    `keel.log.foreign.importer.take_foreign` (import into Keel's log), then
    `keel.monitor.intake.intake` (roll into Parquet, summarise the windows). Target: under 30 s
    on 2 cores.
(b) KServe: starts `keel ingest` (`[serve] durability = "ack"`) on a scratch system, and a load
    generator in its own process (asyncio, keep-alive connections, `--concurrency` of them):
    each connection posts a request event (one instance of 20 inputs) and then its response
    event, in binary mode with the headers KServe's logger sets, and waits for each answer.
    Events acknowledged per second over `--seconds` after a 1 s warm-up, request and response
    events both counted; then checks that every acknowledged pair is a row of the log. Target:
    at least 2,000 events/s.

Prints each figure against its target with the date, the machine and the load average, and
exits 1 if a target is missed or a part could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INPUTS = 20
SAGEMAKER_ROWS = 1_000_000
SAGEMAKER_FILES = 100
SAGEMAKER_TARGET = 30.0  # seconds
KSERVE_TARGET = 2_000.0  # events/s
CAPTURE = Path(tempfile.gettempdir()) / "keel-bench-ingest-capture"


# -- (a) SageMaker Data Capture ----------------------------------------------------------------


def capture_line(rng: random.Random, n: int, start: dt.datetime, span: float) -> str:
    """One Data Capture line as SageMaker writes it (JSON payloads, one row)."""
    row = {f"x{k}": round(rng.gauss(0.0, 1.0), 6) for k in range(INPUTS)}
    p = round(rng.random(), 6)
    when = start + dt.timedelta(seconds=span * n / SAGEMAKER_ROWS)
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "mode": "INPUT",
                    "data": json.dumps(row),
                    "encoding": "JSON",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": json.dumps(
                        {"predicted_label": int(p > 0.5), "probabilities": [1 - p, p]}
                    ),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": f"ev-{n:08d}",
                "inferenceId": f"ex-{n}",
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
            "eventVersion": "0",
        },
        separators=(",", ":"),
    )


def write_capture(folder: Path, rows: int) -> Path:
    """`rows` lines in SageMaker's layout under folder/capture (kept: written once per size)."""
    done = folder / f".complete-{rows}"
    capture = folder / "capture"
    if done.exists():
        return capture
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(20)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    per_file = rows // SAGEMAKER_FILES
    span = 2 * 86_400.0
    for f in range(SAGEMAKER_FILES):
        first = f * per_file
        when = start + dt.timedelta(seconds=span * first / rows)
        hour = capture / "credit-endpoint" / "AllTraffic" / when.strftime("%Y/%m/%d/%H")
        hour.mkdir(parents=True, exist_ok=True)
        lines = [capture_line(rng, n, start, span) for n in range(first, first + per_file)]
        (hour / f"{when:%M-%S}-{f:03d}-capture.jsonl").write_text("\n".join(lines) + "\n")
    done.touch()
    return capture


def sagemaker(rows: int) -> tuple[bool, str]:
    """(met, the figure against its target) of taking `rows` capture lines through the intake."""
    try:
        from keel.log.foreign import ForeignSettings
        from keel.log.foreign.importer import take_foreign
    except ImportError as exc:
        return False, f"SageMaker through the intake: NOT RUN ({exc}; needs the importer)"
    from keel.monitor.intake import intake

    started = time.perf_counter()
    capture = write_capture(CAPTURE, rows)
    print(f"  capture files ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="keel-bench-ingest-"))
    try:
        settings = ForeignSettings(
            format="sagemaker",
            source=str(capture),
            model_version=1,
            columns={"inputs": [f"x{k}" for k in range(INPUTS)]},
        )
        start = time.perf_counter()
        taken = take_foreign(settings, scratch / "log")
        imported = time.perf_counter() - start
        run = intake(scratch / "log", scratch / "state", window_seconds=86_400.0)
        total = time.perf_counter() - start
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    met = total < SAGEMAKER_TARGET and taken.records == rows
    return met, (
        f"SageMaker Data Capture, {rows:,} records x {INPUTS} inputs through the intake: "
        f"{total:.1f} s (import {imported:.1f} s, roll and summarise {total - imported:.1f} s; "
        f"{taken.records:,} records taken, {getattr(run, 'parts', '?')} parts) — target "
        f"< {SAGEMAKER_TARGET:.0f} s: {'met' if met else 'MISSED'}"
    )


# -- (b) keel ingest under KServe's logger --------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def system(folder: Path) -> Path:
    """A scratch keel.toml for `keel ingest`: version 1 served, ack durability."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keel.toml").write_text(
        '[system]\nname = "bench"\ntask = "binary"\ntarget = "y"\n\n'
        '[data]\ntrain = "train.parquet"\n\n[model]\ntrain = "m:train"\n\n'
        '[serving]\nmodel_version = 1\n\n[serve]\ndurability = "ack"\nseal_seconds = 5\n'
    )
    return folder


def _head(ce_id: str, kind: str, length: int) -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nce-specversion: 1.0\r\nce-id: {ce_id}\r\n"
        f"ce-type: org.kubeflow.serving.inference.{kind}\r\nce-source: http://localhost:9081/\r\n"
        f"ce-time: 2026-11-03T10:00:00Z\r\nce-inferenceservicename: credit\r\n"
        f"ce-namespace: default\r\nce-component: predictor\r\nce-endpoint: default\r\n\r\n"
    ).encode()


async def _client(port: int, worker: int, stop_at: float, warm_until: float, out: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random(worker)
    n = 0

    async def post(head: bytes, body: bytes) -> int:
        writer.write(head + body)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return status

    try:
        while time.perf_counter() < stop_at:
            ce_id = f"w{worker}-{n}"
            n += 1
            row = {f"x{k}": round(rng.gauss(0, 1), 6) for k in range(INPUTS)}
            p = round(rng.random(), 6)
            request = json.dumps({"instances": [row]}).encode()
            response = json.dumps({"predictions": [{"0": 1 - p, "1": p}]}).encode()
            first = await post(_head(ce_id, "request", len(request)), request)
            second = await post(_head(ce_id, "response", len(response)), response)
            if time.perf_counter() >= warm_until:
                out["events"] += (first == 200) + (second == 200)
                out["errors"] += (first != 200) + (second != 200)
            if first == 200 and second == 200:
                out["acked"] += 1
    finally:
        writer.close()


async def _load(port: int, concurrency: int, seconds: float) -> dict:
    out = {"events": 0, "errors": 0, "acked": 0}
    warm_until = time.perf_counter() + 1.0
    stop_at = warm_until + seconds
    await asyncio.gather(*(_client(port, w, stop_at, warm_until, out) for w in range(concurrency)))
    return out


def generate(port: int, concurrency: int, seconds: float) -> None:
    print(json.dumps(asyncio.run(_load(port, concurrency, seconds))))


def kserve(seconds: float, concurrency: int) -> tuple[bool, str]:
    scratch = Path(tempfile.mkdtemp(prefix="keel-bench-kserve-"))
    folder = system(scratch / "sys")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    log = open(scratch / "ingest.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "ingest", str(folder), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    log.flush()
                    return False, "keel ingest did not start: " + (
                        scratch / "ingest.log"
                    ).read_text()[-800:]
                time.sleep(0.1)
        done = subprocess.run(
            [sys.executable, __file__, "--generate", str(port), str(concurrency), str(seconds)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        got = json.loads(done.stdout.strip().splitlines()[-1])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(60)
        log.close()
    written = next(
        int(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("keel_ingest_rows_written_total")
    )
    fsyncs = next(
        int(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("keel_prediction_log_fsyncs_total")
    )
    shutil.rmtree(scratch, ignore_errors=True)
    rate = got["events"] / seconds
    complete = written >= got["acked"]
    met = rate >= KSERVE_TARGET and got["errors"] == 0 and complete
    return met, (
        f"keel ingest, KServe CloudEvents at 1 row per event, ack durability, {concurrency} "
        f"connections: {rate:,.0f} events/s ({got['errors']} errors; {got['acked']:,} pairs "
        f"acknowledged, {written:,} rows written with {fsyncs:,} fsyncs"
        f"{'' if complete else ' — ACKNOWLEDGED ROWS MISSING'}) — target >= "
        f"{KSERVE_TARGET:,.0f} events/s: {'met' if met else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sagemaker", "kserve"])
    parser.add_argument("--rows", type=int, default=SAGEMAKER_ROWS, help="SageMaker records")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds (KServe)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (KServe)")
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(int(args.generate[0]), int(args.generate[1]), float(args.generate[2]))
        return 0
    before = os.getloadavg()[0]
    results = []
    if args.only in (None, "sagemaker"):
        results.append(sagemaker(args.rows))
    if args.only in (None, "kserve"):
        results.append(kserve(args.seconds, args.concurrency))
    print(
        f"{dt.datetime.now():%Y-%m-%d %H:%M}; {os.cpu_count()} cores; 1-minute load average "
        f"{before:.2f} before, {os.getloadavg()[0]:.2f} after (2 cores: 2.0 is busy)"
    )
    for _, line in results:
        print(line)
    return 0 if all(met for met, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
