"""`keel diff` and `keel score --markdown`, run in-process with Typer's CliRunner."""

import json

from reports_json import write_report
from systems import binary_frame, write_system
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()


def test_diff_prints_the_comparison_and_exits_0_even_with_new_failures(tmp_path):
    base = write_report(tmp_path / "base.json", {})
    head = write_report(tmp_path / "head.json", {"model.6": "fail"})
    result = runner.invoke(app, ["diff", str(base), str(head)])
    assert result.exit_code == 0, result.output
    assert "new failures: 1" in result.output
    assert "model.6 pass -> fail" in result.output


def test_fail_on_new_failures_exits_1_naming_them(tmp_path):
    base = write_report(tmp_path / "base.json", {"model.6": "attested", "data.1": "fail"})
    head = write_report(tmp_path / "head.json", {"model.6": "error", "data.1": "pass"})
    result = runner.invoke(app, ["diff", str(base), str(head), "--fail-on-new-failures"])
    assert result.exit_code == 1
    assert "new failures: model.6" in result.output


def test_fail_on_new_failures_exits_0_when_nothing_broke(tmp_path):
    base = write_report(tmp_path / "base.json", {"data.1": "fail"})
    head = write_report(tmp_path / "head.json", {"data.1": "not_configured"})
    result = runner.invoke(app, ["diff", str(base), str(head), "--fail-on-new-failures"])
    assert result.exit_code == 0, result.output


def test_diff_writes_the_markdown_comment(tmp_path):
    base = write_report(tmp_path / "base.json", {})
    head = write_report(tmp_path / "head.json", {"data.4": "fail"})
    out = tmp_path / "out" / "comment.md"
    args = ["diff", str(base), str(head), "--markdown", str(out), "--report-url", "http://r"]
    result = runner.invoke(app, [*args, "--base-name", "main"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith(
        "<!-- keel-score -->\n### Keel: ML Test Score 6 (exceptional), −1 from main"
    )
    assert "**New failures (1)**" in text and "[HTML report](http://r)" in text


def test_diff_of_a_file_that_is_not_a_report_exits_2_naming_it(tmp_path):
    base = write_report(tmp_path / "base.json", {})
    other = tmp_path / "package.json"
    other.write_text(json.dumps({"name": "x"}))
    result = runner.invoke(app, ["diff", str(base), str(other)])
    assert result.exit_code == 2
    assert "package.json: not a Keel report" in result.output.replace("\n", "")
    assert "Traceback" not in result.output


def test_diff_of_two_systems_exits_2(tmp_path):
    base = write_report(tmp_path / "base.json", {}, system="a")
    head = write_report(tmp_path / "head.json", {}, system="b")
    result = runner.invoke(app, ["diff", str(base), str(head)])
    assert result.exit_code == 2
    assert "same system" in result.output.replace("\n", "")


def test_score_markdown_compares_with_a_base_report_read_before_it_is_overwritten(tmp_path):
    path = write_system(
        tmp_path,
        binary_frame(300),
        binary_frame(200, seed=1),
        sections={"policy": {"deny": ["x2"]}},
    )
    report = tmp_path / ".keel" / "report.json"
    write_report(report, {"data.4": "pass"}, default="left_out")
    comment = tmp_path / "comment.md"
    args = ["score", str(path), "--only", "data.4", "--markdown", str(comment)]
    result = runner.invoke(app, [*args, "--base", str(report), "--min-score", "1"])
    assert result.exit_code == 1  # the gate still applies; the summary is written before it
    text = comment.read_text()
    assert "### Keel: ML Test Score 0 (research), ±0 from the base run (0)" in text
    assert "| data | 1 | 0 | −1 |" in text
    assert "**New failures (1)**" in text
    assert "| `data.4` Features adhere to meta-level requirements | Pass | Fail |" in text
    assert "x2 matches deny pattern 'x2'" in text
    assert text.rstrip().endswith("[HTML report](.keel/report.html)")


def test_score_base_without_markdown_is_an_error(tmp_path):
    base = write_report(tmp_path / "b.json", {})
    result = runner.invoke(app, ["score", str(tmp_path), "--base", str(base)])
    assert result.exit_code == 2
    assert "give --markdown FILE" in result.output.replace("\n", "")
