"""Arrow types as Keel sees them: the one place that decides what kind of values a column holds.

The schema speaks of `int`, `float`, `string`, `bool` and `datetime` features; profiles group
these into numeric, categorical and datetime columns. Both read an Arrow type here.

Text can hold timestamps too: Parquet keeps ISO 8601 text as strings where a CSV reader types
it as timestamps. `iso_8601` tells such values apart (a date, or a date and a time to the
second or finer, with an optional Z or UTC offset), so a column of them is a `datetime`
feature whichever file format it came in.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

ISO_8601 = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?)?$"
)

FeatureType = Literal["int", "float", "string", "bool", "datetime", "other"]
Kind = Literal["numeric", "categorical", "datetime", "other"]

KIND: dict[str, Kind] = {
    "int": "numeric",
    "float": "numeric",
    "string": "categorical",
    "bool": "categorical",
    "datetime": "datetime",
    "other": "other",
}


def feature_type(t: pa.DataType) -> FeatureType:
    """The schema type of an Arrow type (a dictionary type by its values)."""
    if pa.types.is_dictionary(t):
        return feature_type(t.value_type)
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    return "other"


def kind_of(t: pa.DataType) -> Kind:
    """The profile kind of an Arrow type."""
    return KIND[feature_type(t)]


def iso_8601(values: pa.Array) -> pa.BooleanArray:
    """Which string values are ISO 8601 dates or date-times (null stays null)."""
    return pc.match_substring_regex(values, ISO_8601)
