"""The profile of one column: its statistics and sketches, merged and serialised.

A `ColumnProfile` is fed Arrow arrays batch by batch (`keel.data._update`); profiles of parts
of a column merge into the profile of the whole (`ColumnProfile.merge`): exactly for counts,
nulls, NaN and infinity counts, minimum and maximum; to rounding for mean and standard
deviation (count, mean and sum of squared deviations merged with Chan's parallel formulas);
and within the sketches' error bounds for quantiles, distinct counts and frequent items.

Columns, by Arrow type (`kind`):
- numeric (integers, floats, decimals) and datetime (timestamps and dates, as microseconds
  since the Unix epoch, UTC): count, nulls, NaN and infinity counts (floats), exact min, max,
  mean and standard deviation of the finite values, their quantiles (KLL), distinct count.
  Integers also keep their most frequent values.
- categorical (strings, dictionaries of strings, booleans): count, nulls, distinct count and
  the most frequent values; for strings also how many values are ISO 8601 dates or date-times
  (`text_times`, counted while every value so far is one), so that a column of timestamps
  stored as text is inferred a `datetime` feature, as it would be from a CSV file.
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
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import datasketches as ds
import pyarrow as pa

from keel.data._hll import HLL_LG_K, Hll
from keel.data.types import Kind, kind_of
from keel.errors import DataError

__all__ = ["ColumnProfile"]

KLL_K = 200
FREQUENT_LG_MAX_K = 10
_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
_EPOCH = dt.datetime(1970, 1, 1)


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
    text_times: int = 0  # present values that are ISO 8601 text (counted while all of them are)

    @property
    def timestamps_as_text(self) -> bool:
        """Whether every present value is an ISO 8601 date or date-time held as text."""
        return self.kind == "categorical" and self.present > 0 and self.text_times == self.present

    @classmethod
    def empty(cls, name: str, arrow_type: pa.DataType) -> ColumnProfile:
        kind = kind_of(arrow_type)
        col = cls(name, type_name(arrow_type), kind)
        if kind in ("numeric", "datetime"):
            col.kll = ds.kll_doubles_sketch(KLL_K)
            col.hll = Hll()
        elif kind == "categorical":
            col.hll = ds.hll_sketch(HLL_LG_K)
        if kind == "categorical" or is_integer(arrow_type):
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

    def merge(self, other: ColumnProfile, *, where: str = "") -> ColumnProfile:
        """The profile of both columns' rows together; neither input changes.

        `where` names the data in the error for columns of different kinds.
        """
        out = self.copy()
        out._absorb(other, where)
        return out

    def copy(self) -> ColumnProfile:
        """A copy sharing no sketch with this one (nor what a stream had fed it)."""
        out = copy.copy(self)
        out.__dict__.pop("_dictionary", None)  # what the stream had fed belongs to the original
        if self.kll is not None:
            out.kll = ds.kll_doubles_sketch.deserialize(self.kll.serialize())
        if isinstance(self.hll, Hll):
            out.hll = Hll(self.hll.registers.copy())
        elif self.hll is not None:
            out.hll = ds.hll_sketch.deserialize(self.hll.serialize_compact())
        if self.frequent is not None:
            out.frequent = copy.copy(self.frequent)
        return out

    def _absorb(self, other: ColumnProfile, where: str = "") -> None:
        """Add `other`'s rows into this profile, in place."""
        if other.type == "null":  # a part where the column is all null and has no type
            self.count += other.count
            self.nulls += other.nulls
            return
        if self.type == "null":
            count, nulls = self.count, self.nulls
            self.__dict__.update(other.copy().__dict__)
            self.count += count
            self.nulls += nulls
            return
        if other.kind != self.kind:
            raise DataError(
                f"{where or 'profiles'}: column {self.name!r} is {self.type} in one part and "
                f"{other.type} in another: a column of mixed types"
            )
        self.type = merge_type(self.type, other.type, self.kind)
        n1, present1 = self.finite, self.present
        self.count += other.count
        self.nulls += other.nulls
        self.nan += other.nan
        self.inf += other.inf
        self.text_times += other.text_times
        if other.mean is not None:
            self.add_moments(n1, other.finite, other.mean, other.m2, other.min, other.max)
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

    def add_moments(self, n1: int, n2: int, mean2: float, m2: float, lo: Any, hi: Any) -> None:
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
        if self.text_times:
            out["text_times"] = self.text_times
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
            text_times=int(data.get("text_times", 0)),
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


def type_name(t: pa.DataType) -> str:
    """The name of an Arrow type; a dictionary-encoded column is named by its values' type."""
    return str(t.value_type if pa.types.is_dictionary(t) else t)


def is_integer(t: pa.DataType) -> bool:
    """Whether an Arrow type (or a dictionary's value type) is an integer."""
    return pa.types.is_integer(t.value_type if pa.types.is_dictionary(t) else t)


def merge_type(a: str, b: str, kind: Kind) -> str:
    """The type of a column typed `a` in one part and `b` in another, both of `kind`."""
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
