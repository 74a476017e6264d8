"""Personal data found in a system's columns, as data.5 reads the scanner's findings."""

from __future__ import annotations

from keel.data import pii


def one_per_column(findings: list[pii.PiiFinding]) -> list[pii.PiiFinding]:
    """The strongest finding of each column: a kind of value before a name-like column name."""
    best: dict[str, pii.PiiFinding] = {}
    for f in findings:
        seen = best.get(f.column)
        if seen is None or (seen.kind == "name_like_column" and f.kind != "name_like_column"):
            best[f.column] = f
    return list(best.values())


def to_review(f: pii.PiiFinding) -> bool:
    """A column found by its name alone, whose values do not bear the name out."""
    return f.kind == "name_like_column" and not getattr(f, "confirmed", True)


def found_in(f: pii.PiiFinding) -> str:
    if f.kind == "name_like_column":
        return "by its name" + ("" if to_review(f) else ", values vary like identifiers")
    return f"{f.matches} of the sampled values"
