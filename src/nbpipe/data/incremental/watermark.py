"""Incremental reads by watermark: rows past the committed high of a monotonic column (minus a lookback)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nbpipe.core.config import DatasetConfig
from nbpipe.data.incremental import positions as state
from nbpipe.data.incremental._common import EPOCH, Batch, emit_read, primary_key, resume_part, source_root
from nbpipe.errors import DatasetError, StateError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope


def source_frame(ctx: RunScope, name: str, cfg: DatasetConfig) -> DataFrame:
    """The whole dataset as a lazy frame (no action), so later filters are pushed down."""
    reader = ctx.spark.read.format(cfg.format).options(**cfg.options)
    try:
        if cfg.format == "jdbc":
            return reader.load()
        return reader.load(str(source_root(ctx, name, cfg)))
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(
            f"cannot read dataset {name!r} ({cfg.format}): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            hint=f"check datasets.{name} (path, format, options) in nbpipe.yaml",
        ) from exc


def watermark_type(df: DataFrame, column: str, name: str) -> str:
    """The :mod:`nbpipe.data.incremental.positions` watermark type of ``column`` (timestamp, date, number, string)."""
    from pyspark.sql import types as T

    dtype = df.schema[column].dataType
    if isinstance(dtype, T.TimestampNTZType):
        return "timestamp_ntz"
    if isinstance(dtype, T.TimestampType):
        return "timestamp"
    if isinstance(dtype, T.DateType):
        return "date"
    if isinstance(dtype, T.NumericType):
        return "number"
    if isinstance(dtype, T.StringType):
        return "string"
    raise DatasetError(
        f"column {column!r} of dataset {name!r} is {dtype.simpleString()}: it cannot be a watermark",
        hint="use a timestamp, date, numeric or string column that grows with every change",
    )


def _literal(value: Any, wtype: str) -> Any:
    from pyspark.sql import functions as F

    if wtype == "timestamp_ntz":
        return F.lit(value.isoformat()).cast("timestamp_ntz")
    return F.lit(value)  # aware datetimes convert exactly, whatever the Python time zone


def between(df: DataFrame, column: str, wtype: str, low: Any, high: Any) -> DataFrame:
    """Rows with ``low < column <= high`` (an open side when ``None``); lazy, so it is pushed down."""
    from pyspark.sql import functions as F

    cond = None
    if low is not None:
        cond = F.col(column) > _literal(low, wtype)
    if high is not None:
        upper = F.col(column) <= _literal(high, wtype)
        cond = upper if cond is None else cond & upper
    return df if cond is None else df.filter(cond)


def max_and_count(df: DataFrame, column: str, wtype: str) -> tuple[Any, int]:
    """``max(column)`` and the number of non-null values, in one action."""
    from pyspark.sql import functions as F

    top = F.max(F.col(column))
    if wtype == "timestamp":  # micros since the epoch: no Python time zone in the round trip
        top = F.unix_micros(top)
    row = df.agg(top.alias("high"), F.count(F.col(column)).alias("rows")).first()
    high = None if row is None else row["high"]
    if wtype == "timestamp" and high is not None:
        high = EPOCH + dt.timedelta(microseconds=int(high))
    return high, int(row["rows"]) if row is not None else 0


def latest_per_key(df: DataFrame, key: list[str], column: str, name: str) -> DataFrame:
    """One row per ``key``: the one with the largest ``column`` (ties broken by the other columns)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    missing = [k for k in key if k not in df.columns]
    if missing:
        raise DatasetError(
            f"primary_key column {missing[0]!r} of dataset {name!r} is not in the data"
            f"{did_you_mean(missing[0], df.columns)}",
            hint=f"fix datasets.{name}.primary_key in nbpipe.yaml; columns: {', '.join(df.columns)}",
        )
    unordered = (T.MapType, T.ArrayType, T.StructType)
    ties = [f.name for f in df.schema.fields
            if f.name not in key and f.name != column and not isinstance(f.dataType, unordered)]
    order = [F.col(column).desc_nulls_last(), *(F.col(c).desc_nulls_last() for c in ties)]
    rank = "__nbpipe_rank"
    window = Window.partitionBy(*key).orderBy(*order)
    return df.withColumn(rank, F.row_number().over(window)).filter(F.col(rank) == 1).drop(rank)


def read_watermark(
    ctx: RunScope,
    name: str,
    cfg: DatasetConfig,
    position: dict[str, Any],
    column: str,
    lookback: Any,
    resume: Mapping[str, Any] | None,
) -> Batch:
    df = source_frame(ctx, name, cfg)
    if column not in df.columns:
        raise DatasetError(
            f"watermark column {column!r} is not in dataset {name!r}{did_you_mean(column, df.columns)}",
            hint=f"columns: {', '.join(df.columns)}",
        )
    wtype = watermark_type(df, column, name)
    state.check_watermark_column(position, column, wtype, name)
    delta = state.parse_lookback(lookback)
    previous = resume_part(resume, "watermark", name)
    warnings: list[str] = []
    if previous is not None:
        snap = previous["snapshot"]
        if snap.get("column") != column:
            raise StateError(
                f"the resumed run read {name!r} by column {snap.get('column')!r}, not {column!r}",
                hint="resume with the same notebook code, or start a fresh run without --resume",
            )
        low = state.decode_watermark(snap.get("low"), wtype)
        high = state.decode_watermark(snap.get("high"), wtype)
        new_position = dict(previous["position"])
        selected = between(df, column, wtype, low, high)
        rows = int(selected.count())
    else:
        committed_high = state.decode_watermark(position.get("high"), wtype)
        low = state.lower_bound(committed_high, delta, wtype)
        above = between(df, column, wtype, low, None)
        max_seen, rows = max_and_count(above, column, wtype)
        low, high = state.watermark_range(position, max_seen, delta, wtype)
        new_position = state.advance_watermark(position, column, wtype, high)
        selected = between(df, column, wtype, low, max_seen) if max_seen is not None else df.limit(0)
    key = primary_key(ctx, name, cfg)
    if key:
        selected = latest_per_key(selected, key, column, name)
    elif delta:
        warnings.append(f"lookback={lookback!r} without a primary_key: re-read rows are not de-duplicated "
                        f"(set datasets.{name}.primary_key in nbpipe.yaml or in its contract)")
    emit_read(ctx, name, rows, cfg.path or cfg.options.get("dbtable", cfg.format), "watermark")
    snapshot = {
        "column": column,
        "type": wtype,
        "low": state.encode_watermark(low, wtype),
        "high": state.encode_watermark(high, wtype),
        "lookback": None if delta is None else str(delta),
        "primary_key": key,
    }
    return Batch(selected, "watermark", new_position, snapshot, rows, warnings)
