"""`keel init`: a commented keel.toml for a user's data, with column roles guessed.

The guesses are deliberately simple and shown to the user for review: a label named like one
(`target`, `label`, `churned`, …), an id column whose values are all distinct, a timestamp
column of date-time type or named like one, and sensitive attributes by their usual names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from keel.data.sources import read_frame
from keel.errors import ConfigError

TARGET_NAMES = re.compile(
    r"^(target|label|labels|y|class|outcome|default|defaulted|is_default|churn|churned|fraud|"
    r"is_fraud|converted|response|survived)$|(^|_)(target|label)$",
    re.IGNORECASE,
)
ID_NAMES = re.compile(r"(^|_)(id|uuid|key)$|^id_|Id$", re.IGNORECASE)
TIME_NAMES = re.compile(r"(_at|_on|date|time|timestamp|_ts)$|^(date|time|timestamp|ts)", re.I)
SENSITIVE_NAMES = re.compile(
    r"^(gender|sex|race|ethnicity|religion|nationality|marital_status|disability)$", re.I
)


@dataclass
class Guess:
    """What `keel init` guessed about the data."""

    target: str
    task: str
    id: str | None = None
    timestamp: str | None = None
    sensitive: list[str] = field(default_factory=list)
    rows: int = 0
    columns: int = 0

    def notes(self) -> list[str]:
        """One line per guess, for the user to review."""
        return [
            f"target:    {self.target} ({self.task})",
            f"id:        {self.id or '(none found)'}",
            f"timestamp: {self.timestamp or '(none found)'}",
            f"sensitive: {', '.join(self.sensitive) or '(none found)'}",
            f"data:      {self.rows} rows, {self.columns} columns",
        ]


def guess_task(values: pd.Series) -> str:
    """binary, multiclass or regression, from the label's values."""
    distinct = values.dropna().nunique()
    if distinct <= 2:
        return "binary"
    if pd.api.types.is_float_dtype(values):
        return "regression"
    if pd.api.types.is_integer_dtype(values) and distinct > 20:
        return "regression"
    return "multiclass"


def _guess_target(frame: pd.DataFrame, file: Path) -> str:
    named = [c for c in frame.columns if TARGET_NAMES.search(str(c))]
    if named:
        return str(named[0])
    raise ConfigError(
        f"{file}: cannot guess the label column among {', '.join(map(str, frame.columns[:20]))}; "
        "name it with --target COLUMN"
    )


def _guess_id(frame: pd.DataFrame, exclude: set[str]) -> str | None:
    for column in frame.columns:
        if column in exclude or not ID_NAMES.search(str(column)):
            continue
        values = frame[column]
        if values.notna().all() and values.is_unique:
            return str(column)
    return None


def _guess_timestamp(frame: pd.DataFrame, exclude: set[str]) -> str | None:
    typed = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    named = [c for c in frame.columns if TIME_NAMES.search(str(c))]
    for column in typed + named:
        if column not in exclude:
            return str(column)
    return None


def guess(frame: pd.DataFrame, *, file: Path, target: str | None = None) -> Guess:
    """Guess the roles of a frame's columns (target, task, id, timestamp, sensitive)."""
    if target is not None and target not in frame.columns:
        raise ConfigError(
            f"--target {target!r}: no such column in {file}; columns are: "
            + ", ".join(map(str, frame.columns[:30]))
        )
    target = target or _guess_target(frame, file)
    id_col = _guess_id(frame, {target})
    ts = _guess_timestamp(frame, {target, id_col or ""})
    sensitive = [str(c) for c in frame.columns if SENSITIVE_NAMES.match(str(c))]
    return Guess(
        target,
        guess_task(frame[target]),
        id_col,
        ts,
        [c for c in sensitive if c != target],
        rows=len(frame),
        columns=len(frame.columns),
    )


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(g: Guess, *, name: str, data_path: str, tests: str | None = None) -> str:
    """The text of a commented keel.toml for these guesses (`tests`: the tests folder found)."""
    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[g.task]
    optional = lambda key, value: f"{key} = {_q(value)}" if value else f"# {key} = ..."  # noqa: E731
    sensitive = ", ".join(_q(s) for s in g.sensitive)
    tests_line = (
        f"tests = {_q(tests)}                 # your tests of the feature and training code"
        if tests
        else '# tests = "tests"                # no tests folder yet: data.7 and infra.2 run '
        "your tests"
    )
    return f"""\
# keel.toml: how Keel sees this ML system. Written by `keel init`; review every line.
# Paths are relative to this file. Full reference: the Keel README.

[system]
name = {_q(name)}
task = "{g.task}"                 # binary | multiclass | regression (guessed from the label)
target = {_q(g.target)}           # the label column
{optional("id", g.id)}               # example id: joins serving logs, labels, skew checks
{optional("timestamp", g.timestamp)}        # event time: staleness, time windows
primary_metric = "{metric}"       # a scikit-learn scorer name

[data]
train = {_q(data_path)}
# eval = "data/eval.parquet"      # without it, Keel holds out the newest 20% of rows
# eval_fraction = 0.2             #   (or a seeded random 20% when there is no timestamp)
schema = "keel.schema.yaml"
# serving_log = ".keel/logs"      # where `keel serve` logs what it served
# labels = "data/labels.parquet"  # late labels of served examples, joined on [system] id

[model]
# train(frame, target, params, seed) -> fitted estimator with the scikit-learn API.
# This ready-made one trains histogram gradient boosting; point it at your own code.
train = "keel.trainers:gradient_boosting"
# features = "yourpackage.features:build"   # build(raw) -> frame of model inputs
params = {{}}
seed = 0
{tests_line}

[slices]
columns = []                      # columns whose every value must be served well
min_size = 200                    # smallest slice judged
max_gap = 0.05                    # largest allowed drop below the overall metric
# min_metric = 0.70               # absolute floor per slice

[fairness]
sensitive = [{sensitive}]         # sensitive attributes: in the data, never model inputs
max_demographic_parity_difference = 0.10
max_equalized_odds_difference = 0.10
max_proxy_association = 0.50

[policy]
deny = []                         # glob patterns no model input may match, e.g. "ssn*"
require_owner = false

[baseline]
min_gain = 0.01                   # the model must beat simple baselines by this much

# The promotion gate (infra.4): `keel promote VERSION` checks these on the evaluation data.
# [gate]
# min = {{ {metric} = 0.75 }}
# max_regression = {{ {metric} = 0.01 }}

# Serving, canaries, rollback drills, monitoring and alerts (defaults shown):
# [serve]                         # `keel serve`
# port = 8000
# poll_seconds = 5                # how often servers follow the registry
# [canary]                        # `keel canary start VERSION`
# share = 0.1
# window = "10m"
# [drill]                         # `keel drill rollback`
# max_seconds = 30
# [monitor]                       # `keel monitor`
# window = "1d"
# [alerts]                        # failing monitor checks POST here
# webhooks = ["https://hooks.example.com/..."]

# Profiles, schema validation and the monitor intake on Spark (pip install 'keel[spark]'):
# [engine]
# kind = "spark"                  # default "local"
# master = "yarn"                 # default: the active session's, spark-submit's, or local[*]
# settings = {{ "spark.executor.memory" = "4g" }}

# A practice done by hand and documented earns half a point while fresh (90 days):
# [attest."model.2"]
# evidence = "link to the A/B test write-up"
# by = "Your Name"
# date = 2026-11-01
"""


def write_config(
    data: Path, *, directory: Path = Path("."), target: str | None = None, force: bool = False
) -> tuple[Path, Guess]:
    """Write keel.toml in `directory` for the data at `data`; return its path and the guesses."""
    directory = directory.resolve()
    path = directory / "keel.toml"
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists; pass --force to overwrite it")
    data = data.resolve()
    frame = read_frame(str(data), data.parent, key="--data")
    g = guess(frame, file=data, target=target)
    relative = os.path.relpath(data, directory)
    tests = "tests" if (directory / "tests").is_dir() else None
    text = render(
        g, name=directory.name or "ml-system", data_path=Path(relative).as_posix(), tests=tests
    )
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    ignore_keel_state(directory)
    return path, g


def ignore_keel_state(directory: Path) -> bool:
    """Make git ignore `.keel/` (Keel's cache, registry and reports) in `directory`.

    Appends to an existing .gitignore or writes one; returns whether anything was written.
    """
    ignore = directory / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    if any(line.strip().rstrip("/") in (".keel", "/.keel") for line in text.splitlines()):
        return False
    prefix = "" if not text or text.endswith("\n") else "\n"
    ignore.write_text(text + prefix + "# Keel's cache, registry and reports\n.keel/\n", "utf-8")
    return True
