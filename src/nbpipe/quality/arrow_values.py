"""Spark's types on Arrow, and Spark's renderings of their values, for :mod:`.fast_arrow`.

Which Arrow types ``df.toArrow()`` gives for the Spark types the in-process engine mirrors, and
a value three ways as the Spark path produces it: ``to_json`` of a struct read back with
``json.loads`` (map-rule examples), pyspark's ``collect()`` (uniqueness examples), and a
grouping key (Spark normalises NaN and -0.0 when it groups or joins).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def spark_type_of(arrow_type: pa.DataType) -> str | None:
    """The ``df.dtypes`` name Spark gives an Arrow type this engine supports; None for any other."""
    simple = {pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
              pa.float64(): "double", pa.string(): "string", pa.large_string(): "string",
              pa.bool_(): "boolean", pa.date32(): "date"}
    if arrow_type in simple:
        return simple[arrow_type]
    if pa.types.is_timestamp(arrow_type) and arrow_type.unit == "us" and arrow_type.tz in ("UTC", "+00:00"):
        return "timestamp"
    return None


_NAN = ("NaN",)  # a hashable stand-in for NaN in group keys (Spark groups all NaNs together)


def key_values(data: pa.Array, spark_type: str) -> list[Any]:
    """Group-key values with Spark's normalisation: NaN one value, -0.0 = 0.0, nulls None."""
    if spark_type == "double":
        return [None if v is None else (_NAN if v != v else (0.0 if v == 0 else v)) for v in data.to_pylist()]
    if spark_type in ("date", "timestamp"):
        return pc.cast(data, pa.int32() if spark_type == "date" else pa.int64()).to_pylist()
    return list(data.to_pylist())


def json_value(value: Any, spark_type: str) -> Any:
    """A value as ``json.loads(to_json(struct(col)))`` gives it back on the Spark path."""
    if value is None:
        return None
    if spark_type == "double":
        if math.isnan(value):
            return "NaN"
        return ("Infinity" if value > 0 else "-Infinity") if math.isinf(value) else value
    if spark_type == "date":
        return value.isoformat()
    if spark_type == "timestamp":
        v = value.astimezone(dt.UTC)
        return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
                f".{v.microsecond // 1000:03d}Z")
    return value


def collected_value(value: Any, spark_type: str) -> Any:
    """A group key as pyspark's ``collect()`` gives it back (timestamps naive local time, -0.0 as 0.0)."""
    if value is None:
        return None
    if spark_type == "double" and value == 0:
        return 0.0
    if spark_type == "timestamp":
        us = (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
        return dt.datetime.fromtimestamp(us // 1_000_000).replace(microsecond=us % 1_000_000)
    return value
