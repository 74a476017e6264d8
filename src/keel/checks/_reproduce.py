"""infra.1's two trainings from the same inputs as tables, a chart and facts for its evidence,
and how to remove each cause of a difference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel.evidence import BarChart, Table
from keel.model.reproduce import bin_beyond

if TYPE_CHECKING:
    from keel.config import ReproducibilitySection
    from keel.model.reproduce import Reproduction


def reproduction_tables(
    found: Reproduction, cfg: ReproducibilitySection, metric: str
) -> list[Table]:
    """The differences against their limits, both runs side by side, the random_state
    parameters of the fitted model and the thread settings of both processes."""
    first, second = found.runs
    runs = Table(
        "Two trainings from the same inputs, each in a fresh process",
        ["measure", "first", "second"],
        [
            ["training rows (seeded sample)", first.rows, second.rows],
            ["evaluation rows predicted", first.eval_rows, second.eval_rows],
            [metric, first.metric, second.metric],
            ["training seconds", first.seconds, second.seconds],
        ],
    )
    comparison = Table(
        "Differences between the two trainings",
        ["measure", "value", "limit"],
        [
            [
                "largest |prediction difference|",
                found.max_difference,
                cfg.max_prediction_difference,
            ],
            [
                "share of rows differing beyond the limit",
                found.differing_share,
                0.0,
            ],
            [f"{metric} difference", found.metric_difference, cfg.max_metric_difference],
        ],
    )
    states = sorted(set(first.random_states) | set(second.random_states))
    seeds = Table(
        f"random_state parameters of the fitted model ([model] seed = {found.seed})",
        ["parameter", "value", "verdict"],
        [
            [
                name,
                first.random_states.get(name),
                "unseeded"
                if first.random_states.get(name) is None
                else (
                    "the configured seed"
                    if first.random_states.get(name) == found.seed
                    else "a seed other than [model] seed"
                ),
            ]
            for name in states
        ],
    )
    settings = sorted(set(first.threads) | set(second.threads))
    threads = Table(
        "Thread settings of the two processes",
        ["setting", "first", "second"],
        [[k, first.threads.get(k), second.threads.get(k)] for k in settings],
    )
    return [comparison, runs, seeds, threads]


def differences_chart(found: Reproduction, limit: float) -> BarChart:
    """The share of evaluation rows by how much their two predictions differ."""
    return BarChart(
        "Evaluation rows by |difference| of their two predictions",
        list(found.bins),
        list(found.bins.values()),
        x_label="share of evaluation rows",
        flagged=[bin_beyond(label, limit) and share > 0 for label, share in found.bins.items()],
    )


def reproduction_facts(found: Reproduction, metric: str) -> dict[str, Any]:
    """The differences, the sizes and time of the runs, and the causes and risks found."""
    first = found.runs[0]
    return {
        "metric": metric,
        "max_difference": found.max_difference,
        "differing_share": found.differing_share,
        "metric_difference": found.metric_difference,
        "train_rows": first.rows,
        "eval_rows": first.eval_rows,
        "seconds": found.seconds,
        "causes": "; ".join(found.causes),
        "risks": "; ".join(found.risks),
        "bounded": getattr(found, "bounded", ""),
    }


def cause_hints(found: Reproduction, train: str) -> list[str]:
    """How to remove each cause of a difference between the two trainings, in order."""
    hints = []
    for cause in found.causes:
        if cause.startswith("unseeded"):
            hints.append(
                f'Pass the seed argument of [model] train = "{train}" on to every estimator: '
                "random_state=seed (the parameters listed as unseeded)."
            )
        elif cause.startswith("the training function does not pass"):
            hints.append(
                f"Use the seed argument ([model] seed = {found.seed}) as random_state instead "
                "of a constant, so the seed Keel and your team record is the one used."
            )
        elif cause.startswith("thread"):
            hints.append(
                "Fix the thread counts where training runs (OMP_NUM_THREADS, or "
                "threadpoolctl.threadpool_limits) so every training sums in the same order."
            )
        else:
            hints.append(
                "Seed every source of randomness in the training code from the seed argument "
                "(numpy.random.default_rng(seed), random.Random(seed)), sort rows and sets "
                "before use, then rerun `keel score --only infra.1`."
            )
    return hints
