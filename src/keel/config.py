"""keel.toml, the contract between Keel and a user's ML system, as typed, validated models.

Every key has a documented default where one makes sense. Unknown keys are errors, so a typo
is reported rather than silently ignored. `load_config` reads and validates the file and turns
every problem into a `ConfigError` whose message names the file, the key, the value given and
what was expected.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    InstanceOf,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from keel._config_errors import error_message
from keel._config_section import _Section
from keel._config_serving import ServingSection
from keel.data.sources import SqlSource
from keel.durations import Duration
from keel.errors import ConfigError
from keel.model.metrics import DEFAULT_METRIC, METRICS, metrics_for

if TYPE_CHECKING:
    from keel.registry.ref import RegistryRef

ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
PRACTICE_ID = re.compile(r"^(data|model|infra|monitor)\.[1-7]$")


# The values a metric can take (all oriented so that higher is better): a floor at or below
# the lowest can never fail, one above the highest can never pass, and a drop as wide as the
# whole range can never be exceeded.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "roc_auc": (0.0, 1.0),
    "average_precision": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "balanced_accuracy": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "f1_macro": (0.0, 1.0),
    "neg_brier_score": (-1.0, 0.0),
    "neg_log_loss": (-math.inf, 0.0),
    "r2": (-math.inf, 1.0),
    "neg_mean_absolute_error": (-math.inf, 0.0),
    "neg_mean_squared_error": (-math.inf, 0.0),
    "neg_root_mean_squared_error": (-math.inf, 0.0),
}


def check_floor(metric: str, value: float) -> None:
    """`ValueError` unless `value` is a floor of `metric` that can both fail and pass: above
    the metric's lowest value, at most its highest, and finite."""
    low, high = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    if not (math.isfinite(value) and low < value <= high):
        raise ValueError(
            f"{metric} = {value!r} is not a floor that means something: expected a value in "
            f"({_bound(low)}, {_bound(high)}] ({metric} runs from {_bound(low)} to {_bound(high)})"
        )


def check_drop(metric: str, value: float) -> None:
    """`ValueError` unless `value` is an allowed drop of `metric` that can be exceeded: at
    least 0, below the metric's whole range, and finite."""
    low, high = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    width = high - low
    if not (math.isfinite(value) and 0 <= value < width):
        raise ValueError(
            f"{metric} = {value!r} is not a drop that means something: expected a value in "
            f"[0, {_bound(width)}) (a drop as wide as {metric}'s range can never be exceeded)"
        )


def _bound(value: float) -> str:
    return "inf" if value == math.inf else "-inf" if value == -math.inf else f"{value:g}"


class _SqlTable(_Section):
    """`{ sql = "..." }` in keel.toml, validated before it becomes a data layer `SqlSource`."""

    sql: str = Field(min_length=1)


def _source(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("expected a path or glob, got an empty string")
        return value
    if isinstance(value, SqlSource):
        return value
    if isinstance(value, dict) and set(value) == {"sql"}:
        return SqlSource(_SqlTable.model_validate(value).sql)
    raise ValueError('expected a path or glob string, or a table { sql = "SELECT ..." }')


Source = Annotated[str | InstanceOf[SqlSource], BeforeValidator(_source)]


class SystemSection(_Section):
    """[system]: what the ML system is and which columns play which role."""

    name: str = Field(min_length=1)
    task: Literal["binary", "multiclass", "regression"]
    target: str = Field(min_length=1)
    id: str | None = None
    timestamp: str | None = None
    primary_metric: str | None = None
    # Who runs the system: shown and filtered on by the team view (`keel ui`, --publish).
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    team: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("primary_metric")
    @classmethod
    def _metric_fits_task(cls, value: str | None, info: ValidationInfo) -> str | None:
        task = info.data.get("task")
        if value is None or task is None:
            return value
        allowed = metrics_for(task)
        if value not in allowed:
            raise ValueError(f"not a {task} metric; expected one of {', '.join(allowed)}")
        return value

    @property
    def metric(self) -> str:
        """The primary metric, defaulted by task."""
        return self.primary_metric or DEFAULT_METRIC[self.task]


class DataSection(_Section):
    """[data]: where the training, evaluation, serving and label data live."""

    train: Source
    eval: Source | None = None
    eval_fraction: float = Field(0.2, gt=0, lt=1)
    schema_file: str = Field("keel.schema.yaml", alias="schema")
    serving_log: str = ".keel/logs"
    labels: Source | None = None
    batch_size: int = Field(65_536, gt=0)
    encoding: str = "utf-8"  # text encoding of CSV sources, e.g. "latin-1"

    @field_validator("serving_log")
    @classmethod
    def _known_log(cls, value: str) -> str:
        from keel.log.remote import location_problem

        problem = location_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                "unknown text encoding; expected a Python codec name such as utf-8, latin-1 "
                "or cp1252"
            ) from None
        return value


class ModelSection(_Section):
    """[model]: the user's training and feature entry points and their parameters."""

    train: str
    features: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    tests: str | None = "tests"
    min_coverage: float = Field(0.8, gt=0, le=1)

    @field_validator("train", "features")
    @classmethod
    def _entry_point(cls, value: str | None) -> str | None:
        if value is not None and not ENTRY_POINT.match(value):
            raise ValueError(f"expected an entry point 'module:function', got {value!r}")
        return value


class ImportanceSection(_Section):
    """[importance]: how data.2 measures whether every input helps."""

    repeats: int = Field(5, ge=2, le=100)
    sample: int = Field(10_000, ge=100)
    max_correlation: float = Field(0.98, gt=0, le=1)
    group_correlation: float = Field(0.5, gt=0, le=1)  # weak inputs this associated: a group
    max_drop: float = Field(0.01, ge=0, le=0.5)  # advised drops lose at most this, retrained
    max_seconds: float = Field(120.0, gt=0, le=86_400)  # budget of that retraining (--deep: none)


class CostSection(_Section):
    """[cost]: the budget data.3 holds each input's cost to, against its benefit."""

    max_latency_ms_per_row: float | None = Field(None, gt=0, le=60_000)
    max_bytes_per_row: float | None = Field(None, gt=0)
    max_cost_benefit_ratio: float = Field(10.0, gt=0, le=1000)
    min_cost_share: float = Field(0.20, ge=0, le=1)


class NewFeatureSection(_Section):
    """[new_feature]: the trial input data.6 adds by configuration alone."""

    name: str = Field("keel_trial_input", min_length=1)
    # A DuckDB SQL expression over the raw columns; unset: a seeded noisy copy of the target,
    # which any model that receives the input will use (so its arrival can be proved).
    expression: str | None = Field(None, min_length=1)
    max_minutes_to_add_feature: float = Field(10.0, gt=0, le=1440)


class ReproducibilitySection(_Section):
    """[reproducibility]: how close two trainings from the same inputs must be (infra.1)."""

    max_prediction_difference: float = Field(1e-9, ge=0, le=0.1)
    max_metric_difference: float = Field(1e-9, ge=0, le=0.1)
    sample: int = Field(20_000, ge=100)


class SmokeSection(_Section):
    """[smoke]: the generated smoke test of the training code (infra.2)."""

    rows: int = Field(300, ge=20)
    timeout_seconds: float = Field(300, gt=0, le=86_400)


class ExplainSection(_Section):
    """[explain]: `keel explain` and its check (infra.5)."""

    rows: int = Field(20, ge=1)
    tolerance: float = Field(1e-6, gt=0, le=0.1)


class TuningSection(_Section):
    """[tuning]: the hyperparameter sensitivity sweep (model.3)."""

    factor: float = Field(2.0, gt=1)
    tolerance: float = Field(0.01, ge=0, le=0.5)
    sample: int = Field(20_000, ge=100)
    params: list[str] | None = None  # which numeric params to sweep; default all numeric ones
    min_trials: int = Field(10, ge=2)  # a recorded search counts only with this many trials
    # time budget of the sweep's moves (--deep: none)
    max_seconds: float = Field(120.0, gt=0, le=86_400)


class StalenessSection(_Section):
    """[staleness]: the quality-versus-age curve (model.4), and monitor.4's limit."""

    period_days: int = Field(30, ge=1)
    max_age_periods: int = Field(6, ge=1)
    max_drop: float = Field(0.02, ge=0, le=0.5)
    # time budget of older windows (--deep: none)
    max_seconds: float = Field(120.0, gt=0, le=86_400)


class SlicesSection(_Section):
    """[slices]: which slices must hold up (model.6) and how worst slices are searched."""

    columns: list[str] = Field(default_factory=list)
    min_size: int = Field(200, gt=0)
    min_metric: float | None = None
    max_gap: float | None = Field(0.05, ge=0, le=0.5)
    # regression: a slice's MAE (RMSE for a squared-error metric) at most this × the whole's
    max_error_ratio: float = Field(1.5, gt=1, le=10)
    search: bool = True
    bins: int = Field(4, ge=2, le=20)
    worst: int = Field(10, ge=1)


class FairnessSection(_Section):
    """[fairness]: sensitive attributes and the limits model.7 holds the model to."""

    sensitive: list[str] = Field(default_factory=list)
    max_demographic_parity_difference: float = Field(0.10, ge=0, lt=1)
    max_equalized_odds_difference: float = Field(0.10, ge=0, lt=1)
    max_proxy_association: float = Field(0.50, ge=0, lt=1)
    min_group_size: int = Field(30, ge=1)


class PolicySection(_Section):
    """[policy]: the feature policy (data.4)."""

    deny: list[str] = Field(default_factory=list)
    require_owner: bool = False


class BaselineSection(_Section):
    """[baseline]: the margin by which the model must beat simple baselines (model.5)."""

    min_gain: float = Field(0.01, ge=0, le=0.5)


class RegistrySection(_Section):
    """[registry]: where model versions are registered."""

    uri: str = "sqlite:///.keel/mlflow.db"
    model: str | None = None


class GateSection(_Section):
    """[gate]: what a version must meet to become the serving version."""

    min: dict[str, float] = Field(default_factory=dict)
    max_regression: dict[str, float] = Field(default_factory=dict)

    @field_validator("min", "max_regression")
    @classmethod
    def _known_metrics(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        unknown = sorted(set(value) - set(METRICS))
        if unknown:
            raise ValueError(
                f"unknown metric {', '.join(unknown)}; expected one of {', '.join(METRICS)}"
            )
        check = check_floor if info.field_name == "min" else check_drop
        for metric, limit in value.items():
            check(metric, limit)
        return value


class ScoreSection(_Section):
    """[score]: how the score itself is computed."""

    attest_max_age_days: int = Field(90, gt=0, le=3650)
    min_score: float | None = Field(None, gt=0, le=7)  # the final score runs from 0 to 7


class ServeSection(_Section):
    """[serve]: what `keel serve` enforces and how it logs."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_batch_rows: int = Field(1_000, gt=0)
    max_body_bytes: int = Field(1_048_576, gt=0)
    on_anomaly: Literal["reject", "flag"] = "reject"
    durability: Literal["ack", "async"] = "ack"
    poll_seconds: float = Field(5.0, gt=0)
    workers: int = Field(1, ge=1, le=64)
    seal_seconds: float = Field(60.0, ge=1, le=3600)  # a log segment's age when it is sealed
    log: bool = True  # false: no prediction log (benchmarks, throwaway servers)


class CanarySection(_Section):
    """[canary]: how a candidate takes live traffic, and the policy that ends its canary.

    After `window`, with at least `min_requests` served rows on each route, the candidate is
    promoted (through the gate) when every comparison holds, and aborted when one fails. A
    comparison the data cannot decide yet (labels too few to rule out a `max_quality_drop`,
    a probability distance within sampling noise) keeps the canary waiting, and past
    `deadline` (when set) aborts it.
    """

    share: float = Field(0.1, gt=0, lt=1)  # share of example ids routed to the candidate
    window: Duration = 600.0  # seconds (or "10m") of traffic compared before a verdict
    min_requests: int = Field(100, gt=0)  # served rows per route before any verdict
    max_error_rate_increase: float = Field(0.01, ge=0, lt=1)  # candidate minus champion
    max_p99_ratio: float = Field(1.5, ge=1, le=100)  # candidate p99 latency over champion's
    max_prediction_distance: float = Field(0.1, ge=0, lt=1)  # L-inf (classes) or JS (numbers)
    max_quality_drop: float = Field(0.02, ge=0, le=0.5)  # on served rows whose labels arrived
    max_probability_distance: float = Field(0.1, gt=0, lt=1)  # KS, per class's probability
    deadline: Duration | None = None  # seconds after the start: still undecided, it aborts

    @model_validator(mode="after")
    def _deadline_after_window(self) -> CanarySection:
        if self.deadline is not None and self.deadline < self.window:
            raise ValueError(
                f"[canary] deadline ({self.deadline:g} s) must be at least [canary] window "
                f"({self.window:g} s): a canary cannot be decided before its window is over"
            )
        return self


class DrillSection(_Section):
    """[drill]: the rollback drill (`keel drill rollback`) and what infra.7 accepts of it."""

    max_age_days: int = Field(30, gt=0, le=365)  # a drill older than this no longer counts
    max_seconds: float = Field(30.0, gt=0, le=600)  # rollback until every request is served by the
    # previous version
    concurrency: int = Field(4, gt=0, le=64)  # clients driving load during the drill
    load_seconds: float = Field(3.0, gt=0)  # load before the rollback, and after it


class MonitorSection(_Section):
    """[monitor]: how `keel monitor` windows served traffic and what each monitor check allows.

    Per-input skew and drift thresholds in the schema (`skew: {linf: 0.05}`, `drift: {js: 0.1}`)
    override the defaults here.
    """

    window: Duration = 86_400.0  # seconds (or "1d", "6h") per window of served traffic
    min_rows: int = Field(100, gt=0)  # rows a window needs before it is judged
    max_anomaly_rate: float = Field(0.01, ge=0, lt=1)  # monitor.2, per input and window
    max_skewed_share: float = Field(0.001, ge=0, lt=1)  # monitor.3: examples whose recomputed
    # model input differs from the logged one, per input
    skew_linf: float = Field(0.1, ge=0, lt=1)  # monitor.3: training/serving, categorical
    skew_js: float = Field(0.1, ge=0, lt=1)  # monitor.3: training/serving, numeric
    drift_linf: float = Field(0.1, ge=0, lt=1)  # monitor.3: window to window, categorical
    drift_js: float = Field(0.1, ge=0, lt=1)  # monitor.3: window to window, numeric
    lookback: Duration = 7 * 86_400.0  # monitor.3 judges every window starting this long
    # before the newest one (and every window taken since the last run)
    # monitor.6: relative change against the previous version
    max_jump: float = Field(0.3, gt=0, le=10)
    max_creep: float = Field(0.5, gt=0, le=10)  # monitor.6: relative change across creep_versions
    creep_versions: int = Field(5, ge=2)
    quality_tolerance: float = Field(0.02, ge=0, le=0.5)  # monitor.7: drop below the offline metric
    min_labels: int = Field(200, gt=0)  # monitor.7: labelled rows a window needs
    min_versions: int = Field(3, ge=2)  # model.2: versions that served with labels
    min_correlation: float = Field(0.5, gt=-1, le=1)  # model.2: offline/online rank correlation


class EngineSection(_Section):
    """[engine]: where Keel's data work runs (profiles, schema validation, monitor intake).

    `kind = "spark"` runs it as Spark jobs (`pip install 'keel[spark]'`): `master` is the
    Spark master URL ("local[2]", "yarn", "spark://host:7077"; empty: the active session's or
    spark-submit's), `settings` any Spark properties (`"spark.executor.memory" = "4g"`).
    """

    kind: Literal["local", "spark"] = "local"
    master: str | None = None
    app_name: str = Field("keel", min_length=1)
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("settings")
    @classmethod
    def _spark_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not key.startswith("spark."):
                raise ValueError(f"a Spark setting starts with 'spark.', got {key!r}")
        return value


class AlertsSection(_Section):
    """[alerts]: where `keel monitor` sends an alert when a monitor check fails."""

    webhooks: list[str] = Field(default_factory=list)  # JSON POST to each
    format: Literal["json", "slack"] = "json"  # slack: a Slack-compatible {"text": ...} body
    retries: int = Field(3, ge=0, le=10)  # with exponential backoff
    timeout_seconds: float = Field(5.0, gt=0)

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.match(r"^https?://[^\s/]+", url):
                raise ValueError(f"a webhook must be an http(s) URL, got {url!r}")
        return value


class Attestation(_Section):
    """[attest."<practice>"]: a practice done by hand and documented; worth 0.5 while fresh."""

    evidence: str = Field(min_length=1)
    by: str = Field(min_length=1)
    date: dt.date


class KeelConfig(_Section):
    """The whole keel.toml."""

    system: SystemSection
    data: DataSection
    model: ModelSection
    importance: ImportanceSection = ImportanceSection()
    cost: CostSection = CostSection()
    new_feature: NewFeatureSection = NewFeatureSection()
    reproducibility: ReproducibilitySection = ReproducibilitySection()
    smoke: SmokeSection = SmokeSection()
    explain: ExplainSection = ExplainSection()
    tuning: TuningSection = TuningSection()
    staleness: StalenessSection = StalenessSection()
    slices: SlicesSection = SlicesSection()
    fairness: FairnessSection = FairnessSection()
    policy: PolicySection = PolicySection()
    baseline: BaselineSection = BaselineSection()
    registry: RegistrySection = RegistrySection()
    gate: GateSection = GateSection()
    score: ScoreSection = ScoreSection()
    serve: ServeSection = ServeSection()
    serving: ServingSection = ServingSection()
    canary: CanarySection = CanarySection()
    drill: DrillSection = DrillSection()
    monitor: MonitorSection = MonitorSection()
    alerts: AlertsSection = AlertsSection()
    engine: EngineSection = EngineSection()
    attest: dict[str, Attestation] = Field(default_factory=dict)

    @field_validator("attest")
    @classmethod
    def _practice_ids(cls, value: dict[str, Attestation]) -> dict[str, Attestation]:
        for key in value:
            if not PRACTICE_ID.match(key):
                raise ValueError(
                    f"attestation for unknown practice {key!r}; expected an id such as "
                    "'data.1' or 'monitor.7'"
                )
        return value

    @model_validator(mode="after")
    def _slice_floor(self) -> KeelConfig:
        if self.slices.min_metric is not None:
            try:
                check_floor(self.system.metric, self.slices.min_metric)
            except ValueError as exc:
                raise ValueError(f"[slices] min_metric: {exc}") from None
        return self

    @model_validator(mode="after")
    def _distinct_roles(self) -> KeelConfig:
        s = self.system
        roles = {"target": s.target, "id": s.id, "timestamp": s.timestamp}
        for attr in self.fairness.sensitive:
            for role, column in roles.items():
                if column == attr:
                    raise ValueError(
                        f"[fairness] sensitive attribute {attr!r} is also the {role} column"
                    )
        return self


def parse_config(data: dict[str, Any], *, file: str = "keel.toml") -> KeelConfig:
    """Validate a keel.toml already parsed into a dict."""
    try:
        return KeelConfig.model_validate(data)
    except ValidationError as exc:
        lines = [error_message(file, e, KeelConfig) for e in exc.errors()]
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None


def registry_ref(config: KeelConfig, root: Path) -> RegistryRef:
    """The registry of the system configured by `config` in `root`: `[registry] uri`, and
    `[registry] model` (default: the system's name); Keel's own files in `root/.keel`."""
    from keel.registry.ref import RegistryRef

    return RegistryRef(
        uri=config.registry.uri,
        root=root,
        model=config.registry.model or config.system.name,
        system=config.system.name,
        state=root / ".keel",
    )


def find_config(path: str | Path = ".") -> Path:
    """The keel.toml at `path`, or inside `path` when it is a folder."""
    p = Path(path)
    candidate = p / "keel.toml" if p.is_dir() else p
    if not candidate.is_file():
        raise ConfigError(
            f"{candidate}: no keel.toml here; run `keel init --data YOUR_DATA` to write one"
        )
    return candidate


def load_config(path: str | Path = ".") -> tuple[KeelConfig, Path]:
    """Read and validate keel.toml; return it with the path of the file read."""
    file = find_config(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file.name}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read: {exc}") from None
    return parse_config(data, file=file.name), file
