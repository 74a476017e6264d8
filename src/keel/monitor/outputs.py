"""What the intake keeps of each served row for the judgements that need rows, not summaries.

Quality with late labels needs each served row's example id, prediction and probabilities to
join the labels that arrive after the row's window was taken; the canary's comparison needs each
route's requests, errors and latencies. The intake keeps exactly these fields (`FIELDS`, no
inputs) of every served row when it takes a part, split by window, beside the window summaries:

    outputs/<window>/v<version>/<part>.parquet

They are written before the part's `.done` marker, so a run killed half-way takes the part again
and overwrites them under the same names: exactly once, like the summaries. A window × version
that gathered more than `COMPACT_AT` files is compacted into one file that names the parts it
holds (`keel.parts` in its metadata); a file of a part a compacted file already holds is
skipped when read (a crash between writing the compacted file and removing the small ones) and
removed by the next compaction.

Readers ask for the windows they judge (`read_outputs`), so a judgement costs what those
windows hold, never what the log has gathered over its life.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from keel.atomic import write_atomic
from keel.log.objects import object_columns
from keel.log.record import FIELDS, ROUTE_REJECTED
from keel.log.rollup import repeating_columns
from keel.model.online_quality import PROBA
from keel.monitor.logged_json import json_lines
from keel.monitor.windows import folder_name, window_index

COMPACT_AT = 16  # files of one window × version before they are compacted into one
_PARTS_KEY = b"keel.parts"


def outputs_dir(state_dir: str | Path) -> Path:
    return Path(state_dir) / "outputs"


def _folder(state_dir: Path, window: str, version: int) -> Path:
    return outputs_dir(state_dir) / folder_name(window) / f"v{version}"


def _column(table: pa.Table, name: str) -> pa.Array | pa.ChunkedArray:
    if name in table.column_names:
        column = table.column(name)
        if pa.types.is_null(column.type):
            return pa.nulls(table.num_rows, pa.string())
        return column
    return pa.nulls(table.num_rows, pa.float64() if name == "latency_seconds" else pa.string())


def _probability_columns(column: pa.ChunkedArray | pa.Array) -> dict[str, pa.Array]:
    """The logged probabilities (JSON text, or a struct) as one float column per class,
    `proba:<class>`, parsed by Arrow at once; a row without them is null in every column."""
    if pa.types.is_struct(column.type):
        table = pa.table({f.name: column.combine_chunks().field(f.name) for f in column.type})
    else:
        texts = column.cast(pa.string())
        texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
        table = object_columns(texts)  # laid out alike (as served): cut, not parsed
        if table is None:
            payload = json_lines(pc.fill_null(texts, "{}"))
            try:
                options = pa_json.ReadOptions(block_size=max(payload.size, 1 << 20) + 1)
                table = pa_json.read_json(pa.BufferReader(payload), read_options=options)
            except pa.ArrowInvalid:  # not JSON objects of numbers: nothing to estimate from
                return {}
    out = {}
    for name in table.column_names:
        try:
            out[PROBA + name] = table.column(name).cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return {}
    return out


def _kept(rows: pa.Table) -> pa.Table:
    """`rows` with FIELDS, in types every part shares (the prediction as written: a number or
    text), the probabilities as one float column per class."""
    columns = {}
    for name in FIELDS:
        if name in ("model_version", "probabilities"):
            continue
        column = _column(rows, name)
        if name == "row":
            column = column.cast(pa.int64())
        elif name == "latency_seconds":
            column = column.cast(pa.float64())
        elif name != "prediction":
            column = column.cast(pa.string())
        columns[name] = column
    if "probabilities" in rows.column_names and rows.num_rows:
        probabilities = rows.column("probabilities")
        if not pa.types.is_null(probabilities.type):
            columns |= _probability_columns(probabilities)
    return pa.table(columns)


def _served(rows: pa.Table) -> np.ndarray:
    """Which rows of a part were served (not refused by the server)."""
    if "route" not in rows.column_names:
        return np.ones(rows.num_rows, dtype=bool)
    route = rows.column("route").cast(pa.string())
    refused = pc.fill_null(pc.equal(route, ROUTE_REJECTED), False)
    return ~np.asarray(refused.to_numpy(zero_copy_only=False), dtype=bool)


def keep_outputs(
    state_dir: str | Path,
    part: Path,
    name: str,
    version: int,
    window_seconds: float,
    table: pa.Table | None = None,
) -> None:
    """Keep the served rows of one rolled part (`name`: its name in the summaries), split by
    window; `table` is the part as the roll kept it in memory (None: read from `part`)."""
    if table is None:
        present = set(pq.read_schema(part).names)
        table = pq.read_table(part, columns=[c for c in FIELDS if c in present])
    if not table.num_rows:
        return
    windows, which = window_index(table.column("time"), window_seconds)
    served = _served(table)
    kept = _kept(table.filter(pa.array(served)))
    index = which[served]
    for i, window in enumerate(windows):
        rows = kept if len(windows) == 1 else kept.filter(pa.array(index == i))
        folder = _folder(Path(state_dir), window, version)
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / f"{name}.parquet", rows)
        _compact(folder)


def _write(path: Path, table: pa.Table) -> None:
    # ids and times hardly repeat: no dictionary built for them only to be dropped
    dictionary = repeating_columns(table)
    write_atomic(
        path, lambda f: pq.write_table(table, f, compression="zstd", use_dictionary=dictionary)
    )


def _covered(path: Path) -> set[str]:
    meta = pq.read_schema(path).metadata or {}
    return set(json.loads(meta.get(_PARTS_KEY, b"[]")))


def _files(folder: Path) -> list[Path]:
    """The files of one window × version to read: every compacted file, and each part file no
    compacted file holds."""
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.parquet"))
    merged = [p for p in files if p.name.startswith("compacted-")]
    covered = set().union(*(_covered(p) for p in merged)) if merged else set()
    return merged + [p for p in files if p not in merged and p.stem not in covered]


def _compact(folder: Path) -> None:
    files = _files(folder)
    loose = [p for p in files if not p.name.startswith("compacted-")]
    stale = [p for p in sorted(folder.glob("*.parquet")) if p not in files]
    for path in stale:  # held by a compacted file already (a crash before their removal)
        path.unlink(missing_ok=True)
    if len(files) <= COMPACT_AT:
        return
    parts = sorted(
        set().union(*(_covered(p) for p in files if p not in loose)) | {p.stem for p in loose}
    )
    tables = [pq.read_table(p) for p in files]
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # predictions of numbers and of text
        tables = [
            t.set_column(
                t.schema.get_field_index("prediction"),
                "prediction",
                t.column("prediction").cast(pa.string()),
            )
            for t in tables
        ]
        table = pa.concat_tables(tables, promote_options="permissive")
    meta = {_PARTS_KEY: json.dumps(parts).encode()}
    table = table.replace_schema_metadata(meta)
    name = f"compacted-{len(parts):08d}-{os.getpid()}.parquet"
    _write(folder / name, table)
    for path in files:
        if path.name != name:
            path.unlink(missing_ok=True)


def read_outputs(state_dir: str | Path, windows: Iterable[tuple[str, int]]) -> pd.DataFrame:
    """The kept served rows of the given (window, version)s: FIELDS (the probabilities as
    `proba:<class>` float columns) plus `window`; empty when none was kept."""
    frames = []
    for window, version in windows:
        for path in _files(_folder(Path(state_dir), window, version)):
            frame = pq.read_table(path).to_pandas()
            frame["model_version"] = version
            frame["window"] = window
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*FIELDS, "window"])
    return pd.concat(frames, ignore_index=True)


def fingerprint(state_dir: str | Path, window: str, version: int) -> list[tuple[str, int]]:
    """What a judgement of one window × version rests on: its kept files' names and sizes."""
    return [(p.name, p.stat().st_size) for p in _files(_folder(Path(state_dir), window, version))]
