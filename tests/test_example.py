"""End to end: the `keel` command on the bundled example system, reading the written reports."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "credit"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def example_data():
    if not (EXAMPLE / "data" / "train.parquet").exists():
        subprocess.run(
            [sys.executable, str(EXAMPLE / "generate.py"), "--out", str(EXAMPLE / "data")],
            check=True,
        )
    return EXAMPLE / "data"


@pytest.fixture(scope="module")
def checkout(example_data, tmp_path_factory):
    """A fresh checkout of the example: its files and data, no registry, log or monitor state
    (`make demo` fills the example's own); the check cache is copied when there is one, so a
    model trained before is reused."""
    folder = tmp_path_factory.mktemp("checkout") / "credit"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".keel*", "labels.parquet"))
    if (EXAMPLE / ".keel" / "cache").is_dir():
        shutil.copytree(EXAMPLE / ".keel" / "cache", folder / ".keel" / "cache")
    return folder


@pytest.fixture(scope="module")
def scored(checkout, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    proc = subprocess.run(
        [sys.executable, "-m", "keel", "score", str(checkout), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return proc, out


def test_keel_score_on_the_example_prints_the_table_and_exits_0(scored):
    proc, _ = scored
    assert proc.returncode == 0, proc.stderr
    assert "credit-default" in proc.stdout
    for practice in ("model.5", "model.6", "model.7", "monitor.7"):
        assert practice in proc.stdout
    assert "Traceback" not in proc.stderr


def test_example_report_json_holds_real_evidence(scored):
    _, out = scored
    report = json.loads((out / "report.json").read_text())
    assert report["system"]["name"] == "credit-default"
    practices = {p["id"]: p for p in report["practices"]}
    assert len(practices) == 28
    # the gradient-boosted model beats every simple baseline on the example
    assert practices["model.5"]["status"] == "pass"
    # one region of the example is genuinely harder: the slice check finds it
    assert practices["model.6"]["status"] == "fail"
    assert "region" in practices["model.6"]["summary"]
    # gender is drawn independently of every input: no proxy, parity holds
    assert practices["model.7"]["status"] == "pass"
    # the copy is outside the repository: no git history to read for model.1
    assert practices["model.1"]["status"] == "not_configured"
    # the example ships a reviewed schema, PII dropped, tested feature code: every data check holds
    assert {p: practices[p]["status"] for p in practices if p.startswith("data.")} == {
        f"data.{i}": "pass" for i in range(1, 8)
    }
    for practice in ("infra.1", "infra.2", "infra.3", "infra.5", "model.3", "model.4"):
        assert practices[practice]["status"] == "pass", practices[practice]["summary"]
    # nothing serves on a fresh checkout: the serving and monitoring checks say what to run
    assert practices["infra.6"]["status"] == "fail"
    assert "keel canary start" in practices["infra.6"]["hint"]
    # nothing has been promoted through the gate on a fresh checkout: infra.4 says what to do
    assert practices["infra.4"]["status"] == "fail"
    assert "keel promote" in practices["infra.4"]["hint"]
    # no rollback drill is recorded on a fresh checkout either
    assert practices["infra.7"]["status"] == "fail"
    assert "keel drill rollback" in practices["infra.7"]["hint"]
    assert report["score"]["final"] == min(report["score"]["sections"].values())


def test_example_junit_has_one_case_per_practice(scored):
    _, out = scored
    root = ET.parse(out / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 28
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert any(name.startswith("model.6") for name in failed)


def test_example_html_report_is_self_contained(scored):
    _, out = scored
    html = (out / "report.html").read_text()
    assert "credit-default" in html
    assert "http://" not in html.split("<body", 1)[1].replace("http://www.w3.org", "")


def test_second_run_reuses_the_trained_model(scored, checkout, tmp_path):
    cached = {p: p.stat().st_mtime_ns for p in (checkout / ".keel" / "cache").glob("trained-*")}
    assert cached
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "keel",
            "score",
            str(checkout),
            "--out",
            str(tmp_path),
            "--only",
            "model.5",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    first = json.loads((scored[1] / "report.json").read_text())
    again = json.loads((tmp_path / "report.json").read_text())

    def facts(report):
        found = next(p for p in report["practices"] if p["id"] == "model.5")["facts"]
        return {k: v for k, v in found.items() if k != "reused_from_cache"}

    assert facts(again) == facts(first)
    assert next(p for p in again["practices"] if p["id"] == "model.5")["facts"]["reused_from_cache"]
    assert {p: p.stat().st_mtime_ns for p in cached} == cached  # read, not rewritten
