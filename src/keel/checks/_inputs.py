"""What each model input brings, costs, and what adding one takes, as data.2, data.3 and data.6
show it in their evidence."""

from __future__ import annotations

from keel.model.importance import InputImportance, Lofo


def input_verdict(found: InputImportance, lofo: Lofo | None) -> str:
    name = found.input
    if not found.resolved:
        return f"not measured alone: shuffled with {found.group - 1} others, the group helps"
    problems = [] if found.above_noise else ["not above noise"]
    if found.group > 1:
        problems = [f"not above noise (shuffled with {found.group - 1} others: none helps)"]
    if lofo is not None and lofo.verdict(name) == "harmful":
        problems.append("removal improves the model beyond retraining noise")
    if not problems and lofo is not None and lofo.verdict(name) == "redundant":
        return "beneficial (redundant with the other inputs when retrained)"
    return ", ".join(problems) or "beneficial"
