"""Staged files: Spark's output tidied into deterministic files, footer counts, quarantined rows.

``write_files`` writes a frame sorted into ``part-NNNNN<ext>`` files (no ``_SUCCESS``/``.crc``,
canonical Parquet footers: :mod:`nbpipe.data.parquet_footer`), one per partition directory.
``parquet_footer_counts`` reads rows and null counts from the written footers instead of a Spark
job. ``stage_rejected`` stages rows with a ``_nbpipe_reason`` into ``<dataset>__rejected``
(partitioned by ``nbpipe_run_id``: no leading underscore, so pyarrow, pandas and DuckDB read it as
Spark does). :mod:`nbpipe.data.write` builds the contract-checked dataset writes on these.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from nbpipe.core import events
from nbpipe.core.config import check_name
from nbpipe.core.contracts import CORRUPT_COLUMN
from nbpipe.core.layout import (
    LEGACY_RUN_ID_COLUMN,
    RAW,
    REASON,
    RUN_ID_COLUMN,
    SOURCE,
    explore_root,
    hidden,
    migrate_layout,
    quarantine_name,
    quarantine_unit,
    read_marker,
    write_marker,
)
from nbpipe.core.sqltext import sql_name
from nbpipe.data.parquet_footer import canonicalize
from nbpipe.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

_READER_ONLY = {"inferschema", "samplingratio", "mode", "columnnameofcorruptrecord", "enforceschema"}
_EXT = {"parquet": ".parquet", "csv": ".csv", "json": ".json"}
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Spark's directory name for a null partition value


def _tidy(tmp: Path, fmt: str) -> list[str]:
    """Drop _SUCCESS/.crc files, rename data files to part-NNNNN<ext>; return the leaf units."""
    units = []
    for directory in sorted({p.parent for p in tmp.rglob("*") if p.is_file()} | {tmp}):
        files = sorted(p for p in directory.iterdir() if p.is_file())
        data = [p for p in files if not hidden(p.name)]
        for p in files:
            if p not in data:
                p.unlink()
        for i, p in enumerate(data):
            target = directory / f"part-{i:05d}{_EXT[fmt]}"
            p.rename(target)
            if fmt == "parquet":
                canonicalize(target)  # the same rows give the same bytes in every JVM
        if data:
            units.append(directory.relative_to(tmp).as_posix() if directory != tmp else "")
    return units


def _sortable(df: DataFrame, cols: list[str]) -> list[str]:
    kinds = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return [c for c in cols if not kinds.get(c, "").startswith("map<")]


def _write_files(df: DataFrame, tmp: Path, fmt: str, partition_by: list[str], sort_cols: list[str],
                 options: dict[str, str], single_file: bool = False, in_place: bool = False) -> list[str]:
    """Write ``df`` under ``tmp``: one sorted file per partition directory (``in_place``: one per task, no shuffle)."""
    from pyspark.sql import functions as F

    if in_place:
        ordered = df
    elif partition_by and not single_file:
        ordered = df.repartition(*[F.col(f"`{c}`") for c in partition_by])
    else:
        ordered = df.repartition(1)
    keys = [ordered[sql_name(c)] for c in [*partition_by, *_sortable(df, sort_cols)]]  # one JVM call each
    writer = ordered.sortWithinPartitions(*keys).write.mode("overwrite").format(fmt)
    writer = writer.options(**{k: v for k, v in options.items() if k.lower() not in _READER_ONLY})
    if fmt == "csv" and "header" not in {k.lower() for k in options}:
        writer = writer.option("header", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(str(tmp))
    return _tidy(tmp, fmt)


def parquet_footer_counts(files: list[Path], base: Path, non_null: list[str],
                          partition_by: list[str]) -> tuple[int, list[int]] | None:
    """Rows and null counts of ``non_null`` columns from Parquet footers (no Spark job).

    ``files`` lie under ``base``, partitioned as ``col=value`` directories below it. None when a
    file is not Parquet, a footer lacks a null count or a column is nested or missing (then Spark
    counts). A null partition value is the directory ``col=__HIVE_DEFAULT_PARTITION__``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, nulls = 0, [0] * len(non_null)
    for path in sorted(files):
        try:
            meta = pq.read_metadata(path)
        except (OSError, pa.ArrowException):
            return None
        rows += meta.num_rows
        parts = dict(piece.split("=", 1) for piece in path.relative_to(base).parts[:-1] if "=" in piece)
        names = [meta.schema.column(i).path for i in range(meta.num_columns)]
        for k, column in enumerate(non_null):
            if column in partition_by:
                nulls[k] += meta.num_rows if parts.get(column) == NULL_PARTITION else 0
                continue
            if names.count(column) != 1:  # nested (a.b leaves) or missing: let Spark count
                return None
            index = names.index(column)
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(index).statistics
                if stats is None or not stats.has_null_count:
                    return None
                nulls[k] += stats.null_count
    return rows, nulls


def write_rejected(ctx: RunScope, df: DataFrame, dataset: str) -> int:
    """Stage rows that carry ``_nbpipe_reason`` into ``<dataset>__rejected``; return the row count.

    Data columns are stored as strings (bad values often do not fit their type), plus
    ``_nbpipe_reason``, ``_nbpipe_raw`` (the raw line when known), ``_nbpipe_source`` (the input file)
    and the partition column ``nbpipe_run_id``. Repeated calls in a run add files. The
    ``dataset_rejected`` event carries the row count and the most frequent reasons.
    """
    return stage_rejected(ctx, df, dataset).rows


class StagedRejects(NamedTuple):
    """What :func:`stage_rejected` staged: rows, the ten most frequent reasons, rows with a raw line."""

    rows: int
    reasons: dict[str, int]
    raw_rows: int


def stage_rejected(ctx: RunScope, df: DataFrame, dataset: str, *, in_place: bool = False) -> StagedRejects:
    """:func:`write_rejected`, also returning the most frequent reasons and how many rows kept a raw line.

    Nothing is staged (and no event emitted) when ``df`` has no rows. The counts are read from the
    staged files with pyarrow, not by another Spark job. With ``in_place`` each task writes its own
    rows (one file per task that has any, no shuffle): for a scan of a big source that rejects
    few rows, where gathering them into one file would cost a stage.
    """

    check_name(dataset, "dataset")
    name = quarantine_name(dataset)
    columns = df.columns
    if REASON not in columns:
        raise DatasetError(f"rows to reject from {dataset!r} need a {REASON} column",
                           hint=f"df.withColumn('{REASON}', F.lit('why'))")
    internal = {REASON, RAW, SOURCE, CORRUPT_COLUMN, RUN_ID_COLUMN, LEGACY_RUN_ID_COLUMN}
    data = [c for c in columns if c not in internal]
    raw = RAW if RAW in columns else CORRUPT_COLUMN if CORRUPT_COLUMN in columns else None
    source = SOURCE if SOURCE in columns else None

    def as_text(column: str | None, alias: str) -> str:
        return f"CAST({'NULL' if column is None else sql_name(column)} AS STRING) AS {sql_name(alias)}"

    rejected = df.selectExpr(*[as_text(c, c) for c in data], as_text(REASON, REASON), as_text(raw, RAW),
                             as_text(source, SOURCE))
    prod = ctx.mode == "prod"
    root = ctx.staging_dir if prod else explore_root(ctx.project)
    if not prod:
        migrate_layout(root / name)  # the sandbox is written in place: older partitions get today's names
    unit_dir = quarantine_unit(root, dataset, ctx.run_id)
    if unit_dir.is_dir() and read_marker(unit_dir).get("attempt") not in (None, ctx.attempt):
        shutil.rmtree(unit_dir)  # left by an earlier attempt of this run
    tmp = root / f"tmp-{name}-{uuid.uuid4().hex[:8]}"
    try:
        _write_files(rejected, tmp, "parquet", [], [REASON, *data], {}, single_file=True, in_place=in_place)
        files = sorted(tmp.glob("part-*.parquet"))
        rows, reasons, raw_rows = _count_reasons(files)
        if rows == 0:
            return StagedRejects(0, {}, 0)
        unit_dir.mkdir(parents=True, exist_ok=True)
        seq = len(list(unit_dir.glob("part-*.parquet")))
        size = 0
        for i, f in enumerate(files):
            target = unit_dir / f"part-{seq + i:05d}.parquet"
            f.rename(target)
            size += target.stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_marker(unit_dir, run_id=ctx.run_id, attempt=ctx.attempt, dataset=name)
    ctx.log.emit(events.DATASET_REJECTED, dataset=name, source_dataset=dataset, rows=rows,
                 bytes=size, path=str(root / name), staging_path=str(root / name),
                 partitions=[unit_dir.name], partition_by=[RUN_ID_COLUMN], format="parquet",
                 reason_column=REASON, reasons=reasons, sandbox=not prod, mode="overwrite_partitions")
    return StagedRejects(rows, reasons, raw_rows)


def _count_reasons(files: list[Path]) -> tuple[int, dict[str, int], int]:
    """Rows in staged rejected files, their ten most frequent reasons and their rows with a raw line.

    Read locally with pyarrow (no Spark job).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    tables = [pq.read_table(f, columns=[REASON, RAW]) for f in files if f.is_file()]
    if not tables:
        return 0, {}, 0
    table = pa.concat_tables(tables)
    column = table.column(REASON)
    counts = [(str(v["values"]), int(v["counts"])) for v in pc.value_counts(column).to_pylist()]
    top = sorted(counts, key=lambda kv: (-kv[1], kv[0]))[:10]
    return len(column), dict(top), len(column) - table.column(RAW).null_count
