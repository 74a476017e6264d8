"""How evidence writes values, for every layer that words evidence: lists of names, shares.

The checks (`keel.checks._format`) and the monitoring judgements (`keel.monitor`) both word
their evidence with these, so "a, b and 3 more" and "12.5%" read the same in every practice.
"""

from __future__ import annotations

__all__ = ["name_list", "pct"]


def name_list(names: list[str], limit: int = 5) -> str:
    """The first `limit` names, joined, and how many more there are: "a, b and 3 more"."""
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def pct(share: float) -> str:
    """A share in [0, 1] as a percentage with one decimal: "12.5%"."""
    return f"{100 * share:.1f}%"
