"""Which inputs data.2 and data.3 may advise dropping, and the retraining that proves it.

Advice to drop inputs is given only for a set the model was retrained without, with quality
held within [importance] max_drop (`keel.model.droppable`). The set holds the inputs that show
no effect when shuffled alone, with their correlated group and with each other; the inputs
leave-one-feature-out retraining (`--deep`) found harmful; and the weaker input of each
near-duplicate pair. When the whole set loses quality, the set without the near-duplicates is
tried once more, so a needed duplicate does not keep useless inputs from being named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keel.checks._measure_data import check_drop, search_droppable
from keel.model.droppable import DropCheck, DropSearch
from keel.model.importance import Importance, Lofo
from keel.system import System


@dataclass
class DropAdvice:
    """The inputs Keel would advise dropping, and whether retraining without them held."""

    search: DropSearch
    harmful: list[str] = field(default_factory=list)  # above noise, but LOFO says drop them
    duplicates: dict[str, str] = field(default_factory=dict)  # dropped: the one kept instead
    check: DropCheck | None = None  # the retraining without `advised` (None: nothing to drop)
    without_duplicates: bool = False  # the whole set lost quality; checked without duplicates

    @property
    def useless(self) -> list[str]:
        """The inputs judged not to help: no effect shuffled, or harmful by LOFO."""
        return self.search.droppable + self.harmful

    @property
    def advised(self) -> list[str]:
        """The inputs the retraining left out."""
        if self.without_duplicates:
            return self.useless
        return self.useless + list(self.duplicates)

    @property
    def holds(self) -> bool:
        """Dropping `advised` was verified to keep quality within [importance] max_drop."""
        return self.check is not None and self.check.holds


def weaker_duplicates(importance: Importance, dropped: set[str]) -> dict[str, str]:
    """For each near-duplicate pair (strongest first) neither of whose members is dropped
    already, its member of lower importance (the second on a tie): the other one."""
    mean = {i.input: i.mean for i in importance.inputs}
    found: dict[str, str] = {}
    for d in importance.duplicates:
        if {d.first, d.second} & (dropped | set(found)):
            continue
        weaker, kept = (
            (d.first, d.second) if mean[d.first] < mean[d.second] else (d.second, d.first)
        )
        found[weaker] = kept
    return found


def drop_advice(system: System, importance: Importance, lofo: Lofo | None) -> DropAdvice:
    """The drop set of the module docstring, retrained without (cached: data.2 and data.3 ask
    for the same)."""
    search = search_droppable(system)
    strong = {i.input for i in importance.inputs if i.above_noise and i.group == 1}
    harmful = [
        name for name in sorted(strong) if lofo is not None and lofo.verdict(name) == "harmful"
    ]
    advice = DropAdvice(search, harmful)
    advice.duplicates = weaker_duplicates(importance, set(advice.useless))
    if not advice.advised:
        return advice
    advice.check = check_drop(system, advice.advised)
    if advice.check.verified and not advice.check.holds and advice.duplicates and advice.useless:
        advice.without_duplicates = True
        advice.check = check_drop(system, advice.advised)
    return advice


def benefit_shares(importance: Importance, search: DropSearch) -> dict[str, float]:
    """Each input's share of the total positive importance, an input kept for its correlated
    group holding at least an equal part of the group's drop (its own shuffle hides it)."""
    positive = {i.input: max(i.mean, 0.0) / i.group for i in importance.inputs}
    for name in search.group_of:
        positive[name] = max(positive[name], search.group_share(name))
    total = sum(positive.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in positive.items()}
