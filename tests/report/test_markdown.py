"""keel.report.markdown: the pull-request comment."""

import re

from reports_json import write_report

from keel.report.diff import compare, load_report
from keel.report.markdown import MARKER, render_markdown


def test_the_comment_starts_with_the_marker_and_shows_the_score_change(tmp_path):
    base = write_report(tmp_path / "b.json", {})
    head = write_report(tmp_path / "h.json", {"data.4": "fail", "model.1": "attested"})
    text = render_markdown(
        compare(load_report(base), load_report(head)), report_url="https://x/r", base_name="main"
    )
    lines = text.splitlines()
    assert lines[0] == MARKER == "<!-- keel-score -->"
    assert lines[1] == "### Keel: ML Test Score 6 (exceptional), −1 from main (7)"
    assert "| data | 7 | 6 | −1 |" in lines
    assert "| model | 7 | 6.5 | −0.5 |" in lines
    news = lines.index("**New failures (1)**")
    others = lines.index("**Other changes (1)**")
    assert news < others
    row = "| `data.4` Features adhere to meta-level requirements | Pass | Fail |"
    assert f"{row} data.4 is fail — fix data.4 |" in lines
    assert lines[-1] == "[HTML report](https://x/r)"


def test_no_change_says_so(tmp_path):
    base = write_report(tmp_path / "b.json", {})
    text = render_markdown(compare(load_report(base), load_report(base)))
    assert "No practice changed status." in text
    assert "HTML report" not in text


def test_without_a_base_the_comment_lists_the_failing_practices(tmp_path):
    head = write_report(tmp_path / "h.json", {"model.5": "fail"})
    text = render_markdown(compare(None, load_report(head)), report_url=".keel/report.html")
    assert "| model | 6 |" in text
    assert "**Failing (1)**" in text
    assert "[HTML report](.keel/report.html)" in text


def test_evidence_text_cannot_break_the_table(tmp_path):
    base = write_report(tmp_path / "b.json", {})
    head = write_report(tmp_path / "h.json", {"data.4": "fail"})
    found = compare(load_report(base), load_report(head))
    change = found.changes[0]
    object.__setattr__(change.after, "summary", "a | b\nc <script>")
    text = render_markdown(found)
    row = next(line for line in text.splitlines() if line.startswith("| `data.4`"))
    assert "a \\| b c &lt;script>" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # four cells: the pipe is escaped
