"""Whether the hyperparameters are tuned (model.3): a recorded search, or a sensitivity sweep.

The sweep moves each numeric hyperparameter of [model] params ([tuning] params names which;
by default every number, booleans excluded) down and up by [tuning] factor, one at a time, the
others at their configured values. The user's training function retrains on a seeded sample of
at most [tuning] sample training rows (on wide data, unless [tuning] sample is set, also at most
`keel.model.budget.TRAIN_CELLS` rows × inputs), evaluated on at most [tuning] sample evaluation
rows; the configured values are trained on the same sample, so each run differs from them in
one value.

    moves        value / factor and value × factor; integers are rounded and kept ≥ 1 when the
                 configured value is ≥ 1 (counts: iterations, leaves, depth); a move that lands
                 back on the configured value is dropped; zero cannot move by a factor and is
                 skipped, with a note
    failures     a value the training function rejects is reported with its error and left out
    budget       when the configured training's time (the smaller of wall and CPU time) times
                 the moves left exceeds [tuning] max_seconds, the moves are not trained
                 (not_configured, saying so) unless `keel score --deep`
    same model   each move's fitted model is compared with the configured one on the
                 evaluation rows by its finest output (decision_function, else class
                 probabilities, else predictions): identical outputs mean the move did not change
                 the fitted model at all, which a metric alone cannot tell (a flat metric is
                 often just a model that is insensitive there, or too few evaluation rows to
                 separate the settings)
    verdict      the configured values are within tolerance when no move beats them by more
                 than [tuning] tolerance on the primary metric. That alone is no pass: some move
                 must change the fitted model (else the training function seems to ignore
                 [model] params), and every swept hyperparameter needs at least one move that
                 trained (else whether it is tuned is unknown). A metric that stays flat while
                 the models differ is measured at every setting: within tolerance, a pass that
                 says so

A search recorded elsewhere is judged by `recorded_search`: the trials of a search (Optuna's
MLflow callback, for instance) logged as MLflow runs in the system's tracking store, in the
experiment keel/NAME/tuning, each tagged `keel.tuning = "true"`, with the hyperparameters as
params and the primary metric under its keel.toml name. It stands for model.3 only with at least
[tuning] min_trials finished trials run on the present code and data (tagged `keel.fingerprint`
with a hash of the code and data, or started after the newest change of the code and data
files: `keel.checks._recorded_search` reads the runs and those from the System); and
model.3 then re-measures the configured values itself (trains with [model] params, evaluates on
the evaluation data) and holds that measured value, not the recorded one, to the best trial. A
search that does not qualify is named, and Keel runs its own sweep instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from keel.errors import CheckError, KeelError
from keel.model.budget import affordable_rows, budget_note, clock, over_budget, seconds_since
from keel.model.contract import Dataset, Fit, PredictWith
from keel.model.importance import sample_rows
from keel.model.metrics import Predictions, compute

RESPONSE = 1e-9  # a metric that moves less than this when a hyperparameter moves did not move
# two fitted models whose outputs agree this closely (relative, absolute) are the same model
SAME_OUTPUT = (1e-9, 1e-12)


@dataclass
class Trial:
    """One training: a hyperparameter at one value (the configured one, or moved)."""

    param: str
    value: Any
    metric: float | None
    configured: bool = False
    error: str = ""
    # whether the fitted model's output equals the configured one's on the evaluation rows
    # (None: not compared, e.g. the configured trial itself or a failed training)
    same_model: bool | None = None


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
    note: str = ""  # why fewer training rows than [tuning] sample were used (wide data)
    stopped: str = ""  # why the moves were not trained (over [tuning] max_seconds)

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

    def moved(self, param: str) -> list[Trial]:
        """The moves of one hyperparameter that trained and gave a metric."""
        return [
            t for t in self.trials if t.param == param and not t.configured and t.metric is not None
        ]

    @property
    def untested(self) -> list[str]:
        """Hyperparameters none of whose moves trained: whether they are tuned is unknown."""
        return [p for p in self.params if not self.moved(p)]

    @property
    def responsive(self) -> list[str]:
        """Hyperparameters some move of which changed the metric at all."""
        return [
            p
            for p in self.params
            if any(abs(t.metric - self.configured_metric) > RESPONSE for t in self.moved(p))  # type: ignore[operator]
        ]

    @property
    def unchanged(self) -> list[str]:
        """Hyperparameters every move of which fitted the very same model as the configured
        values (identical outputs on the evaluation rows): the model does not depend on them."""
        return [
            p
            for p in self.params
            if self.moved(p) and all(t.same_model is True for t in self.moved(p))
        ]

    @property
    def flat(self) -> list[str]:
        """Hyperparameters whose moves changed the fitted model but not the metric."""
        responsive, unchanged = set(self.responsive), set(self.unchanged)
        return [p for p in self.params if self.moved(p) and p not in responsive | unchanged]

    @property
    def off(self) -> list[str]:
        """Hyperparameters whose configured value is not within tolerance of the best."""
        return [p for p in self.params if self.gap(p) > self.tolerance]


@dataclass
class RecordedSearch:
    """A hyperparameter search recorded outside Keel (the system's tuning runs).

    `not_counted` says why the search cannot stand for model.3 ("" when it can): Keel then runs
    its own sweep. `configured_metric` is what the search claims for the configured values
    (None when it did not try them); model.3 never trusts it, it re-measures them.
    """

    source: str  # where it was found, e.g. "12 MLflow runs in keel/NAME/tuning"
    metric: str
    trials: int  # trials that count: this system's, fresh, with the primary metric
    best_params: dict[str, Any]
    best_metric: float
    configured_metric: float | None = None
    notes: list[str] = field(default_factory=list)
    not_counted: str = ""
    best_run: str = ""


TUNING_TAG = "keel.tuning"
FINGERPRINT_TAG = "keel.fingerprint"


def _same(recorded: str, configured: Any) -> bool:
    """Whether a param logged as text equals a configured value (numbers compared as numbers)."""
    try:
        return math.isclose(float(recorded), float(configured), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(recorded) == str(configured)


def tuning_experiment(name: str) -> str:
    """The MLflow experiment the recorded search of the system `name` belongs in."""
    return f"keel/{name}/tuning"


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fresh(
    runs: list[Any], fingerprint: str, newest: float | None, what: str
) -> tuple[list[Any], str]:
    """The runs made on the present code and data, and why the others are not counted."""
    fresh, stale_tag, stale_time, unknown = [], 0, 0, 0
    for run in runs:
        tag = run.data.tags.get(FINGERPRINT_TAG)
        if tag is not None:
            if tag == fingerprint:
                fresh.append(run)
            else:
                stale_tag += 1
        elif newest is None:
            unknown += 1
        elif run.info.start_time / 1000 > newest:
            fresh.append(run)
        else:
            stale_time += 1
    why = []
    if stale_tag:
        why.append(f"{stale_tag} tagged {FINGERPRINT_TAG} with other code or data")
    if stale_time:
        why.append(
            f"{stale_time} started before the last change of the code or data "
            f"({what}, {_when(newest or 0)})"
        )
    if unknown:
        why.append(
            f"{unknown} cannot be dated against the data ({what}) and carry no "
            f"{FINGERPRINT_TAG} tag"
        )
    return fresh, "; ".join(why)


def recorded_search(
    runs: list[Any],
    experiments: dict[str, str],
    *,
    system: str,
    metric: str,
    min_trials: int,
    configured: dict[str, Any],
    fingerprint: str,
    newest: tuple[float | None, str],
) -> RecordedSearch | None:
    """The recorded hyperparameter search in `runs`, or None when there is none.

    `runs` are the MLflow runs of the tracking store tagged `keel.tuning = "true"`, and
    `experiments` names every experiment by id. The search counts (its `not_counted` is empty)
    only with at least `min_trials` ([tuning] min_trials) trials that
    - are in the system's own experiment (`tuning_experiment(system)`),
    - logged the primary `metric` under its keel.toml name and finished,
    - were run on the present code and data: tagged `keel.fingerprint` with `fingerprint`, or,
      untagged, started after `newest`: (the newest modification time of the code and data
      files, which file it was; None when it cannot be told).
    `configured` are the [model] params, looked for among the trials.
    """
    if not runs:
        return None
    own_name = tuning_experiment(system)
    reasons = []
    own = [r for r in runs if experiments.get(r.info.experiment_id) == own_name]
    if len(own) < len(runs):
        others = sorted({experiments.get(r.info.experiment_id, "?") for r in runs} - {own_name})
        reasons.append(
            f"{len(runs) - len(own)} run(s) in other experiments ({', '.join(others)}), not in "
            f"this system's {own_name}"
        )
    usable = [r for r in own if metric in r.data.metrics and r.info.status == "FINISHED"]
    if len(usable) < len(own):
        reasons.append(f"{len(own) - len(usable)} run(s) unfinished or without {metric}")
    counted, stale = _fresh(usable, fingerprint, *newest)
    if stale:
        reasons.append(stale)
    not_counted = ""
    if len(counted) < min_trials:
        not_counted = (
            f"{len(counted)} qualifying trial(s) (in {own_name}, finished, with {metric}, run "
            f"on the present code and data), fewer than [tuning] min_trials = {min_trials}"
            + (f": {'; '.join(reasons)}" if reasons else "")
        )
    shown = counted or [r for r in runs if metric in r.data.metrics]
    best = max(shown, key=lambda r: r.data.metrics[metric]) if shown else None
    matching = [
        r
        for r in shown
        if configured
        and all(k in r.data.params and _same(r.data.params[k], v) for k, v in configured.items())
    ]
    notes = [] if not_counted else list(reasons)
    if not matching:
        notes.append("the configured [model] params are not among the recorded trials")
    return RecordedSearch(
        source=f"{len(counted)} MLflow run(s) tagged {TUNING_TAG} in {own_name}",
        metric=metric,
        trials=len(counted),
        best_params=dict(best.data.params) if best else {},
        best_metric=float(best.data.metrics[metric]) if best else float("nan"),
        configured_metric=(
            max(float(r.data.metrics[metric]) for r in matching) if matching else None
        ),
        notes=notes,
        not_counted=not_counted,
        best_run=best.info.run_id if best else "",
    )


def model_output(estimator: Any, inputs: Any, predictions: Predictions) -> np.ndarray:
    """The finest output of a fitted model on `inputs`, to tell two fitted models apart: its
    decision function, else its class probabilities, else its predictions.

    Labels alone cannot: two classifiers that differ can label 360 rows identically.
    """
    decision = getattr(estimator, "decision_function", None)
    if decision is not None:
        try:
            return np.asarray(decision(inputs), dtype=float)
        except Exception:  # noqa: BLE001 (a wrapper that lists it but cannot: use what predict gave)
            pass
    if predictions.proba is not None:
        return np.asarray(predictions.proba, dtype=float)
    return np.asarray(predictions.labels)


def same_output(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two fitted models' outputs (`model_output`) are the same, up to float noise."""
    if first.shape != second.shape:
        return False
    if first.dtype.kind in "fc" and second.dtype.kind in "fc":
        rel, abs_ = SAME_OUTPUT
        return bool(np.allclose(first, second, rtol=rel, atol=abs_, equal_nan=True))
    return bool(np.array_equal(first, second))


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


def swept_params(
    params: dict[str, Any], named: list[str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """(hyperparameters to sweep, {name: why not} for those left out) of the [model] `params`;
    `named` are the [tuning] params (None: every one)."""
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


def sweep(
    fit: Fit,
    predict: PredictWith,
    train: Dataset,
    evaluation: Dataset,
    *,
    metric: str,
    params: dict[str, Any],
    named: list[str] | None,
    factor: float,
    tolerance: float,
    sample: int,
    sample_set: bool,
    max_seconds: float,
    deep: bool,
    seed: int,
) -> Sweep:
    """Retrain with each swept hyperparameter of `params` moved down and up by `factor`;
    evaluate every run (module docstring).

    `named`, `factor`, `tolerance`, `sample` and `max_seconds` are the [tuning] settings;
    `sample_set` says the user set [tuning] sample (then it is not bounded on wide data);
    `deep` trains the moves whatever the budget (`keel score --deep`).
    """
    names, skipped = swept_params(params, named)
    width = train.inputs.shape[1]
    size = affordable_rows(sample, width, explicit=sample_set)
    rows = sample_rows(len(train.inputs), size, seed=seed)
    eval_rows = sample_rows(len(evaluation.inputs), sample, seed=seed)
    x, y = train.inputs.iloc[rows], train.target.iloc[rows]
    x_eval, y_eval = evaluation.inputs.iloc[eval_rows], evaluation.target.iloc[eval_rows]
    configured = dict(params)
    start = time.perf_counter()

    def score(params: dict[str, Any]) -> tuple[float, np.ndarray]:
        estimator = fit(x, y, params=params)
        predictions = predict(estimator, x_eval)
        found = compute(metric, np.asarray(y_eval), predictions)
        return found, model_output(estimator, x_eval, predictions)

    started = clock()
    base, base_output = score(configured)
    first = seconds_since(started)
    if math.isnan(base):
        raise CheckError(
            f"the model's {metric} is undefined on the evaluation sample (a single "
            "class?); evaluate on rows holding every class"
        )
    trials = [Trial(name, configured[name], base, configured=True) for name in names]
    more = sum(len(moves(configured[name], factor)) for name in names)
    stopped = over_budget(first, more, max_seconds, deep=deep, key="[tuning] max_seconds")
    for name in names if not stopped else []:
        for value in moves(configured[name], factor):
            try:
                found, output = score({**configured, name: value})
            except KeelError as exc:
                trials.append(Trial(name, value, None, error=str(exc)))
                continue
            same = same_output(base_output, output)
            trials.append(Trial(name, value, None if math.isnan(found) else found, same_model=same))
    trials.sort(key=lambda t: (names.index(t.param), float(t.value)))
    return Sweep(
        metric=metric,
        configured_metric=base,
        trials=trials,
        params=names,
        skipped=skipped,
        factor=factor,
        tolerance=tolerance,
        train_rows=len(rows),
        eval_rows=len(eval_rows),
        seconds=time.perf_counter() - start,
        note=budget_note(len(rows), len(train.inputs), width, sample),
        stopped=stopped,
    )
