"""Profiles: per-column statistics of a data set, computed batch by batch and mergeable.

A `Profile` holds one `ColumnProfile` per column. Each is built from Arrow record batches,
one batch at a time, so memory does not grow with the rows; profiles of parts of a data set
merge into the profile of the whole (`merge`, `Profile.merge`): exactly for counts, nulls,
NaN and infinity counts, minimum and maximum; to rounding for mean and standard deviation
(count, mean and sum of squared deviations merged with Chan's parallel formulas); and within
the sketches' error bounds for quantiles, distinct counts and frequent items.

Columns, by Arrow type (`kind`):
- numeric (integers, floats, decimals) and datetime (timestamps and dates, as microseconds
  since the Unix epoch, UTC): count, nulls, NaN and infinity counts (floats), exact min, max,
  mean and standard deviation of the finite values, their quantiles (KLL), distinct count.
  Integers also keep their most frequent values.
- categorical (strings, dictionaries of strings, booleans): count, nulls, distinct count and
  the most frequent values.
- other (binary, nested, ...): count and nulls only.

Sketches and their error bounds (Apache DataSketches unless said otherwise):
- Quantiles: KLL (`kll_doubles_sketch`, k=200) fed a whole NumPy array per batch; normalised
  rank error about 1.3% (99% confidence), reported by `ColumnProfile.rank_error`.
- Frequent values: `frequent_strings_sketch` (map of 2^10), fed per batch with value counts,
  not row by row. A batch with more than 1,024 distinct values is first reduced as a
  Misra-Gries summary (every count lowered by the 1,025th largest one); the total lowered is
  kept as `frequent_offset` and added to the upper bounds, so the bounds stay guaranteed. The
  extra error is at most rows/1,025.
- Distinct counts of categoricals: HyperLogLog (`hll_sketch`, lg_k=12), fed each batch's
  distinct values once.
- Distinct counts of numbers and datetimes: DataSketches' Python HLL takes one value per call,
  too slow for a million distinct floats. Keel keeps its own HyperLogLog instead, vectorised in
  NumPy: each finite value (as a float64, -0.0 as 0.0) is hashed with the 64-bit MurmurHash3
  finaliser; the top 12 bits pick one of 4,096 one-byte registers, the low 52 bits give the
  rank. Registers merge by maximum, so a merge of parts is bit for bit the sketch of the whole.
  The estimate is Ertl's improved raw estimator ("New cardinality estimation algorithms for
  HyperLogLog sketches", 2017), which needs no bias tables and is accurate from 0 up; its
  relative standard error is 1.04/sqrt(4096) = 1.6%. Integers above 2^53 that round to the
  same float64 count once.

Speed and memory. Everything is vectorised per batch: KLL takes the batch's NumPy array,
Keel's HLL hashes it in NumPy, value counts come from `np.bincount`, a sort, or the indices of
a dictionary-encoded column (whose dictionary values reach the HLL once per row group), and
only the at most 1,024 counted values kept per batch cross into Python. Temporaries live in
per-thread scratch arrays reused from batch to batch: fresh memory for each would cost as much
in page faults as the arithmetic. `profile_source` reads through `keel.data.batches` (Parquet
string columns dictionary-encoded). On Linux, a Parquet source of 250,000 rows or more is
profiled by one process per CPU: the parent forks the others before it reads anything, then
each takes the next column (dearest first) from a shared counter, streams it, and sends its
column profile back; the parent joins them. A glob of several large CSV files is shared out
by file and the parts merged. A worker that dies has its columns redone by the parent.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.data._hll import HLL_LG_K, Hll, scratch
from keel.data.sources import SqlSource, describe
from keel.data.types import Kind, kind_of
from keel.errors import DataError

__all__ = [
    "ColumnProfile",
    "Profile",
    "kind_of",
    "merge",
    "profile_batches",
    "profile_source",
    "read_profile",
    "write_profile",
]


FORMAT = "keel.profile"
VERSION = 1
KLL_K = 200
FREQUENT_LG_MAX_K = 10
REDUCE_TO = 1024  # distinct values per batch above which a batch is reduced (Misra-Gries)
_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
_EPOCH = dt.datetime(1970, 1, 1)


# -- column profiles -------------------------------------------------------------------------


@dataclass(eq=False)
class ColumnProfile:
    """The statistics and sketches of one column. `min`/`max`/`mean` cover finite values."""

    name: str
    type: str
    kind: Kind
    count: int = 0
    nulls: int = 0
    nan: int = 0
    inf: int = 0
    min: float | int | None = None
    max: float | int | None = None
    mean: float | None = None
    m2: float = 0.0
    kll: Any = None
    hll: Any = None
    frequent: Any = None
    frequent_offset: int = 0

    @classmethod
    def empty(cls, name: str, arrow_type: pa.DataType) -> ColumnProfile:
        kind = kind_of(arrow_type)
        col = cls(name, _type_name(arrow_type), kind)
        if kind in ("numeric", "datetime"):
            col.kll = ds.kll_doubles_sketch(KLL_K)
            col.hll = Hll()
        elif kind == "categorical":
            col.hll = ds.hll_sketch(HLL_LG_K)
        if kind == "categorical" or _is_integer(arrow_type):
            col.frequent = ds.frequent_strings_sketch(FREQUENT_LG_MAX_K)
        return col

    # -- what a profile says ---------------------------------------------------------------

    @property
    def present(self) -> int:
        """Rows where the column is not null."""
        return self.count - self.nulls

    @property
    def finite(self) -> int:
        """Rows with a finite value (numeric and datetime columns)."""
        return self.count - self.nulls - self.nan - self.inf

    @property
    def variance(self) -> float | None:
        """Sample variance (n - 1 in the denominator) of the finite values."""
        n = self.finite
        return self.m2 / (n - 1) if self.kind in ("numeric", "datetime") and n > 1 else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation of the finite values, as pandas computes it."""
        v = self.variance
        return math.sqrt(max(v, 0.0)) if v is not None else None

    @property
    def distinct(self) -> int | None:
        """Estimated number of distinct non-null values (finite values for numbers)."""
        if self.hll is None:
            return None
        value = self.hll.estimate() if isinstance(self.hll, Hll) else self.hll.get_estimate()
        return round(value)

    def distinct_bounds(self, num_std: int = 2) -> tuple[float, float]:
        """Bounds on the distinct count, `num_std` (1 to 3) standard errors wide."""
        if self.hll is None:
            raise DataError(f"column {self.name!r} ({self.type}) has no distinct count")
        if isinstance(self.hll, Hll):
            estimate = self.hll.estimate()
            return estimate * (1 - num_std * Hll.rse), estimate * (1 + num_std * Hll.rse)
        return self.hll.get_lower_bound(num_std), self.hll.get_upper_bound(num_std)

    @property
    def rank_error(self) -> float:
        """The KLL sketch's normalised rank error (99% confidence), 0 without a sketch."""
        return self.kll.normalized_rank_error(True) if self.kll is not None else 0.0

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """Approximate quantiles of the finite values (NaN when there are none)."""
        if self.kll is None or self.kll.is_empty():
            return [math.nan] * len(qs)
        return list(self.kll.get_quantiles([float(q) for q in qs], True))

    def cdf(self, split_points: Sequence[float]) -> list[float]:
        """Approximate fraction of finite values <= each split point, then 1."""
        return self._distribution("get_cdf", split_points)

    def pmf(self, split_points: Sequence[float]) -> list[float]:
        """Approximate fraction of finite values in each interval (lo, hi] the points make."""
        return self._distribution("get_pmf", split_points)

    def _distribution(self, method: str, split_points: Sequence[float]) -> list[float]:
        if self.kll is None:
            raise DataError(f"column {self.name!r} ({self.type}) has no quantile sketch")
        if self.kll.is_empty():
            return [math.nan] * (len(split_points) + 1)
        return list(getattr(self.kll, method)([float(s) for s in split_points], True))

    def top(self, n: int = 10) -> list[tuple[str, int]]:
        """The most frequent values and their estimated counts, most frequent first."""
        return [(item, est) for item, est, _, _ in self.frequent_items()[:n]]

    def frequent_items(self) -> list[tuple[str, int, int, int]]:
        """(value, estimate, lower bound, upper bound) of every value that may be frequent."""
        if self.frequent is None:
            return []
        items = self.frequent.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        out = [(i, e, lo, hi + self.frequent_offset) for i, e, lo, hi in items]
        return sorted(out, key=lambda t: (-t[1], t[0]))

    @property
    def frequency_error(self) -> int:
        """The largest amount by which a value's estimated count can be off."""
        if self.frequent is None:
            return 0
        items = self.frequent.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        # Every tracked value's upper bound is its counter plus the sketch's error.
        error = items[0][3] - items[0][2] if items else 0
        return int(error) + self.frequent_offset

    def frequency(self, item: str) -> tuple[int, int, int]:
        """(estimate, lower bound, upper bound) of one value's count."""
        if self.frequent is None:
            return 0, 0, 0
        f = self.frequent
        return (
            f.get_estimate(item),
            f.get_lower_bound(item),
            f.get_upper_bound(item) + self.frequent_offset,
        )

    # -- merging ---------------------------------------------------------------------------

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of both columns' rows together; neither input changes."""
        out = _copy(self)
        out._absorb(other)
        return out

    def _absorb(self, other: ColumnProfile, where: str = "") -> None:
        """Add `other`'s rows into this profile, in place."""
        if other.type == "null":  # a part where the column is all null and has no type
            self.count += other.count
            self.nulls += other.nulls
            return
        if self.type == "null":
            count, nulls = self.count, self.nulls
            self.__dict__.update(_copy(other).__dict__)
            self.count += count
            self.nulls += nulls
            return
        if other.kind != self.kind:
            raise DataError(
                f"{where or 'profiles'}: column {self.name!r} is {self.type} in one part and "
                f"{other.type} in another: a column of mixed types"
            )
        self.type = _merge_type(self.type, other.type, self.kind)
        n1, present1 = self.finite, self.present
        self.count += other.count
        self.nulls += other.nulls
        self.nan += other.nan
        self.inf += other.inf
        if other.mean is not None:
            self._moments(n1, other.finite, other.mean, other.m2, other.min, other.max)
        if self.kll is not None and other.kll is not None:
            self.kll.merge(other.kll)
        if isinstance(self.hll, Hll) and isinstance(other.hll, Hll):
            self.hll = self.hll.merge(other.hll)
        elif self.hll is not None and other.hll is not None:
            union = ds.hll_union(HLL_LG_K)
            union.update(self.hll)
            union.update(other.hll)
            self.hll = union.get_result()
        if self.frequent is not None and other.frequent is not None:
            self.frequent.merge(other.frequent)
            self.frequent_offset += other.frequent_offset
        elif self.frequent is None and other.frequent is not None and present1 == 0:
            self.frequent = copy.copy(other.frequent)
            self.frequent_offset = other.frequent_offset
        elif other.frequent is None and other.present:
            # integers met floats: the floats' values were not counted, so neither are these
            self.frequent, self.frequent_offset = None, 0

    def _moments(self, n1: int, n2: int, mean2: float, m2: float, lo: Any, hi: Any) -> None:
        """Chan et al.'s parallel update of count, mean and sum of squared deviations."""
        if n2 == 0:
            return
        if n1 == 0 or self.mean is None:
            self.mean, self.m2, self.min, self.max = mean2, m2, lo, hi
            return
        n = n1 + n2
        delta = mean2 - self.mean
        self.mean += delta * n2 / n
        self.m2 += m2 + delta * delta * n1 * n2 / n
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    # -- serialising -----------------------------------------------------------------------

    def to_dict(self, *, summary: bool = True) -> dict[str, Any]:
        """A JSON-ready dict: the statistics, a readable summary, and the sketches in base64."""
        out = {
            "type": self.type,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "nan": self.nan,
            "inf": self.inf,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "m2": self.m2,
        }
        if summary:
            out["summary"] = self._summary()
        out["sketches"] = self._sketches()
        return out

    def _summary(self) -> dict[str, Any]:
        """What a person reading the JSON wants to see; recomputed, never read back."""
        summary: dict[str, Any] = {"present": self.present}
        if self.kind in ("numeric", "datetime"):
            summary["std"] = self.std
            summary["quantiles"] = (
                dict(zip(map(str, _QUANTILES), self.quantiles(_QUANTILES), strict=True))
                if self.finite
                else {}
            )
        if self.kind == "datetime" and self.min is not None:
            summary["min_iso"] = _iso(self.min)
            summary["max_iso"] = _iso(self.max)
        if self.hll is not None:
            summary["distinct"] = self.distinct
        if self.frequent is not None:
            summary["top"] = [list(t) for t in self.top(10)]
        return summary

    def _sketches(self) -> dict[str, str | int | dict[str, str]]:
        sketches: dict[str, Any] = {}
        if self.kll is not None:
            sketches["kll"] = _b64(self.kll.serialize())
        if isinstance(self.hll, Hll):
            sketches["hll"] = {"format": "keel-hll-12", "data": _b64(self.hll.to_bytes())}
        elif self.hll is not None:
            sketches["hll"] = {
                "format": "datasketches-hll",
                "data": _b64(self.hll.serialize_compact()),
            }
        if self.frequent is not None:
            sketches["frequent"] = _b64(self.frequent.serialize())
            sketches["frequent_offset"] = self.frequent_offset
        return sketches

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ColumnProfile:
        """The inverse of `to_dict` (the summary is recomputed, not read)."""
        sk = data["sketches"]
        kind = data["kind"]
        if kind not in ("numeric", "categorical", "datetime", "other"):
            raise ValueError(f"unknown kind {kind!r}")
        col = cls(
            name=name,
            type=str(data["type"]),
            kind=kind,
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            nan=int(data["nan"]),
            inf=int(data["inf"]),
            min=data["min"],
            max=data["max"],
            mean=None if data["mean"] is None else float(data["mean"]),
            m2=float(data["m2"]),
        )
        if "kll" in sk:
            col.kll = ds.kll_doubles_sketch.deserialize(_unb64(sk["kll"]))
        if "hll" in sk:
            fmt, raw = sk["hll"]["format"], _unb64(sk["hll"]["data"])
            if fmt == "keel-hll-12":
                col.hll = Hll.from_bytes(raw)
            elif fmt == "datasketches-hll":
                col.hll = ds.hll_sketch.deserialize(raw)
            else:
                raise ValueError(f"unknown distinct-count sketch {fmt!r}")
        if "frequent" in sk:
            col.frequent = ds.frequent_strings_sketch.deserialize(_unb64(sk["frequent"]))
            col.frequent_offset = int(sk.get("frequent_offset", 0))
        return col


def _copy(col: ColumnProfile) -> ColumnProfile:
    out = copy.copy(col)
    out.__dict__.pop("_dictionary", None)  # what the stream had fed belongs to the original
    if col.kll is not None:
        out.kll = ds.kll_doubles_sketch.deserialize(col.kll.serialize())
    if isinstance(col.hll, Hll):
        out.hll = Hll(col.hll.registers.copy())
    elif col.hll is not None:
        out.hll = ds.hll_sketch.deserialize(col.hll.serialize_compact())
    if col.frequent is not None:
        out.frequent = copy.copy(col.frequent)
    return out


def _type_name(t: pa.DataType) -> str:
    return str(t.value_type if pa.types.is_dictionary(t) else t)


def _is_integer(t: pa.DataType) -> bool:
    return pa.types.is_integer(t.value_type if pa.types.is_dictionary(t) else t)


def _merge_type(a: str, b: str, kind: Kind) -> str:
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    return {"numeric": "double", "categorical": "string", "datetime": "timestamp[us]"}.get(kind, a)


def _iso(micros: float | int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=int(micros))).isoformat()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


# -- profiling one batch ---------------------------------------------------------------------


def _update(col: ColumnProfile, array: pa.Array) -> None:
    """Add one batch of a column to its profile, in place."""
    col.count += len(array)
    col.nulls += array.null_count
    if array.null_count == len(array) or col.kind == "other":
        return
    if col.kind == "categorical":
        _update_categorical(col, array)
    else:
        _update_numeric(col, array)


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
    col._moments(n1, len(values), mean, m2, lo, hi)
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
    new = np.flatnonzero((counts > 0) & ~fed)  # the sketch has had the others already
    fed[new] = True
    update = col.hll.update
    for item in _items(dictionary.take(new)):
        update(item)
    _feed_frequent(col, counts, lambda keep: _items(dictionary.take(keep)))


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


# -- profiles --------------------------------------------------------------------------------


@dataclass(eq=False)
class Profile:
    """The profiles of a data set's columns, in data order."""

    columns: dict[str, ColumnProfile]
    rows: int = 0
    batches: int = 0
    source: str = ""

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise DataError(
                f"{self.source or 'profile'}: no column {name!r}; "
                f"the columns are {', '.join(self.columns)}"
            ) from None

    def merge(self, other: Profile) -> Profile:
        """The profile of both data sets' rows together; neither input changes."""
        return merge(self, other)

    def to_dict(self, *, summary: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; `summary` adds a readable digest of each column (not read back)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "source": self.source,
            "rows": self.rows,
            "batches": self.batches,
            "columns": {n: c.to_dict(summary=summary) for n, c in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The inverse of `to_dict`; a ValueError, KeyError or TypeError when malformed."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f'not a Keel profile (expected "format": "{FORMAT}")')
        if data.get("version") != VERSION:
            raise ValueError(f"profile format version {data.get('version')!r}; expected {VERSION}")
        columns = {name: ColumnProfile.from_dict(name, c) for name, c in data["columns"].items()}
        return cls(columns, int(data["rows"]), int(data["batches"]), str(data["source"]))


def profile_batches(batches: pa.Table | Iterable[pa.RecordBatch], *, source: str = "") -> Profile:
    """Profile record batches, one at a time; a `DataError` if there are no rows."""
    if isinstance(batches, pa.Table):
        batches = batches.to_batches()
    where = source or "data"
    columns: dict[str, ColumnProfile] | None = None
    rows = count = 0
    for batch in batches:
        if columns is None:
            columns = {f.name: ColumnProfile.empty(f.name, f.type) for f in batch.schema}
        elif batch.schema.names != list(columns):
            _column_mismatch(where, list(columns), batch.schema.names, count)
        if not batch.num_rows:
            continue
        count += 1
        rows += batch.num_rows
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            col = columns[name]
            if col.type != _type_name(array.type):
                _retype(col, array.type, where, count)
            _update(col, array)
    if columns is None or rows == 0:
        raise DataError(f"{where}: the data is empty (0 rows)")
    for col in columns.values():
        col.__dict__.pop("_dictionary", None)
    return Profile(columns, rows, count, source)


def _retype(col: ColumnProfile, t: pa.DataType, where: str, batch: int) -> None:
    """A batch whose column has another Arrow type than before: widen, or refuse."""
    if pa.types.is_null(t):
        return
    if col.type == "null":
        fresh = ColumnProfile.empty(col.name, t)
        fresh.count, fresh.nulls = col.count, col.nulls
        col.__dict__.update(fresh.__dict__)
        return
    if kind_of(t) == col.kind:
        col.type = _merge_type(col.type, _type_name(t), col.kind)
        if col.frequent is not None and not _is_integer(t) and col.kind == "numeric":
            col.frequent, col.frequent_offset = None, 0  # floats' values are not counted
        return
    raise DataError(
        f"{where}: column {col.name!r} holds {col.type} in earlier rows and {_type_name(t)} "
        f"in batch {batch}: a column of mixed types"
    )


def _column_mismatch(where: str, expected: list[str], got: list[str], batch: int) -> None:
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    detail = "; ".join(
        part
        for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"new {', '.join(extra)}" if extra else "",
            "columns in another order" if not (missing or extra) else "",
        )
        if part
    )
    raise DataError(f"{where}: batch {batch + 1} has other columns than the first: {detail}")


def merge(a: Profile, b: Profile) -> Profile:
    """The profile of the rows of both; the two must have the same columns."""
    if set(a.columns) != set(b.columns):
        only_a = sorted(set(a.columns) - set(b.columns))
        only_b = sorted(set(b.columns) - set(a.columns))
        detail = "; ".join(
            f"{', '.join(cols)} only in {src or 'one'}"
            for cols, src in ((only_a, a.source), (only_b, b.source))
            if cols
        )
        raise DataError(f"profiles of different columns cannot be merged: {detail}")
    where = " + ".join(s for s in (a.source, b.source) if s) or "profiles"
    columns = {}
    for name, col in a.columns.items():
        merged = _copy(col)
        merged._absorb(b.columns[name], where)
        columns[name] = merged
    source = a.source if a.source == b.source else where
    return Profile(columns, a.rows + b.rows, a.batches + b.batches, source)


def _join(parts: list[Profile], names: list[str], source: str) -> Profile:
    """One profile from profiles of disjoint columns of the same rows."""
    columns: dict[str, ColumnProfile] = {}
    for part in parts:
        if part.rows != parts[0].rows:
            raise DataError(f"{source}: the source changed while it was read; profile it again")
        columns.update(part.columns)
    batches = max(part.batches for part in parts)  # columns may break into batches apart
    return Profile({n: columns[n] for n in names}, parts[0].rows, batches, source)


# -- files -----------------------------------------------------------------------------------


def write_profile(profile: Profile, path: str | Path) -> Path:
    """Write a profile as JSON, atomically: the file is the old one or the new one, whole."""
    from keel.atomic import write_text_atomic

    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise DataError(f"{path}: cannot write the profile: no folder {path.parent}")
    try:
        return write_text_atomic(path, json.dumps(profile.to_dict(), indent=1) + "\n")
    except OSError as exc:
        raise DataError(f"{path}: cannot write the profile: {exc.strerror or exc}") from None


def read_profile(path: str | Path) -> Profile:
    """Read a profile written by `write_profile`; a `DataError` for anything else."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"{path}: no such profile; write one with `keel profile DATA -o {path}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not a Keel profile: not valid JSON ({exc})") from None
    try:
        return Profile.from_dict(data)
    except Exception as exc:  # malformed fields or sketches: every way is the same to a user
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
        raise DataError(f"{path}: not a Keel profile, or a damaged one: {what}") from None


# -- sources ---------------------------------------------------------------------------------


def profile_source(
    source: str | SqlSource | Path,
    root: Path,
    *,
    key: str,
    batch_size: int = 65_536,
    workers: int | None = None,
) -> Profile:
    """Profile a source (path, glob or SQL table) streamed in batches of `batch_size` rows.

    `workers` caps the processes (default: one per CPU, at most 8, on Linux; elsewhere, and
    with 1, this process alone). A `DataError` names the key and the file for a missing,
    unreadable or empty source, an unknown format, or a column of mixed types.
    """
    from keel.data._parallel import Job, in_parallel, units, worker_count

    workers = worker_count(workers)
    shown = describe(source if isinstance(source, SqlSource) else str(source))
    job = Job(source, root, key, batch_size, f"{key} = {shown}")
    shares = [] if isinstance(source, SqlSource) else units(job, workers)
    if len(shares) < 2:
        profile = profile_batches(job.batches(), source=job.where)
    else:
        profile = in_parallel(job, shares, workers)
    profile.source = shown
    return profile
