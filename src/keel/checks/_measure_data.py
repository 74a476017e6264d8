"""What data.2, data.3 and data.6 measure on a System, cached by the system's state.

Each function reads the System (its [importance], [new_feature] and [model] settings, its
datasets, its trained model) and calls the plain measurement of `keel.model`: permutation
importance and leave-one-feature-out retraining (`keel.model.importance`), the search for
inputs that could be dropped together and the retraining without them (`keel.model.droppable`),
the cost of each
input (`keel.model.cost`) and the new-input trial (`keel.model.trial`). Results are cached
under `.keel/cache/` by the system's state, a name and the settings that change them.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from keel.model import clusters, cost, droppable, importance, trial
from keel.model.metrics import Predictions
from keel.system import System


def _metric_predictor(system: System) -> Callable[[pd.DataFrame], Predictions]:
    """The trained model's predictions on model inputs, as the primary metric reads them."""
    trained = system.trained

    def predict(frame: pd.DataFrame) -> Predictions:
        return system.predict(trained.estimator, frame, only_for=system.metric_name)

    return predict


def measure_importance(system: System) -> importance.Importance:
    """Permutation importance of the system's inputs on its evaluation rows and their
    near-duplicates, cached. Uses [importance] sample, repeats and max_correlation and the
    model seed; data.2 and data.3 share this result."""
    cfg = system.config.importance
    seed = system.config.model.seed

    def measure() -> importance.Importance:
        evaluation = system.dataset("eval")
        return importance.measure_importance(
            _metric_predictor(system),
            evaluation.inputs,
            evaluation.target,
            metric=system.metric_name,
            sample=cfg.sample,
            repeats=cfg.repeats,
            max_correlation=cfg.max_correlation,
            seed=seed,
        )

    return system.cached(
        "importance",
        measure,
        cfg.model_dump(mode="json"),
        seed,
        importance.IMPORTANCE_CELLS,
        importance.MAX_IMPORTANCE_VARIANTS,
        importance.GROUP_REPEATS,
        importance.DUPLICATE_CELLS,
    )


def search_droppable(system: System) -> droppable.DropSearch:
    """Which inputs of those not above noise alone could be dropped together: shuffled with
    their correlated group, then all together (`keel.model.droppable`), on the evaluation rows
    permutation importance read; cached."""
    cfg = system.config.importance
    seed = system.config.model.seed

    def measure() -> droppable.DropSearch:
        found = measure_importance(system)
        evaluation = system.dataset("eval")
        rows = importance.importance_rows(
            len(evaluation.inputs), evaluation.inputs.shape[1], sample=cfg.sample, seed=seed
        )

        candidates = [
            i for i in found.inputs if i.resolved and not (i.above_noise and i.group == 1)
        ]
        return droppable.search_droppable(
            _metric_predictor(system),
            evaluation.inputs.iloc[rows],
            evaluation.target.iloc[rows],
            [i.input for i in candidates],
            {i.input: i.mean + importance.NOISE_STDS * i.std for i in candidates},
            metric=system.metric_name,
            repeats=cfg.repeats,
            min_association=cfg.group_correlation,
            seed=seed,
        )

    return system.cached(
        "droppable",
        measure,
        cfg.model_dump(mode="json"),
        seed,
        importance.IMPORTANCE_CELLS,
        importance.MAX_IMPORTANCE_VARIANTS,
        importance.GROUP_REPEATS,
        droppable.MAX_GROUP_TESTS,
        clusters.CLUSTER_CELLS,
    )


def check_drop(system: System, names: list[str]) -> droppable.DropCheck:
    """The system's model retrained without `names` (same seed), against the model with every
    input, within [importance] max_drop and max_seconds (`keel.model.droppable`); cached."""
    cfg = system.config.importance
    seed = system.config.model.seed
    names = sorted(names)

    def measure() -> droppable.DropCheck:
        trained = system.trained
        return droppable.check_drop(
            system.fit,
            system.predict,
            system.dataset("train"),
            system.dataset("eval"),
            names,
            metric=system.metric_name,
            seed=seed,
            max_drop=cfg.max_drop,
            max_seconds=cfg.max_seconds,
            deep=system.deep,
            train_seconds=trained.train_seconds,
            trained=trained.estimator,
        )

    return system.cached(
        "drop-check",
        measure,
        names,
        cfg.max_drop,
        cfg.max_seconds,
        system.deep,
        seed,
        droppable.DROP_ROWS,
        droppable.DROP_EVAL_ROWS,
    )


def measure_lofo(system: System) -> importance.Lofo:
    """Leave-one-feature-out retraining of the system's model, cached."""
    seed = system.config.model.seed

    def measure() -> importance.Lofo:
        return importance.measure_lofo(
            system.fit,
            system.predict,
            system.dataset("train"),
            system.dataset("eval"),
            metric=system.metric_name,
            seed=seed,
        )

    return system.cached("lofo", measure, importance.LOFO_ROWS, importance.LOFO_EVAL_ROWS, seed)


def measure_costs(system: System) -> cost.Measured:
    """Memory, prediction latency per input, and feature time of the system, cached."""
    seed = system.config.model.seed

    def measure() -> cost.Measured:
        trained = system.trained
        inputs = system.dataset("eval").inputs

        def predict(frame: pd.DataFrame) -> Predictions:
            return system.predict(trained.estimator, frame)

        build = system.features_function
        raw = system.raw("train") if build is not None else None
        return cost.measure_costs(predict, inputs, seed=seed, build=build, raw=raw)

    return system.cached(
        "cost",
        measure,
        cost.LATENCY_ROWS,
        cost.LATENCY_CELLS,
        cost.LATENCY_ROUNDS,
        cost.MIN_WINS,
        cost.MAX_LATENCY_VARIANTS,
        cost.MEMORY_ROWS,
        cost.FEATURE_ROWS,
        seed,
    )


def add_input(system: System) -> trial.Trial:
    """data.6's trial on the system: the [new_feature] input added to its raw rows, built into
    inputs by its feature code, trained with by its training code (not cached here: data.6
    caches it with the [new_feature] settings)."""
    cfg = system.config.new_feature
    train, evaluation = system.dataset("train"), system.dataset("eval")
    return trial.add_input(
        train,
        evaluation,
        build=system.inputs,
        fit=system.fit,
        predict=system.predict,
        name=cfg.name,
        expression=cfg.expression,
        metric=system.metric_name,
        target=system.target,
        task=system.task,
        seed=system.config.model.seed,
        trained_metric=system.trained.metric,
    )
