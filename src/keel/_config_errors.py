"""keel.toml's validation errors as one line each: the file, `[section] key`, the value given
and what was expected; a numeric limit out of its range names the range."""

from __future__ import annotations

import re
from typing import Any

_USERINFO = re.compile(r"(://)[^/@?#\s]*@")
_QUERY = re.compile(r"(://[^?#\s]*)\?\S*")


def _where(loc: tuple[Any, ...]) -> str:
    """`[section] key` for a pydantic error location."""
    parts = [str(p) for p in loc]
    if not parts:
        return "(top level)"
    if parts[0] == "attest" and len(parts) > 1:
        head, rest = f'[attest."{parts[1]}"]', parts[2:]
    else:
        head, rest = f"[{parts[0]}]", parts[1:]
    return head + (" " + ".".join(rest) if rest else "")


def _show(value: Any) -> str:
    if isinstance(value, str):  # a URL's user-info and query may hold credentials: never shown
        return '"' + _QUERY.sub(r"\1?***", _USERINFO.sub(r"\1***@", value)) + '"'
    if isinstance(value, dict | list) and len(repr(value)) > 60:
        return type(value).__name__
    return repr(value)


_BOUNDS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "finite_number",
    "int_parsing_size",
}


def _field(loc: tuple[Any, ...], root: Any) -> Any:
    """The pydantic field a `[section] key` location of model `root` names, or None."""
    model: Any = root
    found = None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not isinstance(part, str) or fields is None or part not in fields:
            return None
        found = fields[part]
        model = found.annotation
    return found


def range_of(loc: tuple[Any, ...], root: Any) -> str | None:
    """The range a numeric key accepts, as "[0, 1)", "(0, 600]" or "> 0"; None when the key
    has no bounds."""
    field = _field(loc, root)
    if field is None:
        return None
    low = high = None
    for bound in field.metadata:
        for name, bracket in (("gt", "("), ("ge", "[")):
            if getattr(bound, name, None) is not None:
                low = (bracket, getattr(bound, name))
        for name, bracket in (("lt", ")"), ("le", "]")):
            if getattr(bound, name, None) is not None:
                high = (bracket, getattr(bound, name))
    if low and high:
        return f"{low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]:g}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {high[1]:g}"
    return None


def error_message(file: str, error: Any, root: Any) -> str:
    """One line for a pydantic error of keel.toml: the file, `[section] key`, the value and
    what was expected (for a bounded limit, its range)."""
    loc = tuple(error["loc"])
    msg = error["msg"].removeprefix("Value error, ")
    kind = error["type"]
    if kind in _BOUNDS:
        bounds = range_of(loc, root)
        if bounds is not None and bounds[0] in "[(":
            msg += (
                f": expected a finite value in {bounds} (outside it the limit could never "
                "fail, or never pass)"
            )
        elif bounds is not None:
            msg += f": expected a finite value {bounds}"
    if kind == "missing":
        if len(loc) == 1:
            return f"{file}: required section [{loc[0]}] is missing"
        return f"{file}: {_where(loc)}: required key is missing"
    if kind == "extra_forbidden":
        return f"{file}: {_where(loc)}: unknown key (check the spelling; see the README for keys)"
    given = error.get("input")
    if not loc and kind.startswith("value_error"):
        return f"{file}: {msg}"
    if loc and isinstance(given, dict) and kind.startswith("value_error"):
        return f"{file}: {_where(loc)}: {msg}"
    return f"{file}: {_where(loc)} = {_show(given)}: {msg}"
