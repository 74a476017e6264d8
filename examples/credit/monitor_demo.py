"""30 simulated days of served traffic, watched by `keel monitor`, as `make demo-monitor` runs it.

    python examples/credit/monitor_demo.py [--days 30 --drift-day 20 --skew-day 25 --rows 400]

On a copy of the example (examples/credit/.keel-demo-monitor, made afresh; the example's own
registry, log and labels are never touched), with `[monitor] window = "1d"`:

1. `keel train` and `keel promote 1`: the champion;
2. every simulated day: the real server app (`keel.serve.app.create_app`, the champion loaded
   from the registry, a real prediction log in `[data] serving_log`) on a real uvicorn server on
   127.0.0.1, its clock set to that day, serves that day's applications (`traffic.py`'s
   `applications(rows, seed=day)`); their late labels are written; `keel monitor` runs on it;
3. from `--drift-day` on, the applicants change: incomes are 1.6 times higher and the loan
   purposes mix differently (drift: monitor.3 should see it the day it starts);
4. from `--skew-day` on, the served feature code has a bug: its `payment_to_income` is 100 times
   what the training feature code computes from the same row (per-example training/serving
   skew: monitor.3 should see it the day it starts);
5. a day-by-day table of the alerts, and the monitoring dashboard (`keel monitor --html`).

Exits 1 unless monitor.2 and monitor.3 stay quiet before the drift day, monitor.3 alerts on
drift on the drift day or the day after, and on per-example skew on the skew day or the day
after. The other practices are shown, not counted: with one version and no staleness limit,
monitor.4, monitor.6 and model.2 are not configured; monitor.7 judges each day's labelled rows
against the offline metric, beyond the sampling noise of 400 rows.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from traffic import applications, send, write_labels  # noqa: E402 (beside this file)

KEEL = [sys.executable, "-m", "keel"]
FOLDER = HERE / ".keel-demo-monitor"
PLANTED = ("monitor.2", "monitor.3")  # the practices the planted problems are for
INCOME_FACTOR = 1.6
# The drifted mix of loan purposes: far more small-business and education loans.
DRIFTED_PURPOSES = {
    "debt_consolidation": 0.12,
    "credit_card": 0.10,
    "home_improvement": 0.08,
    "car": 0.08,
    "medical": 0.07,
    "education": 0.20,
    "small_business": 0.27,
    "other": 0.08,
}
BUGGY_INPUT = "payment_to_income"
BUG_FACTOR = 100.0


@dataclass
class Day:
    """One simulated day: what was served and which alerts `keel monitor` sent for it."""

    day: int
    date: str
    rows: int
    failed: int
    drifted: bool
    buggy: bool
    statuses: dict[str, str] = field(default_factory=dict)  # practice -> status
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (practice, cause)


def say(text: str, quiet: bool = False) -> None:
    if not quiet:
        print(text, flush=True)


def keel(*args: str, quiet: bool = False) -> None:
    """Run a keel command as a user would; exit when it fails."""
    say("$ keel " + " ".join(args), quiet)
    proc = subprocess.run([*KEEL, *args], check=False, capture_output=quiet, text=True)
    if proc.returncode != 0:
        detail = f"\n{proc.stdout}{proc.stderr}" if quiet else ""
        raise SystemExit(f"`keel {' '.join(args)}` exited {proc.returncode}{detail}")


def prepare(folder: Path, data_rows: int | None = None) -> Path:
    """A fresh copy of the example in `folder` (its code, schema and keel.toml; no state), with
    one-day monitor windows; its data are the example's own, or `data_rows` generated anew."""
    if folder.exists():
        shutil.rmtree(folder)
    state = (".keel*", "labels.parquet", "__pycache__", ".pytest_cache")
    ignore = shutil.ignore_patterns(*state, *(("data",) if data_rows is not None else ()))
    shutil.copytree(HERE, folder, ignore=ignore)
    if data_rows is not None or not (folder / "data" / "train.parquet").is_file():
        from generate import write

        write(folder / "data", rows=data_rows or 60_000)
    config = folder / "keel.toml"
    text = config.read_text(encoding="utf-8")
    window = '# Added by monitor_demo.py: one monitor window per simulated day.\nwindow = "1d"\n'
    if "\n[monitor]\n" in text:  # the example has its own [monitor] keys: add the window
        text = text.replace("\n[monitor]\n", "\n[monitor]\n" + window, 1)
    else:
        text += "\n[monitor]\n" + window
    config.write_text(text, encoding="utf-8")
    return folder


def drifted(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The applicants after the change: incomes 1.6 times higher, another mix of purposes."""
    out = frame.copy()
    out["income"] = (out["income"] * INCOME_FACTOR).round(-2)
    rng = np.random.default_rng(10_000 + seed)
    names = list(DRIFTED_PURPOSES)
    shares = np.array(list(DRIFTED_PURPOSES.values()))
    out["purpose"] = np.array(names, dtype=object)[
        rng.choice(len(names), size=len(out), p=shares / shares.sum())
    ]
    return out


class _BuggyFeatures:
    """The served model with a bug in its feature step: `payment_to_income` × 100 (a unit
    mix-up: a percentage where training used a share)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        python = copy.copy(model.unwrap_python_model())
        build = python.build

        def buggy(raw: pd.DataFrame) -> pd.DataFrame:
            inputs = build(raw)
            inputs[BUGGY_INPUT] = inputs[BUGGY_INPUT] * BUG_FACTOR
            return inputs

        python.build = buggy
        self._python = python

    def unwrap_python_model(self) -> Any:
        return self._python

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        return self._python.predict(None, rows)


def holders(parts: dict[str, Any]) -> tuple[Any, Any]:
    """(the champion as trained, the champion with the feature bug), each a started holder."""
    from keel.serve.models import ModelHolder, registry_calls

    calls = registry_calls(parts["ref"])
    healthy = ModelHolder(calls, warm=parts["warm"])
    healthy.start()
    buggy = ModelHolder(
        dataclasses.replace(calls, load=lambda v: _BuggyFeatures(calls.load(v))),
        warm=parts["warm"],
    )
    buggy.start()
    return healthy, buggy


def day_clock(start: datetime, step_seconds: float = 20.0) -> Callable[[], datetime]:
    """A clock in one simulated day: 08:00, then `step_seconds` later at every reading."""
    ticks = itertools.count()
    return lambda: start + timedelta(hours=8, seconds=step_seconds * next(ticks))


def serve_day(parts: dict[str, Any], holder: Any, clock: Callable[[], datetime], frame: Any):
    """Serve `frame` through the real app on a real uvicorn server; (answered, failed)."""
    import uvicorn

    from keel.log.writer import PredictionLog
    from keel.serve.app import create_app

    log = PredictionLog(parts["log_folder"], durability=parts["serve"].durability)
    settings = dataclasses.replace(parts["settings"], clock=clock)
    app = create_app(parts["schema"], holder, log, settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise SystemExit("the simulated day's server did not start")
            time.sleep(0.02)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return send(url, frame, batch=25, concurrency=2)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        log.close()  # closed segments: the monitor rolls and takes them


def monitor_day(folder: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """One `keel monitor` pass: (status per monitoring practice, alerts sent (practice, cause))."""
    from keel.cli.monitor import run_monitor
    from keel.rubric import MONITORING

    result, deliveries, _ = run_monitor(folder)
    statuses = {e.practice: e.status for e in result.evidence if e.practice in MONITORING}
    return statuses, [(d.alert.practice, d.alert.cause) for d in deliveries]


def simulate(
    folder: Path,
    *,
    days: int = 30,
    drift_day: int = 20,
    skew_day: int = 25,
    rows: int = 400,
    data_rows: int | None = None,
    quiet: bool = False,
) -> list[Day]:
    """The whole story on a fresh copy of the example in `folder`; the days, in order."""
    from keel.cli.serve import server_parts

    prepare(folder, data_rows)
    say(f"\n== a copy of the example in {folder}, [monitor] window = 1d", quiet)
    keel("train", str(folder), quiet=quiet)
    keel("promote", "1", str(folder), quiet=quiet)
    parts = server_parts(folder)
    with threadpool_limits(1):  # as `keel serve` pins its workers: two shared cores
        return _days(folder, parts, days, drift_day, skew_day, rows, quiet)


def _days(
    folder: Path,
    parts: dict[str, Any],
    days: int,
    drift_day: int,
    skew_day: int,
    rows: int,
    quiet: bool,
) -> list[Day]:
    healthy, buggy = holders(parts)
    labels = folder / "data" / "labels.parquet"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days)
    out = []
    say(f"\n== {days} days of traffic from {first.date()}, {rows} applications a day", quiet)
    for d in range(1, days + 1):
        start = first + timedelta(days=d - 1)
        frame = applications(rows, seed=1000 + d)
        if d >= drift_day:
            frame = drifted(frame, d)
        holder = buggy if d >= skew_day else healthy
        began = time.perf_counter()
        answered, failed = serve_day(parts, holder, day_clock(start), frame)
        write_labels(labels, frame)
        served = time.perf_counter()
        statuses, alerts = monitor_day(folder)
        day = Day(d, str(start.date()), answered, failed, d >= drift_day, d >= skew_day)
        day.statuses, day.alerts = statuses, alerts
        out.append(day)
        say(
            f"day {d:>2} {day.date}: {answered} rows served in {served - began:.1f} s, "
            f"monitored in {time.perf_counter() - served:.1f} s; "
            + (_alert_text(day) or "no alert"),
            quiet,
        )
    return out


def _alert_text(day: Day) -> str:
    """ "monitor.3: drift:income, drift:purpose; monitor.7: fail" (one alert per cause)."""
    causes: dict[str, list[str]] = {}
    for practice, cause in day.alerts:
        causes.setdefault(practice, []).append(cause)
    return "; ".join(f"{p}: {', '.join(c)}" for p, c in causes.items())


def verdict(days: list[Day], drift_day: int, skew_day: int) -> list[str]:
    """What the run got wrong (empty: the alerts fired on the planted days and not before)."""
    problems = []
    early = [(d.day, p, c) for d in days if d.day < drift_day for p, c in d.alerts if p in PLANTED]
    if early:
        problems.append(
            "alerts before the drift day: " + ", ".join(f"day {n} {p} ({c})" for n, p, c in early)
        )

    def on(day: int, prefix: str) -> bool:
        return any(
            d.day in (day, day + 1) and p == "monitor.3" and c.startswith(prefix)
            for d in days
            for p, c in d.alerts
        )

    if not on(drift_day, "drift:"):
        problems.append(f"no monitor.3 drift alert on day {drift_day} or {drift_day + 1}")
    if not on(skew_day, "skew:"):
        problems.append(f"no monitor.3 per-example skew alert on day {skew_day} or {skew_day + 1}")
    if any(d.failed for d in days):
        problems.append("some requests failed")
    return problems


def table(days: list[Day]) -> str:
    """The day-by-day table: rows served, what changed, the alerts sent."""
    lines = [f"{'day':>3}  {'date':<10}  {'rows':>5}  {'traffic':<14}  alerts sent"]
    for d in days:
        what = "drift+bug" if d.buggy and d.drifted else "bug" if d.buggy else ""
        what = what or ("drift" if d.drifted else "as trained")
        lines.append(f"{d.day:>3}  {d.date:<10}  {d.rows:>5}  {what:<14}  {_alert_text(d) or '-'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="simulated days")
    parser.add_argument("--drift-day", type=int, default=20, help="first day with drift")
    parser.add_argument("--skew-day", type=int, default=25, help="first day with the bug")
    parser.add_argument("--rows", type=int, default=400, help="applications per day")
    parser.add_argument("--folder", type=Path, default=FOLDER, help="where the copy goes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    days = simulate(
        args.folder,
        days=args.days,
        drift_day=args.drift_day,
        skew_day=args.skew_day,
        rows=args.rows,
    )
    print("\n== the alerts, day by day\n" + table(days), flush=True)
    page = args.folder / "monitor-dashboard.html"
    print("\n== the monitoring dashboard", flush=True)
    subprocess.run(
        [*KEEL, "monitor", str(args.folder), "--html", str(page)], check=False
    )  # exits 1: monitor.3 fails on the newest day, as it should
    print(f"the dashboard: {page}")
    print(f"the simulation took {time.perf_counter() - started:.0f} s", flush=True)
    problems = verdict(days, args.drift_day, args.skew_day)
    if problems:
        raise SystemExit("the planted problems were not caught as expected: " + "; ".join(problems))
    print(
        f"as planted: no monitor.2/monitor.3 alert before day {args.drift_day}, drift seen on "
        f"day {next(d.day for d in days for p, c in d.alerts if c.startswith('drift:'))}, "
        f"per-example skew on day "
        f"{next(d.day for d in days for p, c in d.alerts if c.startswith('skew:'))}"
    )


if __name__ == "__main__":
    main()
