"""Spark's row equality on pyarrow tables: what ``dropDuplicates``, ``subtract`` and null-safe joins call equal.

Nulls equal nulls, NaN equals NaN and ``-0.0`` equals ``0.0`` (Spark normalizes floats before it
groups, hashes or joins on them). ``dropDuplicates`` and ``subtract`` return the *normalized* values
(``-0.0`` becomes ``0.0``, every NaN the canonical NaN); :func:`normalize` gives the same.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


def normalized(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Floats as Spark compares and deduplicates them: ``-0.0`` as ``0.0``, every NaN the canonical NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_floating(column.type):
        return column
    zero = pc.add(column, pa.scalar(0.0, column.type))  # -0.0 + 0.0 == +0.0
    return pc.if_else(pc.is_nan(column), pa.scalar(math.nan, column.type), zero)


def normalize(table: pa.Table) -> pa.Table:
    """``table`` with every float column normalized (:func:`normalized`)."""
    for i, name in enumerate(table.column_names):
        table = table.set_column(i, name, normalized(table.column(i)))
    return table


def codes(tables: list[pa.Table], columns: list[str]) -> list[pa.Array]:
    """One int64 code per row of each table: equal codes iff the rows are equal on ``columns`` as Spark says.

    Null-safe (null equals null), NaN equals NaN, ``-0.0`` equals ``0.0``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    sizes = [t.num_rows for t in tables]
    total = sum(sizes)
    done = np.zeros(total, dtype=np.int64)
    for column in columns:
        kind = tables[0].schema.field(column).type
        joined = pa.chunked_array([c for t in tables for c in t.column(column).chunks], kind)
        if pa.types.is_boolean(joined.type):
            joined = joined.cast(pa.int8())
        encoded = pc.dictionary_encode(normalized(joined).combine_chunks(), null_encoding="encode")
        index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        width = max(len(encoded.dictionary), 1)
        mixed = done * width + index  # both < total rows: no overflow below 3e9 rows
        done = pc.dictionary_encode(pa.array(mixed)).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    out, start = [], 0
    for size in sizes:
        out.append(pa.array(done[start:start + size], pa.int64()))
        start += size
    return out


def distinct(table: pa.Table) -> pa.Table:
    """Spark's ``dropDuplicates()``: identical rows once, float values normalized (first occurrence kept)."""
    import numpy as np

    table = normalize(table)
    if table.num_rows == 0:
        return table
    (row_codes,) = codes([table], table.column_names)
    _, first = np.unique(row_codes.to_numpy(), return_index=True)
    return table.take(np.sort(first))


def member(left: pa.Table, right: pa.Table, columns: list[str]) -> pa.Array:
    """For each row of ``left``: is a row of ``right`` equal to it on ``columns`` (null-safe, normalized)?"""
    import pyarrow as pa
    import pyarrow.compute as pc

    if left.num_rows == 0 or right.num_rows == 0:
        return pa.array([False] * left.num_rows, pa.bool_())
    ours, theirs = codes([left.select(columns), right.select(columns)], columns)
    return pc.is_in(ours, value_set=theirs)
