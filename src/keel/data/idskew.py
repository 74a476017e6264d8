"""Per-example training/serving skew: the same example, found by its id, compared value by value.

An example served (a row of the prediction log: its `example_id` and the raw inputs) that is
also in the training data should carry the values it had there; where it does not, the two
paths compute a feature differently (TFDV's "per-example skew", a feature store's online and
offline check). `id_skew` joins the served rows to the training rows by id and counts, column
by column, the joined rows and those whose values differ, with the smallest differing ids as
examples. `id_skew_frame` does the same as Spark jobs; both engines give the same answers.

The rules, identical in both engines:

- Columns: by default every column both tables have, except the id; a column in only one table
  is not compared (not an error), nor is a column of a kind neither rule below covers (lists,
  structs, maps, binary). A column asked for by name that neither table has, or whose kind
  cannot be compared, is a `DataError`.
- Ids are compared as text: strings as they are, integers in decimal ("17" joins 17), floats
  that are whole numbers below 2**53 as the integer (17.0 is "17"; other floats never join).
  A null id never joins. Another id type is a `DataError`.
- An id the training data holds more than once has no one training row: the served rows with
  such an id are not compared but counted in `ambiguous` (the same number for every column).
  A served id that repeats (an example served twice) is compared once per served row.
- Values: both null are equal, a null on one side only differs. Numbers (integers, floats,
  decimals; an int on one side and a float on the other, as JSON gives 3 where training has
  3.0) are equal when a == b, or both are finite and |a - b| <= 1e-9 * max(|a|, |b|), or both
  are NaN; a NaN and a number differ; they are compared as 64-bit floats. Strings are equal
  when exactly equal, booleans when equal. Timestamps and dates are compared as instants, to
  the microsecond (finer digits are dropped, rounding down): a timestamp without a time zone,
  and a date (at midnight), is read as UTC; a string on one side is read as an ISO 8601 time
  (`datetime.fromisoformat`: "2025-01-02T03:04:05.123Z", "+02:00" offsets, a date alone), UTC
  when it names no offset, and one that does not parse differs. Values of any other two kinds
  (a number and a string, a boolean and a number) differ.
- `examples`: up to five distinct ids of differing rows, the smallest first (ordered as text,
  by code point).

Spark (`id_skew_frame`): the join by id and the removal of repeated training ids run in Spark;
each joined partition is counted on its executor by the code the local engine runs (`_tally`),
and the per-column counts and examples are summed in Spark, so the driver receives one row per
column. Spark's own types are read as the local engine reads the files: a Spark TIMESTAMP is an
instant, a TIMESTAMP_NTZ a time without zone, and the timestamp columns `read_source` marked
are given back their types in the files. (`spark.createDataFrame` reads a pandas datetime
without zone in the session's time zone: where that is not UTC, such times are other instants
than the local engine reads; Parquet read with `read_source` keeps them as the files have them.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import DataError, KeelError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["IdSkew", "id_skew", "id_skew_frame"]

TOLERANCE = 1e-9  # relative tolerance of two numbers
EXAMPLES = 5  # example ids kept per column
WHOLE = 2**53  # floats below this that are whole numbers are integer ids
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}
_KEY, _REPEATS = "__keel_id", "__keel_repeats"


@dataclass
class IdSkew:
    """One column's skew: `compared` served rows whose id has exactly one training row,
    `skewed` of those whose values differ, `examples` up to five of their ids (smallest first),
    and `ambiguous` served rows not compared because their id repeats in the training data."""

    compared: int
    skewed: int
    examples: list[str] = field(default_factory=list)
    ambiguous: int = 0


# -- kinds of values -------------------------------------------------------------------------


def _kind(t: pa.DataType) -> str | None:
    """The rule an Arrow type is compared by: null, bool, number, string or time (None: none)."""
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    return None


_SPARK_KINDS = {
    "void": "null",
    "boolean": "bool",
    **dict.fromkeys(["byte", "short", "integer", "long", "float", "double", "decimal"], "number"),
    **dict.fromkeys(["string", "varchar", "char"], "string"),
    **dict.fromkeys(["timestamp", "timestamp_ntz", "date"], "time"),
}


def _columns(
    served: Mapping[str, str | None],
    training: Mapping[str, str | None],
    id: str,
    columns: Sequence[str] | None,
) -> list[str]:
    """The columns to compare (see the module's rules), from each table's column kinds."""
    for table, kinds in (("served", served), ("training", training)):
        if id not in kinds:
            raise DataError(
                f"id skew: the {table} data has no id column {id!r}; it has "
                f"{', '.join(map(repr, kinds)) or 'no columns'}"
            )
    if columns is None:
        return [c for c in served if c != id and c in training and served[c] and training[c]]
    chosen = []
    for name in dict.fromkeys(columns):
        if name not in served and name not in training:
            raise DataError(
                f"id skew: column {name!r} is in neither the served nor the training data"
            )
        if name == id or name not in served or name not in training:
            continue
        if served[name] is None or training[name] is None:
            raise DataError(
                f"id skew: column {name!r} cannot be compared: id skew compares numbers, "
                "strings, booleans, timestamps and dates, not lists, structs, maps or binary"
            )
        chosen.append(name)
    return chosen


# -- ids --------------------------------------------------------------------------------------


def _keys(array: pa.Array, where: str) -> pa.Array:
    """Each row's id as text (null where it never joins)."""
    kind = _kind(array.type)
    if kind in ("string", "null") or pa.types.is_integer(array.type):
        return pc.cast(array, pa.string())
    if pa.types.is_floating(array.type):
        values = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            whole = (np.abs(values) < WHOLE) & (values == np.floor(values))
        return pa.array(
            [str(int(v)) if w else None for v, w in zip(values.tolist(), whole, strict=True)],
            pa.string(),
        )
    raise DataError(
        f"id skew: the {where} id column holds {array.type}; ids must be strings or integers"
    )


# -- values -----------------------------------------------------------------------------------


def _close(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Where two numeric arrays hold equal numbers (nulls read as 0: masked by the caller)."""
    x = pc.cast(a, pa.float64(), safe=False).fill_null(0).to_numpy(zero_copy_only=False)
    y = pc.cast(b, pa.float64(), safe=False).fill_null(0).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore", over="ignore"):
        near = np.abs(x - y) <= TOLERANCE * np.maximum(np.abs(x), np.abs(y))
        near &= np.isfinite(x) & np.isfinite(y)  # an infinity is near nothing but itself
        return (x == y) | near | (np.isnan(x) & np.isnan(y))


def _parse_instant(text: str) -> int | None:
    """An ISO 8601 time as microseconds since the epoch (UTC when it names no offset)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1)


def _instants(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch, and where there is one (a string may not parse)."""
    t = array.type
    valid = pc.is_valid(array).to_numpy(zero_copy_only=False)
    if _kind(t) == "string":
        coded = pc.dictionary_encode(array)
        parsed = [_parse_instant(v) for v in coded.dictionary.to_pylist()]
        table = np.array([0 if p is None else p for p in parsed] + [0], np.int64)
        found = np.array([p is not None for p in parsed] + [False])
        at = coded.indices.fill_null(len(parsed)).to_numpy(zero_copy_only=False)
        return table[at], found[at] & valid
    if pa.types.is_date32(t):
        days = array.view(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        return days.astype(np.int64) * 86_400_000_000, valid
    ticks = array.view(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    if pa.types.is_date64(t):
        return ticks * 1_000, valid
    if t.unit == "ns":
        return ticks // 1_000, valid  # floor: the microsecond the instant falls in
    return ticks * _MICROS[t.unit], valid


def _differs(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Where the served values `a` differ from the training values `b` (the module's rules)."""
    kinds = (_kind(a.type), _kind(b.type))
    null_a = pc.is_null(a).to_numpy(zero_copy_only=False)
    null_b = pc.is_null(b).to_numpy(zero_copy_only=False)
    if kinds == ("number", "number"):
        equal = _close(a, b)
    elif "time" in kinds and set(kinds) <= {"time", "string"}:
        (x, found_x), (y, found_y) = _instants(a), _instants(b)
        equal = found_x & found_y & (x == y)
    elif kinds[0] == kinds[1] and kinds[0] in ("string", "bool"):
        same = pc.equal(pc.cast(a, b.type) if a.type != b.type else a, b)
        equal = same.fill_null(False).to_numpy(zero_copy_only=False)
    else:
        equal = np.zeros(len(a), bool)
    present = ~null_a & ~null_b
    return np.where(present, ~equal, null_a != null_b)


def _smallest(ids: pa.Array, k: int = EXAMPLES) -> list[str]:
    """The k smallest distinct ids, as text in code-point (UTF-8 byte) order."""
    distinct = pc.unique(ids)
    return distinct.take(pc.array_sort_indices(distinct)[:k]).to_pylist()


def _merge(a: IdSkew, b: IdSkew) -> IdSkew:
    return IdSkew(
        compared=a.compared + b.compared,
        skewed=a.skewed + b.skewed,
        examples=sorted(set(a.examples) | set(b.examples))[:EXAMPLES],
        ambiguous=a.ambiguous + b.ambiguous,
    )


def _tally(
    ids: pa.Array, repeats: pa.Array, pairs: Sequence[tuple[pa.Array, pa.Array]]
) -> list[IdSkew]:
    """Joined rows counted per column: `ids` the rows' ids, `repeats` how many training rows
    their id has, `pairs` each column's served and training values."""
    single = pc.equal(repeats, 1).fill_null(False).to_numpy(zero_copy_only=False)
    compared, ambiguous = int(single.sum()), int((~single).sum())
    counted = []
    for served, training in pairs:
        differ = _differs(served, training) & single
        skewed = ids.filter(pa.array(differ))
        counted.append(IdSkew(compared, len(skewed), _smallest(skewed), ambiguous))
    return counted


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


# -- local ------------------------------------------------------------------------------------


def id_skew(
    served: pa.Table, training: pa.Table, *, id: str, columns: Sequence[str] | None = None
) -> dict[str, IdSkew]:
    """Per column, the served rows found in the training data by `id` and how many differ.

    `served` and `training` both have the id column `id`; `columns` (default: all both have)
    are compared by the rules in this module's docstring.
    """
    names = _columns(
        {f.name: _kind(f.type) for f in served.schema},
        {f.name: _kind(f.type) for f in training.schema},
        id,
        columns,
    )
    served_keys = _keys(_array(served.column(id)), "served")
    training_keys = _keys(_array(training.column(id)), "training")
    rows = pa.table({_KEY: training_keys, "row": pa.array(np.arange(len(training_keys)))})
    rows = rows.filter(pc.is_valid(rows.column(_KEY)))
    once = rows.group_by(_KEY).aggregate([("row", "count"), ("row", "min")])
    asked = pa.table({_KEY: served_keys, "at": pa.array(np.arange(len(served_keys)))})
    asked = asked.filter(pc.is_valid(asked.column(_KEY)))
    joined = asked.join(once, _KEY, join_type="inner")
    at, row = _array(joined.column("at")), _array(joined.column("row_min"))
    pairs = [
        (_array(served.column(n)).take(at), _array(training.column(n)).take(row)) for n in names
    ]
    counted = _tally(_array(joined.column(_KEY)), _array(joined.column("row_count")), pairs)
    return dict(zip(names, counted, strict=True))


# -- Spark ------------------------------------------------------------------------------------


def _ref(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _spark_kinds(frame: DataFrame) -> dict[str, str | None]:
    from keel.data.spark import STAMP

    return {
        f.name: "time" if STAMP in f.metadata else _SPARK_KINDS.get(f.dataType.typeName())
        for f in frame.schema.fields
    }


def _spark_key(frame: DataFrame, id: str, where: str) -> Column:
    """The id as text in Spark, by the rules `_keys` applies locally."""
    from pyspark.sql import functions as F

    spark_type = frame.schema[id].dataType.typeName()
    column = _ref(id)
    if spark_type in ("void", "string", "varchar", "char", "byte", "short", "integer", "long"):
        return column.cast("string")
    if spark_type in ("float", "double"):
        number = column.cast("double")
        whole = F.when(number == F.floor(number), number.cast("long").cast("string"))
        return F.when(F.abs(number) < WHOLE, whole)
    raise DataError(
        f"id skew: the {where} id column holds {spark_type}; ids must be strings or integers"
    )


def _tally_partition(count: int, stamps: Mapping[str, str]) -> Any:
    from keel.data.spark import local_types

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """On an executor: the partition's joined rows counted per column."""
        whole: list[IdSkew] | None = None
        for batch in batches:
            if not batch.num_rows:
                continue
            batch = local_types(batch, stamps)
            pairs = [(batch.column(f"s{i}"), batch.column(f"t{i}")) for i in range(count)]
            counted = _tally(batch.column(_KEY).cast(pa.string()), batch.column(_REPEATS), pairs)
            whole = counted if whole is None else list(map(_merge, whole, counted))
        if whole is not None:
            yield pa.RecordBatch.from_pylist(
                [{"column": i, **vars(c)} for i, c in enumerate(whole)], schema=_PART
            )

    return run


_PART = pa.schema(
    [
        ("column", pa.int32()),
        ("compared", pa.int64()),
        ("skewed", pa.int64()),
        ("examples", pa.list_(pa.string())),
        ("ambiguous", pa.int64()),
    ]
)


def id_skew_frame(
    served: DataFrame, training: DataFrame, *, id: str, columns: Sequence[str] | None = None
) -> dict[str, IdSkew]:
    """`id_skew` on Spark DataFrames: the join and the counting in Spark, one row per column
    back to the driver."""
    from pyspark.sql import functions as F

    from keel.data.spark import _executor_error, _stamps

    names = _columns(_spark_kinds(served), _spark_kinds(training), id, columns)
    if not names:
        return {}
    key = F.col(_KEY)
    asked = served.select(
        _spark_key(served, id, "served").alias(_KEY),
        *[_ref(n).alias(f"s{i}") for i, n in enumerate(names)],
    ).where(key.isNotNull())
    once = (
        training.select(
            _spark_key(training, id, "training").alias(_KEY),
            *[_ref(n).alias(f"t{i}") for i, n in enumerate(names)],
        )
        .where(key.isNotNull())
        .groupBy(_KEY)
        .agg(
            F.count(F.lit(1)).alias(_REPEATS),
            *[F.first(f"t{i}").alias(f"t{i}") for i in range(len(names))],
        )
    )
    marked = {"s": _stamps(served), "t": _stamps(training)}  # read_source's timestamp types
    stamps = {
        f"{side}{i}": m[n] for side, m in marked.items() for i, n in enumerate(names) if n in m
    }
    parts = asked.join(once, _KEY, "inner").mapInArrow(
        _tally_partition(len(names), stamps),
        "column int, compared long, skewed long, examples array<string>, ambiguous long",
    )
    summed = parts.groupBy("column").agg(
        F.sum("compared").alias("compared"),
        F.sum("skewed").alias("skewed"),
        F.slice(
            F.array_sort(F.array_distinct(F.flatten(F.collect_list("examples")))), 1, EXAMPLES
        ).alias("examples"),
        F.sum("ambiguous").alias("ambiguous"),
    )
    try:
        rows = summed.collect()
    except KeelError:
        raise
    except Exception as exc:
        raise DataError(f"id skew: the Spark job failed: {_executor_error(exc)}") from None
    found = {
        r["column"]: IdSkew(r["compared"], r["skewed"], list(r["examples"]), r["ambiguous"])
        for r in rows
    }
    return {n: found.get(i, IdSkew(0, 0, [], 0)) for i, n in enumerate(names)}
