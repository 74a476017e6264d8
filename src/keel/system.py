"""The user's ML system as one object: its configuration, data, feature and training code.

A `System` is built from keel.toml (`System.from_path`) or directly from a `KeelConfig`. It
loads the data, builds model inputs with the user's feature function, trains with the user's
training function and predicts. Checks share one trained model and its evaluation predictions,
cached under `.keel/cache/` and keyed by the hash of code, data and parameters, so a second run
with nothing changed does not retrain.

The training contract: `train(frame, target, params, seed) -> estimator`, where `frame` holds
the model inputs and the target column, and the estimator has the scikit-learn API (`predict`,
and `predict_proba` for classifiers) on a frame of model inputs.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from keel.cache import Cache, digest
from keel.config import KeelConfig, load_config
from keel.data.sources import describe, read_frame
from keel.dependencies import (
    imported_top_names,
    installed_state,
    keel_source_hash,
    kept_entry_files,
    package_versions,
)
from keel.errors import CheckError, ConfigError, DataError, UserCodeError, user_traceback
from keel.model.contract import Dataset, Split
from keel.model.metrics import METRICS, Predictions, compute
from keel.model.unpredictable import Unpredictable, describe_unpredictable, find_unpredictable

if TYPE_CHECKING:
    from keel.registry.ref import RegistryRef

# Folders never holding the user's code: Keel's own state, virtualenvs, caches, VCS metadata.
IGNORED_DIRS = {".keel", ".venv", "venv", "__pycache__", "node_modules", ".git"}


@dataclass
class Trained:
    """The system's model trained on the training split, and its evaluation predictions."""

    estimator: Any
    predictions: Predictions  # on the evaluation rows the model can predict
    metric: float
    train_seconds: float
    unpredictable: Unpredictable | None = None  # evaluation rows the model raises on


def _import_entry(spec: str, root: Path, key: str) -> Callable[..., Any]:
    module_name, func_name = spec.split(":")
    root_str = str(root)
    if root_str in sys.path:
        sys.path.remove(root_str)
    sys.path.insert(0, root_str)
    _forget_foreign_modules(module_name.split(".")[0], root)
    where = f'keel.toml: {key} = "{spec}"'
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{where}: module {module_name} cannot be imported ({exc}); expected it under {root}"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"{where}: importing module {module_name} failed: {type(exc).__name__}: {exc}"
        ) from None
    func = getattr(module, func_name, None)
    if func is None:
        raise ConfigError(f"{where}: module {module_name} has no function {func_name}")
    if not callable(func):
        raise ConfigError(f"{where}: {module_name}.{func_name} is not a function")
    return func


def _defined_in_source(spec: str, root: Path) -> bool:
    """Whether the entry point `module:function` is, without importing it, a function defined
    at the top of a module file of the system (`root/a/b.py` or `root/a/b/__init__.py`) that
    parses. Loading a system imports only the entry points this cannot confirm (so their
    errors show at loading); the others are imported when first used, and a command that never
    trains (`keel monitor`) does not import the training code's libraries."""
    import ast

    module_name, _, func_name = spec.partition(":")
    parts = module_name.split(".")
    for file in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if file.is_file():
            break
    else:
        return False
    try:
        tree = ast.parse(file.read_bytes(), filename=str(file))
    except (SyntaxError, ValueError, OSError):
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func_name
        for node in tree.body
    )


def _forget_foreign_modules(top: str, root: Path) -> None:
    """Drop an imported package that shadows the system's own of the same name (another system).

    Only a package the system itself provides (`root/top.py` or `root/top/`) is replaced;
    installed packages such as `keel.trainers` are left alone.
    """
    if not ((root / f"{top}.py").exists() or (root / top).is_dir()):
        return
    module = sys.modules.get(top)
    file = getattr(module, "__file__", None) if module else None
    if file and not Path(file).resolve().is_relative_to(root.resolve()):
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]


def frame_hash(frame: pd.DataFrame) -> str:
    """A hash of a frame's column names, types and values (not its index)."""
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def code_hash(root: Path, *, exclude: set[str] | None = None) -> str:
    """A hash of every Python file under `root`, outside caches, virtualenvs and `exclude`."""
    skip = IGNORED_DIRS | (exclude or set())
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in skip or part.startswith(".") for part in rel.parts[:-1]):
            continue
        h.update(str(rel).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


class System:
    """A user's ML system: configuration, data, feature and training code, and its model."""

    def __init__(
        self,
        config: KeelConfig,
        root: str | Path,
        *,
        config_file: Path | None = None,
        use_cache: bool = True,
        deep: bool = False,
    ) -> None:
        self.config = config
        self.deep = deep  # `keel score --deep`: run the costly variants of checks too
        self.root = Path(root).resolve()
        self.config_file = config_file
        self.cache = Cache(self.root / ".keel" / "cache", enabled=use_cache)
        self._raw: dict[str, pd.DataFrame] = {}
        self._datasets: dict[str, Dataset] = {}
        self._run: dict[str, Any] = {}  # what this run read once for several checks (`read_once`)

    @classmethod
    def from_path(
        cls, path: str | Path = ".", *, use_cache: bool = True, deep: bool = False
    ) -> System:
        """The system described by keel.toml at `path` (the file or its folder)."""
        config, file = load_config(path)
        system = cls(config, file.parent, config_file=file, use_cache=use_cache, deep=deep)
        model = config.model
        for spec, attribute in (
            (model.train, "train_function"),
            (model.features, "features_function"),
        ):
            if spec is not None and not _defined_in_source(spec, system.root):
                getattr(system, attribute)  # resolved now: errors belong to loading
        return system

    def with_data(
        self, train: pd.DataFrame, eval: pd.DataFrame, *, registry_uri: str | None = None
    ) -> System:
        """The same system on other rows (a sample, say), uncached; optionally another registry.

        Used by checks that run the whole pipeline on a small sample without touching the
        user's cache or registry (infra.3).
        """
        config = self.config
        if registry_uri is not None:
            registry = config.registry.model_copy(update={"uri": registry_uri})
            config = config.model_copy(update={"registry": registry})
        derived = System(config, self.root, config_file=self.config_file, use_cache=False)
        derived._raw = {"train": train.reset_index(drop=True), "eval": eval.reset_index(drop=True)}
        return derived

    # -- names ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.system.name

    @property
    def task(self) -> str:
        return self.config.system.task

    @property
    def target(self) -> str:
        return self.config.system.target

    @property
    def metric_name(self) -> str:
        return self.config.system.metric

    @property
    def keel_dir(self) -> Path:
        return self.root / ".keel"

    @property
    def registry(self) -> RegistryRef:
        """The system's registry: `[registry] uri`, and `[registry] model` (default: its name)."""
        from keel.config import registry_ref

        return registry_ref(self.config, self.root)

    # -- code -------------------------------------------------------------------------------
    @cached_property
    def train_function(self) -> Callable[..., Any]:
        """The user's `train(frame, target, params, seed)`."""
        return _import_entry(self.config.model.train, self.root, "[model] train")

    @cached_property
    def features_function(self) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
        """The user's `build(raw) -> inputs`, or None when inputs are the raw columns."""
        spec = self.config.model.features
        return None if spec is None else _import_entry(spec, self.root, "[model] features")

    # -- data -------------------------------------------------------------------------------
    def role_columns(self) -> list[str]:
        """Columns that are never model inputs by default: target, id, timestamp, sensitive."""
        s = self.config.system
        cols = [s.target, s.id, s.timestamp, *self.config.fairness.sensitive]
        return [c for c in cols if c]

    def raw(self, split: Split, *, all_rows: bool = False) -> pd.DataFrame:
        """The raw rows of a split, as read (evaluation held out when [data] eval is absent).

        Evaluation rows the trained model raises on (`unpredictable`) are left out unless
        `all_rows`: checks judge the model on the rows it can predict, and infra.2 reports
        the others.
        """
        frame = self._read(split)
        if split == "eval" and not all_rows and self.unpredictable is not None:
            if "eval-kept" not in self._raw:
                kept = frame[self.unpredictable.kept()].reset_index(drop=True)
                self._raw["eval-kept"] = kept
            return self._raw["eval-kept"]
        return frame

    @property
    def unpredictable(self) -> Unpredictable | None:
        """Evaluation rows the trained model raises on, or None when it predicts them all."""
        return self.trained.unpredictable

    def _read(self, split: Split) -> pd.DataFrame:
        if split not in self._raw:
            if split == "train" or self.config.data.eval is not None:
                source = self.config.data.train if split == "train" else self.config.data.eval
                frame = read_frame(
                    source,
                    self.root,
                    key=f"keel.toml: [data] {split}",
                    encoding=self.config.data.encoding,
                )
                self._check_columns(frame, split)
                if split == "train" and self.config.data.eval is None:
                    frame = self._holdout(frame)
                self._raw[split] = frame
            else:
                self._read("train")
        return self._raw[split]

    def _check_columns(self, frame: pd.DataFrame, split: str) -> None:
        s = self.config.system
        source = describe(getattr(self.config.data, split))
        wanted = {
            "[system] target": s.target,
            "[system] id": s.id,
            "[system] timestamp": s.timestamp,
        }
        wanted = [
            *wanted.items(),
            *(("[fairness] sensitive", c) for c in self.config.fairness.sensitive),
        ]
        for key, column in wanted:
            if column and column not in frame.columns:
                shown = ", ".join(map(str, frame.columns[:30]))
                raise DataError(
                    f'keel.toml: {key} = "{column}": no such column in [data] {split} '
                    f"({source}); columns are: {shown}"
                )
        if frame[s.target].isna().any():
            n = int(frame[s.target].isna().sum())
            raise DataError(
                f'keel.toml: [system] target = "{s.target}": {n} of {len(frame)} rows of '
                f"[data] {split} ({source}) have no label; expected a label on every row"
            )
        if s.task != "regression":
            classes = frame[s.target].unique()
            if len(classes) < 2:
                raise DataError(
                    f'keel.toml: [system] target = "{s.target}": every row of [data] {split} '
                    f"({source}) has the same label {classes[0]!r}; a {s.task} task needs at "
                    "least two classes"
                )

    def _holdout(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Split off evaluation rows: the newest by timestamp, or a seeded random share."""
        fraction = self.config.data.eval_fraction
        ts = self.config.system.timestamp
        if ts:
            order = np.argsort(frame[ts].to_numpy(), kind="stable")
        else:
            order = np.random.default_rng(self.config.model.seed).permutation(len(frame))
        cut = int(round(len(frame) * (1 - fraction)))
        if cut <= 0 or cut >= len(frame):
            raise DataError(
                f"keel.toml: [data] eval_fraction = {fraction}: leaves no rows for training or "
                f"evaluation out of {len(frame)}"
            )
        self._raw["eval"] = frame.iloc[order[cut:]].reset_index(drop=True)
        return frame.iloc[order[:cut]].reset_index(drop=True)

    def inputs(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Model inputs for raw rows: the feature function's output, or the non-role columns."""
        func = self.features_function
        if func is None:
            drop = [c for c in self.role_columns() if c in raw.columns]
            return raw.drop(columns=drop)
        spec = self.config.model.features
        try:
            out = func(raw.copy())
        except Exception as exc:
            raise UserCodeError(
                f'keel.toml: [model] features = "{spec}" raised {type(exc).__name__}: {exc}',
                user_traceback(exc, self.root),
            ) from exc
        if not isinstance(out, pd.DataFrame) or len(out) != len(raw):
            got = type(out).__name__ + (f" of {len(out)} rows" if hasattr(out, "__len__") else "")
            raise CheckError(
                f'[model] features = "{spec}" returned {got}; expected a DataFrame with one row '
                f"per input row ({len(raw)})"
            )
        if self.target in out.columns:
            raise CheckError(
                f'[model] features = "{spec}" returned the target column "{self.target}" as a '
                "model input; drop it in the feature function"
            )
        return out.set_axis(raw.index)

    def dataset(self, split: Split, *, all_rows: bool = False) -> Dataset:
        """Raw rows, model inputs and target of a split (built once per System).

        For "eval", only the rows the trained model can predict unless `all_rows`.
        """
        if split == "eval" and not all_rows and self.unpredictable is not None:
            if "eval-kept" not in self._datasets:
                full = self.dataset("eval", all_rows=True)
                raw = self.raw("eval")
                inputs = full.inputs[self.unpredictable.kept()].set_axis(raw.index)
                self._datasets["eval-kept"] = Dataset(raw, inputs, raw[self.target])
            return self._datasets["eval-kept"]
        if split not in self._datasets:
            raw = self._read(split)
            self._datasets[split] = Dataset(raw, self.inputs(raw), raw[self.target])
        return self._datasets[split]

    # -- training and prediction ------------------------------------------------------------
    def fit(
        self,
        inputs: pd.DataFrame,
        target: pd.Series,
        *,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Any:
        """Train the user's model on these inputs (the training contract, called once)."""
        frame = inputs.copy()
        frame[self.target] = target.to_numpy()
        params = dict(self.config.model.params if params is None else params)
        seed = self.config.model.seed if seed is None else seed
        try:
            estimator = self.train_function(frame, self.target, params, seed)
        except Exception as exc:
            raise UserCodeError(
                f'keel.toml: [model] train = "{self.config.model.train}" raised '
                f"{type(exc).__name__}: {exc}",
                user_traceback(exc, self.root),
            ) from exc
        if not hasattr(estimator, "predict"):
            raise CheckError(
                f'[model] train = "{self.config.model.train}" returned '
                f"{type(estimator).__name__}; expected a fitted estimator with predict()"
            )
        return estimator

    def predict(
        self, estimator: Any, inputs: pd.DataFrame, *, only_for: str | None = None
    ) -> Predictions:
        """Predictions (and class probabilities for classifiers) of an estimator on inputs.

        `only_for` a metric of probabilities (ROC AUC, log loss, …), the model is asked for its
        probabilities only and the labels are the most probable classes: for loops that predict
        hundreds of shuffled frames to compute that one metric (data.2), half the work.
        """
        if self.task == "regression" or not hasattr(estimator, "predict_proba"):
            return Predictions(np.asarray(estimator.predict(inputs)))
        proba = np.asarray(estimator.predict_proba(inputs), dtype=float)
        classes = np.asarray(getattr(estimator, "classes_", np.arange(proba.shape[1])))
        if only_for is not None and METRICS[only_for].reads == "score":
            labels = classes[np.argmax(proba, axis=1)]
        else:
            labels = np.asarray(estimator.predict(inputs))
        return Predictions(labels, proba, classes)

    def evaluate(self, target: Any, predictions: Predictions, metric: str | None = None) -> float:
        """A metric (the primary one by default) of predictions against the target."""
        return compute(metric or self.metric_name, np.asarray(target), predictions)

    def entry_files(self) -> dict[str, tuple[Path, str]]:
        """The files of the entry points' modules and of the user's modules they import, by
        machine-independent name: (file, SHA-256). Found by importing the entry points once,
        then known without importing while those files are unchanged
        (`keel.dependencies.kept_entry_files`, kept in `.keel/cache/model-code.json`; neither
        read nor written when the system's cache is off)."""
        c = self.config
        entries = [spec.split(":")[0] for spec in (c.model.train, c.model.features) if spec]

        def import_entries() -> None:
            self.train_function  # noqa: B018
            self.features_function  # noqa: B018

        kept = self.keel_dir / "cache" / "model-code.json" if self.cache.enabled else None
        return kept_entry_files(self.root, entries, import_entries, kept)

    def code_files(self) -> list[Path]:
        """The source files of the user's code: the entry point modules, every module of the
        user's they import (wherever it lives), and every Python file under the system folder
        outside the tests, Keel's state and virtualenvs."""
        c = self.config
        tests = (self.root / c.model.tests).resolve() if c.model.tests else None
        files = {path.resolve() for path, _ in self.entry_files().values()}
        for path in self.root.rglob("*.py"):
            rel = path.relative_to(self.root)
            if any(part in IGNORED_DIRS or part.startswith(".") for part in rel.parts[:-1]):
                continue
            files.add(path.resolve())
        return sorted(
            f for f in files if f.exists() and (tests is None or not f.is_relative_to(tests))
        )

    def environment(self, files: list[Path] | None = None) -> dict[str, Any]:
        """Python's version and the versions of the installed packages the user's code
        (`files`, by default `code_files()`) imports, and those they require: a change there
        can change the trained model."""
        files = self.code_files() if files is None else files
        names = imported_top_names(files) | {"numpy", "pandas", "sklearn"}
        names.discard("keel")  # Keel's own code is covered by its version
        key = digest(sorted(names), installed_state())  # computed again once anything is installed
        packages = self.cache.memo("environment", key, lambda: package_versions(names))
        return {"python": sys.version, "packages": packages}

    def fingerprint(self) -> dict[str, str]:
        """Hashes of what the trained model depends on: code, environment, data and model
        configuration. Code files are named relative to the system's folder, and where the
        prediction log is written is left out, so a copy of the system in another folder with
        a log of its own (`keel selftest`) keys the same trained state."""
        c = self.config
        files = self.code_files()
        return {
            "code": self.code_hash(files),
            "environment": digest(self.environment(files)),
            "train": self.content_hash("train"),
            "eval": self.content_hash("eval"),
            "config": digest(
                c.system.model_dump(mode="json"),
                c.data.model_dump(mode="json", exclude={"serving_log"}),
                c.model.model_dump(mode="json"),
                c.fairness.sensitive,
            ),
        }

    def code_hash(self, files: list[Path] | None = None) -> str:
        """A hash of the user's code files (`files`, by default `code_files()`): their paths
        and contents. Paths are named relative to the system's folder, so a copy elsewhere
        (`keel selftest`) has the same hash."""
        h = hashlib.sha256()
        for path in self.code_files() if files is None else files:
            name = path.relative_to(self.root) if path.is_relative_to(self.root) else path
            h.update(str(name).encode())
            h.update(path.read_bytes())
        return h.hexdigest()

    def content_hash(self, split: Split) -> str:
        """The hash of a split's raw rows, as `fingerprint()` holds it (and a version's lineage
        records): monitor.1 reads it again for each split without the rest of the
        fingerprint."""
        return frame_hash(self._read(split))

    @cached_property
    def key(self) -> str:
        """The cache key of this system's trained state."""
        from keel import __version__

        return digest(self.fingerprint(), __version__, keel_source_hash())

    def read_once(self, name: str, compute: Callable[[], Any]) -> Any:
        """`compute()` the first time `name` is asked of this System object, the same value
        after: what the checks of one run share (the monitor's intake, the registry's versions),
        kept in memory for this run only, unlike `cached` (on disk, across runs)."""
        if name not in self._run:
            self._run[name] = compute()
        return self._run[name]

    def cached(self, name: str, compute: Callable[[], Any], *extra: Any) -> Any:
        """A result computed once per (system state, name, extra) and reused across runs."""
        return self.cache.memo(name, digest(self.key, name, extra), compute)

    @cached_property
    def trained(self) -> Trained:
        """The model trained on the training split and evaluated on the evaluation split."""

        self.train_function  # noqa: B018 (puts the user's code on sys.path to load a cached model)

        def train() -> Trained:
            train_set, eval_set = self.dataset("train"), self.dataset("eval", all_rows=True)
            start = time.perf_counter()
            estimator = self.fit(train_set.inputs, train_set.target)
            seconds = time.perf_counter() - start
            predictions, unpredictable = self._predict_what_it_can(estimator, eval_set)
            target = eval_set.target
            if unpredictable is not None:
                target = target[unpredictable.kept()]
            metric = self.evaluate(target, predictions)
            return Trained(estimator, predictions, metric, seconds, unpredictable)

        return self.cached("trained", train)

    def _predict_what_it_can(
        self, estimator: Any, data: Dataset
    ) -> tuple[Predictions, Unpredictable | None]:
        """Predictions on the evaluation rows, leaving out (and describing) rows that raise."""
        try:
            return self.predict(estimator, data.inputs), None
        except Exception as exc:
            first = exc
        rows, unresolved = find_unpredictable(
            lambda frame: self.predict(estimator, frame), data.inputs
        )
        report = describe_unpredictable(
            rows, unresolved, data.inputs, data.raw, first, self.config.system.id
        )
        if len(rows) == len(data.inputs):
            raise UserCodeError(
                f'the model trained by [model] train = "{self.config.model.train}" raises on '
                f"every evaluation row: {report.error}",
                user_traceback(first, self.root),
            )
        try:
            predictions = self.predict(estimator, data.inputs[report.kept()])
        except Exception as exc:  # isolated rows predict alone but not together: give up
            raise UserCodeError(
                f"the model raises on evaluation rows in a way Keel could not isolate: "
                f"{type(exc).__name__}: {exc}",
                user_traceback(exc, self.root),
            ) from exc
        return predictions, report

    def preflight(self, *, train: bool = True) -> None:
        """Check once, before any check runs, what every check depends on: the data can be
        read and holds the configured columns and labels, the feature function builds one row
        of inputs per raw row, and (with `train`) the training function returns a model that
        predicts. Raises the one `KeelError` that stops the run."""
        self.dataset("train")
        self.dataset("eval", all_rows=True)
        if train:
            self.trained  # noqa: B018
