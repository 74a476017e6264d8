"""report.html: self-contained, complete, escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from keel import rubric
from keel.report.html import MAX_TABLE_ROWS, render_html, write_html

# Attributes that make a browser fetch or navigate, and CSS that does.
URL_ATTRIBUTE = re.compile(
    r"""\b(?:src|href|xlink:href|action|formaction|poster|srcset|data)\s*=\s*(["']?)([^"'\s>]*)\1""",
    re.IGNORECASE,
)
CSS_URL = re.compile(r"url\(\s*([^)]*)\)", re.IGNORECASE)
CSS_IMPORT = re.compile(r"@import", re.IGNORECASE)


def _local(target: str) -> bool:
    return target.startswith("#") or target.lower().startswith("data:")


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of the document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def test_html_holds_no_external_url(run_result):
    page = render_html(run_result)
    targets = [m.group(2) for m in URL_ATTRIBUTE.finditer(page)]
    assert targets, "the page should at least link to its own anchors"
    assert [t for t in targets if not _local(t)] == []
    assert [u for u in CSS_URL.findall(page) if not _local(u.strip("'\" "))] == []
    assert not CSS_IMPORT.search(page)


def test_html_has_no_tag_that_fetches_anything(run_result):
    tags = _parse(render_html(run_result)).tags
    names = {name for name, _ in tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "link", "base", "form"}
    for name, attrs in tags:
        for key, value in attrs.items():
            assert "://" not in (value or ""), f"<{name} {key}={value!r}> points outside the page"


def test_html_holds_every_practice_with_an_anchor(run_result):
    page = render_html(run_result)
    tags = _parse(page).tags
    ids = {attrs.get("id") for _, attrs in tags}
    links = {attrs.get("href") for name, attrs in tags if name == "a"}
    for practice in rubric.PRACTICE_IDS:
        anchor = practice.replace(".", "-")
        assert practice in page
        assert anchor in ids
        assert f"#{anchor}" in links
    assert set(rubric.SECTIONS) <= ids


def test_html_shows_the_final_score_its_band_and_the_literal_count(run_result):
    page = render_html(run_result)
    assert '<span id="final-score">3.5</span>' in page
    assert "strong" in page
    assert run_result.score.band.meaning in page
    assert "literal count: <strong>4.5</strong>" in page
    assert "Keel counts a practice only when its check passes" in page


def test_html_has_a_title_and_a_language(run_result):
    page = render_html(run_result)
    assert page.startswith("<!doctype html>")
    assert '<html lang="en">' in page
    assert re.search(r"<title>Keel report: credit-default \(ML Test Score 3.5\)</title>", page)
    assert '<meta charset="utf-8">' in page


def test_evidence_text_is_escaped(run_result, evidence_of):
    evidence = evidence_of(run_result, "data.4")
    evidence.summary = "<script>alert('owned')</script>"
    evidence.thresholds = {"<b>key</b>": "<img src=x onerror=alert(1)>"}
    evidence_of(run_result, "data.2").figures[0].labels[0] = "<script>bad()</script>"
    page = render_html(run_result)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    assert "&lt;b&gt;key&lt;/b&gt;" in page
    assert "<script>alert('owned')</script>" in "".join(_parse(page).text)


def test_urls_in_evidence_show_as_text_not_links(run_result, evidence_of):
    url = evidence_of(run_result, "model.2").facts["evidence"]
    assert url.startswith("https://")
    page = render_html(run_result)
    assert url in "".join(_parse(page).text)
    hrefs = [attrs.get("href") for name, attrs in _parse(page).tags if name == "a"]
    assert all(h and h.startswith("#") for h in hrefs)


def test_long_tables_are_cut_and_say_so(run_result):
    page = render_html(run_result)
    assert "A-00199" in page
    assert "A-00200" not in page
    assert f"Showing the first {MAX_TABLE_ROWS} of 250 rows" in page
    assert "(250 rows, first 200 shown)" in page


def test_nan_cells_show_as_nan(run_result):
    page = render_html(run_result)
    assert re.search(
        r"<td>age_band=18-25</td><td class=\"num\">150</td><td class=\"num\">NaN</td>", page
    )


def test_hints_show_for_practices_that_need_work_only(run_result, evidence_of):
    evidence_of(run_result, "data.1").hint = "PASSING-HINT"
    evidence_of(run_result, "data.6").hint = "ATTESTED-HINT"
    page = render_html(run_result)
    for practice in ("data.2", "data.3", "data.5"):
        assert evidence_of(run_result, practice).hint in page
    assert "PASSING-HINT" not in page
    assert "ATTESTED-HINT" not in page


def test_every_figure_is_an_inline_svg(run_result):
    page = render_html(run_result)
    figures = sum(len(e.figures) for e in run_result.evidence)
    assert page.count("<svg") == figures + 1  # plus the section score chart
    assert "Permutation importance (drop in roc_auc)" in page


def test_partial_run_says_how_many_practices_ran(run_result):
    run_result.selected = ["data.1", "data.2"]
    assert "This run checked 2 of the 28 practices" in render_html(run_result)


def test_full_run_has_no_partial_run_note(run_result):
    assert "This run checked" not in render_html(run_result)


def test_report_stays_small(run_result, tmp_path):
    path = write_html(run_result, tmp_path / "report.html")
    assert path.stat().st_size < 150_000


def test_unknown_practice_id_is_refused_with_the_id(run_result):
    run_result.evidence[0].practice = "data.9"
    with pytest.raises(ValueError, match="Got 'data.9' instead"):
        render_html(run_result)


def _selftest_file(folder, key):
    import json

    (folder / ".keel").mkdir(parents=True, exist_ok=True)
    practices = {
        "data.2": {"verdict": "caught", "reason": ""},
        "model.6": {"verdict": "weak", "reason": "a corrupted slice: too few rows in the slice"},
    }
    data = {"system_key": key, "practices": practices}
    (folder / ".keel" / "selftest.json").write_text(json.dumps(data))


def test_a_fresh_selftest_shows_beside_each_practice_it_proved(run_result, tmp_path):
    run_result.root, run_result.system_key = str(tmp_path), "k1"
    _selftest_file(tmp_path, "k1")
    page = render_html(run_result)
    assert "<strong>selftest:</strong> caught</p>" in page
    assert "selftest:</strong> weak (a corrupted slice: too few rows in the slice)" in page
    assert page.count("<strong>selftest:</strong>") == 2


def test_a_selftest_of_another_system_state_is_not_shown(run_result, tmp_path):
    run_result.root, run_result.system_key = str(tmp_path), "k2"
    _selftest_file(tmp_path, "k1")
    assert "selftest:" not in render_html(run_result)
