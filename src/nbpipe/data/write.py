"""The kernel side of outputs: contract-checked staged writes and quarantined rows.

``write_dataset`` (prod) checks a frame against the dataset's contract and primary key, combines
it with the rows already there per the write mode (:mod:`nbpipe.data.write_modes`), writes it
sorted into deterministic files (``part-00000.parquet``, no ``_SUCCESS``/``.crc``, canonical Parquet
footers: :mod:`nbpipe.data.parquet_footer`) and stages it under ``<run_dir>/staging/<dataset>/`` as
*units*: one directory per partition (``flight_date=2013-01-02``) or the whole dataset when it is
unpartitioned. Every unit carries a marker file (``_nbpipe_run.marker``, skipped by Spark, pyarrow
and data globs) naming the run and attempt that wrote it. Explore writes go to
``warehouse/_explore/<dataset>/`` and are never published. ``write_rejected`` stages rows with a
``_nbpipe_reason`` into ``<dataset>__rejected`` (partitioned by ``nbpipe_run_id``: no leading
underscore, so pyarrow, pandas and DuckDB read it as Spark does). The runner publishes staged units
atomically (:mod:`nbpipe.run.publish`) once the run succeeded. Spark is imported lazily, only by
the write functions.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from nbpipe.core import events
from nbpipe.core.config import DatasetConfig, check_name, inside
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    Contract,
    SchemaCheck,
    check_schema,
    contract_from_schema,
    contract_path,
    find_contract,
)
from nbpipe.core.layout import (
    FILE_FORMATS,
    LEGACY_RUN_ID_COLUMN,
    RAW,
    REASON,
    RUN_ID_COLUMN,
    SOURCE,
    dataset_root,
    explore_root,
    hidden,
    migrate_layout,
    quarantine_name,
    quarantine_unit,
    read_marker,
    write_marker,
)
from nbpipe.core.sqltext import sql_name
from nbpipe.data import _display as display
from nbpipe.data import write_modes as modes
from nbpipe.data.column_lineage import derive as derive_column_lineage
from nbpipe.data.parquet_footer import canonicalize
from nbpipe.errors import BadRowsError, ContractViolationError, DatasetError
from nbpipe.spark.driver import driver_guard

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

    from nbpipe.core.protocol import RunScope

_READER_ONLY = {"inferschema", "samplingratio", "mode", "columnnameofcorruptrecord", "enforceschema"}
_EXT = {"parquet": ".parquet", "csv": ".csv", "json": ".json"}
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Spark's directory name for a null partition value

# --------------------------------------------------------------------------- staged writes
@dataclass
class WriteResult:
    """What a ``write_dataset`` staged (prod) or wrote to the sandbox (explore).

    ``rows`` counts the rows of the staged units: with ``merge`` or ``append`` a touched partition's
    whole content (its existing rows too), as the publish will make it. ``rejected_rows`` counts
    the written rows that broke the primary key (quarantined to ``<dataset>__rejected``).
    """

    dataset: str
    path: str
    rows: int
    bytes: int
    partitions: list[str]
    partition_by: list[str]
    format: str
    schema_version: str | None
    schema: list[dict[str, Any]]
    sandbox: bool
    mode: str = "overwrite_partitions"
    primary_key: list[str] = field(default_factory=list)
    rejected_rows: int = 0  # rows that broke the primary key (quarantined, prod)

    def __repr__(self) -> str:
        where = "sandbox" if self.sandbox else "staged"
        return (f"<WriteResult {self.dataset} {where}: {self.rows} rows, {len(self.partitions)} partition(s), "
                f"{self.bytes} bytes at {self.path}>")

    def _repr_html_(self) -> str:
        return display.write_html(asdict(self))


def frame_fields(df: DataFrame) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in df.schema.fields]


def schema_override(value: Any, name: str) -> Contract | None:
    """A Contract from a Contract, ``[{name, type, nullable}]`` or a DDL string (None passes through)."""
    if value is None or isinstance(value, Contract):
        return value
    if isinstance(value, str):
        from pyspark.sql.types import StructType

        parsed: Any = StructType.fromDDL(value)
        value = [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in parsed.fields]
    return contract_from_schema(name, list(value))


def struct_type(fields: list[dict[str, Any]]) -> Any:
    """A Spark StructType for ``[{name, type}]``."""
    from pyspark.sql.types import StructType

    ddl = ", ".join(f"{sql_name(f['name'])} {f['type']}" for f in fields)
    return StructType.fromDDL(ddl) if ddl else StructType([])


def promote_hint(ctx: RunScope) -> str:
    notebook = "<notebook>"
    if ctx.pipeline and ctx.pipeline in ctx.project.config.pipelines:
        notebook = ctx.project.config.pipelines[ctx.pipeline].notebook
    return (f"fix the notebook or the source, or explore the change and re-promote: "
            f"`nbpipe promote {notebook}` (then review `nbpipe contracts diff`)")


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


def write_dataset(ctx: RunScope, df: DataFrame, name: str, *, mode: str | None = None) -> WriteResult:
    """Write a dataset (see :func:`_write`); a Spark driver lost meanwhile is a :class:`KernelDiedError`."""
    with driver_guard(lambda: ctx.spark, ctx.project, ctx.run_dir if ctx.is_prod else None,
                      f"writing dataset {name!r}"):
        return _write(ctx, df, name, mode=mode)


def _write(ctx: RunScope, df: DataFrame, name: str, *, mode: str | None = None) -> WriteResult:
    """Write a dataset: contract-checked and staged in prod, to the sandbox in explore mode.

    Args:
        ctx: the run context.
        df: the frame to write.
        name: a dataset declared in ``nbpipe.yaml`` (csv, json or parquet).
        mode: ``merge``, ``append``, ``overwrite_partitions`` or ``overwrite`` (see
            :mod:`nbpipe.data.write_modes`); None: ``datasets.<name>.write_mode``, else ``merge``
            when the dataset has a primary key, else ``append``.

    Returns:
        The :class:`WriteResult` (also emitted as a ``dataset_staged`` event).

    Raises:
        ContractViolationError: missing/extra/retyped columns or nulls in non-null columns (prod).
        BadRowsError: rows break the primary key and the dataset says ``on_bad_rows: fail`` (prod).
        ConfigError: ``merge`` for a dataset without a primary key.
    """

    cfg = ctx.project.dataset(name)
    if cfg.format not in FILE_FORMATS:
        raise DatasetError(f"dataset {name!r} has format {cfg.format!r}; nbpipe writes {', '.join(FILE_FORMATS)}",
                           hint=f"set datasets.{name}.format to parquet (or csv/json)")
    prod = ctx.mode == "prod"
    column_lineage = derive_column_lineage(df) if prod else None  # from the frame as the notebook built it
    contract = find_contract(ctx.project, name)  # prod enforces it whenever one exists
    keys = list(cfg.primary_key or (contract.primary_key if contract else ()))
    chosen = modes.resolve_mode(name, cfg, keys, mode)
    fields = frame_fields(df)
    if prod and contract is not None:
        check = check_schema(contract, fields)
        if not check.ok:
            raise ContractViolationError(
                f"dataset {name!r} does not match its contract v{contract.version} "
                f"({contract_path(ctx.project, name)}): " + "; ".join(check.problems()),
                hint=promote_hint(ctx))
        df = df.select(*contract_columns(contract, check))
        fields = contract.fields()
    partition_by = list(cfg.partition_by or (contract.partition_by if contract else ()))
    missing = [c for c in [*partition_by, *keys] if c not in df.columns]
    if missing:
        raise DatasetError(f"dataset {name!r}: partition or primary key column(s) {', '.join(missing)} "
                           f"not in the frame",
                           hint=f"add them, or change datasets.{name}.partition_by / primary_key")
    modes.need_comparable(name, df, chosen)
    base = ctx.staging_dir if prod else explore_root(ctx.project)
    out = inside(base, base / name, f"output of {name!r}")
    rejected = 0
    if prod and keys:
        df, bad = modes.split_key_violations(df, keys)
        rejected += _reject(ctx, cfg, name, bad, keys)
    if chosen in ("merge", "append"):
        live = dataset_root(ctx.project, name, cfg) if prod else None
        existing = modes.existing_rows(ctx.spark, cfg, out, live, fields, partition_by, df)
        df, clash = modes.combine(df, existing, chosen, keys)
        if clash is not None and prod:
            rejected += _reject(ctx, cfg, name, clash, keys)
    sort_cols = keys or [c for c in df.columns if c not in partition_by]
    tmp = out.parent / f"tmp-{name}-{uuid.uuid4().hex[:8]}"  # not hidden: Spark ignores dot-paths
    try:
        units = _write_files(df, tmp, cfg.format, partition_by, sort_cols, cfg.options)
        rows = _verify_written(ctx, name, cfg, tmp, fields, contract if prod else None, partition_by)
        _refuse_null_partitions(name, units)
        if chosen == "overwrite" or not partition_by or not out.exists():
            shutil.rmtree(out, ignore_errors=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(out)
        else:
            for unit in units:
                shutil.rmtree(out / unit, ignore_errors=True)
                (out / unit).parent.mkdir(parents=True, exist_ok=True)
                (tmp / unit).rename(out / unit)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if prod:  # every publish unit carries its run; an overwrite publishes the dataset as one unit
        marked = ([""] if chosen == "overwrite" or not partition_by else []) + (units if partition_by else [])
        for unit in marked:
            write_marker(out / unit, run_id=ctx.run_id, attempt=ctx.attempt, dataset=name)
    size = sum(p.stat().st_size for u in units for p in (out / u).iterdir() if p.is_file() and not hidden(p.name))
    result = WriteResult(dataset=name, path=str(out), rows=rows, bytes=size,
                         partitions=[u for u in units if u], partition_by=partition_by, format=cfg.format,
                         schema_version=contract.version if contract else None, schema=fields,
                         sandbox=not prod, mode=chosen, primary_key=keys, rejected_rows=rejected)
    ctx.log.emit(events.DATASET_STAGED, staging_path=str(out), column_lineage=column_lineage, **asdict(result))
    if not prod:
        display.show_write(asdict(result))
    return result


def _reject(ctx: RunScope, cfg: DatasetConfig, name: str, bad: DataFrame, keys: list[str]) -> int:
    """Quarantine rows that break the primary key, or raise per ``on_bad_rows: fail``; return how many."""
    if cfg.on_bad_rows == "fail":
        examples = bad.select(*keys, REASON).limit(3).collect()
        if not examples:
            return 0
        total = bad.count()
        shown = "; ".join(f"{', '.join(f'{k}={r[k]!r}' for k in keys)}: {r[REASON]}" for r in examples)
        raise BadRowsError(f"dataset {name!r}: {total} row(s) break the primary key ({', '.join(keys)}); e.g. {shown}",
                           hint=f"de-duplicate the frame before ctx.write, or set datasets.{name}.on_bad_rows: "
                                f"quarantine to keep them in {quarantine_name(name)}")
    return stage_rejected(ctx, bad, name).rows


def contract_columns(contract: Contract, check: SchemaCheck) -> list[Column]:
    """The contract's columns in its order, each cast to the contract type where ``check`` found it widened."""
    from pyspark.sql import functions as F

    widened = {r.name: r.new for r in check.widened}
    return [F.col(f"`{c}`").cast(widened[c]).alias(c) if c in widened else F.col(f"`{c}`") for c in contract.names]


def _verify_written(ctx: RunScope, name: str, cfg: DatasetConfig, tmp: Path, fields: list[dict[str, Any]],
                    contract: Contract | None, partition_by: list[str]) -> int:
    """Count rows from the written files and enforce non-null columns there (one cheap pass)."""
    from pyspark.sql import functions as F

    if not any(p.is_file() and not hidden(p.name) for p in tmp.rglob("*")):
        return 0  # an empty frame wrote no data files: nothing to count or check
    non_null = [c.name for c in contract.columns if not c.nullable] if contract else []
    counted = None
    if cfg.format == "parquet":
        counted = parquet_footer_counts([p for p in tmp.rglob("*.parquet") if not hidden(p.name)], tmp,
                                        non_null, partition_by)
    if counted is not None:
        rows, nulls = counted
        _refuse_nulls(name, contract, non_null, nulls)
        return rows
    reader = ctx.spark.read.format(cfg.format).options(**cfg.options)
    if cfg.format != "parquet":
        reader = reader.schema(struct_type([f for f in fields if f["name"] not in partition_by] +
                                       [f for f in fields if f["name"] in partition_by]))
        if cfg.format == "csv":
            reader = reader.option("header", cfg.options.get("header", "true"))
    written = reader.load(str(tmp))
    row = written.agg(F.count(F.lit(1)), *[F.count(F.when(F.col(f"`{c}`").isNull(), 1)) for c in non_null]).collect()[0]
    _refuse_nulls(name, contract, non_null, [int(n) for n in row[1:]])
    return int(row[0])


def _refuse_null_partitions(name: str, units: list[str]) -> None:
    """Refuse null partition values: pyarrow (so pandas) cannot read Hive's null directory back."""
    nulls = sorted({piece.split("=", 1)[0] for unit in units for piece in unit.split("/")
                    if piece.endswith(f"={NULL_PARTITION}")})
    if nulls:
        column = nulls[0]
        raise DatasetError(
            f"dataset {name!r}: partition column(s) {', '.join(nulls)} have null values, stored as "
            f"{column}={NULL_PARTITION}, which pandas/pyarrow cannot read ('Cannot yet unify dictionaries "
            f"with nulls')",
            hint=f"fill or drop them before ctx.write, e.g. df.fillna({{'{column}': 'unknown'}}) "
                 f"or df.where(F.col('{column}').isNotNull())")


def _refuse_nulls(name: str, contract: Contract | None, non_null: list[str], nulls: list[int]) -> None:
    bad = [f"column {c}: {n} null value(s) in non-null column" for c, n in zip(non_null, nulls, strict=True) if n]
    if bad:
        assert contract is not None
        raise ContractViolationError(f"dataset {name!r} violates its contract v{contract.version}: " + "; ".join(bad),
                                     hint="filter or fill the nulls before ctx.write (or quarantine them with "
                                          "ctx.check), or make the column nullable and re-promote")


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
