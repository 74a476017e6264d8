"""Benchmark: `keel serve` against `mlflow models serve` on the same registered model.

Run by `make bench` (not a unit test): `python benchmarks/serve.py`. It

1. copies examples/credit (code, keel.toml, schema, generated data) to a scratch folder with a
   SQLite registry there, runs `keel train` and `keel promote 1`, then trains version 2 with
   another seed and starts a canary of it at share 0.1 (keel.registry.canary.start_canary);
2. starts each server on a free loopback port and waits until it answers:
   - `mlflow models serve -m models:/credit-default/1 --env-manager local` (MLflow's scoring
     server, default settings) on the same registry (MLFLOW_TRACKING_URI);
   - `keel serve --workers 2` with everything on: validation, `ack` logging, canary routing;
   - the same with `[serve] log = false`;
3. drives each with a load generator in its own process (asyncio, keep-alive connections, one
   request in flight per connection): single-row requests and 100-row batches of evaluation
   rows, at concurrency 8 and 32, `--seconds` each after a one-second warm-up;
4. prints a table (requests/s, rows/s, p50 and p99 latency, errors) and the issue's targets,
   and exits 1 if a target is missed: Keel with
   everything on at least 3x MLflow's single-row throughput at concurrency 8 with a lower p99,
   and `ack` logging costing at most 15% of the single-row throughput at concurrency 8.

    python benchmarks/serve.py [--seconds 12] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
EXAMPLE = ROOT / "examples" / "credit"
MODEL = "credit-default"
SPEEDUP = 3.0
LOG_COST = 0.15


def prepare(folder: Path) -> Path:
    """A copy of the example with its data and a registry of its own, no cache."""
    if not (EXAMPLE / "data" / "train.parquet").exists():
        subprocess.run(
            [sys.executable, str(EXAMPLE / "generate.py"), "--out", str(EXAMPLE / "data")],
            check=True,
        )
    target = folder / "credit"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".keel", "__pycache__"))
    toml = target / "keel.toml"
    uri = f"sqlite:///{folder / 'registry.db'}"
    toml.write_text(toml.read_text().replace("[registry]\n", f'[registry]\nuri = "{uri}"\n'))
    return target


def keel(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "keel", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"keel {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def set_serve(system: Path, text: str) -> None:
    """Replace the `[serve]` section at the end of keel.toml (added by this script)."""
    toml = system / "keel.toml"
    body = toml.read_text().split("\n# benchmark\n")[0]
    toml.write_text(body + "\n# benchmark\n[serve]\n" + text + "\n")


def register(system: Path) -> str:
    """Versions 1 (champion) and 2 (another seed, canary at share 0.1); what was set up."""
    keel("train", str(system))
    keel("promote", "1", str(system))
    toml = system / "keel.toml"
    original = toml.read_text()
    toml.write_text(original.replace("seed = 7", "seed = 8"))
    keel("train", str(system))
    toml.write_text(original)
    try:
        from keel.config import load_config, registry_ref
        from keel.registry.canary import start_canary
    except ImportError:
        return "canary: keel.registry.canary is missing, measured without a canary"
    config, file = load_config(system)
    start_canary(registry_ref(config, file.parent), 2, 0.1, who="benchmark")
    return "canary: version 2 (seed 8) at share 0.1 beside champion 1"


def payloads(system: Path) -> tuple[list[dict], list[str]]:
    """JSON-able evaluation rows (every column but the label) and the serving columns."""
    import pandas as pd
    import yaml

    schema = yaml.safe_load((system / "keel.schema.yaml").read_text())
    frame = pd.read_parquet(system / "data" / "eval.parquet").head(2_000)
    frame = frame.drop(columns=["defaulted"])
    serving = [n for n, f in schema["features"].items() if "serving" not in f.get("absent_in", [])]
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    return rows, serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {seconds:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """SIGINT to the server's process group (mlflow runs uvicorn in a child process)."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    if process.poll() is None:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- the load generator (run in its own process: `serve.py --generate SPEC`) ---


async def _client(host, port, path, bodies, stop_at, warm_until, out, worker):
    reader, writer = await asyncio.open_connection(host, port)
    n = worker
    try:
        while (now := time.perf_counter()) < stop_at:
            body = bodies[n % len(bodies)]
            n += 1
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            writer.write(head + body)
            status = 0
            try:
                line = await reader.readline()
                status = int(line.split()[1])
                length = None
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if length is None:
                    raise RuntimeError("no Content-Length in the answer")
                await reader.readexactly(length)
            except (OSError, ValueError, IndexError, RuntimeError, asyncio.IncompleteReadError):
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                status = 0
            took = time.perf_counter() - now
            if now >= warm_until:
                out.append((took, 200 <= status < 300))
    finally:
        writer.close()


async def _load(spec: dict) -> dict:
    bodies = [b.encode() for b in spec["bodies"]]
    start = time.perf_counter()
    warm_until = start + spec["warmup"]
    stop_at = warm_until + spec["seconds"]
    out: list[tuple[float, bool]] = []
    await asyncio.gather(
        *(
            _client(spec["host"], spec["port"], spec["path"], bodies, stop_at, warm_until, out, i)
            for i in range(spec["concurrency"])
        )
    )
    latencies = sorted(t for t, ok in out if ok)
    errors = sum(1 for _, ok in out if not ok)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0

    ok = len(latencies)
    return {
        "requests_s": ok / spec["seconds"],
        "rows_s": ok * spec["rows"] / spec["seconds"],
        "p50_ms": 1000 * pct(0.50),
        "p99_ms": 1000 * pct(0.99),
        "errors": errors,
        "requests": ok,
    }


def generate(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    print(json.dumps(asyncio.run(_load(spec))))


def measure(port: int, path: str, bodies: list[str], rows: int, conc: int, secs: float) -> dict:
    """One load run from a generator process of its own."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(
            {
                "host": "127.0.0.1",
                "port": port,
                "path": path,
                "bodies": bodies,
                "rows": rows,
                "concurrency": conc,
                "seconds": secs,
                "warmup": 1.0,
            },
            f,
        )
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--generate", f.name],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(f.name)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bodies_for(server: str, rows: list[dict], serving: list[str], size: int) -> list[str]:
    """Request bodies of `size` rows each, as `server` takes them."""
    out = []
    for start in range(0, len(rows) - size + 1, size):
        part = rows[start : start + size]
        if server == "mlflow":
            part = [{k: r[k] for k in serving if k in r} for r in part]
            out.append(json.dumps({"dataframe_records": part}))
        else:
            out.append(json.dumps(part[0] if size == 1 else {"rows": part}))
        if len(out) >= 200:
            break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=2, help="keel serve --workers")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate)
        return 0
    args.load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="keel-bench-serve-"))
    results: list[dict] = []
    notes: list[str] = []
    try:
        system = prepare(scratch)
        notes.append(register(system))
        rows, serving = payloads(system)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'registry.db'}"}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), str(system), env.get("PYTHONPATH", "")]
        )
        servers = [
            ("mlflow models serve", "mlflow", None),
            (f"keel serve, {args.workers} workers, all on", "keel", 'durability = "ack"'),
            (f"keel serve, {args.workers} workers, log off", "keel", "log = false"),
        ]
        for name, kind, serve_toml in servers:
            port = free_port()
            if kind == "mlflow":
                command = [
                    str(Path(sys.executable).parent / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    f"models:/{MODEL}/1",
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ]
                ready, path = f"http://127.0.0.1:{port}/ping", "/invocations"
            else:
                set_serve(system, serve_toml)
                command = [sys.executable, "-m", "keel", "serve", str(system)]
                command += ["--port", str(port), "--workers", str(args.workers)]
                ready, path = f"http://127.0.0.1:{port}/ready", "/predict"
            log = open(scratch / f"{kind}-{port}.log", "w")  # noqa: SIM115
            process = subprocess.Popen(
                command,
                cwd=system,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_ready(ready, process)
                check = bodies_for(kind, rows, serving, 1)[0]
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}",
                    data=check.encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                for size in (1, 100):
                    bodies = bodies_for(kind, rows, serving, size)
                    for conc in (8, 32):
                        got = measure(port, path, bodies, size, conc, args.seconds)
                        results.append({"server": name, "rows": size, "concurrency": conc, **got})
                        print(f"  {name}: {size} rows x {conc}: {got}", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 - reported in the output, the rest measured
                log.flush()
                tail = (scratch / f"{kind}-{port}.log").read_text()[-1500:]
                notes.append(f"{name}: not measured: {type(exc).__name__}: {exc}\n{tail}")
            finally:
                stop(process)
                log.close()
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return report(results, notes, args)


def report(results: list[dict], notes: list[str], args: argparse.Namespace) -> int:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown CPU",
        )
        if Path("/proc/cpuinfo").exists()
        else "unknown CPU"
    )
    print(
        f"machine: {os.cpu_count()} cores ({cpu}); load average before the runs "
        f"{args.load_before:.2f}, after {os.getloadavg()[0]:.2f}; load generator in its own "
        f"process on the same host; {args.seconds:g} s per run"
    )
    print()
    print(
        "| server | rows/request | concurrency | requests/s | rows/s | p50 ms | p99 ms | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['server']} | {r['rows']} | {r['concurrency']} | {r['requests_s']:.0f} | "
            f"{r['rows_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    for note in notes:
        print(f"\n{note}")

    def find(prefix: str) -> dict | None:
        for r in results:
            if r["server"].startswith(prefix) and r["rows"] == 1 and r["concurrency"] == 8:
                return r
        return None

    mlflow, keel_on = find("mlflow"), find(f"keel serve, {args.workers} workers, all on")
    keel_off = find(f"keel serve, {args.workers} workers, log off")
    checks = []
    if mlflow and keel_on:
        ratio = keel_on["requests_s"] / mlflow["requests_s"] if mlflow["requests_s"] else 0
        checks.append(
            (
                ratio >= SPEEDUP and keel_on["p99_ms"] < mlflow["p99_ms"],
                f"keel (all on) / mlflow, single rows at concurrency 8: {ratio:.1f}x "
                f"(target >= {SPEEDUP:.0f}x), p99 {keel_on['p99_ms']:.1f} vs "
                f"{mlflow['p99_ms']:.1f} ms (target lower)",
            )
        )
    if keel_on and keel_off:
        cost = 1 - keel_on["requests_s"] / keel_off["requests_s"] if keel_off["requests_s"] else 1
        checks.append(
            (
                cost <= LOG_COST,
                f"ack logging costs {cost:.0%} of single-row throughput at concurrency 8 "
                f"(target <= {LOG_COST:.0%})",
            )
        )
    print()
    for ok, text in checks:
        print(("PASS  " if ok else "FAIL  ") + text)
    return 0 if checks and all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
