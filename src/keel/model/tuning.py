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
    verdict      the configured values are within tolerance when no move beats them by more
                 than [tuning] tolerance on the primary metric. That alone is no pass: the
                 metric must respond to at least one hyperparameter (else the training function
                 seems to ignore [model] params), and every swept hyperparameter needs at least
                 one move that trained (else whether it is tuned is unknown)

A search recorded elsewhere is read by `recorded_search`: the trials of a search (Optuna's
MLflow callback, for instance) logged as MLflow runs in the system's tracking store, in the
experiment keel/NAME/tuning, each tagged `keel.tuning = "true"`, with the hyperparameters as
params and the primary metric under its keel.toml name. It stands for model.3 only with at least
[tuning] min_trials finished trials run on the present code and data (tagged `keel.fingerprint`
with `search_fingerprint`, or started after the newest change of the code and data files); and
model.3 then re-measures the configured values itself (trains with [model] params, evaluates on
the evaluation data) and holds that measured value, not the recorded one, to the best trial. A
search that does not qualify is named, and Keel runs its own sweep instead.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keel.errors import CheckError, KeelError
from keel.model.budget import affordable_rows, budget_note, clock, over_budget, seconds_since
from keel.model.importance import sample_rows
from keel.system import System

RESPONSE = 1e-9  # a metric that moves less than this when a hyperparameter moves did not move


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


def tuning_experiment(system: System) -> str:
    """The MLflow experiment a system's recorded search belongs in: keel/NAME/tuning."""
    return f"keel/{system.name}/tuning"


def search_fingerprint(system: System) -> str:
    """A hash of the system's code and data, to tag tuning runs with (`keel.fingerprint`).

    A run tagged with it counts exactly when code and data are still the ones it was run on;
    [model] params are left out, so setting the best values found keeps the search valid.
    """
    from keel.cache import digest

    found = system.fingerprint()
    return digest(found["code"], found["train"], found["eval"])


def _source_files(source: Any, root: Path) -> list[Path] | None:
    """The files a [data] source reads (None when they cannot be listed)."""
    from keel.data.sources import SqlSource, resolve_paths

    patterns = re.findall(r"'([^']+)'", source.sql) if isinstance(source, SqlSource) else [source]
    files: list[Path] = []
    for pattern in patterns:
        try:
            files.extend(resolve_paths(pattern, root, key="[data]"))
        except KeelError:
            continue
    return files or None


def newest_change(system: System) -> tuple[float | None, str]:
    """(newest modification time of the code and data files, what it was); None: unknown.

    Code: every Python file under the system's folder (as the cache's code hash reads them,
    tests left out). Data: the files of [data] train and eval. keel.toml is not counted:
    setting the best values found after a search must not invalidate it.
    """
    from keel.system import IGNORED_DIRS

    tests = system.config.model.tests
    skip = IGNORED_DIRS | ({Path(tests).parts[0]} if tests else set())
    newest, what = 0.0, ""
    for path in system.root.rglob("*.py"):
        rel = path.relative_to(system.root)
        if any(part in skip or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if path.stat().st_mtime > newest:
            newest, what = path.stat().st_mtime, str(rel)
    data = system.config.data
    for source in (data.train, data.eval):
        if source is None:
            continue
        files = _source_files(source, system.root)
        if files is None:
            return None, f"the files of [data] source {source!r} cannot be listed"
        for path in files:
            if path.stat().st_mtime > newest:
                newest, what = path.stat().st_mtime, str(path)
    return newest, what


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fresh(runs: list[Any], system: System) -> tuple[list[Any], str]:
    """The runs made on the present code and data, and why the others are not counted."""
    fingerprint = search_fingerprint(system)
    newest, what = newest_change(system)
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


def recorded_search(system: System) -> RecordedSearch | None:
    """The system's recorded hyperparameter search, or None when there is none.

    Looks in the system's tracking store (only when the store already exists: nothing is
    created for the question) for runs tagged `keel.tuning = "true"`. A search counts (its
    `not_counted` is empty) only with at least [tuning] min_trials trials that
    - are in this system's own experiment (`tuning_experiment`),
    - logged the primary metric under its keel.toml name and finished,
    - were run on the present code and data: tagged `keel.fingerprint` with
      `search_fingerprint(system)`, or, untagged, started after the newest change of the code
      and data files (`newest_change`).
    """
    from keel.registry.store import connect, sqlite_file, tracking_uri, translated
    from keel.training import registry_ref

    uri = tracking_uri(system.config.registry.uri, system.root)
    db = sqlite_file(uri)
    if db is not None and not db.exists():
        return None
    store = connect(registry_ref(system))
    metric = system.metric_name
    own_name = tuning_experiment(system)
    with translated(store.uri):
        experiments = {e.experiment_id: e.name for e in store.client.search_experiments()}
        runs = store.client.search_runs(
            list(experiments),
            filter_string=f"tags.`{TUNING_TAG}` = 'true'",
            max_results=5000,
        )
    if not runs:
        return None
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
    counted, stale = _fresh(usable, system)
    if stale:
        reasons.append(stale)
    min_trials = system.config.tuning.min_trials
    not_counted = ""
    if len(counted) < min_trials:
        not_counted = (
            f"{len(counted)} qualifying trial(s) (in {own_name}, finished, with {metric}, run "
            f"on the present code and data), fewer than [tuning] min_trials = {min_trials}"
            + (f": {'; '.join(reasons)}" if reasons else "")
        )
    shown = counted or [r for r in runs if metric in r.data.metrics]
    best = max(shown, key=lambda r: r.data.metrics[metric]) if shown else None
    configured = system.config.model.params
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
    width = train.inputs.shape[1]
    size = affordable_rows(cfg.sample, width, explicit="sample" in cfg.model_fields_set)
    rows = sample_rows(len(train.inputs), size, seed=seed)
    eval_rows = sample_rows(len(evaluation.inputs), cfg.sample, seed=seed)
    x, y = train.inputs.iloc[rows], train.target.iloc[rows]
    x_eval, y_eval = evaluation.inputs.iloc[eval_rows], evaluation.target.iloc[eval_rows]
    configured = dict(system.config.model.params)
    start = time.perf_counter()

    def score(params: dict[str, Any]) -> float:
        estimator = system.fit(x, y, params=params)
        return system.evaluate(y_eval, system.predict(estimator, x_eval))

    started = clock()
    base = score(configured)
    first = seconds_since(started)
    if math.isnan(base):
        raise CheckError(
            f"the model's {system.metric_name} is undefined on the evaluation sample (a single "
            "class?); evaluate on rows holding every class"
        )
    trials = [Trial(name, configured[name], base, configured=True) for name in names]
    more = sum(len(moves(configured[name], cfg.factor)) for name in names)
    stopped = over_budget(
        first, more, cfg.max_seconds, deep=system.deep, key="[tuning] max_seconds"
    )
    for name in names if not stopped else []:
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
        note=budget_note(len(rows), len(train.inputs), width, cfg.sample),
        stopped=stopped,
    )


def tuning_sweep(system: System) -> Sweep:
    """The sweep, cached by the system's state and the [tuning] settings."""
    return system.cached(
        "tuning_sweep",
        lambda: sweep(system),
        system.config.tuning.model_dump(mode="json"),
        system.deep,
    )
