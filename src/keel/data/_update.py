"""Feeding one batch of a column into its profile, vectorised.

Everything is vectorised per batch: KLL takes the batch's NumPy array, Keel's HLL hashes it in
NumPy, value counts come from `np.bincount`, a sort, or the indices of a dictionary-encoded
column (whose dictionary values reach the HLL once per row group), and only the at most 1,024
counted values kept per batch cross into Python (a batch with more is reduced first, as a
Misra-Gries summary). Temporaries live in per-thread scratch arrays reused from batch to
batch: fresh memory for each would cost as much in page faults as the arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.data._hll import scratch
from keel.data.column import ColumnProfile, is_integer, merge_type, type_name
from keel.data.types import iso_8601, kind_of
from keel.errors import DataError

REDUCE_TO = 1024  # distinct values per batch above which a batch is reduced (Misra-Gries)


def update(col: ColumnProfile, array: pa.Array) -> None:
    """Add one batch of a column to its profile, in place."""
    col.count += len(array)
    col.nulls += array.null_count
    if array.null_count == len(array) or col.kind == "other":
        return
    if col.kind == "categorical":
        _update_categorical(col, array)
    else:
        _update_numeric(col, array)


def retype(col: ColumnProfile, t: pa.DataType, where: str, batch: int) -> None:
    """A batch whose column has another Arrow type than before: widen, or refuse."""
    if pa.types.is_null(t):
        return
    if col.type == "null":
        fresh = ColumnProfile.empty(col.name, t)
        fresh.count, fresh.nulls = col.count, col.nulls
        col.__dict__.update(fresh.__dict__)
        return
    if kind_of(t) == col.kind:
        col.type = merge_type(col.type, type_name(t), col.kind)
        if col.frequent is not None and not is_integer(t) and col.kind == "numeric":
            col.frequent, col.frequent_offset = None, 0  # floats' values are not counted
        return
    raise DataError(
        f"{where}: column {col.name!r} holds {col.type} in earlier rows and {type_name(t)} "
        f"in batch {batch}: a column of mixed types"
    )


def _update_numeric(col: ColumnProfile, array: pa.Array) -> None:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    t = array.type
    ints = None
    if pa.types.is_float64(t):
        values = _finite_float64(col, array)
    elif pa.types.is_floating(t):
        values = _finite_float64(col, array.cast(pa.float64()))
    else:
        if array.null_count:
            array = array.drop_null()
        if pa.types.is_integer(t):
            ints = array.to_numpy()
        elif pa.types.is_decimal(t):
            values = array.cast(pa.float64()).to_numpy().astype(np.float64, copy=True)
        else:  # datetime: microseconds since the epoch, exact in a float64 to the year 287,396
            ints = _epoch_micros(array)
        if ints is not None:
            values = scratch("values", len(ints), np.float64)
            np.copyto(values, ints, casting="unsafe")
    if not len(values):
        return
    n1 = col.finite - len(values)  # the counts already include this batch
    mean = float(values.mean())
    deviations = scratch("deviations", len(values), np.float64)
    np.subtract(values, mean, out=deviations)
    np.square(deviations, out=deviations)  # not np.dot: BLAS threads would spin on 2 cores
    m2 = float(deviations.sum())
    if ints is not None:
        lo, hi = int(ints.min()), int(ints.max())
    else:
        lo, hi = float(values.min()), float(values.max())
    col.add_moments(n1, len(values), mean, m2, lo, hi)
    col.kll.update(values)
    col.hll.update(values)
    if col.frequent is not None and ints is not None:
        if hi - lo < 4 * len(ints):
            offsets = scratch("offsets", len(ints), np.int64)
            np.subtract(ints, lo, out=offsets, casting="unsafe")
            counts = np.bincount(offsets)
            _feed_frequent(col, counts, lambda keep: (keep + lo).tolist())
        else:  # sorted in place: Arrow's hash tables would hold on to tens of MB
            ordered = scratch("ordered", len(ints), ints.dtype)
            np.copyto(ordered, ints)
            ordered.sort()
            starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
            counts = np.diff(np.append(starts, len(ordered)))
            firsts = ordered[starts]
            _feed_frequent(col, counts, lambda keep: firsts[keep].tolist())


def _finite_float64(col: ColumnProfile, array: pa.Array) -> np.ndarray:
    """The finite values of a float64 array (in scratch memory); counts NaN and infinities."""
    n = len(array)
    data = np.frombuffer(array.buffers()[1], np.float64, n, array.offset * 8)
    keep = np.isfinite(data)
    if array.null_count:
        bitmap = np.frombuffer(array.buffers()[0], np.uint8)
        valid = np.unpackbits(bitmap, count=array.offset + n, bitorder="little")[array.offset :]
        valid = valid.view(bool)
        nan = int(np.count_nonzero(np.isnan(data) & valid))
        np.logical_and(keep, valid, out=keep)
        n_valid = n - array.null_count
    else:
        nan = None
        n_valid = n
    n_keep = int(np.count_nonzero(keep))
    if n_keep < n_valid:
        if nan is None:
            nan = int(np.count_nonzero(np.isnan(data)))
        col.nan += nan
        col.inf += n_valid - n_keep - nan
    values = scratch("values", n_keep, np.float64)
    if n_keep == n:
        np.copyto(values, data)  # KLL takes only writable arrays
    else:
        np.compress(keep, data, out=values)
    return values


def _epoch_micros(array: pa.Array) -> np.ndarray:
    t = array.type
    if pa.types.is_date(t):
        array = array.cast(pa.timestamp("us"))
    elif t.unit != "us":
        array = pc.cast(array, pa.timestamp("us", t.tz), safe=False)
    return array.cast(pa.int64()).to_numpy()


def _update_categorical(col: ColumnProfile, array: pa.Array) -> None:
    if pa.types.is_dictionary(array.type) and _distinct_dictionary(col, array.dictionary):
        _update_dictionary(col, array)
        return
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    vc = pc.value_counts(array)
    values, counts = vc.field(0), vc.field(1).to_numpy()
    mask = values.is_valid().to_numpy(zero_copy_only=False)
    if not mask.all():
        values, counts = values.filter(pa.array(mask)), counts[mask]
    _count_text_times(col, values, counts)
    items = _items(values)
    update = col.hll.update
    for item in items:
        update(item)
    _feed_frequent(col, counts, lambda keep: [items[i] for i in keep.tolist()])


def _distinct_dictionary(col: ColumnProfile, dictionary: pa.Array) -> bool:
    """Whether a dictionary holds distinct, non-null values; remembered while it is reused."""
    cache = col.__dict__.get("_dictionary")
    if cache is not None and cache[0].equals(dictionary):
        return cache[2]
    distinct = dictionary.null_count == 0 and (
        pc.count_distinct(dictionary).as_py() == len(dictionary)
    )
    # The dictionary, which of its values the distinct-count sketch has had, and the verdict.
    col.__dict__["_dictionary"] = (dictionary, np.zeros(len(dictionary), bool), distinct)
    return distinct


def _update_dictionary(col: ColumnProfile, array: pa.Array) -> None:
    """Count values by dictionary index; batches of one row group share their dictionary."""
    dictionary, fed, _ = col.__dict__["_dictionary"]
    indices = array.indices
    if indices.null_count:
        indices = indices.drop_null()
    counts = np.bincount(indices.to_numpy(), minlength=len(dictionary))
    _count_text_times(col, dictionary, counts)
    new = np.flatnonzero((counts > 0) & ~fed)  # the sketch has had the others already
    fed[new] = True
    update = col.hll.update
    for item in _items(dictionary.take(new)):
        update(item)
    _feed_frequent(col, counts, lambda keep: _items(dictionary.take(keep)))


def _count_text_times(col: ColumnProfile, values: pa.Array, counts: np.ndarray) -> None:
    """Add the rows whose value is ISO 8601 text to `text_times` (`values` distinct, each
    `counts` times in the batch), while every value so far has been: one value that is not
    settles it, and the column's later batches are not looked at."""
    batch = int(counts.sum())
    text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    if col.text_times != col.present - batch or not text:
        return  # a value was not a timestamp (or not text): the count stays short for good
    matched = iso_8601(values).fill_null(False).to_numpy(zero_copy_only=False)
    col.text_times += int(counts[matched].sum())


def _items(values: pa.Array) -> list[str]:
    if pa.types.is_boolean(values.type):
        return ["true" if v else "false" for v in values.to_pylist()]
    return values.to_pylist()


def _feed_frequent(col: ColumnProfile, counts: np.ndarray, items: Any) -> None:
    """Feed value counts (`items(indices)` names them), reduced if there are too many.

    With more than REDUCE_TO values in the batch, the batch becomes a Misra-Gries summary:
    every count is lowered by the (REDUCE_TO + 1)th largest, `floor`, and values left at 0 are
    dropped. At least REDUCE_TO + 1 values count `floor` or more, so floor <= rows / 1,025;
    `frequent_offset` adds up the floors for the upper bounds.
    """
    histogram = np.bincount(counts)  # counts are small integers: a histogram beats a sort
    histogram[0] = 0
    floor = 0
    if int(histogram.sum()) > REDUCE_TO:
        above = int(histogram.sum()) - np.cumsum(histogram)  # values with a count above t
        floor = int(np.argmax(above <= REDUCE_TO))
        col.frequent_offset += floor
    keep = np.flatnonzero(counts > floor)
    update = col.frequent.update
    for item, weight in zip(items(keep), (counts[keep] - floor).tolist(), strict=True):
        update(str(item), weight)
