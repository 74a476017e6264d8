"""Arrow types as Keel sees them: the one place that decides what kind of values a column holds.

The schema speaks of `int`, `float`, `string`, `bool` and `datetime` features; profiles group
these into numeric, categorical and datetime columns. Both read an Arrow type here.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

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
