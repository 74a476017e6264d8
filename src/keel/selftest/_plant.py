"""What the fault catalogues plant with: a copy's configuration, data and code, edited for any
system (the columns come from the copy's own data and config, never from an example's).

- `config` / `save_config`: the copy's keel.toml as a dict, and writing it back;
- `system`: the copy as a `System` (its code re-imported from disk);
- `frames` / `save_frames`: the raw rows of the files `[data] train` and `eval` name (Parquet,
  CSV, globs, SQL), and their edited versions, written as Parquet under `.selftest/data/` with
  keel.toml pointed at them;
- `wrap`: code appended to the module of `[model] features` or `train` (the user's function
  renamed and called by a planted one of the same name), or, when that module is not in the
  system's folder (or there is no feature function), a module of its own the config points at.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from keel.data.sources import read_frame
from keel.selftest import _toml
from keel.selftest._copy import forget_modules
from keel.selftest.fault import Copy, NotApplicable
from keel.system import System

SPLITS = ("train", "eval")


def config(copy: Copy) -> dict[str, Any]:
    """The copy's keel.toml, parsed."""
    return _toml.read(copy.config_file)


def save_config(copy: Copy, data: dict[str, Any]) -> None:
    """Write the copy's keel.toml."""
    _toml.write(copy.config_file, data)


def system(copy: Copy) -> System:
    """The copy as a System, its code imported afresh from the copy's folder."""
    forget_modules(copy.root)
    return System.from_path(copy.config_file)


def frames(copy: Copy) -> dict[str, pd.DataFrame]:
    """The raw rows of each data file keel.toml names ("train", and "eval" when configured)."""
    data = config(copy)["data"]
    encoding = data.get("encoding", "utf-8")
    return {
        split: read_frame(
            data[split], copy.root, key=f"keel.toml: [data] {split}", encoding=encoding
        )
        for split in SPLITS
        if split in data
    }


def save_frames(copy: Copy, edited: dict[str, pd.DataFrame]) -> None:
    """Write edited splits as Parquet under `.selftest/data/` and point keel.toml at them."""
    folder = copy.root / ".selftest" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    data = config(copy)
    for split, frame in edited.items():
        frame.to_parquet(folder / f"{split}.parquet", index=False)
        data["data"][split] = f".selftest/data/{split}.parquet"
    save_config(copy, data)


def role_columns(copy: Copy) -> list[str]:
    """Target, id, timestamp and sensitive columns: never picked as an ordinary input."""
    c = config(copy)
    s = c.get("system", {})
    roles = [s.get("target"), s.get("id"), s.get("timestamp")]
    return [r for r in roles if r] + list(c.get("fairness", {}).get("sensitive", []))


def module_file(root: Path, module: str) -> Path | None:
    """The file of `module` in the folder `root` (a module or a package), or None."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


FEATURES_WRAPPER = """
def {func}(raw, *args, **kwargs):
    out = {original}(raw, *args, **kwargs)
{body}
    return out
"""
TRAIN_WRAPPER = """
def {func}(frame, target, params, seed, *args, **kwargs):
{body}
"""
NO_FEATURES = """
ROLES = {roles!r}


def build(raw):
    out = raw.drop(columns=[c for c in ROLES if c in raw.columns])
{body}
    return out
"""


def wrap(copy: Copy, which: str, body: str, *, prelude: str = "", why: str = "") -> None:
    """Plant `body` around the user's `[model] features` or `train` function (`which`).

    For "features", `body` edits `out` (the user's model inputs) knowing `raw`; for "train",
    it calls `_keel_selftest_original(frame, target, params, seed)` and returns an estimator.
    `prelude` is module-level code (imports, classes) placed before the planted function.
    """
    data = config(copy)
    spec = data.get("model", {}).get(which)
    original = "_keel_selftest_original"
    indented = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    header = f"\n\n# -- planted by `keel selftest`: {why or 'a fault'} --\n"
    prelude = textwrap.dedent(prelude).strip("\n")
    if spec is None:
        if which != "features":
            raise NotApplicable("no [model] train entry point")
        roles = role_columns(copy)
        text = header + prelude + "\n" + NO_FEATURES.format(roles=roles, body=indented)
        (copy.root / "_keel_selftest_features.py").write_text(text, encoding="utf-8")
        data["model"]["features"] = "_keel_selftest_features:build"
        save_config(copy, data)
        return
    module, func = spec.split(":")
    template = FEATURES_WRAPPER if which == "features" else TRAIN_WRAPPER
    planted = template.format(func=func, original=original, body=indented)
    file = module_file(copy.root, module)
    if file is not None:
        text = file.read_text(encoding="utf-8")
        text += f"{header}{prelude}\n{original} = {func}\n{planted}"
        file.write_text(text, encoding="utf-8")
    else:  # an installed entry point (e.g. keel.trainers): a module of the copy's own wraps it
        name = f"_keel_selftest_{which}"
        text = f"{header}from {module} import {func} as {original}\n{prelude}\n{planted}"
        (copy.root / f"{name}.py").write_text(text, encoding="utf-8")
        data["model"][which] = f"{name}:{func}"
        save_config(copy, data)
    forget_modules(copy.root)


def add_inputs(copy: Copy, columns: dict[str, Any], *, why: str) -> None:
    """Add raw columns to every data file (values: a function of the raw frame) and make them
    model inputs: the feature function passes each one on, as the model input of that name."""
    edited = {}
    for split, frame in frames(copy).items():
        frame = frame.copy()
        for name, make in columns.items():
            frame[name] = make(frame)
        edited[split] = frame
    save_frames(copy, edited)
    names = list(columns)
    wrap(
        copy,
        "features",
        f"for _name in {names!r}:\n    if _name in raw.columns:\n"
        "        out[_name] = raw[_name].to_numpy()",
        why=why,
    )


def numeric_inputs(copy: Copy) -> list[str]:
    """The numeric model inputs of the clean copy (what the feature function builds)."""
    inputs = system(copy).dataset("train").inputs
    return [str(c) for c in inputs.columns if pd.api.types.is_numeric_dtype(inputs[c])]
