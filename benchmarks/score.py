"""Benchmark: `keel score` on the bundled example, first run and a second run from the cache.

Copies examples/credit (code, keel.toml, schema and generated data) to a scratch folder, runs
`keel score` there twice in fresh processes, and prints the total and per-check times of both
runs from the written report.json. Targets (issue: training side): the first full run under
3 minutes on 2 cores; the second, with nothing changed, at least 10 times faster.
Exits 1 when a target is missed.

    python benchmarks/score.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "credit"
FIRST_LIMIT_S = 180.0
SPEEDUP = 10.0


def prepare(folder: Path) -> Path:
    """A copy of the example with its data, without any cache."""
    if not (EXAMPLE / "data" / "train.parquet").exists():
        subprocess.run(
            [sys.executable, str(EXAMPLE / "generate.py"), "--out", str(EXAMPLE / "data")],
            check=True,
        )
    target = folder / "credit"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".keel", "__pycache__"))
    return target


def score(system: Path, out: Path) -> tuple[float, dict]:
    """Wall time of one `keel score` in a fresh process, and its report."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "keel", "score", str(system), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"keel score failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, json.loads((out / "report.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="keel-bench-score-"))
    try:
        system = prepare(scratch)
        first_s, first = score(system, scratch / "first")
        second_s, second = score(system, scratch / "second")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    ran = [p for p in first["practices"] if p["id"] in first["selected"]]
    automated = [p for p in ran if p["status"] != "not_configured" or p["duration_s"] > 0.01]
    again = {p["id"]: p for p in second["practices"]}
    print("| check | status | first run (s) | second run (s) |")
    print("| --- | --- | ---: | ---: |")
    for p in automated:
        print(
            f"| {p['id']} | {p['status']} | {p['duration_s']:.2f} | "
            f"{again[p['id']]['duration_s']:.2f} |"
        )
    print(f"| **total, process included** | | **{first_s:.1f}** | **{second_s:.1f}** |")
    speedup = first_s / second_s if second_s else float("inf")
    checks = [
        (first_s < FIRST_LIMIT_S, f"first full run under {FIRST_LIMIT_S:.0f} s ({first_s:.1f} s)"),
        (speedup >= SPEEDUP, f"second run at least {SPEEDUP:.0f}x faster ({speedup:.1f}x)"),
    ]
    print()
    for ok, text in checks:
        print(("PASS  " if ok else "FAIL  ") + text)
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
