"""What model.3, model.4 and model.5 measure on a System, cached by the system's state.

Each function reads the System (its [baseline], [tuning], [staleness] and [model] settings, its
datasets, its trained model) and calls the plain measurement of `keel.model`: the simple
baselines (`keel.model.baselines`), the sensitivity sweep of the hyperparameters
(`keel.model.tuning`) and the quality-versus-age curve (`keel.model.staleness`). Results are
cached under `.keel/cache/` by the system's state, a name and the settings that change them.
A search recorded in the tracking store is read by `keel.checks._recorded_search`.
"""

from __future__ import annotations

from keel.model import baselines, staleness, tuning
from keel.system import System


def compare_with_baselines(system: System) -> baselines.Comparison:
    """The system's model and the baselines on its evaluation rows (baselines cached)."""
    metric = system.metric_name
    metrics = baselines.reported_metrics(system.task, metric)
    trained = system.trained
    evaluation = system.dataset("eval")

    def train() -> baselines.BaselineScores:
        return baselines.baseline_scores(
            system.dataset("train"),
            evaluation,
            task=system.task,
            metrics=metrics,
            predict=system.predict,
            seed=system.config.model.seed,
        )

    found = system.cached(
        "baselines",
        train,
        metrics,
        sorted(baselines.BASELINES.items()),
        baselines.TREE_DEPTH,
        baselines.LINEAR_MAX_ITER,
    )
    return baselines.compare_with_baselines(
        trained.predictions,
        evaluation.target,
        found,
        metric=metric,
        metrics=metrics,
        model_metric=trained.metric,
        description=f"[model] train = {system.config.model.train}",
    )


def swept_params(system: System) -> tuple[list[str], dict[str, str]]:
    """(hyperparameters of [model] params to sweep, {name: why not} for those left out)."""
    return tuning.swept_params(system.config.model.params, system.config.tuning.params)


def sweep(system: System) -> tuning.Sweep:
    """model.3's sensitivity sweep of the system's hyperparameters (not cached)."""
    cfg = system.config.tuning
    return tuning.sweep(
        system.fit,
        system.predict,
        system.dataset("train"),
        system.dataset("eval"),
        metric=system.metric_name,
        params=system.config.model.params,
        named=cfg.params,
        factor=cfg.factor,
        tolerance=cfg.tolerance,
        sample=cfg.sample,
        sample_set="sample" in cfg.model_fields_set,
        max_seconds=cfg.max_seconds,
        deep=system.deep,
        seed=system.config.model.seed,
    )


def tuning_sweep(system: System) -> tuning.Sweep:
    """The sweep, cached by the system's state and the [tuning] settings."""
    return system.cached(
        "tuning_sweep",
        lambda: sweep(system),
        system.config.tuning.model_dump(mode="json"),
        system.deep,
    )


def curve(system: System) -> staleness.Staleness:
    """model.4's quality-versus-age curve of the system (not cached)."""
    cfg = system.config.staleness
    return staleness.curve(
        system.raw("train"),
        system.raw("eval"),
        build=system.inputs,
        fit=system.fit,
        predict=system.predict,
        metric=system.metric_name,
        target=system.target,
        timestamp=system.config.system.timestamp,
        period_days=cfg.period_days,
        max_age_periods=cfg.max_age_periods,
        max_drop=cfg.max_drop,
        max_seconds=cfg.max_seconds,
        deep=system.deep,
        seed=system.config.model.seed,
    )


def staleness_curve(system: System) -> staleness.Staleness:
    """The curve, cached by the system's state and the [staleness] settings."""
    return system.cached(
        "staleness",
        lambda: curve(system),
        system.config.staleness.model_dump(mode="json"),
        system.deep,
    )


def staleness_limit(system: System) -> float | None:
    """The age in days past which the system's model is known to lose quality (model.4's
    limit, `keel.model.staleness.limit`); None without a [system] timestamp or when the curve
    cannot be computed. monitor.4 and the registry read it."""
    if system.config.system.timestamp is None:
        return None
    return staleness.limit(staleness_curve(system))
