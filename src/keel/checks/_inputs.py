"""What each model input brings (data.2), what it costs (data.3), and what adding one took
(data.6), as tables, charts and facts for the evidence; the checks themselves judge."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from keel.checks._format import name_list
from keel.evidence import BarChart, Table
from keel.model.importance import GROUP_REPEATS, Importance, InputImportance, Lofo
from keel.model.trial import NEW_FEATURE_ROWS

if TYPE_CHECKING:
    from keel.checks._drop_advice import DropAdvice
    from keel.config import CostSection, ModelSection, NewFeatureSection
    from keel.model.cost import InputCost, Measured
    from keel.model.trial import Trial


# -- data.2 --------------------------------------------------------------------------------
def input_verdict(found: InputImportance, lofo: Lofo | None, advice: DropAdvice) -> str:
    """data.2's verdict on one input: "beneficial …", or why it does not (yet) count as such.

    An input that shows no effect shuffled alone is beneficial when its correlated group or
    the other weak inputs, shuffled together with it, do (`keel.model.droppable`), or when
    retraining without it loses quality; its verdict says which.
    """
    name = found.input
    if not found.resolved:
        return f"not measured alone: shuffled with {found.group - 1} others, the group helps"
    if name in advice.search.kept:
        return f"beneficial with others: {advice.search.kept[name]}"
    problems = [] if found.above_noise else ["not above noise"]
    if found.group > 1:
        problems = [f"not above noise (shuffled with {found.group - 1} others: none helps)"]
    if lofo is not None and lofo.verdict(name) == "harmful":
        problems.append("removal improves the model beyond retraining noise")
    check = advice.check
    if problems and name in advice.useless and check is not None and not advice.holds:
        if check.verified:
            return f"beneficial when retrained: no effect when shuffled, but {check.describe()}"
        problems.append("dropping it not verified")
    if not problems and lofo is not None and lofo.verdict(name) == "redundant":
        return "beneficial (redundant with the other inputs when retrained)"
    return ", ".join(problems) or "beneficial"


def importance_tables(
    importance: Importance,
    ranked: list[InputImportance],
    verdicts: dict[str, str],
    lofo: Lofo | None,
    max_correlation: float,
) -> list[Table]:
    """The permutation importance of each input (most important first), with its verdict and
    LOFO delta when measured, and the near-duplicate pairs."""
    metric = importance.metric
    columns = ["input", "importance mean", "std", "lower bound", "verdict"]
    if lofo is not None:
        columns.insert(4, "LOFO delta")
    rows = []
    for i in ranked:
        row: list[Any] = [i.input, i.mean, i.std, i.lower, verdicts[i.input]]
        if lofo is not None:
            row.insert(4, lofo.deltas.get(i.input))
        rows.append(row)
    title = (
        f"Permutation importance: drop of {metric} when an input is shuffled "
        f"({importance.rows} evaluation rows, {importance.repeats} repeats; "
        f"{metric} unshuffled {importance.baseline:.4g})"
    )
    grouped = [i for i in ranked if i.group > 1]
    if grouped:
        title += (
            f"; {len(grouped)} of {len(ranked)} inputs shuffled in groups, {GROUP_REPEATS} "
            "times each (wide model: groups that help are split until single inputs are "
            "measured)"
        )
    return [
        Table(title, columns, rows),
        Table(
            f"Near-duplicate inputs (association ≥ {max_correlation:g})",
            ["input", "input", "measure", "value"],
            [[d.first, d.second, d.measure, d.value] for d in importance.duplicates],
        ),
    ]


def importance_chart(metric: str, ranked: list[InputImportance], flagged: list[str]) -> BarChart:
    """The mean drop of the metric when each input is shuffled, flagged inputs marked."""
    return BarChart(
        f"Permutation importance ({metric} drop)",
        [i.input for i in ranked],
        [i.mean for i in ranked],
        x_label=f"mean drop of {metric}",
        reference={"no effect": 0.0},
        flagged=[i.input in flagged for i in ranked],
    )


def importance_facts(
    importance: Importance, ranked: list[InputImportance], flagged: list[str], lofo: Lofo | None
) -> dict[str, Any]:
    """data.2's facts: what was measured, how, and what was flagged."""
    grouped = [i for i in ranked if i.group > 1]
    facts: dict[str, Any] = {
        "metric": importance.metric,
        "metric_unshuffled": importance.baseline,
        "inputs_measured_alone": len(ranked) - len(grouped),
        "inputs_measured_in_groups": len(grouped),
        "inputs_not_resolved": sum(not i.resolved for i in ranked),
        "rows": importance.rows,
        "inputs": len(ranked),
        "flagged_inputs": len(flagged),
        "flagged": ", ".join(flagged),
        "near_duplicates": len(importance.duplicates),
        "strongest_input": ranked[0].input,
        "strongest_importance": ranked[0].mean,
        "lofo": lofo is not None,
    }
    if lofo is not None:
        facts.update(
            lofo_train_rows=lofo.train_rows, lofo_metric=lofo.baseline, lofo_noise=lofo.noise
        )
    return facts


def drop_tables(advice: DropAdvice, metric: str) -> list[Table]:
    """The inputs weak alone shuffled together (each correlated group, then the droppable set),
    and the retraining without the inputs Keel would advise dropping."""
    search = advice.search
    rows: list[list[Any]] = [
        [
            "correlated group",
            name_list(g.members, 8),
            g.mean,
            "helps: kept" if g.helps else "no effect",
        ]
        for g in search.groups
    ]
    if search.together is not None:
        rows.append(
            [
                "every droppable input",
                name_list(search.together.members, 8),
                search.together.mean,
                "no effect",
            ]
        )
    tables = [
        Table(
            f"Inputs not above noise alone, shuffled together (drop of {metric}); "
            f"{len(search.candidates)} candidate(s), {len(search.droppable)} droppable",
            ["shuffled", "inputs", "mean drop", "verdict"],
            rows,
        )
    ]
    check = advice.check
    if check is not None:
        tables.append(
            Table(
                f"Retrained without the inputs Keel would advise dropping (same seed, "
                f"{check.train_rows:,} training rows, {check.eval_rows:,} evaluation rows)",
                ["measure", "value"],
                [
                    ["inputs left out", name_list(check.dropped, 20)],
                    [f"{metric} with every input", check.with_all],
                    [f"{metric} without them", check.without],
                    ["loss", check.loss if check.verified else None],
                    ["[importance] max_drop", check.max_drop],
                    ["outcome", "holds" if check.holds else check.describe()],
                ],
            )
        )
    return tables


def drop_facts(advice: DropAdvice) -> dict[str, Any]:
    """data.2's facts about the drop search and the retraining that verifies the advice."""
    check = advice.check
    return {
        "weak_alone": len(advice.search.candidates),
        "kept_with_others": len(advice.search.kept),
        "droppable": ", ".join(advice.search.droppable),
        "drop_verified": bool(check and check.verified),
        "drop_holds": advice.holds,
        "drop_loss": check.loss if check and check.verified else None,
    }


# -- data.3 --------------------------------------------------------------------------------
def cost_tables(
    measured: Measured,
    costs: list[InputCost],
    cfg: CostSection,
    notes: dict[str, str] | None = None,
) -> list[Table]:
    """The cost and benefit of each input, and the totals per row against their limits;
    `notes`: the verdict of inputs costly for their benefit but not flagged, and why."""
    notes = notes or {}
    per_input = Table(
        f"Cost and benefit of each input (latency on batches of {measured.latency_rows} rows, "
        f"one thread, best of paired rounds; memory on {measured.memory_rows} rows)",
        [
            "input",
            "bytes/row",
            "memory share",
            "latency share",
            "latency timed",
            "importance share",
            "cost/benefit",
            "verdict",
        ],
        [
            [
                c.input,
                c.bytes_per_row,
                c.memory_share,
                c.latency_share,
                "alone"
                if c.latency_group == 1
                else f"with {c.latency_group - 1} others (share is an upper bound)",
                c.importance_share,
                c.ratio if math.isfinite(c.ratio) else "no benefit",
                "too costly" if c.flagged else notes.get(c.input, "ok"),
            ]
            for c in costs
        ],
    )
    feature_ms = measured.feature_ms_per_row
    totals = Table(
        "Totals per row",
        ["measure", "value", "limit"],
        [
            ["model prediction (ms/row)", measured.predict_ms_per_row, None],
            [
                "feature function, all inputs together (ms/row)",
                feature_ms if feature_ms is not None else "no feature function",
                None,
            ],
            [
                "latency: features + prediction (ms/row)",
                measured.latency_ms_per_row,
                cfg.max_latency_ms_per_row,
            ],
            ["memory (bytes/row)", measured.total_bytes_per_row, cfg.max_bytes_per_row],
        ],
    )
    return [per_input, totals]


def cost_chart(costs: list[InputCost], floor: float, floor_helps: float) -> BarChart:
    """The cost share of each input against the floors from which inputs are judged."""
    return BarChart(
        "Cost share of each input (larger of memory and latency share)",
        [c.input for c in costs],
        [c.cost_share for c in costs],
        x_label="share of the total cost",
        reference={"floor, no benefit": floor, "floor, helps": floor_helps},
        flagged=[c.flagged for c in costs],
    )


def cost_facts(measured: Measured, costs: list[InputCost], flagged: list[str]) -> dict[str, Any]:
    """data.3's facts: the totals per row, the flagged inputs, how inputs were timed."""
    return {
        "latency_ms_per_row": measured.latency_ms_per_row,
        "predict_ms_per_row": measured.predict_ms_per_row,
        "feature_ms_per_row": measured.feature_ms_per_row,
        "bytes_per_row": measured.total_bytes_per_row,
        "flagged_inputs": len(flagged),
        "flagged": ", ".join(flagged),
        "costliest_input": costs[0].input if costs else "",
        "inputs_timed_alone": sum(c.latency_group == 1 for c in costs),
        "inputs_timed_in_groups": sum(c.latency_group > 1 for c in costs),
        "note": "latency shares are approximate: the time saved when an input is held "
        "constant; the feature function's time is not attributed to single inputs",
    }


# -- data.6 --------------------------------------------------------------------------------
def trial_table(trial: Trial, name: str, metric: str) -> Table:
    """Each step of adding the raw column `name` and training with it, and its outcome."""
    done = trial.stage == "done"
    return Table(
        f"Adding the raw column {name}: {trial.source}",
        ["step", "result"],
        [
            [f"training rows (a sample of at most {NEW_FEATURE_ROWS:,})", trial.train_rows],
            ["evaluation rows", trial.eval_rows],
            ["new column's type", trial.dtype or "n/a"],
            ["model inputs the feature code built from it", ", ".join(trial.added) or "none"],
            [
                "evaluation predictions that change when it is shuffled",
                trial.changed if trial.changed is not None else "n/a",
            ],
            ["the trained model's own record", trial.note or "n/a"],
            [f"{metric} without the new input", trial.metric_without],
            [f"{metric} with the new input", trial.metric_with],
            ["minutes to add, train and evaluate", trial.seconds / 60 if done else None],
            ["outcome", "completed" if done else f"failed at {trial.stage}"],
        ],
    )


def trial_facts(trial: Trial, name: str) -> dict[str, Any]:
    """data.6's facts: where the trial got to, how long it took, what it changed."""
    return {
        "name": name,
        "source": trial.source,
        "stage": trial.stage,
        "seconds": trial.seconds,
        "train_rows": trial.train_rows,
        "metric_with": trial.metric_with,
        "metric_without": trial.metric_without,
        "reached_model": trial.reached,
        "predictions_changed": trial.changed,
    }


FIXED_LIST_HINT = """Make {spec} pass through raw columns it does not know, so that a new
upstream column becomes a model input without a code change, e.g.:

    KNOWN = [...]  # the columns the function builds inputs from
    DROPPED = [...]  # target, ids, personal data: never inputs

    def build(raw):
        inputs = ...  # the inputs built from KNOWN, as now
        new = [c for c in raw.columns if c not in KNOWN and c not in DROPPED]
        return pd.concat([inputs, raw[new]], axis=1)"""


def trial_failure(
    trial: Trial, cfg: NewFeatureSection, model: ModelSection
) -> tuple[str, str] | None:
    """What a trial that stopped at a stage means, and how to fix it: (summary, hint); None
    when it did not stop at one of these stages."""
    train_spec, features_spec = model.train, model.features
    if trial.stage == "name":
        return (
            f"[new_feature] name = {cfg.name!r}: {trial.error}",
            "Choose a [new_feature] name that is not a column or a model input already.",
        )
    if trial.stage == "expression":
        return (
            f"the expression {cfg.expression!r} failed {trial.error}",
            "Fix [new_feature] expression: a DuckDB SQL expression over the raw columns, one "
            'value per row, that the model can use, such as "income / 12".',
        )
    if trial.stage == "features":
        return (
            f"a new raw column {cfg.name} breaks the feature code: {trial.error}",
            f'Make [model] features = "{features_spec}" accept raw rows with columns it does '
            "not know (pass them through, or ignore them without raising).",
        )
    if trial.stage == "feature code":
        return (
            f"no input can be added by configuration: {trial.error}, so the feature code "
            "selects a fixed list of columns",
            FIXED_LIST_HINT.format(spec=f'[model] features = "{features_spec}"'),
        )
    if trial.stage in ("training", "prediction"):
        return (
            f"adding input {cfg.name} breaks the model's {trial.stage}: {trial.error}",
            f'Make [model] train = "{train_spec}" (and the model it returns) work on whatever '
            "inputs it receives: choose columns by dtype (e.g. scikit-learn's "
            "make_column_selector) instead of a fixed list, so a new input needs no code change.",
        )
    if trial.stage == "model inputs":
        return (
            f"input {name_list(trial.added)} was added and trained with, but the model ignores "
            f"it: shuffling it changes none of the {trial.eval_rows:,} evaluation predictions"
            + (f" ({trial.note})" if trial.note else ""),
            f'Make [model] train = "{train_spec}" pass every input it receives to the model '
            "(select columns by dtype, keep a ColumnTransformer's remainder), so adding a "
            "feature needs no code change."
            + (
                ""
                if trial.source.startswith("a noisy copy")
                else " If the configured [new_feature] expression cannot help a model (random "
                "values, a constant), remove it so Keel uses a noisy copy of the target."
            ),
        )
    return None
