"""Benchmark: `keel serve` against `mlflow models serve`, on a trivial model and on the example.

Run by `make bench` and `make bench-serve` (not a unit test): `python benchmarks/serve.py`.
It measures issue 21's targets ("serving at the speed of the model"):

1. builds two systems in a scratch folder, each with a SQLite registry of its own:
   - example: a copy of examples/credit (code, keel.toml, schema, generated data);
   - trivial: the same copy with `[model] train = "trivial:train"`, a module written into the
     copy that fits `sklearn.dummy.DummyClassifier(strategy="prior")`, and no `[model]
     features` (no feature code), so that what is measured is Keel's server, not the model;
   each gets `keel train`, `keel promote 1` (`--force --reason benchmark` for the trivial one,
   which the gate refuses), version 2 trained with another seed and a canary of version 2 at
   share 0.1 (keel.registry.canary.start_canary);
2. starts each server in turn on a free loopback port, in a session of its own, and checks that
   it answers a prediction before loading it:
   - `keel serve --workers 2` with everything on: validation, `[serve] durability = "ack"`
     logging (fsync before the answer), the canary at share 0.1;
   - the same with `durability = "async"`;
   - `mlflow models serve -m models:/credit-default/1 --env-manager local` (MLflow's defaults,
     one worker) on the same registry;
   the load waits until /health has answered from `--workers` distinct pids (a server that
   answers /ready with one worker up, as before, is not measured half loaded);
3. drives each with wrk (keep-alive connections, one wrk thread, a Lua script posting
   single-row bodies taken in turn from 200 evaluation rows) at concurrency 1, 8 and 32, for
   `--seconds` each after a 1 s warm-up run; p50 and p99 from wrk's `--latency` distribution;
   errors are non-2xx answers and socket errors. Each Keel server is also driven at
   concurrency 8 with a new connection per request (`Connection: close`): the supervisor's
   accept-and-hand-over path runs once per connection, and this run measures it. CPU time of
   wrk and of the server's processes (supervisor and workers) is taken over each run, with a
   warning when the client used more than the server. For Keel, /metrics of every worker
   before and after each run give the rows per model call (`keel_model_call_rows` /
   `keel_model_calls`) and each worker's share of the rows;
4. prints the date, the machine, one Markdown table and each target with PASS or its
   shortfall, and exits 1 if a target is missed.

    python benchmarks/serve.py [--seconds 10] [--workers 2] [--only trivial|example]
                               [--skip-mlflow] [--keep]

It needs wrk (`sudo apt-get install wrk`). Helpers are in benchmarks/_wrk.py.
"""

from __future__ import annotations

import argparse
import importlib.util
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
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Not on sys.path: benchmarks/profile.py would hide the standard library's `profile`, which
# MLflow imports (through keel.registry). The helper module is loaded from its file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_wrk", HERE / "_wrk.py")
_wrk = sys.modules["_wrk"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_wrk)
Wrk, find_wrk, rows_per_call, worker_metrics, worker_split = (
    _wrk.Wrk, _wrk.find_wrk, _wrk.rows_per_call, _wrk.worker_metrics, _wrk.worker_split
)  # fmt: skip

ROOT = HERE.parent
EXAMPLE = ROOT / "examples" / "credit"
MODEL = "credit-default"
CONCURRENCY = (1, 8, 32)
CLOSE_CONCURRENCY = 8  # the run with a new connection per request (Keel only)
TRIVIAL = '''"""A constant classifier (benchmarks/serve.py): the prior, whatever comes in."""

from sklearn.dummy import DummyClassifier


def train(frame, target, params, seed):
    """The training rows' class prior; no feature code, no preprocessing."""
    return DummyClassifier(strategy="prior").fit(frame.drop(columns=[target]), frame[target])
'''


def prepare(scratch: Path, kind: str) -> Path:
    """A copy of the example (or of its trivial variant) with a registry of its own."""
    if not (EXAMPLE / "data" / "train.parquet").exists():
        subprocess.run(
            [sys.executable, str(EXAMPLE / "generate.py"), "--out", str(EXAMPLE / "data")],
            check=True,
        )
    target = scratch / kind
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".keel", "__pycache__"))
    toml = target / "keel.toml"
    text = toml.read_text()
    uri = f"sqlite:///{scratch / f'{kind}-registry.db'}"
    text = text.replace("[registry]\n", f'[registry]\nuri = "{uri}"\n')
    if kind == "trivial":
        (target / "trivial.py").write_text(TRIVIAL)
        lines = text.splitlines(keepends=True)
        lines = [line for line in lines if not line.startswith("features = ")]
        text = "".join(lines).replace('train = "credit.train:train"', 'train = "trivial:train"')
        if 'train = "trivial:train"' not in text:
            sys.exit("examples/credit/keel.toml changed: cannot point [model] train at trivial")
    toml.write_text(text)
    return target


def keel(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "keel", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"keel {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def set_durability(system: Path, durability: str) -> None:
    """`[serve] durability = ...` in the copy's keel.toml (its [serve] section kept)."""
    toml = system / "keel.toml"
    lines = [ln for ln in toml.read_text().splitlines() if not ln.startswith("durability = ")]
    text = "\n".join(lines) + "\n"
    line = f'durability = "{durability}"  # benchmark\n'
    if "\n[serve]\n" in text:
        text = text.replace("\n[serve]\n", "\n[serve]\n" + line, 1)
    else:
        text += "\n[serve]\n" + line
    toml.write_text(text)


def register(system: Path, kind: str) -> str:
    """Versions 1 (champion) and 2 (another seed, canary at share 0.1); what was set up."""
    keel("train", str(system))
    if kind == "trivial":
        keel("promote", "1", str(system), "--force", "--reason", "benchmark")
        promoted = "version 1 promoted with --force --reason benchmark (a constant model)"
    else:
        keel("promote", "1", str(system))
        promoted = "version 1 promoted through the gate"
    toml = system / "keel.toml"
    original = toml.read_text()
    toml.write_text(original.replace("seed = 7", "seed = 8"))
    keel("train", str(system))
    toml.write_text(original)
    from keel.config import load_config, registry_ref
    from keel.registry.canary import start_canary

    config, file = load_config(system)
    start_canary(registry_ref(config, file.parent), 2, 0.1, who="benchmark")
    return f"{kind}: {promoted}; canary: version 2 (seed 8) at share 0.1"


def bodies_for(system: Path, server: str, count: int = 200) -> list[str]:
    """Single-row request bodies from evaluation rows (every column but the label), as
    `server` takes them: a JSON object for Keel, `dataframe_records` of the serving columns
    for MLflow."""
    import pandas as pd
    import yaml

    schema = yaml.safe_load((system / "keel.schema.yaml").read_text())
    frame = pd.read_parquet(system / "data" / "eval.parquet").head(count)
    frame = frame.drop(columns=["defaulted"])
    serving = [n for n, f in schema["features"].items() if "serving" not in f.get("absent_in", [])]
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    if server == "mlflow":
        return [json.dumps({"dataframe_records": [{k: r[k] for k in serving}]}) for r in rows]
    return [json.dumps(r) for r in rows]


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


def wait_workers(port: int, workers: int, process: subprocess.Popen, seconds: float = 300) -> None:
    """Until every worker answers: /ready is true as soon as one of them has loaded the model,
    and a load started then would measure one worker while the others still load."""
    deadline = time.time() + seconds
    while len(worker_metrics(port, connections=10)[0]) < workers:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        if time.time() > deadline:
            raise RuntimeError(f"fewer than {workers} workers answer after {seconds:.0f} s")
        time.sleep(0.5)


def check_answers(url: str, body: str) -> None:
    """One prediction must come back 200 before the server is loaded."""
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def stop(process: subprocess.Popen) -> None:
    """SIGINT to the server (keel's supervisor stops its workers; mlflow's group its uvicorn)."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def command_for(server: str, system: Path, port: int, workers: int) -> list[str]:
    if server == "mlflow":
        mlflow = str(Path(sys.executable).parent / "mlflow")
        return [mlflow, "models", "serve", "-m", f"models:/{MODEL}/1", "--env-manager", "local"]
    return [sys.executable, "-m", "keel", "serve", str(system), "--workers", str(workers)]


def measure_server(
    kind: str, system: Path, server: str, durability: str | None, args, scratch: Path
) -> list[dict]:
    """Start one server, load it at each concurrency, stop it; one result per concurrency."""
    if server == "keel":
        set_durability(system, durability)
    port = free_port()
    command = command_for(server, system, port, args.workers)
    command += ["-h" if server == "mlflow" else "--host", "127.0.0.1"]
    command += ["-p" if server == "mlflow" else "--port", str(port)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / f'{kind}-registry.db'}"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(system), env.get("PYTHONPATH", "")])
    ready, path = ("/ping", "/invocations") if server == "mlflow" else ("/ready", "/predict")
    bodies = bodies_for(system, server)
    load = Wrk(scratch, bodies, f"{kind}-{server}")
    name = f"{kind}-{server}-{durability or 'default'}"
    with open(scratch / f"{name}.log", "w") as log:
        process = subprocess.Popen(
            command, cwd=system, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}{path}"
        results = []
        try:
            wait_ready(f"http://127.0.0.1:{port}{ready}", process)
            if server == "keel":
                wait_workers(port, args.workers, process)
            check_answers(url, bodies[0])
            levels = [(c, False) for c in CONCURRENCY]
            if server == "keel":
                levels.append((CLOSE_CONCURRENCY, True))
            for concurrency, close in levels:
                load.warm(url, concurrency, close=close)
                before = worker_metrics(port)[0] if server == "keel" else {}
                run = load.run(url, concurrency, args.seconds, process.pid, close=close)
                after, passes = worker_metrics(port) if server == "keel" else ({}, [])
                per_call, workers_seen = rows_per_call(before, after)
                results.append(
                    {
                        "system": kind,
                        "server": server,
                        "durability": durability,
                        "concurrency": concurrency,
                        "close": close,
                        "run": run,
                        "rows_call": per_call,
                        "workers_seen": workers_seen,
                        "split": worker_split(before, after) if server == "keel" else "—",
                        "passes": passes,
                    }
                )
                shown = f"c={concurrency}{' (Connection: close)' if close else ''}"
                print(f"  {name} {shown}: {run}, rows/call {per_call}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - reported in the output, the rest measured
            log.flush()
            tail = (scratch / f"{name}.log").read_text()[-1500:]
            results.append({"system": kind, "server": server, "durability": durability,
                            "failed": f"{type(exc).__name__}: {exc}\n{tail}"})  # fmt: skip
        finally:
            stop(process)
    return results


def machine(args: argparse.Namespace) -> str:
    """The date, the cores, the CPU model and the load average before and after the runs."""
    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run([find_wrk(), "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    before, after = args.load_before, os.getloadavg()
    return (
        f"{args.started:%Y-%m-%d %H:%M %Z}: {os.cpu_count()} cores ({cpu}); load average "
        f"(1/5/15 min) before {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f}, after "
        f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f}; {wrk}, one thread, on the same host; "
        f"{args.seconds:g} s per run after a 1 s warm-up; keel serve --workers {args.workers}"
    )


def table(results: list[dict], workers: int) -> list[str]:
    """The Markdown table of the measured runs."""
    lines = [
        "| server | model | durability | concurrency | requests/s | p50 ms | p99 ms | rows/call "
        "| rows by worker % | errors | client CPU / server CPU |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if "failed" in r:
            continue
        run, per_call = r["run"], r["rows_call"]
        if r["server"] == "mlflow":
            rows = "—"
        elif per_call is None:
            rows = "no calls"
        else:
            rows = f"{per_call:.2f}"
            if r["workers_seen"] < workers:
                rows += f" ({r['workers_seen']} of {workers} workers)"
        ratio = run.client_cpu / run.server_cpu if run.server_cpu else float("inf")
        server = f"keel serve --workers {workers}" if r["server"] == "keel" else "mlflow"
        lines.append(
            f"| {server} | {r['system']} | {r['durability'] or '—'} | {level(r)} | "
            f"{run.requests_s:,.0f} | {run.p50_ms:.1f} | {run.p99_ms:.1f} | {rows} | "
            f"{r.get('split', '—')} | {run.errors} | "
            f"{run.client_cpu:.1f} s / {run.server_cpu:.1f} s ({ratio:.2f}) |"
        )
    return lines


def level(result: dict) -> str:
    """The concurrency as the table shows it: "8", or "8, new connection per request"."""
    close = ", new connection per request" if result.get("close") else ""
    return f"{result['concurrency']}{close}"


def warnings(results: list[dict]) -> list[str]:
    """Runs where the load generator used more CPU than the server, and failed servers."""
    out = []
    for r in results:
        where = f"{r['server']} on {r['system']} ({r['durability'] or 'default'})"
        if "failed" in r:
            out.append(f"NOT MEASURED: {where}: {r['failed']}")
        elif r["run"].client_cpu > r["run"].server_cpu:
            out.append(
                f"WARNING: {where}, c={level(r)}: the client used more CPU than the "
                f"server ({r['run'].client_cpu:.1f} s against {r['run'].server_cpu:.1f} s): "
                "the load generator may be the limit"
            )
    return out


class Targets:
    """Each target of issue 21 with PASS, its shortfall, or why it was not measured."""

    def __init__(self, results: list[dict], args: argparse.Namespace) -> None:
        self.results, self.args, self.lines, self.missed = results, args, [], False

    def find(self, system: str, server: str, durability: str | None, concurrency: int):
        for r in self.results:
            if (r["system"], r["server"], r["durability"]) == (system, server, durability):
                if "failed" in r:
                    return None
                if r["concurrency"] == concurrency and not r.get("close"):
                    return r["run"]
        return None

    def _absent(self, system: str, server: str, what: str) -> None:
        skipped = (self.args.only not in (None, system)) or (
            server == "mlflow" and self.args.skip_mlflow
        )
        if skipped:
            self.lines.append(f"SKIP  {what}: not measured in this run (--only/--skip-mlflow)")
        else:
            self.missed = True
            self.lines.append(f"FAIL  {what}: not measured (the server did not run)")

    def at_least(self, what: str, got: float, target: float, unit: str = "requests/s") -> None:
        ok = got >= target
        self.missed |= not ok
        short = "" if ok else f"; {1 - got / target:.0%} short"
        shown = f"{got:.1f}x" if unit == "x" else f"{got:,.0f} {unit}"
        goal = f"{target:g}x" if unit == "x" else f"{target:,.0f}"
        self.lines.append(f"{'PASS' if ok else 'FAIL'}  {what}: {shown} (target >= {goal}{short})")

    def under(self, what: str, got: float, target: float) -> None:
        ok = got < target
        self.missed |= not ok
        over = "" if ok else f"; {got - target:,.1f} ms over, {got / target:.1f}x the target"
        self.lines.append(
            f"{'PASS' if ok else 'FAIL'}  {what}: {got:,.1f} ms (target < {target:g} ms{over})"
        )

    def check(self) -> list[str]:
        find = self.find
        # 1. the server's own cost, on the trivial model
        for what, run, test in (
            ("trivial, ack, c=32", find("trivial", "keel", "ack", 32),
             lambda w, r: self.at_least(w, r.requests_s, 2_000)),
            ("trivial, async, c=1, p50", find("trivial", "keel", "async", 1),
             lambda w, r: self.under(w, r.p50_ms, 2)),
            ("trivial, ack, c=1, p50", find("trivial", "keel", "ack", 1),
             lambda w, r: self.under(w, r.p50_ms, 5)),
            ("trivial, ack, c=8, p99", find("trivial", "keel", "ack", 8),
             lambda w, r: self.under(w, r.p99_ms, 10)),
        ):  # fmt: skip
            test(what, run) if run else self._absent("trivial", "keel", what)
        beside = [find("trivial", "mlflow", None, c) for c in CONCURRENCY]
        if all(beside):
            one, eight, many = beside
            self.lines.append(
                f"      MLflow on the trivial model: {many.requests_s:,.0f} requests/s at c=32, "
                f"p50 {one.p50_ms:.1f} ms at c=1, p99 {eight.p99_ms:.1f} ms at c=8"
            )
        # 2. the example model
        many, eight = find("example", "keel", "ack", 32), find("example", "keel", "ack", 8)
        mlflow = find("example", "mlflow", None, 8)
        if many:
            self.at_least("example, ack, c=32", many.requests_s, 500)
        else:
            self._absent("example", "keel", "example, ack, c=32")
        if eight and mlflow:
            ratio = eight.requests_s / mlflow.requests_s if mlflow.requests_s else float("inf")
            self.at_least(
                f"example, ack, c=8: {eight.requests_s:,.0f} against MLflow's "
                f"{mlflow.requests_s:,.0f} requests/s", ratio, 10, unit="x"
            )  # fmt: skip
        else:
            self._absent("example", "keel" if mlflow else "mlflow", "example, c=8, 10x MLflow")
        if eight:
            self.under("example, ack, c=8, p99", eight.p99_ms, 100)
        else:
            self._absent("example", "keel", "example, ack, c=8, p99")
        # 4. batching at low load: reported, no threshold
        for r in self.results:
            if r["server"] == "keel" and r.get("close"):
                kept = self.find(r["system"], "keel", r["durability"], r["concurrency"])
                also = f" (keep-alive: {kept.requests_s:,.0f} requests/s)" if kept else ""
                self.lines.append(
                    f"INFO  {r['system']}, {r['durability']}, c={level(r)}: "
                    f"{r['run'].requests_s:,.0f} requests/s{also}, p50 {r['run'].p50_ms:.1f} ms, "
                    f"p99 {r['run'].p99_ms:.1f} ms, {r['run'].errors} errors"
                )
            if r["server"] == "keel" and r.get("concurrency") == 1:
                rows = "—" if r["rows_call"] is None else f"{r['rows_call']:.2f}"
                self.lines.append(
                    f"INFO  {r['system']}, {r['durability']}, c=1: p99 {r['run'].p99_ms:.1f} ms, "
                    f"p50 {r['run'].p50_ms:.1f} ms, {rows} rows per model call"
                )
        return self.lines


def report(results: list[dict], notes: list[str], args: argparse.Namespace) -> int:
    """Print the machine, the table, the notes and the targets; 1 if a target is missed."""
    print(machine(args))
    print()
    print("\n".join(table(results, args.workers)))
    print()
    for note in notes:
        print(note)
    passes = sorted({f"{r['system']}: {line}" for r in results for line in r.get("passes", [])})
    print("\n".join(passes) if passes else "/metrics reports no one-pass gauge (none yet)")
    print("rows/call: keel_model_call_rows / keel_model_calls of /metrics over the run, summed "
          "over the workers found before and after it")  # fmt: skip
    for line in warnings(results):
        print(line)
    targets = Targets(results, args)
    print()
    print("\n".join(targets.check()))
    return 1 if targets.missed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=2, help="keel serve --workers")
    parser.add_argument("--only", choices=("trivial", "example"), help="one system only")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure keel serve only")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    find_wrk()
    args.load_before = os.getloadavg()
    args.started = datetime.now().astimezone()
    scratch = Path(tempfile.mkdtemp(prefix="keel-bench-serve-"))
    systems = [args.only] if args.only else ["trivial", "example"]
    servers = [("keel", "ack"), ("keel", "async")]
    if not args.skip_mlflow:
        servers.append(("mlflow", None))
    results: list[dict] = []
    notes: list[str] = []
    try:
        for kind in systems:
            system = prepare(scratch, kind)
            notes.append(register(system, kind))
            for server, durability in servers:
                results += measure_server(kind, system, server, durability, args, scratch)
    finally:
        if args.keep:
            print(f"scratch folder kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return report(results, notes, args)


if __name__ == "__main__":
    sys.exit(main())
