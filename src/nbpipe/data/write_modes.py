"""How a write combines with the data already there: write modes and the primary key.

A dataset's write mode (``ctx.write(..., mode=...)``, else ``datasets.<name>.write_mode``, else the
default) decides what a write stages for each *unit* it touches (a partition, or the whole dataset
when it is unpartitioned); the publish then swaps staged units in whole, so every mode is atomic:

``merge`` (default when a primary key is known)
    the unit's existing rows whose key is not in the write, plus the written rows: an upsert by
    primary key. Rerunning the same input gives the same rows.
``append`` (default without a primary key)
    the unit's existing rows plus the written rows that are not already there (identical rows
    are kept once). With a primary key, a written row whose key already exists with other values
    is rejected (the existing row stays).
``overwrite_partitions``
    the written rows replace the partitions they fall in (other partitions are untouched); for
    datasets recomputed per partition (daily aggregates).
``overwrite``
    the written rows replace the whole dataset.

"Existing" is what this run already staged for the unit, else what is published. The primary key
is ``datasets.<name>.primary_key``, else the contract's ``primary_key``. In prod a write with a key
is checked first: identical rows are kept once; rows sharing a key with different values, or with
a null in a key column, are all rejected (none of them is the right one) — quarantined to
``<name>__rejected`` with the reason, or the write fails, per ``on_bad_rows``. Keys are unique within
each partition written (the partition columns belong in the key when a key may move between
partitions).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core.config import WRITE_MODES, DatasetConfig, WriteMode
from nbpipe.core.layout import REASON, list_files
from nbpipe.core.sqltext import sql_name, sql_text
from nbpipe.errors import ConfigError, DatasetError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

_COUNT = "_nbpipe_key_rows"
_READER_ONLY = {"inferschema", "samplingratio", "mode", "columnnameofcorruptrecord", "enforceschema"}


def resolve_mode(name: str, cfg: DatasetConfig, keys: list[str], mode: str | None) -> WriteMode:
    """The write mode: ``mode``, else ``datasets.<name>.write_mode``, else merge (with a key) or append.

    Raises:
        DatasetError: an unknown mode.
        ConfigError: ``merge`` for a dataset without a primary key.
    """
    chosen = mode if mode is not None else cfg.write_mode
    if chosen is None:
        return "merge" if keys else "append"
    if chosen not in WRITE_MODES:
        raise DatasetError(f"write mode {chosen!r} is not supported{did_you_mean(chosen, WRITE_MODES)}",
                           hint=f"use one of: {', '.join(WRITE_MODES)}")
    if chosen == "merge" and not keys:
        where = "ctx.write(..., mode='merge')" if mode is not None else f"datasets.{name}.write_mode: merge"
        raise ConfigError(f"dataset {name!r}: {where} needs a primary key, and {name!r} has none",
                          hint=f"set datasets.{name}.primary_key in nbpipe.yaml (or primary_key in its contract), "
                               f"or use write_mode append or overwrite_partitions")
    return chosen  # type: ignore[return-value]


def _same(left: DataFrame, right: DataFrame, columns: list[str]) -> Column:
    """Null-safe equality of ``columns`` between two frames (a join condition)."""
    from functools import reduce

    return reduce(lambda a, b: a & b, [left[sql_name(c)].eqNullSafe(right[sql_name(c)]) for c in columns])


def _map_columns(df: DataFrame) -> list[str]:
    return [f.name for f in df.schema.fields if f.dataType.simpleString().startswith("map<")]


def need_comparable(name: str, df: DataFrame, mode: str) -> None:
    """Refuse ``append``/``merge`` of rows that Spark cannot compare (map columns)."""
    maps = _map_columns(df)
    if maps and mode in ("append", "merge"):
        raise DatasetError(f"dataset {name!r}: write mode {mode} compares rows, and column(s) {', '.join(maps)} "
                           f"are maps, which Spark cannot compare",
                           hint=f"convert them (e.g. to_json or map_entries), or set datasets.{name}.write_mode: "
                                f"overwrite_partitions")


def split_key_violations(df: DataFrame, keys: list[str]) -> tuple[DataFrame, DataFrame]:
    """The rows with a unique, non-null primary key and the others (with ``_nbpipe_reason``).

    Identical rows count once. Every row of a key that several different rows share is rejected,
    as is every row with a null in a key column.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = df if _map_columns(df) else df.dropDuplicates()
    counted = rows.withColumn(_COUNT, F.count(F.lit(1)).over(Window.partitionBy(*[F.col(sql_name(k)) for k in keys])))
    null_key = " OR ".join(f"{sql_name(k)} IS NULL" for k in keys)
    bad = f"({null_key}) OR {sql_name(_COUNT)} > 1"
    listed = ", ".join(keys)
    reason = (f"CASE WHEN {null_key} THEN {sql_text(f'null in primary key ({listed})')} "
              f"ELSE concat({sql_text(f'duplicate primary key ({listed}): ')}, CAST({sql_name(_COUNT)} AS STRING), "
              f"{sql_text(' rows in this write share it with different values')}) END")
    good = counted.where(f"NOT ({bad})").drop(_COUNT)
    rejected = counted.where(bad).selectExpr("*", f"{reason} AS {sql_name(REASON)}").drop(_COUNT)
    return good, rejected


def read_existing(spark: SparkSession, cfg: DatasetConfig, root: Path, fields: list[dict[str, Any]],
                  partition_by: list[str]) -> DataFrame | None:
    """The rows stored under ``root`` with the write's schema, or None when it holds no data file."""
    from nbpipe.data.write import struct_type

    if not root.is_dir() or not list_files(root):
        return None
    ordered = [f for f in fields if f["name"] not in partition_by] + [f for f in fields if f["name"] in partition_by]
    reader = spark.read.format(cfg.format).schema(struct_type(ordered))
    reader = reader.options(**{k: v for k, v in cfg.options.items() if k.lower() not in _READER_ONLY})
    if cfg.format == "csv":
        reader = reader.option("header", cfg.options.get("header", "true"))
    return reader.load(str(root)).select(*[sql_name(f["name"]) for f in fields])


def existing_rows(spark: SparkSession, cfg: DatasetConfig, staged_root: Path, live_root: Path | None,
                  fields: list[dict[str, Any]], partition_by: list[str], batch: DataFrame) -> DataFrame | None:
    """The rows the write combines with: per touched unit, what this run staged, else what is published.

    ``live_root`` is None when the write goes straight to its destination (the explore sandbox).
    """
    staged = read_existing(spark, cfg, staged_root, fields, partition_by)
    live = read_existing(spark, cfg, live_root, fields, partition_by) if live_root is not None else None
    if staged is not None and live is not None:
        if not partition_by:
            live = None  # the run already staged the whole dataset
        else:
            already = staged.select(*[sql_name(c) for c in partition_by]).distinct()
            live = live.join(already, _same(live, already, partition_by), "left_anti")
    parts = [f for f in (staged, live) if f is not None]
    if not parts:
        return None
    existing = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    if partition_by:
        touched = batch.select(*[sql_name(c) for c in partition_by]).distinct()
        existing = existing.join(touched, _same(existing, touched, partition_by), "left_semi")
    return existing


def combine(batch: DataFrame, existing: DataFrame | None, mode: str,
            keys: list[str]) -> tuple[DataFrame, DataFrame | None]:
    """What to stage for ``mode`` (merge or append) and the written rows rejected by the key (append).

    Returns:
        ``(rows to stage, rejected rows with _nbpipe_reason or None)``.
    """
    columns = batch.columns
    if existing is None:
        return (batch if keys else batch.dropDuplicates()), None
    existing = existing.select(*[sql_name(c) for c in columns])
    if mode == "merge":
        written = batch.select(*[sql_name(k) for k in keys]).distinct()
        kept = existing.join(written, _same(existing, written, keys), "left_anti")
        return kept.unionByName(batch), None
    new = batch.subtract(existing)  # rows not already stored (set difference: identical rows once)
    if not keys:
        return existing.unionByName(new).dropDuplicates(), None
    stored = existing.select(*[sql_name(k) for k in keys]).distinct()
    clash = new.join(stored, _same(new, stored, keys), "left_semi")
    fresh = new.join(stored, _same(new, stored, keys), "left_anti")
    listed = ", ".join(keys)
    reason = sql_text(f"duplicate primary key ({listed}): already stored with different values (write mode append)")
    return existing.unionByName(fresh), clash.selectExpr("*", f"{reason} AS {sql_name(REASON)}")
