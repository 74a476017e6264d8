"""Probes of the feature function with the inputs serving will send it (data.7, second part).

The feature function is called on a seeded sample of `SAMPLE_ROWS` raw training rows, clean,
to learn what it returns: column names, in order, and the kind of each column (number, date,
duration or category/text). Then on probes built from that sample:

    nulls in <column>       one column all missing (NaN, NaT or None, as its dtype allows)
    nulls everywhere        every column all missing
    empty frame             no rows, the same columns
    single row              the first row alone
    numbers = <value>       every numeric column set to 1e12, −1e12, 0 and −1 in turn
    unseen categories       every text or category column set to values never seen
    hypothesis search       a Hypothesis search over rows mixing those edits cell by cell

Each probe passes when the function does not raise and returns a DataFrame with one row per
input row, the same columns in the same order, and columns of the same kind as on clean rows
(an integer column turning float is the same kind; a column that is entirely missing is
compatible with any kind). Warnings are recorded, not failed. The search is deterministic
(`derandomize`), keeps no example database and does not shrink, so it stays within a few
seconds for fast feature functions. Hypothesis is a development dependency: without it, the
search is reported as skipped. `feature_probes` runs them for a system, cached by its state.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from keel.evidence import Table
from keel.model.importance import sample_rows
from keel.model.slices import is_categorical
from keel.system import System

SAMPLE_ROWS = 20
MAX_COLUMN_PROBES = 100  # columns probed one by one; every column is in "nulls everywhere"
EXTREMES = (1e12, -1e12, 0.0, -1.0)
UNSEEN = "keel-unseen"
SEARCH_EXAMPLES = 40
MAX_EDITS = 8

Build = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass
class ProbeResult:
    """One probe of the feature function: pass, fail or skipped, with what happened."""

    probe: str
    outcome: str
    detail: str = ""


def kind(values: pd.Series) -> str:
    """A column's kind: number, datetime, timedelta, category (text too) or empty (all missing)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred == "empty":
        return "empty"
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal", "boolean"):
        return "number"
    if inferred in ("datetime64", "datetime", "date"):
        return "datetime"
    if inferred == "timedelta":
        return "timedelta"
    return "category"


def kinds(frame: pd.DataFrame) -> list[str]:
    """The kind of every column of a frame, in order (as `kind`, without building a Series for
    columns whose dtype alone decides: fast on thousands of columns)."""
    found, by_dtype = [], {}
    for i, dtype in enumerate(frame.dtypes):
        if dtype not in by_dtype:
            if isinstance(dtype, pd.CategoricalDtype):
                by_dtype[dtype] = "category"
            elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
                by_dtype[dtype] = "number"
            elif pd.api.types.is_datetime64_any_dtype(dtype):
                by_dtype[dtype] = "datetime"
            elif pd.api.types.is_timedelta64_dtype(dtype):
                by_dtype[dtype] = "timedelta"
            else:
                by_dtype[dtype] = ""  # the values decide
        found.append(by_dtype[dtype] or kind(frame.iloc[:, i]))
    return found


def is_number(values: pd.Series) -> bool:
    """Whether a column holds numbers (not booleans or categories)."""
    return not is_categorical(values) and pd.api.types.is_numeric_dtype(values.dtype)


def _is_text(values: pd.Series) -> bool:
    return is_categorical(values) and not pd.api.types.is_bool_dtype(values.dtype)


def with_nulls(values: pd.Series, rows: np.ndarray | None = None) -> pd.Series:
    """The column missing in `rows` (all rows by default), its dtype widened where needed."""
    keep = np.ones(len(values), bool)
    keep[slice(None) if rows is None else rows] = False
    return values.where(pd.Series(keep, index=values.index))


def with_number(values: pd.Series, number: float, rows: np.ndarray | None = None) -> pd.Series:
    """The numeric column set to `number` in `rows` (all by default); integers stay integers
    when the number fits them, else the column becomes float."""
    rows = np.arange(len(values)) if rows is None else rows
    dtype = values.dtype
    if pd.api.types.is_integer_dtype(dtype) and float(number).is_integer():
        info = np.iinfo(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype)
        if info.min <= number <= info.max:
            changed = values.copy()
            changed.iloc[rows] = int(number)
            return changed
    changed = values.astype("float64")
    changed.iloc[rows] = float(number)
    return changed


def with_unseen(values: pd.Series, rows: np.ndarray | None = None) -> pd.Series:
    """The text or category column holding values never seen before in `rows`."""
    rows = np.arange(len(values)) if rows is None else rows
    text = values.astype(object).to_numpy(copy=True)
    text[rows] = [f"{UNSEEN}-{i}" for i in range(len(rows))]
    dtype = "category" if isinstance(values.dtype, pd.CategoricalDtype) else values.dtype
    return pd.Series(text, index=values.index, dtype=object).astype(dtype)


def _all_numbers(sample: pd.DataFrame, numbers: list[str], number: float) -> pd.DataFrame:
    """The sample with every column of `numbers` set to `number` (as `with_number` does for
    one column: integers stay integers when the number fits them), built in blocks."""
    by_dtype: dict[Any, list[str]] = {}
    for name in numbers:
        dtype = sample[name].dtype
        fits = pd.api.types.is_integer_dtype(dtype) and float(number).is_integer()
        if fits:
            info = np.iinfo(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype)
            fits = info.min <= number <= info.max
        by_dtype.setdefault(dtype if fits else "float64", []).append(name)
    blocks = [sample.drop(columns=numbers)]
    for dtype, names in by_dtype.items():
        value = float(number) if dtype == "float64" else int(number)
        block = pd.DataFrame(
            np.full((len(sample), len(names)), value), columns=names, index=sample.index
        )
        blocks.append(block.astype(dtype))
    return pd.concat(blocks, axis=1)[list(sample.columns)]


def _replace(frame: pd.DataFrame, column: str, values: pd.Series) -> pd.DataFrame:
    changed = frame.copy()
    changed[column] = values
    return changed


def probe_frames(sample: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The deterministic probes (module docstring) built from a clean sample of raw rows."""
    probes = [
        (f"nulls in {c}", _replace(sample, c, with_nulls(sample[c])))
        for c in list(sample.columns)[:MAX_COLUMN_PROBES]
    ]
    everywhere = sample.where(pd.DataFrame(False, index=sample.index, columns=sample.columns))
    probes += [
        ("nulls everywhere", everywhere),
        ("empty frame", sample.iloc[:0].copy()),
        ("single row", sample.iloc[:1].copy()),
    ]
    numbers = [c for c in sample.columns if is_number(sample[c])]
    for number in EXTREMES if numbers else ():
        probes.append((f"numbers = {number:g}", _all_numbers(sample, numbers, number)))
    texts = [c for c in sample.columns if _is_text(sample[c])]
    if texts:
        unseen = sample.copy()
        for c in texts:
            unseen[c] = with_unseen(sample[c])
        probes.append(("unseen categories", unseen))
    return probes


def problem(build: Build, frame: pd.DataFrame, reference: dict[str, str]) -> tuple[str, str]:
    """What is wrong with `build(frame)` against the clean output's columns and kinds
    ("" when nothing is), and the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = build(frame.copy())
        except Exception as exc:
            return f"raised {type(exc).__name__}: {exc}", ""
    warned = "; ".join(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
    if not isinstance(out, pd.DataFrame):
        return f"returned {type(out).__name__}, not a DataFrame", warned
    if len(out) != len(frame):
        return f"returned {len(out)} rows for {len(frame)}", warned
    columns = [str(c) for c in out.columns]
    if columns != list(reference):
        missing = [c for c in reference if c not in columns]
        extra = [c for c in columns if c not in reference]
        if not missing and not extra:
            return "returned the columns in a different order", warned
        parts = [f"missing {', '.join(missing[:5])}" if missing else ""]
        parts.append(f"extra {', '.join(extra[:5])}" if extra else "")
        return "returned other columns: " + "; ".join(p for p in parts if p), warned
    changed = []
    for name, now in zip(columns, kinds(out), strict=True):
        if now != reference[name] and "empty" not in (now, reference[name]):
            changed.append(f"{name} {reference[name]} → {now}")
    if changed:
        return "column kinds changed: " + ", ".join(changed[:5]), warned
    return "", warned


def _result(name: str, build: Build, frame: pd.DataFrame, reference: dict[str, str]) -> ProbeResult:
    found, warned = problem(build, frame, reference)
    if found:
        return ProbeResult(name, "fail", found)
    return ProbeResult(name, "pass", f"warned: {warned}" if warned else "")


def search(
    build: Build,
    sample: pd.DataFrame,
    reference: dict[str, str],
    *,
    max_examples: int = SEARCH_EXAMPLES,
) -> ProbeResult:
    """A Hypothesis search for rows that break the feature function (module docstring)."""
    name = "hypothesis search"
    try:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import strategies as st
    except ImportError:
        return ProbeResult(name, "skipped", "hypothesis is not installed: pip install hypothesis")
    columns = list(sample.columns)
    edits_of = []
    for c in columns:
        kinds = ["null"]
        kinds += [f"{n:g}" for n in EXTREMES] if is_number(sample[c]) else []
        kinds += ["unseen"] if _is_text(sample[c]) else []
        edits_of.append(kinds)
    edit = st.integers(0, len(columns) - 1).flatmap(
        lambda i: st.tuples(
            st.just(i), st.integers(0, len(sample) - 1), st.sampled_from(edits_of[i])
        )
    )
    found: list[str] = []

    def edited(edits: list[tuple[int, int, str]], rows: int) -> pd.DataFrame:
        frame = sample.copy()
        for i, column in enumerate(columns):
            mine = [(r, e) for c, r, e in edits if c == i]
            for e in dict.fromkeys(e for _, e in mine):
                at = np.array(sorted({r for r, k in mine if k == e}))
                if e == "null":
                    frame[column] = with_nulls(frame[column], at)
                elif e == "unseen":
                    frame[column] = with_unseen(frame[column], at)
                else:
                    frame[column] = with_number(frame[column], float(e), at)
        return frame.iloc[:rows]

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(st.lists(edit, min_size=1, max_size=MAX_EDITS), st.integers(1, len(sample)))
    def probe(edits: list[tuple[int, int, str]], rows: int) -> None:
        frame = edited(edits, rows)
        wrong, _ = problem(build, frame, reference)
        if wrong:
            cells = ", ".join(f"{columns[c]}[{r}]={e}" for c, r, e in edits if r < rows)
            found.append(f"on {rows} row(s) with {cells or 'no edits'}: {wrong}")
            raise AssertionError(wrong)

    try:
        probe()
    except Exception:
        if not found:
            raise
    if found:
        return ProbeResult(name, "fail", found[0])
    return ProbeResult(name, "pass", f"{max_examples} generated frames")


def probe_features(build: Build, raw: pd.DataFrame, *, seed: int = 0) -> list[ProbeResult]:
    """Every probe of the feature function `build` on a sample of `raw` rows."""
    sample = raw.iloc[sample_rows(len(raw), SAMPLE_ROWS, seed=seed)].reset_index(drop=True)
    try:
        clean = build(sample.copy())
    except Exception as exc:
        return [ProbeResult("clean rows", "fail", f"raised {type(exc).__name__}: {exc}")]
    if not isinstance(clean, pd.DataFrame) or len(clean) != len(sample):
        got = type(clean).__name__ + (f" of {len(clean)} rows" if hasattr(clean, "__len__") else "")
        return [ProbeResult("clean rows", "fail", f"returned {got} for {len(sample)} rows")]
    reference = dict(zip(map(str, clean.columns), kinds(clean), strict=True))
    results = [ProbeResult("clean rows", "pass", f"{len(sample)} rows → {len(reference)} columns")]
    results += [_result(name, build, frame, reference) for name, frame in probe_frames(sample)]
    if len(sample):
        results.append(search(build, sample, reference))
    skipped = len(raw.columns) - MAX_COLUMN_PROBES
    if skipped > 0:
        results.append(
            ProbeResult(
                "nulls in other columns",
                "skipped",
                f"{skipped} columns past the first {MAX_COLUMN_PROBES} are probed only in "
                "nulls everywhere",
            )
        )
    return results


def probes_table(probes: list[ProbeResult], features: str) -> Table:
    """The outcome of each probe of the feature function `features`."""
    return Table(
        f"Probes of {features} on {SAMPLE_ROWS} raw training rows",
        ["probe", "outcome", "detail"],
        [[p.probe, p.outcome, p.detail] for p in probes],
    )


def feature_probes(system: System, build: Build) -> list[ProbeResult]:
    """`probe_features` on the system's raw training rows, cached by the system's state, the
    probe settings and whether hypothesis is installed (it generates the searched frames)."""
    seed = system.config.model.seed
    has_hypothesis = importlib.util.find_spec("hypothesis") is not None
    probes: list[ProbeResult] = system.cached(
        "feature_probes",
        lambda: probe_features(build, system.raw("train"), seed=seed),
        SAMPLE_ROWS,
        SEARCH_EXAMPLES,
        seed,
        has_hypothesis,
    )
    return probes
