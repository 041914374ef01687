"""The kernel side of outputs: contract-checked staged writes and quarantined rows.

``write_dataset`` (prod) checks a frame against the dataset's contract and primary key, combines
it with the rows already there per the write mode (:mod:`nbpipe.data.write_modes`), writes it
sorted into deterministic files (``part-00000.parquet``, no ``_SUCCESS``/``.crc``, canonical Parquet
footers: :mod:`nbpipe.data.parquet_footer`) and stages it under ``<run_dir>/staging/<dataset>/`` as
*units*: one directory per partition (``flight_date=2013-01-02``) or the whole dataset when it is
unpartitioned. Every unit carries a marker file (``_nbpipe_run.marker``, skipped by Spark, pyarrow
and data globs) naming the run and attempt that wrote it. Explore writes go to
``warehouse/_explore/<dataset>/`` and are never published. ``write_rejected``
(:mod:`nbpipe.data.staging`) stages rows with a ``_nbpipe_reason`` into ``<dataset>__rejected``.
The runner publishes staged units atomically (:mod:`nbpipe.run.publish`) once the run succeeded.

Two paths, one result: a small frame (``spark.small_frame_rows``, :mod:`nbpipe.data.small`) is
materialized once as Arrow and its key checks, combine and sorted Parquet files are done in-process
(:mod:`nbpipe.data.local_write`); a larger one stays on Spark (:mod:`nbpipe.data.write_modes`).
The ``dataset_staged`` event records which path was taken and why. Spark is imported lazily.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from nbpipe.core import events
from nbpipe.core.config import DatasetConfig, inside
from nbpipe.core.contracts import (
    Contract,
    SchemaCheck,
    check_schema,
    contract_from_schema,
    contract_path,
    find_contract,
)
from nbpipe.core.layout import (
    FILE_FORMATS,
    REASON,
    dataset_root,
    explore_root,
    hidden,
    quarantine_name,
    write_marker,
)
from nbpipe.core.sqltext import sql_name
from nbpipe.data import _display as display
from nbpipe.data import small
from nbpipe.data import write_modes as modes
from nbpipe.data.column_lineage import derive as derive_column_lineage
from nbpipe.data.small import Engine
from nbpipe.data.staging import NULL_PARTITION as NULL_PARTITION  # re-exported: staged-write names
from nbpipe.data.staging import StagedRejects as StagedRejects
from nbpipe.data.staging import _write_files as _write_files
from nbpipe.data.staging import parquet_footer_counts as parquet_footer_counts
from nbpipe.data.staging import stage_rejected as stage_rejected
from nbpipe.data.staging import write_rejected as write_rejected
from nbpipe.errors import BadRowsError, ContractViolationError, DatasetError
from nbpipe.spark.driver import driver_guard

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

    from nbpipe.core.protocol import RunScope


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
    original, check = df, None
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
    local, engine = _materialize_for_write(ctx, original, fields, cfg.format, partition_by, check)
    plan = None
    if local is not None:
        from nbpipe.data.local_write import NotLocal

        try:
            plan = _plan_local(ctx, cfg, name, local, out, prod, chosen, keys, fields, partition_by)
        except NotLocal as exc:
            engine = Engine(small.SPARK, str(exc), engine.rows, engine.threshold_rows)
    tmp = out.parent / f"tmp-{name}-{uuid.uuid4().hex[:8]}"  # not hidden: Spark ignores dot-paths
    try:
        if plan is not None:
            units, rejected = _stage_local(ctx, cfg, name, plan, tmp, keys, partition_by)
        else:
            units, rejected = _stage_spark(ctx, cfg, name, df, out, tmp, prod, chosen, keys, fields, partition_by)
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
    ctx.log.emit(events.DATASET_STAGED, staging_path=str(out), column_lineage=column_lineage,
                 engine=engine.to_dict(), **asdict(result))
    if not prod:
        display.show_write(asdict(result))
    return result


def _stage_spark(ctx: RunScope, cfg: DatasetConfig, name: str, df: DataFrame, out: Path, tmp: Path, prod: bool,
                 chosen: str, keys: list[str], fields: list[dict[str, Any]],
                 partition_by: list[str]) -> tuple[list[str], int]:
    """Key checks, the combine with stored rows and the sorted write under ``tmp``, on Spark."""
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
    return _write_files(df, tmp, cfg.format, partition_by, sort_cols, cfg.options), rejected


def _materialize_for_write(ctx: RunScope, df: DataFrame, fields: list[dict[str, Any]], fmt: str,
                           partition_by: list[str], check: SchemaCheck | None) -> tuple[Any, Engine]:
    """The rows to write as an Arrow table in contract order (local path), or None and why not."""
    from nbpipe.data import local_write

    max_rows = small.thresholds(ctx)[0]
    reason = local_write.not_local(fields, fmt, partition_by) or _not_castable(check)
    if reason is not None:
        return None, Engine(small.SPARK, reason, None, max_rows)
    found, engine = small.materialize(ctx, df)
    if found is None:
        return None, engine
    table = found.table
    widened = {r.name: r.new for r in check.widened} if check is not None else {}
    columns = [f["name"] for f in fields]
    table = table.select(columns)
    for column, target in widened.items():
        i, arrow_type = table.schema.get_field_index(column), _arrow_wide()[target]
        table = table.set_column(i, table.schema.field(i).with_type(arrow_type), table.column(i).cast(arrow_type))
    return (table, _file_schema_json(found, fields, widened)), engine


_SPARK_JSON = {"tinyint": "byte", "smallint": "short", "int": "integer", "bigint": "long",
               "float": "float", "double": "double"}


def _arrow_wide() -> dict[str, Any]:
    import pyarrow as pa

    return {"tinyint": pa.int8(), "smallint": pa.int16(), "int": pa.int32(), "bigint": pa.int64(),
            "float": pa.float32(), "double": pa.float64()}


def _not_castable(check: SchemaCheck | None) -> str | None:
    """Why the contract's casts cannot be done in Arrow exactly as Spark does them (None: they can)."""
    for r in check.widened if check is not None else []:
        if r.new not in _SPARK_JSON or (r.old not in _SPARK_JSON):
            return f"the contract widens column {r.name} from {r.old} to {r.new} (a Spark cast)"
    return None


def _file_schema_json(found: small.Materialized, fields: list[dict[str, Any]], widened: dict[str, str]) -> str:
    """The Spark schema (JSON) of the frame as written: contract order, widened types."""
    import json

    by_name = {f["name"]: f for f in json.loads(found.schema_json)["fields"]}
    out = []
    for f in fields:
        spark_field = dict(by_name[f["name"]])
        if f["name"] in widened:
            spark_field["type"] = _SPARK_JSON[widened[f["name"]]]
        out.append(spark_field)
    return json.dumps({"type": "struct", "fields": out}, separators=(",", ":"))


class _LocalPlan(NamedTuple):
    """What a local write stages: the rows, the rows the key rejects, the Spark schema of the files."""

    rows: Any  # pa.Table
    rejected: list[Any]  # pa.Tables with _nbpipe_reason
    schema_json: str


def _plan_local(ctx: RunScope, cfg: DatasetConfig, name: str, local: tuple[Any, str], out: Path, prod: bool,
                chosen: str, keys: list[str], fields: list[dict[str, Any]], partition_by: list[str]) -> _LocalPlan:
    """:func:`_stage_spark`'s key checks and combine, in-process; nothing is staged yet.

    Raises:
        NotLocal: something (a stored file) cannot be handled exactly as Spark would; nothing was done.
    """
    from nbpipe.data import local_write

    table, schema_json = local
    rejected = []
    if prod and keys:
        table, bad = local_write.split_key_violations(table, keys)
        rejected.append(bad)
    if chosen in ("merge", "append"):
        live = dataset_root(ctx.project, name, cfg) if prod else None
        existing = local_write.existing_rows(cfg, out, live, fields, partition_by, table)
        table, clash = local_write.combine(table, existing, chosen, keys)
        if clash is not None and prod:
            rejected.append(clash)
    return _LocalPlan(table, rejected, schema_json)


def _stage_local(ctx: RunScope, cfg: DatasetConfig, name: str, plan: _LocalPlan, tmp: Path, keys: list[str],
                 partition_by: list[str]) -> tuple[list[str], int]:
    """Quarantine the plan's rejected rows, then write its rows under ``tmp`` (sorted, as Spark would)."""
    import json

    from nbpipe.data import local_write

    rejected = sum(_reject_local(ctx, cfg, name, bad, keys) for bad in plan.rejected)
    sort_cols = keys or [c for c in plan.rows.column_names if c not in partition_by]
    spark_fields = [f for f in json.loads(plan.schema_json)["fields"] if f["name"] not in partition_by]
    file_json = json.dumps({"type": "struct", "fields": spark_fields}, separators=(",", ":"))
    return local_write.write_files(plan.rows, tmp, partition_by, sort_cols, file_json), rejected


def _reject_local(ctx: RunScope, cfg: DatasetConfig, name: str, bad: Any, keys: list[str]) -> int:
    """:func:`_reject` for rows held as an Arrow table: Spark only when there are rows to quarantine.

    The quarantine stores every value as Spark's ``CAST(... AS STRING)`` renders it, so the (rare)
    rejected rows are handed back to Spark to be staged exactly as the Spark path stages them.
    """
    if bad is None or bad.num_rows == 0:
        return 0
    return _reject(ctx, cfg, name, ctx.spark.createDataFrame(bad), keys)


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


