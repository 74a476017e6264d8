"""Faults of the data section (data.1 … data.7), planted on any system's copy.

Every column name, data file and module comes from the copy's own keel.toml and data: a new
input is added to each data file keel.toml names and passed on by the feature function; code
faults edit the copy's feature module.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import numpy as np
import pandas as pd

from keel.selftest import _plant
from keel.selftest.fault import Copy, Fault, NotApplicable

SEED = 20_240_229


def _rng(frame: pd.DataFrame, salt: int) -> np.random.Generator:
    return np.random.default_rng([SEED, salt, len(frame)])


# -- data.2 --------------------------------------------------------------------------------
def noise_input(copy: Copy) -> None:
    """A new model input of pure noise: random numbers with no relation to the target."""
    _plant.add_inputs(
        copy,
        {"selftest_noise": lambda f: _rng(f, 1).normal(size=len(f))},
        why="a noise input",
    )
    copy.notes["input"] = "selftest_noise (standard normal noise)"


def duplicate_input(copy: Copy) -> None:
    """A copy of the first numeric model input, as one more model input."""
    numeric = _plant.numeric_inputs(copy)
    if not numeric:
        raise NotApplicable("no numeric model input to duplicate")
    source = numeric[0]
    _plant.wrap(
        copy,
        "features",
        f"out[{source + '_copy'!r}] = out[{source!r}].to_numpy()",
        why="a duplicate input",
    )
    copy.notes["input"] = f"{source}_copy (a copy of {source})"


# -- data.3 --------------------------------------------------------------------------------
def _free_text(frame: pd.DataFrame) -> np.ndarray:
    draws = _rng(frame, 3).integers(0, 16, size=(len(frame), 96))
    letters = np.array(list("0123456789abcdef"))[draws]
    return np.array(["".join(row) for row in letters], dtype=object)


def expensive_input(copy: Copy) -> None:
    """A model input that costs memory and carries nothing: a 96-character random note."""
    _plant.add_inputs(copy, {"selftest_note": _free_text}, why="an expensive useless input")
    copy.notes["input"] = "selftest_note (96 random characters per row)"


# -- data.4 --------------------------------------------------------------------------------
def _name_for(pattern: str) -> str:
    """A column name matching a deny-list glob pattern."""
    name = pattern.replace("*", "selftest").replace("?", "x")
    name = re.sub(r"\[!?([^\]])[^\]]*\]", r"\1", name)  # a character class: its first member
    return name if fnmatch.fnmatchcase(name, pattern) else f"{pattern}_selftest"


def denied_input(copy: Copy) -> None:
    """A model input the feature policy forbids: a deny-listed name, else a sensitive
    attribute passed to the model."""
    cfg = _plant.config(copy)
    deny = list(cfg.get("policy", {}).get("deny", []))
    sensitive = list(cfg.get("fairness", {}).get("sensitive", []))
    if deny:
        name = _name_for(deny[0])
        raw = _plant.frames(copy)["train"]
        if name in raw.columns:  # the data holds it already: pass it on to the model
            _plant.wrap(copy, "features", f"out[{name!r}] = raw[{name!r}].to_numpy()", why="deny")
        else:
            _plant.add_inputs(
                copy, {name: lambda f: _rng(f, 4).normal(size=len(f))}, why="a deny-listed input"
            )
        copy.notes["input"] = f"{name} (matches [policy] deny {deny[0]!r})"
    elif sensitive:
        name = sensitive[0]
        _plant.wrap(copy, "features", f"out[{name!r}] = raw[{name!r}].to_numpy()", why="denied")
        copy.notes["input"] = f"{name} (a [fairness] sensitive attribute)"
    else:
        raise NotApplicable("no feature policy: [policy] deny and [fairness] sensitive are empty")


# -- data.5 --------------------------------------------------------------------------------
def _emails(frame: pd.DataFrame, salt: int) -> np.ndarray:
    ids = _rng(frame, salt).integers(10_000, 99_999, size=len(frame))
    return np.array([f"applicant.{i}@mail-{i % 7}.example.com" for i in ids], dtype=object)


def pii_column(copy: Copy) -> None:
    """A raw column of e-mail addresses in the training data, with no declared handling."""
    edited = {}
    for split, frame in _plant.frames(copy).items():
        edited[split] = frame.assign(selftest_contact=_emails(frame, 5))
    _plant.save_frames(copy, edited)
    copy.notes["column"] = "selftest_contact (an e-mail address per row)"


def _text_column(frame: pd.DataFrame, roles: list[str]) -> str | None:
    from keel.checks._pii import scan_columns

    found = {f.column for f in scan_columns(frame)[0]}
    for name in frame.columns:
        column = frame[name]
        text = pd.api.types.is_string_dtype(column) or isinstance(column.dtype, pd.CategoricalDtype)
        if text and str(name) not in roles and str(name) not in found:
            return str(name)
    return None


def pii_in_text(copy: Copy) -> None:
    """E-mail addresses in 1% of the rows of a text column that holds none."""
    raw = _plant.frames(copy)
    roles = _plant.role_columns(copy)
    name = _text_column(raw["train"], roles)
    if name is None:
        raise NotApplicable("the training data has no text column without personal data")
    edited = {}
    for split, frame in raw.items():
        frame = frame.copy()
        column = frame[name].astype(object)
        rows = _rng(frame, 6).random(len(frame)) < 0.01
        rows[0] = True  # at least one row
        column[rows] = _emails(frame, 7)[rows]
        frame[name] = column
        edited[split] = frame
    _plant.save_frames(copy, edited)
    copy.notes["column"] = f"{name} (e-mail addresses in 1% of its rows)"


# -- data.6 --------------------------------------------------------------------------------
def drops_new_columns(copy: Copy) -> None:
    """Feature code that keeps a fixed list of columns, so a new raw input never arrives."""
    known = [str(c) for c in _plant.system(copy).dataset("train").inputs.columns]
    _plant.wrap(
        copy,
        "features",
        f"out = out[[c for c in {known!r} if c in out.columns]]",
        why="feature code that drops a new column",
    )
    copy.notes["kept"] = f"only the {len(known)} inputs it had"


# -- data.7 --------------------------------------------------------------------------------
def _imports(text: str, module: str) -> bool:
    parent, _, last = module.rpartition(".")
    if re.search(rf"\b{re.escape(module)}\b", text):
        return True
    imported = rf"from\s+{re.escape(parent)}\s+import\s.*\b{last}\b"
    return bool(parent) and bool(re.search(imported, text))


def tests_removed(copy: Copy) -> None:
    """The tests of the feature code deleted: every test file importing the feature module."""
    cfg = _plant.config(copy).get("model", {})
    spec, tests = cfg.get("features"), cfg.get("tests")
    if not spec:
        raise NotApplicable("no feature function ([model] features) to test")
    if not tests or not (copy.root / tests).is_dir():
        raise NotApplicable("no tests folder ([model] tests)")
    module = spec.split(":")[0]
    removed: list[Any] = []
    for path in sorted((copy.root / tests).rglob("*.py")):
        is_test = path.name.startswith("test_") or path.name.endswith("_test.py")
        if is_test and _imports(path.read_text(encoding="utf-8", errors="replace"), module):
            path.unlink()
            removed.append(str(path.relative_to(copy.root)))
    if not removed:
        raise NotApplicable(f"no test file in {tests} imports {module}")
    copy.notes["removed"] = ", ".join(removed)


# -- data.1 --------------------------------------------------------------------------------
def schema_broken(copy: Copy) -> None:
    """Evaluation data that breaks the checked-in schema: a fifth of a required feature's
    values missing (an upstream join that lost rows' values, say)."""
    from keel.data.schema import load_schema

    name = _plant.config(copy).get("data", {}).get("schema", "keel.schema.yaml")
    path = copy.root / name
    if not path.is_file():
        raise NotApplicable(f"no schema file {name} ([data] schema) to break")
    schema = load_schema(path)
    frames = _plant.frames(copy)
    split = "eval" if "eval" in frames else "train"
    frame = frames[split].copy()
    roles = set(_plant.role_columns(copy))
    required = [
        n
        for n, f in schema.features.items()
        if f.presence >= 1.0 and n in frame.columns and n not in roles and not f.absent_in
    ]
    if not required:
        raise NotApplicable("no required feature (presence 1.0) in the data to break")
    column = required[0]
    rows = np.random.default_rng(SEED).random(len(frame)) < 0.2
    if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(
        frame[column]
    ):
        frame[column] = frame[column].astype("float64")  # an int column with nulls: floats
        frame.loc[rows, column] = np.nan
    else:
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = None
    _plant.save_frames(copy, {split: frame})
    copy.notes["planted"] = (
        f"{int(rows.sum())} of {len(frame)} values of {column} missing in [data] {split}"
    )


FAULTS: list[Fault] = [
    Fault("data.1", "evaluation data that breaks the schema", schema_broken, key="data.1-broken"),
    Fault("data.2", "a noise input", noise_input, key="data.2-noise"),
    Fault("data.2", "a duplicate input", duplicate_input, key="data.2-duplicate"),
    Fault("data.3", "an expensive useless input", expensive_input, key="data.3-expensive"),
    Fault("data.4", "a deny-listed input", denied_input, key="data.4-denied"),
    Fault("data.5", "a raw PII column", pii_column, key="data.5-pii-column"),
    Fault("data.5", "PII in 1% of a text column", pii_in_text, key="data.5-pii-text"),
    Fault("data.6", "feature code that drops a new column", drops_new_columns, key="data.6"),
    Fault("data.7", "feature code with its tests removed", tests_removed, key="data.7"),
]
