"""Helpers of benchmarks/serve.py: load from `wrk`, CPU time per process tree, Keel's /metrics.

- `Wrk` drives a server with wrk (keep-alive connections, one request in flight per
  connection, one wrk thread; or, with `close`, a new connection per request: wrk sends
  `Connection: close` and reconnects after each answer) and a Lua script that posts single-row
  bodies in turn from a file, one body per line. p50 and p99 come from wrk's `--latency`
  distribution; errors are the "Non-2xx or 3xx responses" plus socket errors (timeouts
  included; the timeout is 30 s so that a slow server is measured, not cut off). Requests/s
  counts the 2xx answers only.
- CPU time: wrk's own from `os.wait4` (all its threads); the server's as utime + stime of every
  live process in its session (the benchmark starts each server in a new session, so the keel
  supervisor, its spawned workers, which run in process groups of their own, and MLflow's
  uvicorn child all count), from /proc/<pid>/stat before and after the run.
- `worker_metrics` reads /metrics of each worker of a `keel serve --workers N`: a worker answers
  /health (with its pid) and /metrics on the same keep-alive connection, and each new
  connection goes to one worker (the least busy, taking turns on ties; with the kernel's
  SO_REUSEPORT hash before), so a few fresh connections reach them all.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LUA = """-- posts the bodies of {bodies} in turn, one per line (written by benchmarks/_wrk.py)
local bodies = {{}}
for line in io.lines({bodies}) do bodies[#bodies + 1] = line end
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TICK = os.sysconf("SC_CLK_TCK")


def find_wrk() -> str:
    """wrk's path, or exit with how to install it."""
    path = shutil.which("wrk")
    if path is None:
        sys.exit("benchmarks/serve.py needs wrk (the load generator): sudo apt-get install wrk")
    return path


@dataclass
class Run:
    """One measured wrk run and the CPU time it cost each side."""

    requests_s: float  # 2xx answers per second
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors (connect, read, write, timeout)
    client_cpu: float  # seconds of CPU used by wrk
    server_cpu: float  # seconds of CPU used by the server's processes over the run


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()
    return float(number) * _UNITS[unit]


def parse(output: str) -> dict:
    """requests, seconds, p50/p99 (ms) and errors from wrk's `--latency` output."""
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+),", output)
    if done is None:
        raise RuntimeError(f"wrk's output has no request count:\n{output[-1500:]}")
    seconds = _ms(done.group(2) + done.group(3)) / 1e3
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+\w+)\s*$", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    requests = int(done.group(1))
    return {
        "ok": max(0, requests - (int(non_2xx.group(1)) if non_2xx else 0)),
        "seconds": seconds,
        "p50_ms": _ms(percentiles["50"]) if "50" in percentiles else float("nan"),
        "p99_ms": _ms(percentiles["99"]) if "99" in percentiles else float("nan"),
        "errors": errors,
    }


def session_cpu(session: int) -> float:
    """CPU seconds (utime + stime) of the live processes of a session, from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        if int(fields[3]) == session:  # fields: state ppid pgrp session ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


class Wrk:
    """wrk against one URL, posting the bodies of `bodies` in turn."""

    def __init__(self, folder: Path, bodies: list[str], name: str) -> None:
        self.binary = find_wrk()
        lines = folder / f"{name}.bodies"
        lines.write_text("".join(b + "\n" for b in bodies))  # json.dumps writes no newline
        self.script = folder / f"{name}.lua"
        self.script.write_text(LUA.format(bodies=json.dumps(str(lines))))

    def _start(
        self, url: str, concurrency: int, seconds: float, close: bool = False
    ) -> subprocess.Popen:
        command = [self.binary, "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s"]
        if close:
            command += ["-H", "Connection: close"]
        command += ["--latency", "-s", str(self.script), url]
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def warm(self, url: str, concurrency: int, seconds: float = 1.0, close: bool = False) -> None:
        """A run whose figures are thrown away (caches, connections, lazily loaded code)."""
        process = self._start(url, concurrency, seconds, close)
        process.communicate()

    def run(
        self, url: str, concurrency: int, seconds: float, server_session: int, close: bool = False
    ) -> Run:
        """One measured run; the server's CPU is taken over the processes of its session."""
        server_before = session_cpu(server_session)
        process = self._start(url, concurrency, seconds, close)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        server_after = session_cpu(server_session)
        if process.returncode != 0:
            raise RuntimeError(f"wrk exited with code {process.returncode}:\n{output[-1500:]}")
        got = parse(output)
        return Run(
            requests_s=got["ok"] / got["seconds"] if got["seconds"] else 0.0,
            p50_ms=got["p50_ms"],
            p99_ms=got["p99_ms"],
            errors=got["errors"],
            client_cpu=usage.ru_utime + usage.ru_stime,
            server_cpu=server_after - server_before,
        )


def _metric_values(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text answer, by name."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and "{" not in parts[0]:
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return values


def worker_metrics(port: int, connections: int = 20) -> tuple[dict[int, dict], list[str]]:
    """{pid: {metric: value}} of the workers reached over `connections` fresh connections,
    and the /metrics lines that tell whether a version makes one pipeline pass per call."""
    seen: dict[int, dict] = {}
    passes: list[str] = []
    for _ in range(connections):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/health")
            pid = json.loads(connection.getresponse().read())["pid"]
            connection.request("GET", "/metrics")
            text = connection.getresponse().read().decode()
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            continue
        finally:
            connection.close()
        seen[pid] = _metric_values(text)
        passes = [
            line for line in text.splitlines() if "pass" in line and not line.startswith("#")
        ] or passes
    return seen, passes


def rows_per_call(before: dict[int, dict], after: dict[int, dict]) -> tuple[float | None, int]:
    """Rows per model call between two `worker_metrics` snapshots, summed over the workers
    found in both (a worker restarted meanwhile, its counters lower, is left out); and how
    many workers that sum covers."""
    calls = rows = 0.0
    counted = 0
    for pid, now in after.items():
        then = before.get(pid)
        if then is None:
            continue
        d_calls = now.get("keel_model_calls", 0) - then.get("keel_model_calls", 0)
        d_rows = now.get("keel_model_call_rows", 0) - then.get("keel_model_call_rows", 0)
        if d_calls < 0 or d_rows < 0:
            continue
        calls, rows, counted = calls + d_calls, rows + d_rows, counted + 1
    return (rows / calls if calls else None), counted


def worker_split(before: dict[int, dict], after: dict[int, dict]) -> str:
    """Each worker's share of the rows predicted between two snapshots, largest first
    ("55/45"): how evenly the kernel spread the connections over the workers' sockets."""
    rows = []
    for pid, now in after.items():
        then = before.get(pid)
        if then is not None:
            rows.append(now.get("keel_model_call_rows", 0) - then.get("keel_model_call_rows", 0))
    total = sum(r for r in rows if r > 0)
    if not total:
        return "—"
    return "/".join(f"{100 * r / total:.0f}" for r in sorted(rows, reverse=True))
