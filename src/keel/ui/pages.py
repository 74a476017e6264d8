"""Rendering the team view's pages: Jinja2 templates in `templates/`, autoescaped.

Every value reaches the page through the templates with autoescape on; the only markup passed
through is the SVG the chart builders produce (`keel.report.svg`, `keel.report.lines`,
`keel.ui.charts`), which escape their own text. The pages load nothing from elsewhere and run
no script.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlencode

import jinja2


@cache
def environment() -> jinja2.Environment:
    """The page templates' environment: autoescaped for every template, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("keel.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["query"] = _query
    env.filters["signed"] = _signed
    return env


def render(template: str, **context: Any) -> str:
    """The page `template` rendered with `context`."""
    return environment().get_template(template).render(**context)


def _query(params: dict[str, Any]) -> str:
    """`?a=1&b=2` for the non-empty parameters (a shareable link), '' when none."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def _signed(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "±0"
    return f"{'+' if value > 0 else '−'}{abs(value):g}"
