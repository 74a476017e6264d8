"""The prediction log read exactly once: every rolled part summarised per window, then marked.

`intake` rolls what the servers closed (`keel.log.rollup.roll`), then takes each rolled part
it has not taken before: it splits the part's rows by time window, summarises each window
(`keel.monitor.summary.PartSummary`), writes the summaries, and only then writes the part's
`.done` marker. Every file is written atomically. A run killed at any point leaves either a
part with its marker (taken, never again) or a part without one (taken again next run, its
summaries overwritten under the same names): no row is skipped and none is counted twice.
The set of markers is the watermark.

A part is summarised in
Arrow: its JSON text columns (`inputs`, `model_inputs`, `probabilities`) parsed by
`pyarrow.json` (the two input columns side by side), the `anomalies` and `nonfinite` lists
decoded only where a row has any. Rows the server refused (route "rejected") count in the
window's `rejected` and `anomalies` only. Every row's logged values are scanned for personal
data once, here, and the findings kept with the summary (data.5 judges from them). Each
window's skew sample is drawn uniformly over the window (`keel.monitor.sampling`).

Each new part is summarised as the roll writes it (`roll(taken=...)`, from the table in
memory, a batch of segments at a time), in a thread of its own at most two parts behind the
roll (`keel.monitor.behind`: the roll parses, writes and deletes meanwhile), so the intake of
a log of any size holds a few batches at once; a part an earlier run rolled and did not take
is read back from Parquet. Text that repeats is scanned for personal data once per distinct
value (`pii.scan`), and model inputs logged as the same text as the raw inputs are parsed
and profiled once. After the run,
the summaries of every window it touched are compacted into one file per window
(`keel.monitor.stored`), so loading the windows costs the same however many parts they had.

Layout under the state folder (`.keel/monitor`):

    summaries/<window>/v<version>/<part>.json   one window of one rolled part
    summaries/<window>/v<version>/window.json   the parts compacted so far (their names in it)
    parts/<part path>.done                      the part was taken
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from keel.atomic import write_text_atomic
from keel.data import pii
from keel.data.profile import Profile, profile_batches
from keel.errors import KeelError
from keel.log.record import ROUTE_REJECTED
from keel.log.rollup import pending, roll
from keel.log.writer import rolled_dir, segments_dir
from keel.monitor.behind import Behind
from keel.monitor.logged_json import as_text, json_table
from keel.monitor.outputs import keep_outputs
from keel.monitor.sampling import row_keys, smallest
from keel.monitor.stored import compact
from keel.monitor.stored import load_windows as load_windows  # where callers found it
from keel.monitor.summary import PartSummary, SampledRow
from keel.monitor.windows import folder_name, window_index

Rebuild = Callable[[list[dict[str, Any]]], pd.DataFrame]  # logged raw rows -> model inputs


class VersionedRebuild:
    """The feature code of each model version: rows a version served are recomputed with the
    code that version was registered with, not whatever the working tree holds now (a tree
    ahead of the champion would otherwise show its own changes as training/serving skew).
    `for_version(v)` returns version v's `Rebuild`; it may raise, and the window then says the
    feature code could not rerun."""

    def __init__(self, for_version: Callable[[int], Rebuild]) -> None:
        self._for_version = for_version
        self._cache: dict[int, Rebuild | BaseException] = {}

    def for_version(self, version: int) -> Rebuild:
        if version not in self._cache:
            try:
                self._cache[version] = self._for_version(version)
            except Exception as exc:  # said once per version, in every window it served
                self._cache[version] = exc
        found = self._cache[version]
        if isinstance(found, BaseException):
            raise found
        return found


def _rebuild_for(rebuild: Rebuild | VersionedRebuild, version: int) -> Rebuild:
    return rebuild.for_version(version) if isinstance(rebuild, VersionedRebuild) else rebuild


_KEY = "_keel_key"  # a skew sample's column of sampling keys
_FIELD = re.compile(r"^rows\[\d+\]\.(.+?): expected")


@dataclass
class IntakeRun:
    """What one intake took: parts, rows, and the windows they touched."""

    parts: int = 0
    rows: int = 0
    windows: set[tuple[str, int]] = field(default_factory=set)
    skipped: int = 0  # parts taken by an earlier run
    damaged: list[str] = field(default_factory=list)  # damaged log ranges met (warnings)


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A logged column as one Arrow array (a rolled part stores nested fields as JSON text)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column


def _listed(column: pa.Array) -> list[Any]:
    """The non-empty lists of a logged column (JSON text): most rows log "[]"."""
    column = _text(column)
    if pa.types.is_null(column.type):
        return []
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = column.filter(pc.and_kleene(pc.is_valid(column), pc.not_equal(column, "[]")))
        return [json.loads(v) for v in column.to_pylist()]
    return [v for v in column.to_pylist() if v is not None]


def _profile(table: pa.Table | None, source: str) -> Profile | None:
    if table is None or table.num_rows == 0 or table.num_columns == 0:
        return None
    return profile_batches(table, source=source)


def _relabelled(profile: Profile | None, source: str) -> Profile | None:
    """A copy of `profile` under another source name (two logged columns of the same values)."""
    if profile is None:
        return None
    columns = {name: column.copy() for name, column in profile.columns.items()}
    return Profile(columns, profile.rows, profile.batches, source)


def _floats(column: pa.Array) -> pa.Array:
    """Numbers as float64, a missing one as NaN (as the outputs profile has always had it)."""
    values = pc.cast(_text(column), pa.float64())
    return pc.fill_null(values, float("nan")) if values.null_count else values


def _outputs(rows: pa.Table) -> pa.Table:
    """prediction, proba_<class> and latency_seconds of each row."""
    out: dict[str, Any] = {}
    names = rows.column_names
    prediction = _text(rows.column("prediction")) if "prediction" in names else None
    if prediction is None or pa.types.is_null(prediction.type):
        prediction = pa.nulls(rows.num_rows, pa.string())
    out["prediction"] = prediction
    if "probabilities" in names:
        proba = json_table(rows.column("probabilities"))
        if proba is not None:
            for name in proba.column_names:
                out[f"proba_{name}"] = _floats(proba.column(name))
    if "latency_seconds" in names:
        out["latency_seconds"] = _floats(rows.column("latency_seconds"))
    return pa.table(out)


def _anomalies(rows: pa.Table) -> tuple[dict[str, int], dict[str, str]]:
    """Rows with a problem, per input, from the messages the server logged; and one problem
    per input as logged ("expected a number ≥ 0, got -1")."""
    counts: dict[str, int] = {}
    examples: dict[str, str] = {}
    if "anomalies" not in rows.column_names:
        return counts, examples
    for messages in _listed(rows.column("anomalies")):
        if messages is None or not len(messages):
            continue
        fields = set()
        for message in messages:
            match = _FIELD.match(message)
            if match:
                fields.add(match.group(1))
                examples.setdefault(match.group(1), message[match.end(1) + 2 :])
        for name in fields:
            counts[name] = counts.get(name, 0) + 1
    return counts, examples


def _nonfinite(rows: pa.Table) -> dict[str, int]:
    """NaN and infinite values per logged field, as the server listed them per row."""
    counts: dict[str, int] = {}
    if "nonfinite" not in rows.column_names:
        return counts
    for names in _listed(rows.column("nonfinite")):
        for name in set(names or []):
            counts[name] = counts.get(name, 0) + 1
    return counts


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise: equal values (numbers within 1e-9 relative), both missing counts equal."""
    both_missing = a.isna().to_numpy() & b.isna().to_numpy()
    try:
        x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
        close = np.isclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True)
    except (TypeError, ValueError):
        close = (a.astype(str) == b.astype(str)).to_numpy()
    return close | both_missing


def _objects(column: pa.ChunkedArray) -> list[dict[str, Any]]:
    """The logged JSON objects of a column, {} where a row has none (decoded in one call)."""
    texts = column.to_pylist()
    if all(t is None or isinstance(t, str) for t in texts):
        try:
            values = json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")
        except ValueError:
            values = None
        if values is not None and len(values) == len(texts):
            return [{} if v is None else v for v in values]
    return [json.loads(t) if isinstance(t, str) else {} for t in texts]


def _recomputable(rows: pa.Table) -> np.ndarray:
    """Positions of the rows that log both raw and model inputs (the skew's population)."""
    if not {"inputs", "model_inputs"} <= set(rows.column_names):
        return np.arange(0)
    valid = pc.and_(pc.is_valid(rows.column("inputs")), pc.is_valid(rows.column("model_inputs")))
    return np.flatnonzero(valid.to_numpy(zero_copy_only=False))


def skew_sample(rows: pa.Table, keys: np.ndarray) -> tuple[pa.Table, int]:
    """The rows of a window whose model inputs are recomputed, with the columns that takes
    and their sampling keys (`_keel_key`): the SAMPLE_SIZE rows of smallest key among those
    that log raw and model inputs (`keel.monitor.sampling`); and how many rows do."""
    eligible = _recomputable(rows)
    picked = eligible[smallest(keys[eligible])] if len(eligible) else eligible
    keep = [c for c in ("example_id", "inputs", "model_inputs") if c in rows.column_names]
    sample = rows.select(keep).take(pa.array(picked, type=pa.int64()))
    return sample.append_column(_KEY, pa.array(keys[picked], pa.float64())), len(eligible)


def sample_skew(
    sample: pa.Table, rebuild: Rebuild, skip: set[str]
) -> tuple[list[SampledRow], list[str], str | None]:
    """A `skew_sample`'s rows, each with the model inputs whose logged value differs from the
    feature code rerun on its logged raw inputs, and the inputs compared; or why the feature
    code could not rerun."""
    if sample.num_rows == 0:
        return [], [], None
    raw = _objects(sample.column("inputs"))
    logged = pd.DataFrame(_objects(sample.column("model_inputs")))
    try:
        rebuilt = rebuild(raw).reset_index(drop=True)
    except Exception as exc:  # the user's feature code on logged rows
        return [], [], f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if len(rebuilt) != len(logged):
        return [], [], f"the feature code returned {len(rebuilt)} rows for {len(logged)}"
    ids = (
        [None if v is None else str(v) for v in sample.column("example_id").to_pylist()]
        if "example_id" in sample.column_names
        else [None] * len(logged)
    )
    compared = [n for n in logged.columns if n not in skip and n in rebuilt.columns]
    skewed: list[list[str]] = [[] for _ in range(len(logged))]
    for name in compared:
        for i in np.flatnonzero(~_same(logged[name], rebuilt[name])):
            skewed[i].append(str(name))
    keys = sample.column(_KEY).to_pylist()
    rows = [SampledRow(k, e, tuple(s)) for k, e, s in zip(keys, ids, skewed, strict=True)]
    return rows, [str(n) for n in compared], None


def apply_skew(
    summary: PartSummary, sample: pa.Table, rebuild: Rebuild | VersionedRebuild, skip: set[str]
) -> None:
    """Rerun the feature code (of the version that served the window, when `rebuild` is
    versioned) on a window's `skew_sample` and record it in `summary`."""
    try:
        code = _rebuild_for(rebuild, summary.model_version)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        summary.set_skew([], [], summary.skew_population)
        summary.skew_error = (
            f"the feature code of version {summary.model_version} could not be loaded: "
            f"{type(exc).__name__}: {first}"
        )
        return
    rows, inputs, error = sample_skew(sample, code, skip)
    summary.set_skew(rows, inputs, summary.skew_population)
    summary.skew_error = error


def _windows(table: pa.Table, window_seconds: float) -> list[tuple[str, pa.Table, np.ndarray]]:
    """The part's rows split by the window their time falls in, oldest window first, with
    their positions in the part."""
    labels, which = window_index(table.column("time"), window_seconds)
    if len(labels) == 1:
        return [(labels[0], table, np.arange(table.num_rows))]
    out = []
    for i, label in enumerate(labels):
        positions = np.flatnonzero(which == i)
        out.append((label, table.take(pa.array(positions)), positions))
    return out


def _refused(rows: pa.Table) -> np.ndarray:
    """Per row, whether the server refused it (route "rejected": no prediction)."""
    if "route" not in rows.column_names:
        return np.zeros(rows.num_rows, dtype=bool)
    route = _text(rows.column("route"))
    if not (pa.types.is_string(route.type) or pa.types.is_large_string(route.type)):
        return np.zeros(rows.num_rows, dtype=bool)
    same = pc.fill_null(pc.equal(route, ROUTE_REJECTED), False)
    return same.to_numpy(zero_copy_only=False)


def _same_text(rows: pa.Table, a: str, b: str) -> bool:
    """Whether two logged JSON columns hold the same text in every row (none null)."""
    if a not in rows.column_names or b not in rows.column_names or rows.num_rows == 0:
        return False
    x, y = rows.column(a), rows.column(b)  # compared chunk by chunk, not copied together
    if x.type != y.type or x.null_count or y.null_count or not pa.types.is_string(x.type):
        return False
    return bool(pc.all(pc.equal(x, y)).as_py())


def _parsed(rows: pa.Table, name: str) -> pa.Table | None:
    """A logged JSON column (`inputs`, `model_inputs`) of served rows as a table; None when
    absent."""
    return json_table(rows.column(name)) if name in rows.column_names else None


def _as_text(rows: pa.Table, name: str) -> pa.Table | None:
    """A logged JSON column of refused rows as a table of text (what a client sent may be of
    any type: `"14 months"` for an integer), for the personal-data scan."""
    if name not in rows.column_names or rows.num_rows == 0:
        return None
    objects = [o if isinstance(o, dict) else {} for o in _objects(rows.column(name))]
    names = list(dict.fromkeys(k for o in objects for k in o))
    if not names:
        return None
    return pa.table({n: pa.array([as_text(o.get(n)) for o in objects], pa.string()) for n in names})


def _pii(parsed: list[tuple[str, pa.Table | None]]) -> tuple[dict, dict[str, int]]:
    """Personal data in every logged value of the parsed columns ((field prefix, table)):
    {field: {kind: {matches, example}}} and the non-null values scanned per field."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    values: dict[str, int] = {}
    scanned: dict[int, list[pii.PiiFinding]] = {}  # a table logged twice is scanned once
    for where, table in parsed:
        if table is None or table.num_rows == 0:
            continue
        for name in table.column_names:
            column = table.column(name)
            field = f"{where}.{name}"
            values[field] = values.get(field, 0) + len(column) - column.null_count
        if id(table) not in scanned:
            scanned[id(table)] = pii.scan(table, sample=max(1, table.num_rows))
        for f in scanned[id(table)]:
            if f.kind == "name_like_column":
                continue  # a logged field is judged by its values only
            kinds = found.setdefault(f"{where}.{f.column}", {})
            if f.kind in kinds:
                kinds[f.kind]["matches"] += f.matches
            else:
                kinds[f.kind] = {"matches": f.matches, "example": f.example}
    return found, values


def summarise_part(
    path: Path,
    version: int,
    *,
    window_seconds: float,
    rebuild: Rebuild | VersionedRebuild | None = None,
    skip_skew: set[str] | None = None,
    label: str | None = None,
    table: pa.Table | None = None,
    samples: dict[str, pa.Table] | None = None,
) -> list[PartSummary]:
    """One summary per window the rolled part `path` (of model `version`) has rows in;
    `label` names the part in the summaries (default: its file name) and seeds its skew
    sample; `table`: the part's rows when the caller has them already (as `roll` wrote them),
    else read from `path`; `samples`, when given, receives each window's `skew_sample` (for
    the caller to rerun the feature code on elsewhere, `apply_skew`). Rows the server refused
    count in `rejected` and `anomalies` only; every row's logged values are scanned for
    personal data."""
    if table is None:
        table = pq.read_table(path)
    if table.num_rows == 0 or "time" not in table.column_names:
        return []
    label = label or path.name
    keys = row_keys(label, table.num_rows)
    summaries = []
    for window, everything, positions in _windows(table, window_seconds):
        refused = _refused(everything)
        served_at = np.flatnonzero(~refused) if refused.any() else None
        rows = everything if served_at is None else everything.take(pa.array(served_at))
        served_keys = keys[positions] if served_at is None else keys[positions][served_at]
        names = rows.column_names
        sample, population = skew_sample(rows, served_keys)
        if samples is not None:
            samples[window] = sample
        same = _same_text(rows, "inputs", "model_inputs")  # no feature code: parsed once
        with ThreadPoolExecutor(2) as pool:  # the two big JSON columns parsed side by side
            parsing = {
                name: pool.submit(_parsed, rows, name)
                for name in (("inputs",) if same else ("inputs", "model_inputs"))
            }
            anomalies, anomaly_examples = _anomalies(everything)
            low, high = pc.min_max(everything.column("time").cast(pa.string())).values()
            outputs = _profile(_outputs(rows), "outputs") if rows.num_rows else None
            parsed = {name: job.result() for name, job in parsing.items()}
            parsed.setdefault("model_inputs", parsed["inputs"])
        turned_away = everything.filter(pa.array(refused)) if served_at is not None else None
        found, scanned = _pii(
            [(name, parsed[name]) for name in ("inputs", "model_inputs")]
            + (
                [(name, _as_text(turned_away, name)) for name in ("inputs", "model_inputs")]
                if turned_away is not None
                else []
            )
        )
        profiled = _profile(parsed["inputs"], "inputs")
        if same:  # the same values: profiled once
            model_profile = _relabelled(profiled, "model_inputs")
        else:
            model_profile = _profile(parsed["model_inputs"], "model_inputs")
        summary = PartSummary(
            window=window,
            model_version=version,
            rows=rows.num_rows,
            first_time=str(low.as_py()),
            last_time=str(high.as_py()),
            errors=rows.num_rows - rows.column("error").null_count if "error" in names else 0,
            inputs=profiled,
            model_inputs=model_profile,
            outputs=outputs,
            anomalies=anomalies,
            anomaly_examples=anomaly_examples,
            nonfinite=_nonfinite(rows),
            parts=[label],
            skew_population=population,
            rejected=int(refused.sum()),
            pii=found,
            pii_values=scanned,
            pii_rows=everything.num_rows,
        )
        if rebuild is not None:  # the user's code: this thread
            apply_skew(summary, sample, rebuild, skip_skew or set())
        summaries.append(summary)
    return summaries


def rolled_parts(rolled: Path) -> list[Path]:
    """Every rolled part of the log, in name order (date, then version, then part)."""
    return sorted(rolled.glob("date=*/model_version=*/*.parquet")) if rolled.is_dir() else []


def _marker(state_dir: Path, relative: Path) -> Path:
    """The `.done` marker of a rolled part (its path under the rolled folder)."""
    return state_dir / "parts" / relative.with_suffix(".done")


def taken(state_dir: Path, relative: Path) -> bool:
    """Whether an earlier run took the rolled part (its `.done` marker is written)."""
    return _marker(state_dir, relative).exists()


def part_name(relative: Path) -> str:
    """A rolled part's name in its summaries: its path under the rolled folder, joined."""
    return "_".join(relative.with_suffix("").parts)


def record(state_dir: Path, relative: Path, summaries: list[PartSummary], run: IntakeRun) -> int:
    """Write a part's window summaries, then its `.done` marker (in that order: see the
    module docstring); count it in `run`. Returns the part's rows."""
    version = version_of(relative)
    name = part_name(relative)
    for summary in summaries:
        folder = state_dir / "summaries" / folder_name(summary.window) / f"v{version}"
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / f"{name}.json", json.dumps(summary.to_dict()))
        run.windows.add((summary.window, version))
    rows = sum(s.rows for s in summaries)
    marker = _marker(state_dir, relative)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(marker, json.dumps({"rows": rows}))
    run.parts += 1
    run.rows += rows
    return rows


def version_of(part: Path) -> int:
    match = re.search(r"model_version=(\d+)", str(part))
    if match is None:
        raise KeelError(f"{part}: not a rolled part of the prediction log (no model_version=)")
    return int(match.group(1))


def intake(
    log_root: str | Path,
    state_dir: str | Path,
    *,
    window_seconds: float,
    rebuild: Rebuild | VersionedRebuild | None = None,
    skip_skew: set[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IntakeRun:
    """Take every rolled part not taken before (see the module docstring), then compact the
    summaries of the windows it touched (`keel.monitor.stored.compact`)."""
    log_root, state_dir = Path(log_root), Path(state_dir)
    segments, rolled = segments_dir(log_root), rolled_dir(log_root)
    run = IntakeRun()
    done: set[Path] = set()
    expected = pending(segments)  # parts at least: a batch makes one per date and version

    side = ThreadPoolExecutor(1, thread_name_prefix="keel-kept")

    def take(part: Path, table: pa.Table | None) -> None:
        relative = part.relative_to(rolled)
        version = version_of(relative)
        name = part_name(relative)
        # the served outputs kept beside the summaries, each from the same rows
        kept = side.submit(keep_outputs, state_dir, part, name, version, window_seconds, table)
        try:
            summaries = summarise_part(
                part,
                version,
                window_seconds=window_seconds,
                rebuild=rebuild,
                skip_skew=skip_skew,
                label=name,
                table=table,
            )
        finally:
            kept.result()  # recorded as taken only once both are stored
        record(state_dir, relative, summaries, run)
        done.add(part)
        if progress is not None:
            progress(len(done), max(len(done), expected))

    with side, _long_lived_frozen():
        if segments.is_dir():  # each new part summarised as the roll writes it: flat memory
            with Behind() as behind:  # in a thread of its own, while the roll goes on
                result = roll(segments, rolled, taken=partial(behind.submit, take))
            run.damaged = result.warnings()
        for part in rolled_parts(rolled):  # parts an earlier run rolled and did not take
            if part in done:
                continue
            if taken(state_dir, part.relative_to(rolled)):
                run.skipped += 1
                continue
            expected += 1
            take(part, None)
    compact(state_dir, run.windows)
    return run


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """The objects alive before the intake (the modules, the model) left out of the garbage
    collector's passes while it runs: a log's intake allocates a lot, and every full pass
    over the imports' million objects cost about a tenth of its time."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
