"""Faults of the model section (model.1, model.3 … model.7), planted on any system's copy
(model.2's, which needs served versions and late labels, is `faults_model_online`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from keel.selftest import _plant
from keel.selftest.fault import Copy, Fault, NotApplicable
from keel.selftest.faults_model_online import FAULT as REVERSED_RANKING

SEED = 20_240_301
EDIT_CONFIG = "\n# edited after the last commit (planted by `keel selftest`)\n"
EDIT_CODE = EDIT_CONFIG + "_KEEL_SELFTEST_EDITED = True\n"


# -- model.1 -------------------------------------------------------------------------------
def uncommitted_edit(copy: Copy) -> None:
    """An edit to the training code left uncommitted: a line appended to the module of
    `[model] train` (else of `[model] features`, else to keel.toml, when both are Keel's own),
    in the copy's own repository (`keel.selftest._repo`), which held everything committed."""
    from keel.checks._code import code_files
    from keel.selftest import _repo

    if not _repo.is_repository(copy.root):
        raise NotApplicable("the system is not in a git repository: model.1 has nothing to check")
    files, _ = code_files(_plant.system(copy))
    outside = [f for f in files if not f.is_relative_to(copy.root)]
    if outside:
        raise NotApplicable(
            f"the training code lives outside the system's folder ({outside[0]}): the copy "
            "holds the folder only, so its repository cannot hold that code"
        )
    config = _plant.config(copy).get("model", {})
    modules = [config[key].split(":")[0] for key in ("train", "features") if config.get(key)]
    found = [_plant.module_file(copy.root, m) for m in modules]
    edited = [f.resolve() for f in found if f is not None and f.resolve() in files]
    target = edited[0] if edited else copy.config_file
    with target.open("a", encoding="utf-8") as out:
        out.write(EDIT_CODE if target.suffix == ".py" else EDIT_CONFIG)
    copy.notes["planted"] = f"{target.relative_to(copy.root)} edited and not committed"


# -- model.3 -------------------------------------------------------------------------------
def params_ignored(copy: Copy) -> None:
    """Training code that ignores the hyperparameters it is given: it always trains with the
    values keel.toml holds now, whatever the sweep asks for."""
    params = _plant.config(copy).get("model", {}).get("params") or {}
    if not params:
        raise NotApplicable("no [model] params to ignore")
    _plant.wrap(
        copy,
        "train",
        f"return _keel_selftest_original(frame, target, dict({params!r}), seed, *args, **kwargs)",
        why="hyperparameters ignored by training",
    )
    copy.notes["fixed"] = ", ".join(f"{k} = {v!r}" for k, v in params.items())


# -- model.4 -------------------------------------------------------------------------------
def timestamps_lost(copy: Copy) -> None:
    """Training data whose event times were lost (every row stamped with one instant, as a
    load job that writes its own run time does): the quality-versus-age curve, and with it
    the impact of staleness, can no longer be measured."""
    column = _plant.config(copy).get("system", {}).get("timestamp")
    if not column:
        raise NotApplicable("no [system] timestamp: model.4 has nothing to measure age by")
    edited = {}
    for split, frame in _plant.frames(copy).items():
        if column not in frame.columns:
            continue
        frame = frame.copy()
        frame[column] = frame[column].iloc[0]
        edited[split] = frame
    if not edited:
        raise NotApplicable(f"the data has no {column} column ([system] timestamp)")
    _plant.save_frames(copy, edited)
    copy.notes["planted"] = f"every row's {column} set to one instant"


# -- model.5 -------------------------------------------------------------------------------
def no_better_than_simple(copy: Copy) -> None:
    """Training that learns nothing: the labels shuffled before the user's training function
    sees them, so a constant, linear or shallow model does as well or better."""
    _plant.wrap(
        copy,
        "train",
        """
        import numpy as _np
        _frame = frame.copy()
        _frame[target] = _np.random.default_rng(20240301).permutation(_frame[target].to_numpy())
        return _keel_selftest_original(_frame, target, params, seed, *args, **kwargs)
        """,
        why="training that learns nothing (labels shuffled)",
    )
    copy.notes["planted"] = "the training labels shuffled before training"


# -- model.6 -------------------------------------------------------------------------------
def _slice(copy: Copy, frame: pd.DataFrame) -> tuple[str, object, int]:
    cfg = _plant.config(copy).get("slices", {})
    min_size = int(cfg.get("min_size", 0) or 0)
    columns = list(cfg.get("columns", []))
    if not columns and cfg.get("search") is False:
        raise NotApplicable("no [slices] columns configured and the worst-slice search is off")
    if not columns:
        roles = set(_plant.role_columns(copy))
        columns = [
            str(c)
            for c in frame.columns
            if str(c) not in roles and frame[c].nunique() <= 20 and not _is_float(frame[c])
        ]
    candidates = []
    for column in columns:
        if column not in frame.columns or _is_float(frame[column]):
            continue
        counts = frame[column].value_counts()
        for value, n in counts.items():
            if n >= max(min_size, 30) and n <= 0.5 * len(frame):
                candidates.append((int(n), column, value))
    if not candidates:
        raise NotApplicable(
            f"no slice of a configured column ([slices] columns) with [slices] min_size "
            f"({min_size}) rows and at most half the evaluation rows"
        )
    roomy = [c for c in candidates if c[0] >= 2 * max(min_size, 30)] or candidates
    n, column, value = min(roomy, key=lambda c: (c[0], c[1]))
    return column, value, n


def _is_float(column: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(column)


def corrupted_slice(copy: Copy) -> None:
    """The evaluation rows of one slice corrupted: each of their input columns shuffled
    among them (a broken upstream feed for one region, say), so the model cannot rank them."""
    frames = _plant.frames(copy)
    split = "eval" if "eval" in frames else "train"
    frame = frames[split].copy()
    column, value, n = _slice(copy, frame)
    rows = np.flatnonzero((frame[column] == value).to_numpy())
    keep = set(_plant.role_columns(copy)) | {column}
    rng = np.random.default_rng(SEED)
    for name in frame.columns:
        if str(name) in keep:
            continue
        values = frame[name].to_numpy(copy=True)
        values[rows] = values[rng.permutation(rows)]
        frame[name] = values
    _plant.save_frames(copy, {split: frame})
    copy.notes["slice"] = f"{column} = {value} ({n} rows of [data] {split})"


# -- model.7 -------------------------------------------------------------------------------
def proxy_input(copy: Copy) -> None:
    """A model input that stands in for a sensitive attribute: each group's code, plus a
    little noise."""
    sensitive = list(_plant.config(copy).get("fairness", {}).get("sensitive", []))
    if not sensitive:
        raise NotApplicable("no sensitive attribute ([fairness] sensitive)")
    attribute = sensitive[0]

    def proxy(frame: pd.DataFrame) -> np.ndarray:
        codes = pd.Series(pd.factorize(frame[attribute].astype(str), sort=True)[0])
        noise = np.random.default_rng(SEED).normal(0, 0.05, size=len(frame))
        return codes.to_numpy(dtype=float) + noise

    _plant.add_inputs(copy, {"selftest_proxy": proxy}, why="a proxy of a sensitive attribute")
    copy.notes["input"] = f"selftest_proxy (the code of {attribute}, plus noise)"


FAULTS: list[Fault] = [
    Fault("model.1", "training code edited and not committed", uncommitted_edit, key="model.1"),
    REVERSED_RANKING,
    Fault("model.3", "hyperparameters ignored by training", params_ignored, key="model.3"),
    Fault("model.4", "event times lost from the data", timestamps_lost, key="model.4"),
    Fault("model.5", "a model no better than a simple one", no_better_than_simple, key="model.5"),
    Fault("model.6", "a corrupted slice", corrupted_slice, key="model.6"),
    Fault("model.7", "a proxy of a sensitive attribute", proxy_input, key="model.7"),
]
