"""The feature policy applied to one model input (data.4): deny patterns, sensitive
attributes, and the owner and description the schema must give it."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from keel.data.schema import Schema

if TYPE_CHECKING:
    from keel.config import PolicySection


def denied(name: str, patterns: list[str]) -> str | None:
    """The first deny pattern (fnmatch, case-insensitive) that `name` matches, if any."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(name.lower(), pattern.lower()):
            return pattern
    return None


def policy_reasons(
    name: str, policy: PolicySection, sensitive: list[str], schema: Schema | None
) -> list[str]:
    """Why the model input `name` breaks the policy, one reason each; empty when it obeys."""
    reasons = []
    pattern = denied(name, policy.deny)
    if pattern:
        reasons.append(f"matches deny pattern {pattern!r}")
    if name in sensitive:
        reasons.append("is a sensitive attribute")
    if policy.require_owner:
        feature = schema.features.get(name) if schema else None
        if feature is None:
            reasons.append("is not in the schema")
        else:
            if not feature.owner.strip():
                reasons.append("has no owner")
            if not feature.description.strip():
                reasons.append("has no description")
    return reasons
