"""Many hosts, one log in object storage: real `keel serve` processes on 127.0.0.1 as two
hosts (each its own project folder and spool) write to `s3://` on a real S3-compatible server
(moto's server mode, started here), and `keel logs query` and `keel monitor` in a third folder
count every acknowledged row exactly once, also after a `kill -9` during an upload. The
credentials come from the environment and appear in no output and no file."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app
from keel.serve.process import free_port, launch, post_json

runner = CliRunner()
BUCKET = "keel-logs"
KEY_ID = "AKIAKEELTESTKEYID0001"
SECRET = "keel-test-secret-9f3b2c7d1e"
TAKEN = re.compile(r"([\d,]+) served rows taken")
COUNT = re.compile(r"│\s*(\d+)\s*│")


class SlowProxy:
    """A TCP proxy on 127.0.0.1 in front of the S3 server. While `rate` is set it passes what
    clients send at `rate` bytes/s; `sending` is set, with the object's key in `key`, once a
    client starts to send a segment (a PUT of a `.seg` object)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.rate: float | None = None
        self.sending = threading.Event()
        self.key = ""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.target)) as upstream:
            down = threading.Thread(target=self._pipe, args=(upstream, client, False))
            down.start()
            self._pipe(client, upstream, True)
            down.join()

    def _pipe(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while data := src.recv(16_384):
                if up:
                    found = re.search(rb"PUT /([^ ?]+\.seg)[ ?]", data)
                    if found and not self.sending.is_set():
                        self.key = found.group(1).decode()
                        self.sending.set()
                    if self.rate:
                        time.sleep(len(data) / self.rate)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """(endpoint URL, boto3 client) of a moto S3 server on 127.0.0.1 with the bucket made."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    yield port, client
    server.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A trained system (version 1 champion) whose registry every host folder shares."""
    folder = tmp_path_factory.mktemp("template")
    registry = folder / "registry" / "mlflow.db"
    frame = binary_frame(600).assign(id=[f"t-{i}" for i in range(600)])
    write_system(
        folder,
        frame,
        sections={
            "system": {"id": "id"},
            "monitor": {"min_rows": 10},
            "serve": {"seal_seconds": 1},
            "registry": {"uri": f"sqlite:///{registry}"},
        },
    )
    keel("schema", "infer", folder / "data/train.parquet", "-o", folder / "keel.schema.yaml",
         "--config", folder)  # fmt: skip
    keel("train", folder)
    keel("promote", "1", folder)
    return folder


def keel(*args, code: int | None = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    if code is not None:
        assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def host_folder(template: Path, folder: Path, url: str) -> Path:
    """A project folder of its own (as on another machine), logging to `url`."""
    folder.mkdir(parents=True)
    for name in ("keel.schema.yaml", "sysmodel.py"):
        shutil.copy(template / name, folder / name)
    shutil.copytree(template / "data", folder / "data")
    text = (template / "keel.toml").read_text()
    text = text.replace("[data]\n", f'[data]\nserving_log = "{url}"\n', 1)
    (folder / "keel.toml").write_text(text)
    return folder


def environment(monkeypatch, endpoint_port: int) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{endpoint_port}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def serve(folder: Path, env: dict[str, str], host: str):
    port = free_port()
    argv = [sys.executable, "-m", "keel", "serve", str(folder), "--port", str(port)]
    return launch(argv, url=f"http://127.0.0.1:{port}", env={**env, "KEEL_HOST_NAME": host})


def send(server, start: int, rows: int, per_request: int = 50) -> list[str]:
    """Send `rows` rows with ids from `start`; the ids of the rows acknowledged (200)."""
    frame = binary_frame(rows, seed=start).assign(id=[f"ex-{start + i}" for i in range(rows)])
    frame = frame[["id", "x1", "x2", "group"]]
    acknowledged = []
    for at in range(0, rows, per_request):
        chunk = frame.iloc[at : at + per_request]
        status, answer = post_json(server.url + "/predict", {"rows": chunk.to_dict("records")})
        assert status == 200, answer
        acknowledged += list(chunk["id"])
    return acknowledged


def query(folder: Path, sql: str) -> int:
    return int(COUNT.findall(keel("logs", "query", sql, folder))[-1])


def logged(folder: Path) -> tuple[int, int]:
    """(rows, distinct example ids) `keel logs query` counts in `folder`'s log."""
    result = runner.invoke(app, ["logs", "query", "SELECT 1", str(folder)])
    if result.exit_code == 2 and "nothing served yet" in result.output:
        return 0, 0
    rows = query(folder, "SELECT count(*) FROM predictions")
    return rows, query(folder, "SELECT count(DISTINCT example_id) FROM predictions")


def until_logged(folder: Path, expected: int, within: float = 90) -> tuple[int, int]:
    deadline = time.monotonic() + within
    seen = logged(folder)
    while seen[0] < expected and time.monotonic() < deadline:
        time.sleep(1)
        seen = logged(folder)
    return seen


def monitored(folder: Path) -> int:
    result = runner.invoke(app, ["monitor", str(folder)])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    return int(TAKEN.search(result.output).group(1).replace(",", ""))


def no_secret_in(*places: Path | str) -> None:
    """Neither credential appears in any text or in any file under the folders given."""
    for place in places:
        if isinstance(place, str):
            assert SECRET not in place and KEY_ID not in place
            continue
        for path in [place] if place.is_file() else place.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert SECRET.encode() not in data and KEY_ID.encode() not in data, path


def test_two_hosts_write_one_s3_log_and_a_third_folder_counts_every_row_once(
    s3, template, tmp_path, monkeypatch
):
    port, client = s3
    url = f"s3://{BUCKET}/two-hosts"
    env = environment(monkeypatch, port)
    alpha = host_folder(template, tmp_path / "alpha", url)
    beta = host_folder(template, tmp_path / "beta", url)
    reader = host_folder(template, tmp_path / "reader", url)
    servers = [serve(alpha, env, "alpha"), serve(beta, env, "beta")]
    stderr = ""
    try:
        sent = send(servers[0], 0, 300) + send(servers[1], 10_000, 300)
        assert until_logged(reader, len(sent)) == (600, 600)
        assert monitored(reader) == 600
        assert monitored(reader) == 0  # each row taken once
        with urllib.request.urlopen(servers[0].url + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        uploaded = re.search(r"^keel_prediction_log_uploaded_segments (\S+)$", metrics, re.M)
        assert uploaded and float(uploaded.group(1)) >= 1, metrics
        assert re.search(r"^keel_prediction_log_upload_failures 0\.0$", metrics, re.M)
        stderr = "\n".join(s.errors.read_text() for s in servers)
        said = " ".join(stderr.split())  # as printed, wrapped
        assert f"{url} as host 'alpha'" in said and f"{url} as host 'beta'" in said
    finally:
        for server in servers:
            server.stop()
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="two-hosts/segments/")["Contents"]
    names = [o["Key"].rsplit("/", 1)[1] for o in listed]
    assert {n.split("-seg-")[0] for n in names} == {"alpha", "beta"}
    assert until_logged(reader, 600, within=5) == (600, 600)  # stopping added no row twice
    assert monitored(reader) == 0
    for folder in (alpha, beta):  # every sealed segment went up and left its spool
        assert not list((folder / ".keel" / "spool").rglob("*.seg"))
    no_secret_in(stderr, alpha / ".keel", beta / ".keel", reader / ".keel")


def test_kill_9_during_an_upload_then_a_restart_counts_every_acknowledged_row_once(
    s3, template, tmp_path, monkeypatch
):
    port, client = s3
    proxy = SlowProxy(port)
    url = f"s3://{BUCKET}/killed"
    env = environment(monkeypatch, port)
    env_slow = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
    host = host_folder(template, tmp_path / "host", url)
    reader = host_folder(template, tmp_path / "reader", url)
    proxy.rate = 40_000  # bytes/s: a segment of a few hundred KiB takes seconds to go up
    server = serve(host, env_slow, "web-1")
    try:
        sent = send(server, 0, 1500, per_request=250)  # acknowledged: on the spool's disk
        assert proxy.sending.wait(60), server.stderr_tail()
        time.sleep(0.5)
        server.process.kill()  # kill -9 while a segment is going up
        server.process.wait(30)
        stderr = server.errors.read_text()
    finally:
        server.stop()
    key = proxy.key.split("/", 1)[1]
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="killed/")
    assert key not in [o["Key"] for o in listed.get("Contents", [])]  # nothing half there
    assert list((host / ".keel" / "spool").rglob("outbox/*.seg"))  # waits to go up again
    proxy.rate = None
    server = serve(host, env_slow, "web-1")  # the next start uploads what is left
    try:
        assert until_logged(reader, len(sent)) == (1500, 1500)
        assert monitored(reader) == 1500
        stderr += server.errors.read_text()
    finally:
        server.stop()
        proxy.close()
    assert until_logged(reader, 1500, within=5) == (1500, 1500)
    assert monitored(reader) == 0
    no_secret_in(stderr, host / ".keel", reader / ".keel")


def test_a_missing_bucket_is_a_clear_error_naming_the_log_never_the_credentials(
    s3, template, tmp_path, monkeypatch
):
    port, _ = s3
    environment(monkeypatch, port)
    url = f"s3://{KEY_ID}:{SECRET}@no-such-bucket/logs"
    reader = host_folder(template, tmp_path / "reader", url)
    result = runner.invoke(app, ["logs", "query", "SELECT 1", str(reader)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "s3://no-such-bucket/logs" in result.output and "no-such-bucket" in result.output
    assert "[data] serving_log" in result.output
    no_secret_in(result.output)


@pytest.mark.spark
def test_keel_monitor_on_spark_reads_the_s3_log_through_the_local_mirror(
    spark, s3, template, tmp_path, monkeypatch
):
    from datetime import UTC, datetime

    from keel.log.remote import Uploader
    from keel.log.writer import PredictionLog, segments_dir

    port, _ = s3
    url = f"s3://{BUCKET}/spark"
    environment(monkeypatch, port)
    spool = tmp_path / "spool"
    frame = binary_frame(400, seed=7)
    now = datetime.now(UTC).isoformat()
    for half in (frame.iloc[:200], frame.iloc[200:]):  # two segments, as two seals
        with PredictionLog(segments_dir(spool)) as log:
            log.append(
                {
                    "time": now,
                    "model_version": 1,
                    "route": "champion",
                    "request_id": f"r{i}",
                    "example_id": f"s-{i}",
                    "inputs": {"x1": row.x1, "x2": row.x2, "group": row.group},
                    "prediction": int(row.y),
                    "probabilities": {"0": 0.4, "1": 0.6},
                    "latency_seconds": 0.01,
                }
                for i, row in half.iterrows()
            )
    Uploader(url, spool, host="batch", every=3600).close()
    reader = host_folder(template, tmp_path / "reader", url)
    args = ["monitor", str(reader), "--engine", "spark", "--master", "local[2]"]
    first = runner.invoke(app, args)
    assert first.exit_code in (0, 1) and "Traceback" not in first.output, first.output
    assert "400 served rows taken" in first.output
    again = runner.invoke(app, args)
    assert "0 served rows taken" in again.output
