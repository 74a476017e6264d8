"""Benchmark: the team view at scale (issue 23): 200 systems x 365 daily reports in PostgreSQL.

Run by hand or by `make bench`: `python benchmarks/ui.py [--systems 200] [--days 365]
[--requests 40]`. It

1. starts a throwaway PostgreSQL from Debian's packages (tests/postgres.py: initdb + pg_ctl on
   a free 127.0.0.1 port, fsync off: the data is thrown away) and migrates it (keel.ui.migrate);
2. generates realistic runs from the example's report.json (examples/credit/.keel/report.json
   when `make demo` has written it, else a report from Keel's writer with evidence by status):
   16 variants of the report with different failing practices and scores, each compressed once;
   every system gets one score report a day for `--days` days (its scores drifting, its
   champion moving every 60 days, a canary event now and then) and a monitor report a week,
   and every report its 28 practice_results rows; all of it bulk-loaded with COPY;
3. starts `keel ui --db postgresql+psycopg://…` on a free loopback port and times, over HTTP
   with a read token, `--requests` requests (after 3 warm-up ones) of the overview (`/`) and
   of system pages (`/systems/NAME`, a different system each time); prints p50 and p95 and
   PASS/FAIL against the targets (overview < 300 ms, system page < 500 ms, at p95);
4. exits 1 when a target is missed. Loading takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import platform
import random
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from postgres import PostgresServer, binaries  # noqa: E402
from ui_server import UiServer  # noqa: E402

TARGETS = {"overview": 0.300, "system page": 0.500}
EXAMPLE = ROOT / "examples" / "credit" / ".keel" / "report.json"
SECTIONS = ("data", "model", "infra", "monitor")
BANDS = [(0, "research"), (1, "barely tested"), (2, "first pass"), (3, "reasonably tested"),
         (5, "strong"), (6, "exceptional")]  # fmt: skip


def base_report(path: Path | None = None) -> tuple[dict, str]:
    path = path or EXAMPLE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8")), str(path)
    from ui_reports import report

    return report(
        "credit-default"
    ), "a report from Keel's writer (run `make demo` for the example's)"


def band(final: float) -> str:
    return [name for low, name in BANDS if final >= low][-1]


def variants(base: dict, count: int, rng: random.Random) -> list[dict]:
    """`count` copies of the report with different failing practices and the score to match."""
    from keel.rubric import PRACTICE_IDS

    found = []
    for i in range(count):
        r = copy.deepcopy(base)
        failing = set(rng.sample(PRACTICE_IDS, k=i % 6))
        sections = dict.fromkeys(SECTIONS, 0.0)
        for p in r["practices"]:
            if p["id"] in failing:
                p["status"], p["points"] = "fail", 0
                p["hint"] = p["hint"] or f"make {p['id']} pass"
            elif p["status"] == "fail":
                p["status"], p["points"] = "pass", 1
            sections[p["section"]] += p["points"]
        r["score"]["sections"] = sections
        r["score"]["final"] = min(sections.values())
        r["score"]["band"]["name"] = band(r["score"]["final"])
        found.append(r)
    return found


def load(
    url: str, systems: int, days: int, rng: random.Random, report: Path | None = None
) -> tuple[int, str]:
    """Bulk-load the runs; return how many reports and which report they were made from."""
    import psycopg

    from keel.ui.store import compress

    base, source = base_report(report)
    kinds = variants(base, 16, rng)
    bodies = [compress(v) for v in kinds]
    monitor = copy.deepcopy(base)
    for p in monitor["practices"]:
        if not p["id"].startswith("monitor."):
            p.update(status="left_out", points=0, facts={}, tables=[], figures=[])
    monitor_body = compress(monitor)
    start = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.UTC)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    report_id = 0
    with psycopg.connect(conninfo) as c:
        now = dt.datetime.now(dt.UTC)
        with c.cursor().copy("COPY systems (id, name, team, owner, created_at) FROM STDIN") as cp:
            for s in range(1, systems + 1):
                cp.write_row((s, f"system-{s:03d}", f"team-{s % 12}", f"owner-{s % 40}", now))
        latest: dict[int, tuple[int, int]] = {}
        with (
            c.cursor().copy(
                "COPY reports (id, system_id, publish_id, kind, commit, registry_version, "
                "received_at, run_at, final, band, data, model, infra, monitor, failing, canary, "
                "canary_at, keel_version, body) FROM STDIN"
            ) as reports,
        ):
            results = []
            for s in range(1, systems + 1):
                for day in range(days):
                    report_id += 1
                    v = rng.randrange(len(kinds))
                    r = kinds[v]
                    when = start + dt.timedelta(days=day, minutes=s)
                    sec = r["score"]["sections"]
                    failing = [p["id"] for p in r["practices"] if p["status"] in ("fail", "error")]
                    canary = "canary-pass" if day % 30 == 5 else None
                    reports.write_row((
                        report_id, s, f"b{report_id}", "score", f"{rng.getrandbits(160):040x}",
                        1 + day // 60, when, when, r["score"]["final"], r["score"]["band"]["name"],
                        sec["data"], sec["model"], sec["infra"], sec["monitor"], ",".join(failing),
                        canary, when.isoformat() if canary else None, "0.1.0", bodies[v],
                    ))  # fmt: skip
                    results.append((report_id, s, v, when))
                    latest[s] = (report_id, latest.get(s, (0, None))[1])
                    if day % 7 == 6:
                        report_id += 1
                        reports.write_row((
                            report_id, s, f"b{report_id}", "monitor", None, 1 + day // 60, when,
                            when + dt.timedelta(hours=1), monitor["score"]["final"],
                            monitor["score"]["band"]["name"], 0, 0, 0, 0, "", None, None,
                            "0.1.0", monitor_body,
                        ))  # fmt: skip
                        latest[s] = (latest[s][0], report_id)
        with c.cursor().copy(
            "COPY practice_results (report_id, system_id, practice, status, summary, hint, "
            "run_at) FROM STDIN"
        ) as cp:
            for rid, s, v, when in results:
                for p in kinds[v]["practices"]:
                    cp.write_row((rid, s, p["id"], p["status"], p["summary"], p["hint"], when))
        with c.cursor() as cur:
            for s, (score_id, monitor_id) in latest.items():
                cur.execute(
                    "UPDATE systems SET latest_score_id = %s, latest_monitor_id = %s WHERE id = %s",
                    (score_id, monitor_id, s),
                )
            for table in ("systems", "reports", "practice_results"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        c.commit()
        c.autocommit = True
        c.execute("VACUUM ANALYZE")
    return report_id, source


def timed(url: str, token: str, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            assert response.status == 200
        times.append(time.perf_counter() - began)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--report", type=Path, help="report.json to make the runs from")
    args = parser.parse_args()
    folder = binaries()
    if folder is None:
        print("no PostgreSQL under /usr/lib/postgresql: apt-get install postgresql")
        return 2
    from keel.ui.db import open_engine
    from keel.ui.migrate import upgrade

    rng = random.Random(23)
    pg = PostgresServer(folder, fast=True).start()
    server = None
    try:
        url = pg.database()
        engine = open_engine(url)
        upgrade(engine)
        engine.dispose()
        began = time.perf_counter()
        count, source = load(url, args.systems, args.days, rng, args.report)
        loaded = time.perf_counter() - began
        server = UiServer(url).start()
        token = server.token("read", "bench")
        timed(server.url, token, ["/", "/systems/system-001", "/"])  # warm-up
        n = args.requests
        results = {
            "overview": timed(server.url, token, ["/"] * n),
            "system page": timed(
                server.url, token,
                [f"/systems/system-{1 + rng.randrange(args.systems):03d}" for _ in range(n)],
            ),
        }  # fmt: skip
    finally:
        if server is not None:
            server.stop()
        pg.stop()
    print(f"# keel ui benchmark, {dt.date.today()}, {platform.node()} ({platform.machine()}, "
          f"Python {platform.python_version()})")  # fmt: skip
    print(f"{args.systems} systems x {args.days} daily score reports (+ weekly monitor reports): "
          f"{count:,} reports, {args.systems * args.days * 28:,} practice rows, from {source}; "
          f"loaded in {loaded:.0f} s")  # fmt: skip
    print("\n| page | requests | p50 | p95 | target (p95) | verdict |")
    print("| --- | --- | --- | --- | --- | --- |")
    failed = False
    for name, times in results.items():
        p50 = statistics.median(times)
        p95 = sorted(times)[max(0, int(round(0.95 * len(times))) - 1)]
        ok = p95 < TARGETS[name]
        failed |= not ok
        print(f"| {name} | {len(times)} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | "
              f"< {TARGETS[name] * 1000:.0f} ms | {'PASS' if ok else 'FAIL'} |")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
