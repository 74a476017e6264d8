"""Whether the hyperparameters are tuned (model.3): a recorded search, or a sensitivity sweep.

The sweep moves each numeric hyperparameter of [model] params ([tuning] params names which;
by default every number, booleans excluded) down and up by [tuning] factor, one at a time, the
others at their configured values. The user's training function retrains on a seeded sample of
at most [tuning] sample training rows, evaluated on as many evaluation rows at most; the
configured values are trained on the same sample, so each run differs from them in one value.

    moves        value / factor and value × factor; integers are rounded and kept ≥ 1 when the
                 configured value is ≥ 1 (counts: iterations, leaves, depth); a move that lands
                 back on the configured value is dropped; zero cannot move by a factor and is
                 skipped, with a note
    failures     a value the training function rejects is reported with its error and left out
    verdict      the configured values are within tolerance when no move beats them by more
                 than [tuning] tolerance on the primary metric

A search recorded elsewhere is read by `recorded_search`: the trials of a search (Optuna's
MLflow callback, for instance) logged as MLflow runs in the system's tracking store, each
tagged `keel.tuning = "true"`, with the hyperparameters as params and the primary metric under
its keel.toml name. When there is none, Keel runs its own sweep instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from keel.errors import CheckError, KeelError
from keel.model.importance import sample_rows
from keel.system import System


@dataclass
class Trial:
    """One training: a hyperparameter at one value (the configured one, or moved)."""

    param: str
    value: Any
    metric: float | None
    configured: bool = False
    error: str = ""


@dataclass
class Sweep:
    """The sensitivity sweep around the configured hyperparameters."""

    metric: str
    configured_metric: float
    trials: list[Trial]
    params: list[str]
    skipped: dict[str, str]
    factor: float
    tolerance: float
    train_rows: int
    eval_rows: int
    seconds: float = 0.0

    def best(self, param: str) -> Trial | None:
        """The best moved value of one hyperparameter (None when every move failed)."""
        runs = [
            t for t in self.trials if t.param == param and not t.configured and t.metric is not None
        ]
        return max(runs, key=lambda t: t.metric) if runs else None  # type: ignore[arg-type, return-value]

    def gap(self, param: str) -> float:
        """How much the best move beats the configured value (≤ 0: the configured is best)."""
        best = self.best(param)
        return -math.inf if best is None else best.metric - self.configured_metric  # type: ignore[operator]

    @property
    def off(self) -> list[str]:
        """Hyperparameters whose configured value is not within tolerance of the best."""
        return [p for p in self.params if self.gap(p) > self.tolerance]


@dataclass
class RecordedSearch:
    """A hyperparameter search recorded outside Keel (the registry's tuning runs)."""

    source: str  # where it was found, e.g. "MLflow run 3f2a… (tag keel.tuning)"
    metric: str
    trials: int
    best_params: dict[str, Any]
    best_metric: float
    configured_metric: float | None = None
    notes: list[str] = field(default_factory=list)


TUNING_TAG = "keel.tuning"


def _same(recorded: str, configured: Any) -> bool:
    """Whether a param logged as text equals a configured value (numbers compared as numbers)."""
    try:
        return math.isclose(float(recorded), float(configured), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(recorded) == str(configured)


def recorded_search(system: System) -> RecordedSearch | None:
    """The system's recorded hyperparameter search, or None when there is none.

    Looks in the system's tracking store (only when the store already exists: nothing is
    created for the question) for runs tagged `keel.tuning = "true"` that logged the primary
    metric. The configured values' metric is that of the trial whose params all equal
    [model] params, when the search tried them.
    """
    from keel.registry import connect, sqlite_file, tracking_uri, translated

    uri = tracking_uri(system.config.registry.uri, system.root)
    db = sqlite_file(uri)
    if db is not None and not db.exists():
        return None
    store = connect(system)
    metric = system.metric_name
    with translated(store.uri):
        runs = store.client.search_runs(
            [e.experiment_id for e in store.client.search_experiments()],
            filter_string=f"tags.`{TUNING_TAG}` = 'true'",
            max_results=5000,
        )
    trials = [r for r in runs if metric in r.data.metrics]
    if not trials:
        return None
    best = max(trials, key=lambda r: r.data.metrics[metric])
    configured = system.config.model.params
    matching = [
        r
        for r in trials
        if configured
        and all(k in r.data.params and _same(r.data.params[k], v) for k, v in configured.items())
    ]
    notes = []
    if not matching:
        notes.append("the configured [model] params are not among the recorded trials")
    return RecordedSearch(
        source=f"{len(trials)} MLflow run(s) tagged {TUNING_TAG}, best run {best.info.run_id[:12]}",
        metric=metric,
        trials=len(trials),
        best_params=dict(best.data.params),
        best_metric=float(best.data.metrics[metric]),
        configured_metric=(
            max(float(r.data.metrics[metric]) for r in matching) if matching else None
        ),
        notes=notes,
    )


def moves(value: float, factor: float) -> list[float]:
    """The values a hyperparameter is moved to: down and up by `factor`."""
    if isinstance(value, bool) or value == 0:
        return []
    if isinstance(value, int):
        floor = 1 if value >= 1 else -math.inf
        found = [max(round(value / factor), floor), max(round(value * factor), floor)]
        found = [int(v) for v in found]
    else:
        found = [value / factor, value * factor]
    return [v for v in dict.fromkeys(found) if v != value]


def swept_params(system: System) -> tuple[list[str], dict[str, str]]:
    """(hyperparameters to sweep, {name: why not} for those left out)."""
    params = system.config.model.params
    named = system.config.tuning.params
    if named is not None:
        unknown = [p for p in named if p not in params]
        if unknown:
            known = ", ".join(params) or "none"
            raise CheckError(
                f"keel.toml: [tuning] params names {', '.join(unknown)}, not in [model] params "
                f"(which has: {known}); name hyperparameters given in [model] params"
            )
    skipped: dict[str, str] = {}
    chosen = []
    for name in named if named is not None else list(params):
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            skipped[name] = f"not a number ({value!r})"
        elif value == 0:
            skipped[name] = "zero cannot be moved by a factor"
        elif not math.isfinite(value):
            skipped[name] = f"not finite ({value!r})"
        else:
            chosen.append(name)
    return chosen, skipped


def sweep(system: System) -> Sweep:
    """Retrain with each swept hyperparameter moved down and up; evaluate every run."""
    cfg, seed = system.config.tuning, system.config.model.seed
    names, skipped = swept_params(system)
    train, evaluation = system.dataset("train"), system.dataset("eval")
    rows = sample_rows(len(train.inputs), cfg.sample, seed=seed)
    eval_rows = sample_rows(len(evaluation.inputs), cfg.sample, seed=seed)
    x, y = train.inputs.iloc[rows], train.target.iloc[rows]
    x_eval, y_eval = evaluation.inputs.iloc[eval_rows], evaluation.target.iloc[eval_rows]
    configured = dict(system.config.model.params)
    start = time.perf_counter()

    def score(params: dict[str, Any]) -> float:
        estimator = system.fit(x, y, params=params)
        return system.evaluate(y_eval, system.predict(estimator, x_eval))

    base = score(configured)
    if math.isnan(base):
        raise CheckError(
            f"the model's {system.metric_name} is undefined on the evaluation sample (a single "
            "class?); evaluate on rows holding every class"
        )
    trials = [Trial(name, configured[name], base, configured=True) for name in names]
    for name in names:
        for value in moves(configured[name], cfg.factor):
            try:
                metric = score({**configured, name: value})
            except KeelError as exc:
                trials.append(Trial(name, value, None, error=str(exc)))
                continue
            trials.append(Trial(name, value, None if math.isnan(metric) else metric))
    trials.sort(key=lambda t: (names.index(t.param), float(t.value)))
    return Sweep(
        metric=system.metric_name,
        configured_metric=base,
        trials=trials,
        params=names,
        skipped=skipped,
        factor=cfg.factor,
        tolerance=cfg.tolerance,
        train_rows=len(rows),
        eval_rows=len(eval_rows),
        seconds=time.perf_counter() - start,
    )


def tuning_sweep(system: System) -> Sweep:
    """The sweep, cached by the system's state and the [tuning] settings."""
    return system.cached(
        "tuning_sweep", lambda: sweep(system), system.config.tuning.model_dump(mode="json")
    )
