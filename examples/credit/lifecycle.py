"""The credit example's whole lifecycle, as `make demo` runs it: every practice with evidence.

    python examples/credit/lifecycle.py [--keep]

1. `keel score`: the system before anything was trained, registered or served;
2. `keel train` and `keel promote 1`: the first champion, trained with the feature code as it
   was before the late-payments feed and the employment field were used (the lifecycle puts
   that older `credit/features.py` in place for this one command, then puts today's back);
3. `keel serve` in the background, serving version 1 with its own feature code while the
   working tree holds today's; `keel train` (with model.4's staleness limit) registers version 2
   from today's code,
   `keel canary start 2`, simulated traffic with its labels, `keel canary status --decide`
   (more labelled traffic while the labels cannot yet rule out a quality drop): version 2
   goes through a canary and the gate;
4. more traffic, then its late labels; `keel drill rollback` against the running server;
5. `keel bench-model` for both versions; the server keeps serving: its prediction log's
   segments are sealed by age (`[serve] seal_seconds`, 5 s here), `keel logs query` counts the
   rows served so far and `keel monitor` takes every one of them (the lifecycle checks that);
6. `keel score` again, the server still running: all 28 practices, with the evidence of what
   just happened; only then is the server stopped.

The registry, prediction log and monitor state of the example (under examples/credit/.keel,
the cache kept) and its labels file are reset first, so every run tells the same story.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEL = [sys.executable, "-m", "keel"]
LABELS = HERE / "data" / "labels.parquet"
FEATURES = HERE / "credit" / "features.py"
# inputs version 1's feature code did not use yet: version 2 is better by about 0.02 ROC AUC,
# which the canary's labelled traffic measures online too (model.2)
NOT_YET = ("late_payments_12m", "employment")
# the segment files of the prediction log (under [data] serving_log, .keel/logs by default)
SEGMENTS = HERE / ".keel" / "logs" / "segments"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def keel(*args: str, ok: tuple[int, ...] = (0,)) -> int:
    """Run a keel command as a user would, its output shown; exit when its code is not ok."""
    print("$ keel " + " ".join(args), flush=True)
    code = subprocess.run([*KEEL, *args], check=False).returncode
    if code not in ok:
        raise SystemExit(f"`keel {' '.join(args)}` exited {code}")
    return code


def keel_captured(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    """`keel` as above, its output shown; its standard output returned."""
    print("$ keel " + " ".join(args), flush=True)
    done = subprocess.run([*KEEL, *args], capture_output=True, text=True, check=False)
    print(done.stdout, done.stderr, sep="", end="", flush=True)
    if done.returncode not in ok:
        raise SystemExit(f"`keel {' '.join(args)}` exited {done.returncode}")
    return done.stdout


def monitor_takes_all_served(path: str) -> None:
    """`keel logs query` counts the predictions logged so far (open segments too), then `keel
    monitor` takes the new ones: exactly as many, since every segment is sealed by now."""
    sql = "SELECT count(*) AS served FROM predictions"
    table = keel_captured("logs", "query", sql, path)
    served = re.findall(r"\d+", table.split("served", 1)[-1])
    taken = re.search(r"([\d,]+) served rows taken", keel_captured("monitor", path, ok=(0, 1)))
    if not served or taken is None or int(taken.group(1).replace(",", "")) != int(served[0]):
        raise SystemExit("keel monitor did not take every row the running server has logged")


def wait_sealed(timeout: float = 60) -> None:
    """Wait until the running server has sealed every segment of its prediction log (it does
    so once a segment's first row is [serve] seal_seconds old, traffic or not), so `keel
    monitor` takes every row served so far."""
    deadline = time.monotonic() + timeout
    while any(SEGMENTS.glob("*.open")):
        if time.monotonic() > deadline:
            raise SystemExit(f"the server's log segments were not sealed within {timeout:g} s")
        time.sleep(0.5)


def traffic(url: str, rows: int, seed: int, *, labels: bool = False, batch: int = 10) -> None:
    argv = [sys.executable, str(HERE / "traffic.py"), "--url", url, "--rows", str(rows)]
    argv += ["--seed", str(seed), "--batch", str(batch)]
    argv += ["--labels", str(LABELS)] if labels else []
    if subprocess.run(argv, check=False).returncode != 0:
        raise SystemExit("the simulated traffic had failed requests")


def canary_decided(url: str, path: str, window: float, rounds: int = 4) -> None:
    """Labelled traffic, then `keel canary status --decide`, until the canary is decided. To
    promote, the labels must rule out a ROC AUC drop of [canary] max_quality_drop (0.02) at 95%
    confidence; while too few have arrived the canary waits and says how many it still needs,
    and each round sends more. The first round's 20,000 labelled rows a route also measure
    version 2's online gain over version 1 (about 0.02 ROC AUC offline) clear of zero, which
    model.2 needs."""
    started = time.monotonic()
    for k in range(rounds):
        traffic(url, 40_000 if k == 0 else 8_000, seed=11 + 10 * k, labels=True, batch=50)
        time.sleep(max(0.0, window - (time.monotonic() - started)))
        print("$ keel canary status " + path + " --decide", flush=True)
        done = subprocess.run(
            [*KEEL, "canary", "status", path, "--decide"], capture_output=True, text=True
        )
        print(done.stdout, done.stderr, sep="", end="", flush=True)
        if done.returncode != 0:
            raise SystemExit(f"`keel canary status --decide` exited {done.returncode}")
        if "version 2 is the champion now" in done.stdout:
            return
    raise SystemExit(f"the canary was still undecided after {rounds} rounds of traffic")


@contextlib.contextmanager
def first_feature_code():
    """`credit/features.py` as it was when version 1 was trained (the inputs in NOT_YET
    dropped), for one command; today's file is put back whatever happens."""
    today = FEATURES.read_text(encoding="utf-8")
    marker = "DROPPED = (\n"
    if marker not in today:
        raise SystemExit(f"{FEATURES} has no `DROPPED = (` list to add the older drops to")
    older = "".join(f'    "{name}",\n' for name in NOT_YET)
    FEATURES.write_text(today.replace(marker, marker + older, 1), encoding="utf-8")
    try:
        yield
    finally:
        FEATURES.write_text(today, encoding="utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("keel serve exited before it was ready")
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"keel serve was not ready at {url} within {timeout:g} s")


def reset() -> None:
    """The example's registry, logs and monitor state gone (the check cache kept)."""
    state = HERE / ".keel"
    if state.is_dir():
        for entry in state.iterdir():
            if entry.name == "cache":
                continue
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    LABELS.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    started = time.perf_counter()
    path = str(HERE)
    reset()

    step("1. score the system as it is: nothing trained, registered or served yet")
    keel("score", path)

    step("2. train version 1 on the feature code of an earlier commit; make it the champion")
    with first_feature_code():
        keel("train", path)
    keel("promote", "1", path)

    step("3. serve it; train version 2 and put it through a canary on live traffic")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*KEEL, "serve", path, "--port", str(port)], env=os.environ.copy())
    try:
        wait_ready(url, server)
        keel("train", path, "--staleness-limit")  # today's code; the sweep is cached
        keel("canary", "start", "2", path)
        time.sleep(2.5)  # the servers pick the canary up on their next poll
        canary_decided(url, path, window=15)  # [canary] window in keel.toml

        step("4. more traffic, its late labels, and a rollback drill under load")
        time.sleep(1.5)
        traffic(url, 1500, seed=12, labels=True)
        keel("drill", "rollback", path, "--url", url)

        step("5. benchmark both versions; monitor what the running server has served")
        keel("bench-model", "1", path)
        keel("bench-model", "2", path)
        wait_sealed()  # within [serve] seal_seconds of the last row; the server keeps running
        monitor_takes_all_served(path)

        step("6. score again, the server still serving: every practice with its evidence")
        keel("score", path)
    finally:
        server.send_signal(signal.SIGINT)  # stopped only now; a clean stop seals its segment
        server.wait(60)
    print(f"\nthe lifecycle took {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
