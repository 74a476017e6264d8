"""The schema: what each feature may hold, written as reviewable YAML, and validation against it.

A schema is inferred from a profile (`infer`), written to `keel.schema.yaml`, reviewed by a
person and checked in. Inference is conservative, as TFDV's is: string features with few
distinct values get a value domain, but numeric ranges are never tightened to the training
minimum and maximum (a new maximum in fresh data is not an anomaly unless someone set a range
on purpose). Validation streams Arrow batches and reports anomalies per column.

Environments: a feature listed with `absent_in: [serving]` may be missing from serving data
(the label and the example id), as TFDV's `not_in_environment`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from keel.atomic import write_text_atomic
from keel.data.types import FeatureType, iso_8601
from keel.data.types import feature_type as arrow_kind
from keel.errors import ConfigError

Handling = Literal["none", "drop", "hash", "redact"]
Environment = Literal["training", "serving"]
SCHEMA_VERSION = 1
MAX_DOMAIN = 100  # string features with at most this many distinct values get a domain
EXAMPLES = 5


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Model):
    """An allowed numeric range; either end may be open."""

    min: float | None = None
    max: float | None = None


class Feature(_Model):
    """What one column may hold, and who answers for it."""

    type: FeatureType
    presence: float = Field(1.0, ge=0, le=1, description="minimum fraction of rows present")
    domain: list[str] | None = None
    range: Range | None = None
    allow_nan: bool = False
    allow_inf: bool = False
    absent_in: list[Environment] = Field(default_factory=list)
    description: str = ""
    owner: str = ""
    pii: Handling = "none"
    pii_kind: str | None = None
    sensitive: bool = False
    drift: dict[str, float] = Field(default_factory=dict)
    skew: dict[str, float] = Field(default_factory=dict)
    # a datetime the data holds as ISO 8601 text (Parquet strings): served and synthesised as
    # text, as the feature code was trained on it
    as_text: bool = False

    @model_validator(mode="after")
    def _text_is_a_datetime(self) -> Feature:
        if self.as_text and self.type != "datetime":
            raise ValueError(f"as_text is for datetime features; this one is {self.type}")
        return self


class Schema(_Model):
    """Every feature's expectations, by column name, in data order."""

    version: int = SCHEMA_VERSION
    features: dict[str, Feature]


# -- reading and writing ------------------------------------------------------------------------


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def load_schema(path: str | Path) -> Schema:
    """Read and validate a schema YAML; every problem names the file and the key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no schema file; write one with `keel schema infer DATA -o {path.name}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'features', got {type(data).__name__}")
    try:
        return Schema.model_validate(data)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            where, msg = _where(tuple(e["loc"])), e["msg"]
            if e["type"] == "extra_forbidden":
                lines.append(f"{path.name}: {where}: unknown key (check the spelling)")
            elif e["type"] == "missing":
                lines.append(f"{path.name}: {where}: required key is missing")
            else:
                lines.append(f"{path.name}: {where} = {e.get('input')!r}: {msg}")
        raise ConfigError("\n".join(lines)) from None


def dump_schema(schema: Schema) -> str:
    """The schema as YAML, keys in a readable order, defaults left out."""
    body = {"version": schema.version, "features": {}}
    for name, feature in schema.features.items():
        body["features"][name] = feature.model_dump(exclude_defaults=True, exclude_none=True)
        body["features"][name] = {"type": feature.type, **body["features"][name]}
    header = (
        "# Keel schema: what each feature may hold. Inferred by `keel schema infer`;\n"
        "# review every feature (domains, ranges, presence, PII handling, owner), then check in.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)


def write_schema(schema: Schema, path: str | Path) -> None:
    """Write the schema YAML atomically: the file is either the old one or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, dump_schema(schema))


# -- types --------------------------------------------------------------------------------------


def conforms(actual: FeatureType, expected: FeatureType) -> bool:
    """Whether data of type `actual` satisfies a feature of type `expected`."""
    return actual == expected or (expected == "float" and actual in ("int", "bool"))


# -- validation ---------------------------------------------------------------------------------

AnomalyKind = Literal[
    "missing_column",
    "unexpected_column",
    "wrong_type",
    "out_of_domain",
    "out_of_range",
    "low_presence",
    "nan",
    "inf",
]


@dataclass
class Anomaly:
    """One way a column does not conform to its feature."""

    column: str
    kind: AnomalyKind
    message: str
    count: int = 0
    examples: list[Any] = field(default_factory=list)


@dataclass
class _Tally:
    rows: int = 0
    present: int = 0
    nan: int = 0
    inf: int = 0
    out_of_domain: int = 0
    domain_examples: list[Any] = field(default_factory=list)
    below: int = 0
    above: int = 0
    range_examples: list[Any] = field(default_factory=list)
    types: set[str] = field(default_factory=set)

    def merge(self, other: _Tally) -> _Tally:
        def examples(a: list[Any], b: list[Any]) -> list[Any]:
            return (a + [v for v in b if v not in a])[:EXAMPLES]

        return _Tally(
            rows=self.rows + other.rows,
            present=self.present + other.present,
            nan=self.nan + other.nan,
            inf=self.inf + other.inf,
            out_of_domain=self.out_of_domain + other.out_of_domain,
            domain_examples=examples(self.domain_examples, other.domain_examples),
            below=self.below + other.below,
            above=self.above + other.above,
            range_examples=examples(self.range_examples, other.range_examples),
            types=self.types | other.types,
        )


def _add_examples(bucket: list[Any], values: pa.Array) -> None:
    if len(bucket) >= EXAMPLES:
        return
    for v in pc.unique(values).to_pylist():
        if v not in bucket:
            bucket.append(v)
        if len(bucket) >= EXAMPLES:
            return


def _all_timestamps(col: pa.Array) -> bool:
    """Whether every present value of a string column is ISO 8601 text."""
    matched = iso_8601(col)
    return matched.null_count == len(col) or bool(pc.all(matched).as_py())


def _tally(t: _Tally, col: pa.Array, feature: Feature) -> None:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    kind = arrow_kind(col.type)
    if kind == "string" and feature.type == "datetime" and _all_timestamps(col):
        kind = "datetime"  # ISO 8601 text (Parquet keeps it as strings)
    t.types.add(kind)
    t.rows += len(col)
    t.present += len(col) - col.null_count
    if not conforms(kind, feature.type):
        return
    valid = col.drop_null()
    if kind == "float":
        values = valid.to_numpy(zero_copy_only=False)
        nan = np.isnan(values)
        inf = np.isinf(values)
        t.nan += int(nan.sum())
        t.inf += int(inf.sum())
        valid = pa.array(values[~nan & ~inf])
    if feature.domain is not None and kind == "string":
        outside = valid.filter(pc.invert(pc.is_in(valid, value_set=pa.array(feature.domain))))
        t.out_of_domain += len(outside)
        _add_examples(t.domain_examples, outside)
    if feature.range is not None and kind in ("int", "float", "bool"):
        lo, hi = feature.range.min, feature.range.max
        if lo is not None:
            below = valid.filter(pc.less(valid, lo))
            t.below += len(below)
            _add_examples(t.range_examples, below)
        if hi is not None:
            above = valid.filter(pc.greater(valid, hi))
            t.above += len(above)
            _add_examples(t.range_examples, above)


def _batches(data: pa.Table | pd.DataFrame | Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, pa.Table):
        yield from data.to_batches()
    else:
        yield from data


@dataclass
class Tallies:
    """What validation counted in some rows, per schema column: mergeable, so the rows can be
    counted in parts (a Spark partition each) and judged once (`judge`)."""

    rows: int = 0
    seen: list[str] = field(default_factory=list)  # the data's columns, in order of appearance
    columns: dict[str, _Tally] = field(default_factory=dict)

    @classmethod
    def start(cls, columns: list[str], schema: Schema) -> Tallies:
        """Nothing counted yet in data with these columns (an empty data set's tallies)."""
        return cls(0, list(columns), {n: _Tally() for n in schema.features if n in columns})

    def merge(self, other: Tallies) -> Tallies:
        """The tallies of both parts' rows together; neither input changes."""
        columns = {}
        for name in dict.fromkeys([*self.columns, *other.columns]):
            a, b = self.columns.get(name), other.columns.get(name)
            columns[name] = a.merge(b) if a and b else _Tally(**vars(a or b))
        seen = self.seen + [n for n in other.seen if n not in self.seen]
        return Tallies(self.rows + other.rows, seen, columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "seen": self.seen,
            "columns": {n: {**vars(t), "types": sorted(t.types)} for n, t in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tallies:
        columns = {n: _Tally(**{**t, "types": set(t["types"])}) for n, t in data["columns"].items()}
        return cls(int(data["rows"]), list(data["seen"]), columns)


def tally(data: pa.Table | pd.DataFrame | Iterable[pa.RecordBatch], schema: Schema) -> Tallies:
    """Count what validation judges (presence, types, NaN, domain, range), batch by batch."""
    out = Tallies()
    for batch in _batches(data):
        out.rows += batch.num_rows
        for name in batch.schema.names:
            if name not in out.seen:
                out.seen.append(name)
        for name, feature in schema.features.items():
            if name in batch.schema.names:
                _tally(out.columns.setdefault(name, _Tally()), batch.column(name), feature)
    return out


def validate(
    data: pa.Table | pd.DataFrame | Iterable[pa.RecordBatch],
    schema: Schema,
    *,
    environment: Environment = "training",
) -> list[Anomaly]:
    """Every anomaly of the data against the schema, in schema column order."""
    return judge(tally(data, schema), schema, environment=environment)


def judge(
    tallies: Tallies, schema: Schema, *, environment: Environment = "training"
) -> list[Anomaly]:
    """The anomalies that counted rows show against the schema, in schema column order."""
    anomalies: list[Anomaly] = []
    for name, feature in schema.features.items():
        if name not in tallies.columns:
            if environment not in feature.absent_in:
                anomalies.append(
                    Anomaly(name, "missing_column", f"column {name} is missing from the data")
                )
            continue
        anomalies.extend(_judge(name, feature, tallies.columns[name], tallies.rows))
    for name in tallies.seen:
        if name not in schema.features:
            anomalies.append(
                Anomaly(
                    name,
                    "unexpected_column",
                    f"column {name} is not in the schema; add it (keel schema infer) or drop it",
                )
            )
    return anomalies


def _judge(name: str, f: Feature, t: _Tally, rows: int) -> list[Anomaly]:
    out: list[Anomaly] = []
    wrong = sorted(k for k in t.types if not conforms(k, f.type))  # type: ignore[arg-type]
    if wrong:
        out.append(
            Anomaly(
                name,
                "wrong_type",
                f"column {name} holds {', '.join(wrong)}; the schema says {f.type}",
            )
        )
        return out
    share = t.present / rows if rows else 1.0
    if share + 1e-12 < f.presence:
        out.append(
            Anomaly(
                name,
                "low_presence",
                f"column {name} is present in {share:.1%} of rows; the schema wants at least "
                f"{f.presence:.1%}",
                count=t.rows - t.present,
            )
        )
    if t.nan and not f.allow_nan:
        out.append(Anomaly(name, "nan", f"column {name} holds {t.nan} NaN value(s)", t.nan))
    if t.inf and not f.allow_inf:
        out.append(Anomaly(name, "inf", f"column {name} holds {t.inf} infinite value(s)", t.inf))
    if t.out_of_domain:
        shown = ", ".join(map(repr, t.domain_examples))
        out.append(
            Anomaly(
                name,
                "out_of_domain",
                f"column {name} holds {t.out_of_domain} value(s) outside its domain, e.g. {shown}",
                t.out_of_domain,
                t.domain_examples,
            )
        )
    if t.below or t.above:
        r = f.range or Range()
        out.append(
            Anomaly(
                name,
                "out_of_range",
                f"column {name} holds {t.below + t.above} value(s) outside "
                f"[{r.min}, {r.max}], e.g. " + ", ".join(map(repr, t.range_examples)),
                t.below + t.above,
                t.range_examples,
            )
        )
    return out


# -- inference ----------------------------------------------------------------------------------


def _floor(value: float, step: float = 0.05) -> float:
    return max(0.0, math.floor(value / step + 1e-9) * step)


def _feature_type(kind: str, type_name: str) -> FeatureType:
    if kind == "numeric":
        return "int" if type_name.startswith(("int", "uint")) else "float"
    if kind == "categorical":
        return "bool" if type_name == "bool" else "string"
    if kind == "datetime":
        return "datetime"
    return "other"


def infer(
    profile: Any,
    *,
    pii: Iterable[Any] = (),
    target: str | None = None,
    id: str | None = None,
    sensitive: Iterable[str] = (),
) -> Schema:
    """A conservative schema from a profile (`keel.data.profile.Profile`), for review.

    Presence: 1.0 for a column never missing, else the observed share rounded down to 5% less
    a 5% margin. A value domain for string features with at most 100 distinct values. No
    numeric range. NaN and infinity allowed only where seen. PII findings mark their column
    with its kind and the `redact` handling; sensitive attributes are marked; the label and the
    id may be absent from serving data. Drift and skew thresholds start at TFDV's usual 0.1
    (L-infinity for categorical, Jensen-Shannon for numeric) for review.
    """
    pii_kind = {}
    for finding in pii:
        if getattr(finding, "confirmed", True):  # a name alone is a reason to look, no more
            pii_kind.setdefault(finding.column, finding.kind)
    sensitive = set(sensitive)
    features: dict[str, Feature] = {}
    for name, col in profile.columns.items():
        ftype = _feature_type(col.kind, col.type)
        as_text = ftype == "string" and col.timestamps_as_text
        if as_text:
            ftype = "datetime"  # ISO 8601 text, as a CSV reader would have typed it
        share = col.present / col.count if col.count else 1.0
        presence = 1.0 if col.nulls == 0 else round(max(0.0, _floor(share) - 0.05), 2)
        domain = None
        if ftype == "string" and name not in pii_kind and name != id:
            distinct = col.distinct or 0
            if 0 < distinct <= MAX_DOMAIN:
                items = col.top(MAX_DOMAIN + 1)
                if len(items) <= MAX_DOMAIN:
                    domain = sorted(str(v) for v, _ in items)
        measure = "linf" if ftype in ("string", "bool") else "js"
        comparable = ftype in ("string", "bool", "int", "float") and name not in (
            target,
            id,
            *pii_kind,
        )
        features[str(name)] = Feature(
            type=ftype,
            presence=presence,
            domain=domain,
            allow_nan=bool(col.nan),
            allow_inf=bool(col.inf),
            absent_in=["serving"] if name in (target, id) else [],
            pii="redact" if name in pii_kind else "none",
            pii_kind=pii_kind.get(name),
            sensitive=name in sensitive,
            drift={measure: 0.1} if comparable else {},
            skew={measure: 0.1} if comparable else {},
            as_text=as_text,
        )
    return Schema(features=features)
