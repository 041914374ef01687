"""Reading datasets on Spark: explore vs strict prod reads, schema drift, quarantine of bad rows.

The Spark adapter behind ``ctx.read`` (and the public face of the catalog: ``write_dataset``,
``write_rejected``, ``publish``, ``discard_staging`` and ``gc_staging`` live in
:mod:`nbpipe.publish` and are re-exported here):

* explore reads infer the schema, parse permissively (malformed rows kept in ``_corrupt_record``
  and counted) and show schema, counts and the diff against the contract;
* prod reads apply the contract: a source whose header drifted from it raises
  :class:`~nbpipe.errors.ContractViolationError`; rows that are malformed, hold uncastable values
  or nulls in non-null columns go to ``<dataset>__rejected`` with ``_nbpipe_reason`` (or raise
  :class:`~nbpipe.errors.BadRowsError` with ``on_bad_rows: fail``), so that
  ``rows == accepted_rows + rejected_rows`` exactly.

The source is parsed with the contract's types; the parser itself marks bad rows (their raw line
lands in ``_corrupt_record``, the unparsable field is null) and one cheap flag per row decides. Only
flagged rows are parsed again as strings, to name the failing column. For CSV and parquet beyond
``SMALL_SOURCE_BYTES``, one pass writes the quarantine and counts every row (``observe``); a
smaller source is counted first and quarantined only if it has bad rows (an empty quarantine write
costs more than the count). Either way the accepted frame stays lazy and re-reads the files with
the same classification (every column stays in the scan, so column pruning cannot change it). JSON
and JDBC sources are persisted once instead (a database can change between queries).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe import display, events
from nbpipe.config import DatasetConfig, Project, inside
from nbpipe.contracts import (
    CORRUPT_COLUMN,
    Contract,
    ContractDiff,
    check_schema,
    contract_from_schema,
    contract_path,
    diff_contracts,
    find_contract,
    load_contract,
)
from nbpipe.errors import BadRowsError, ContractViolationError, DatasetError
from nbpipe.publish import (
    RAW,
    REASON,
    SOURCE,
    WriteResult,
    contract_columns,
    dataset_config,
    dataset_root,
    discard_staging,
    frame_fields,
    gc_staging,
    hidden,
    parquet_footer_counts,
    promote_hint,
    publish,
    schema_override,
    stage_rejected,
    struct_type,
    write_dataset,
    write_rejected,
)
from nbpipe.publish import schema_override as _schema_override
from nbpipe.sqltext import sql_name, sql_text

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

    from nbpipe.context import RunContext

__all__ = ["WriteResult", "diff_contract_with_data", "discard_staging", "gc_staging", "publish",
           "read_dataset", "read_with_event", "write_dataset", "write_rejected"]

JDBC_JAR = Path("/usr/share/java/postgresql.jar")
_BAD = "_nbpipe_bad"
_GROUP = "_nbpipe_group"
_PARSED = "_nbpipe_parsed_"  # + group: a bad line re-parsed with every column as a string
_PINNED = "_nbpipe_pinned"  # never true; keeps every column in the accepted frame's scan
# A CSV/Parquet source up to this size is counted first (one small aggregation) and quarantined in a
# second pass only if it has bad rows; a bigger one is quarantined and counted in one pass. Measured
# on a warm Connect server, a 16-row landing file: 1.09 s read with the (empty) quarantine write,
# 0.45 s counted first.
SMALL_SOURCE_BYTES = 32 * 1024 * 1024
_MAX_VALUE = 60
_persisted: dict[str, Any] = {}


@dataclass
class _Source:
    base: Path | None
    files: list[Path] = field(default_factory=list)
    partition_cols: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


# --------------------------------------------------------------------------- locating inputs
def _list_files(base: Path) -> list[Path]:
    if base.is_file():
        return [base]
    out = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).parts
        if path.is_file() and not any(hidden(p) for p in rel):
            out.append(path)
    return out


def _source(project: Project, name: str, cfg: DatasetConfig, paths: list[str] | None) -> _Source:
    if cfg.format == "jdbc":
        return _Source(None)
    base = dataset_root(project, name, cfg)
    key = f"datasets.{name}.path" if cfg.path else f"the warehouse ({project.profile.warehouse})"
    if paths is None:
        if not base.exists():
            raise DatasetError(f"input of dataset {name!r} is missing: {base} does not exist (from {key})",
                               hint=f"land data there first, or fix {key} in nbpipe.yaml")
        files = _list_files(base)
    else:
        files = []
        for p in paths:
            resolved = inside(base, project.path(str(p)), f"file of dataset {name!r}")
            if not resolved.exists():
                raise DatasetError(f"input file of dataset {name!r} is missing: {resolved}",
                                   hint=f"pass existing files under {base} ({key})")
            files.extend(_list_files(resolved))
    parts: list[str] = []
    for f in files:
        for piece in f.relative_to(base).parts[:-1] if base.is_dir() else ():
            col = piece.split("=", 1)[0] if "=" in piece else None
            if col and col not in parts:
                parts.append(col)
    return _Source(base, files, parts)


def _reader(spark: SparkSession, cfg: DatasetConfig, src: _Source) -> Any:
    reader = spark.read.format(cfg.format).options(**cfg.options)
    if src.base is not None and src.base.is_dir():
        reader = reader.option("basePath", str(src.base))
    if cfg.format == "jdbc":
        _jdbc_driver(spark, cfg)
        if cfg.options.get("url", "").startswith("jdbc:postgresql") and "driver" not in cfg.options:
            reader = reader.option("driver", "org.postgresql.Driver")
    return reader


_JARS_ADDED: set[int] = set()


def _jdbc_driver(spark: SparkSession, cfg: DatasetConfig) -> None:
    """Make Debian's PostgreSQL JDBC driver available to the session once (ADD JAR)."""
    if not cfg.options.get("url", "").startswith("jdbc:postgresql") or id(spark) in _JARS_ADDED:
        return
    if JDBC_JAR.is_file() and str(JDBC_JAR) not in (spark.conf.get("spark.jars", "") or ""):
        spark.sql(f"ADD JAR {JDBC_JAR}")
    _JARS_ADDED.add(id(spark))


def _load(reader: Any, src: _Source, name: str, cfg: DatasetConfig) -> DataFrame:
    try:
        return reader.load() if cfg.format == "jdbc" else reader.load([str(f) for f in src.files])
    except Exception as exc:
        where = _mask_url(cfg.options.get("url", "")) if cfg.format == "jdbc" else str(src.base)
        raise DatasetError(
            f"cannot read dataset {name!r} ({cfg.format}) from {where}: {type(exc).__name__}: "
            f"{(str(exc).splitlines() or [''])[0][:300]}",
            hint=f"check datasets.{name}.format/options in nbpipe.yaml against the data",
        ) from exc


def _mask_url(url: str) -> str:
    return url.split("?", 1)[0]


# --------------------------------------------------------------------------- reads
def read_dataset(ctx: RunContext, name: str, *, paths: list[str] | None = None,
                 schema_override: Any = None) -> DataFrame:
    """Read a dataset: inferred and permissive in explore mode, contract-enforced in prod.

    Args:
        ctx: the run context (mode, project, Spark, event log).
        name: a dataset declared in ``nbpipe.yaml``.
        paths: read exactly these files/directories (absolute or relative to the project root,
            inside the dataset's path) with the same enforcement; ``[]`` gives an empty frame.
        schema_override: a Contract, ``[{name, type, nullable}]`` or DDL string used instead of
            the contract (prod) or of inference (explore).

    Returns:
        The DataFrame (prod: accepted rows only, in contract column order).

    Raises:
        DatasetError: unknown dataset, path escaping its root, missing input.
        ContractViolationError: no contract in prod, or the source drifted from it.
        BadRowsError: bad rows and ``on_bad_rows: fail``.
    """
    return read_with_event(ctx, name, paths=paths, schema_override=schema_override)[0]


def read_with_event(ctx: RunContext, name: str, *, paths: list[str] | None = None,
                    schema_override: Any = None, **annotations: Any) -> tuple[DataFrame, dict[str, Any]]:
    """:func:`read_dataset`, also returning its ``dataset_read`` event (``annotations`` are added to it).

    ``ctx.incremental`` reads its new files through here, so they get the same enforcement and the
    row counts come from the read's own pass instead of another ``count()``.
    """
    cfg = ctx.project.dataset(name)
    if cfg.format == "kafka":
        raise DatasetError(f"dataset {name!r} is a Kafka topic", hint=f"read it with ctx.incremental({name!r})")
    src = _source(ctx.project, name, cfg, paths)
    if ctx.mode == "prod":
        contract = _schema_override(schema_override, name) or find_contract(ctx.project, name)
        if contract is None:
            # No contract yet: the schema is inferred (as in explore mode), every column nullable, and
            # malformed lines are still quarantined; the run record says the schema was not enforced.
            df, info = _strict_read(ctx, name, cfg, src, _inferred_contract(ctx, name, cfg, src))
            info["schema_version"] = None
            ctx.log.emit(events.LOG, level="warning",
                         message=f"dataset {name!r} has no contract, so its schema was inferred, not enforced; "
                         f"freeze it with `{promote_hint(ctx).split('`')[1]}`")
        else:
            df, info = _strict_read(ctx, name, cfg, src, contract)
    else:
        df, info = _explore_read(ctx, name, cfg, src, schema_override)
    event = ctx.log.emit(events.DATASET_READ, dataset=name, mode=ctx.mode, format=cfg.format,
                         path=str(src.base) if src.base else _mask_url(cfg.options.get("url", "")),
                         files=len(src.files), bytes=src.bytes, **info, **annotations)
    if ctx.mode == "explore":
        display.show_read(event)
    return df, event


def _inferred_contract(ctx: RunContext, name: str, cfg: DatasetConfig, src: _Source) -> Contract:
    """A throwaway contract from the inferred schema (all columns nullable) for uncontracted prod reads."""
    if not src.files and cfg.format != "jdbc":
        return contract_from_schema(name, [], version="0.0")
    fields = [{**f, "nullable": True} for f in frame_fields(flexible_frame(ctx.spark, name, cfg, src, None))
              if f["name"] != CORRUPT_COLUMN]
    return contract_from_schema(name, fields, version="0.0", partition_by=cfg.partition_by)


def flexible_frame(spark: SparkSession, name: str, cfg: DatasetConfig, src: _Source,
                   override: Contract | None) -> DataFrame:
    """The source as explore mode sees it: inferred (or overridden) schema, permissive parsing."""
    reader = _reader(spark, cfg, src)
    if cfg.format == "jdbc":
        return _load(reader, src, name, cfg)
    if not src.files:
        return spark.createDataFrame([], struct_type(override.fields() if override else []))
    if cfg.format in ("csv", "json"):
        reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
    if cfg.format == "csv" and "inferSchema" not in cfg.options:
        reader = reader.option("inferSchema", "true")
    if override is not None:
        extra = [{"name": CORRUPT_COLUMN, "type": "string"}] if cfg.format in ("csv", "json") else []
        return _load(reader.schema(struct_type(override.fields() + extra)), src, name, cfg)
    if cfg.format == "csv":
        inferred = _load(reader, src, name, cfg).schema
        fields = [{"name": f.name, "type": f.dataType.simpleString()} for f in inferred.fields]
        return _load(reader.schema(struct_type([*fields, {"name": CORRUPT_COLUMN, "type": "string"}])), src, name, cfg)
    return _load(reader, src, name, cfg)


def _explore_read(ctx: RunContext, name: str, cfg: DatasetConfig, src: _Source,
                  override: Any) -> tuple[DataFrame, dict[str, Any]]:
    from pyspark.sql import functions as F

    contract_over = schema_override(override, name)
    df = flexible_frame(ctx.spark, name, cfg, src, contract_over)
    data_cols = [c for c in df.columns if c != CORRUPT_COLUMN]
    if CORRUPT_COLUMN in df.columns and data_cols:
        # Reference every column: Spark refuses queries on raw CSV/JSON that only use the corrupt column,
        # and which rows are corrupt depends on which columns get parsed.
        every = F.max(F.hash(*[F.col(f"`{c}`") for c in data_cols]))
        row = df.agg(F.count(F.lit(1)), F.count(F.col(CORRUPT_COLUMN)), every).collect()[0]
        rows, corrupt = int(row[0]), int(row[1])
    else:
        rows, corrupt = int(df.count()), 0
    fields = [f for f in frame_fields(df) if f["name"] != CORRUPT_COLUMN]
    contract = contract_over or find_contract(ctx.project, name)
    diff = None
    if contract is not None:
        diff = diff_contracts(contract, contract_from_schema(name, fields, version=contract.version),
                              compare_keys=False)
        diff.new_version = None
    return df, {"rows": rows, "corrupt_rows": corrupt, "rejected_rows": 0, "schema": fields,
                "schema_version": contract.version if contract else None,
                "contract_diff": diff.render() if diff is not None and diff.changed else None}


# --------------------------------------------------------------------------- strict (prod) reads
def _opt(cfg: DatasetConfig, key: str, default: str) -> str:
    return next((v for k, v in cfg.options.items() if k.lower() == key.lower()), default)


def _drift_error(ctx: RunContext, name: str, contract: Contract, problems: list[str]) -> ContractViolationError:
    return ContractViolationError(
        f"dataset {name!r}: the source drifted from its contract v{contract.version} "
        f"({contract_path(ctx.project, name)}): " + "; ".join(problems), hint=promote_hint(ctx))


def _csv_groups(ctx: RunContext, name: str, cfg: DatasetConfig, src: _Source,
                contract: Contract) -> dict[tuple[str, ...], list[Path]]:
    """Files grouped by header; a header that differs from the contract is drift."""
    expected = [c for c in contract.names if c not in src.partition_cols]
    problems = [f"partition directory column {c} is not in the contract" for c in src.partition_cols
                if c not in contract.names]
    if _opt(cfg, "header", "false").lower() != "true":
        return {tuple(expected): list(src.files)}
    groups: dict[tuple[str, ...], list[Path]] = {}
    for f in src.files:
        header = tuple(header_of(f, cfg.options))
        if header:  # an empty file holds no rows
            groups.setdefault(header, []).append(f)
    for header, files in groups.items():
        extra = [c for c in header if c not in expected]
        missing = [c for c in expected if c not in header]
        where = f"{files[0]}" + (f" (and {len(files) - 1} more file(s))" if len(files) > 1 else "")
        if extra:
            problems.append(f"{where} has column(s) not in the contract: {', '.join(extra)}")
        if missing:
            problems.append(f"{where} lacks contract column(s): {', '.join(missing)}")
    if problems:
        raise _drift_error(ctx, name, contract, problems)
    return groups


def _json_drift(ctx: RunContext, name: str, src: _Source, contract: Contract) -> None:
    extra: dict[str, Path] = {}
    for f in src.files:
        for key in first_json_keys(f):
            if key not in contract.names:
                extra.setdefault(key, f)
    if extra:
        raise _drift_error(ctx, name, contract, [f"{f} has field {k} not in the contract" for k, f in extra.items()])


def _reason_sql(contract: Contract, checked: list[str], parsed: str | None) -> str:
    """Why a flagged row is rejected (SQL): malformed line, uncastable value, or null in a non-null column.

    ``parsed`` names the struct column holding the raw line re-parsed with every column as a string
    (None for typed sources). One SQL expression (see :class:`_Classified`).
    """
    branches = []
    if parsed is not None:
        p = sql_name(parsed)
        casts = []
        for name in checked:
            value, typed = f"{p}.{sql_name(name)}", sql_name(name)
            before = sql_text(f"column {name}: '")
            after = sql_text(f"' is not {contract.column(name).type}")  # type: ignore[union-attr]
            casts.append(f"CASE WHEN {value} IS NOT NULL AND {typed} IS NULL "
                         f"THEN concat({before}, substring({value}, 1, {_MAX_VALUE}), {after}) END")
        malformed = sql_text("malformed line")
        why = (f"CASE WHEN {p} IS NULL OR {p}.{sql_name(CORRUPT_COLUMN)} IS NOT NULL THEN {malformed} "
               f"ELSE coalesce({', '.join([*casts, malformed])}) END")
        branches.append(f"WHEN {sql_name(RAW)} IS NOT NULL THEN {why}")
    for c in contract.columns:
        if not c.nullable:
            text = sql_text(f"column {c.name}: null in non-null column")
            branches.append(f"WHEN {sql_name(c.name)} IS NULL THEN {text}")
    return f"CASE {' '.join(branches)} END" if branches else "CAST(NULL AS STRING)"


@dataclass
class _Classified:
    """Typed rows with a cheap per-row ``_nbpipe_bad`` flag; reasons are derived for flagged rows only.

    Projections are SQL text (``selectExpr``): one call each, where Column objects built in Python
    cost several round trips apiece to a classic session's JVM (≈ 2,000 per read, ≈ 0.4 s).
    """

    frame: DataFrame
    reparse: list[tuple[int, list[str], str]]  # (group, checked columns, string DDL of the raw line)
    fmt: str
    options: dict[str, str]
    late_source: str | None = None  # SQL for the source file, computed after the filter (lazy reads)
    counted: DataFrame | None = None  # ``frame`` with each source scan's rows counted (observations)
    observations: list[Any] = field(default_factory=list)

    def rejected(self, contract: Contract) -> DataFrame:
        """The flagged rows with ``_nbpipe_reason`` (the raw line is re-parsed only here)."""
        bad = self.frame.filter(sql_name(_BAD))
        raw, group_col = sql_name(RAW), sql_name(_GROUP)
        if not self.reparse:
            reason = _reason_sql(contract, [], None)
        else:
            # Each bad line is parsed once, in its own projection: inlined into the reason's branches,
            # the parse would run once per reference (code generation does not share subexpressions
            # that only some branches evaluate).
            parse = "from_csv" if self.fmt == "csv" else "from_json"
            options = "map(" + ", ".join(sql_text(x) for kv in sorted(self.options.items()) for x in kv) + ")"
            bad = bad.selectExpr("*", *[
                f"CASE WHEN {raw} IS NOT NULL AND {group_col} = {group} "
                f"THEN {parse}({raw}, {sql_text(ddl)}, {options}) END AS {sql_name(f'{_PARSED}{group}')}"
                for group, _, ddl in self.reparse])
            reason = "CASE " + " ".join(
                f"WHEN {group_col} = {group} THEN {_reason_sql(contract, checked, f'{_PARSED}{group}')}"
                for group, checked, _ in self.reparse) + " END"
        source = sql_name(SOURCE) if self.late_source is None else self.late_source
        return bad.selectExpr(*[sql_name(c) for c in contract.names], f"{reason} AS {sql_name(REASON)}", raw,
                              f"{source} AS {sql_name(SOURCE)}")


def _classify(ctx: RunContext, name: str, cfg: DatasetConfig, src: _Source, contract: Contract,
              *, late_source: bool = False, count: bool = False) -> _Classified:
    """Read the source with the contract's types; flag bad rows (one cheap expression per row).

    With ``late_source`` (a frame that is never persisted) the source file of a rejected row is
    looked up after the bad rows are filtered: ``input_file_name()`` is nondeterministic, and in the
    per-row projection it would keep the optimizer from filtering before projecting.

    With ``count``, ``counted`` is the same frame with every scan's rows counted by an observation
    placed on the scan itself: above the flagging projection it would make that projection copy
    every row for it (measured: +14% on a 5M-row read), where below it the projection fuses with the
    filter and touches only the bad rows.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    observations: list[Any] = []

    def observed(df: DataFrame) -> DataFrame:
        observations.append(Observation(f"nbpipe_read_{name}_{uuid.uuid4().hex[:6]}_{len(observations)}"))
        return df.observe(observations[-1], F.count(F.lit(1)).alias("rows"))

    def union(frames: list[DataFrame]) -> DataFrame:
        out = frames[0]
        for other in frames[1:]:
            out = out.unionByName(other)
        return out

    reader = _reader(ctx.spark, cfg, src)
    names = [sql_name(c) for c in contract.names]
    nulls = [f"{sql_name(c.name)} IS NULL" for c in contract.columns if not c.nullable]
    # input_file_name() is cheaper per row than the _metadata struct
    per_file = sql_text(_mask_url(cfg.options.get("url", ""))) if cfg.format == "jdbc" else "input_file_name()"
    opts = {k: v for k, v in cfg.options.items() if k.lower() not in ("header", "inferschema", "basepath")}
    opts.update(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT_COLUMN)

    def flagged(df: DataFrame, raw: str, group: int, source: str) -> DataFrame:
        bad = "(" + " OR ".join([f"{raw} IS NOT NULL", *nulls]) + ")"
        pinned = []
        if cfg.format in ("csv", "json"):
            # Never true (a 0/1 maximum is never 2), but the optimizer cannot prove it. The accepted frame
            # filters on it, so every column stays in its scan and a later df.count() or df.select("a")
            # parses (and rejects) exactly the rows this read counted. The quarantine pass outputs every
            # column anyway and does not reference it, so it costs that pass nothing.
            each = ", ".join(f"CAST({c} IS NULL AS TINYINT)" for c in names)
            pinned = [f"{f'greatest({each})' if len(names) > 1 else each} = 2 AS {sql_name(_PINNED)}"]
        found = [] if late_source else [f"CASE WHEN {bad} THEN {source} END AS {sql_name(SOURCE)}"]
        return df.selectExpr(*names, f"{bad} AS {sql_name(_BAD)}", *pinned, f"{raw} AS {sql_name(RAW)}", *found,
                             f"{group} AS {sql_name(_GROUP)}")

    if cfg.format in ("csv", "json"):
        reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        if cfg.format == "csv":
            groups = _csv_groups(ctx, name, cfg, src, contract)
        else:
            _json_drift(ctx, name, src, contract)
            groups = {tuple(contract.names): list(src.files)}
        frames, counted, reparse = [], [], []
        for group, (header, files) in enumerate(groups.items()):
            checked = [c for c in header if c not in src.partition_cols]
            fields = [contract.column(c).field() for c in header]  # type: ignore[union-attr]
            fields += [contract.column(c).field() for c in src.partition_cols if c not in header]  # type: ignore[union-attr]
            corrupt = {"name": CORRUPT_COLUMN, "type": "string"}
            df = _load(reader.schema(struct_type([*fields, corrupt])), _Source(src.base, files), name, cfg)
            frames.append(flagged(df, sql_name(CORRUPT_COLUMN), group, per_file))
            if count:
                counted.append(flagged(observed(df), sql_name(CORRUPT_COLUMN), group, per_file))
            reparse.append((group, checked, ", ".join(f"{sql_name(c)} string" for c in [*checked, CORRUPT_COLUMN])))
        return _Classified(union(frames), reparse, cfg.format, opts, per_file if late_source else None,
                           union(counted) if count else None, observations)
    df = _load(reader, src, name, cfg)
    kept = [] if late_source else [F.expr(per_file).alias("_nbpipe_src")]
    conformed = _conformed(ctx, name, df, contract)

    def typed(frame: DataFrame) -> DataFrame:
        return flagged(frame.select(*conformed, *kept), "CAST(NULL AS STRING)", 0, sql_name("_nbpipe_src"))

    return _Classified(typed(df), [], cfg.format, opts, per_file if late_source else None,
                       typed(observed(df)) if count else None, observations)


def _parquet_without_bad_rows(ctx: RunContext, name: str, cfg: DatasetConfig, src: _Source,
                              contract: Contract) -> tuple[DataFrame, int] | None:
    """A Parquet source whose footers prove there is no row to reject: the frame and its row count.

    Parquet rows are typed, so the only bad row is a null in a non-null column; the footers' row and
    null counts are exact. The schema is checked against the contract (drift fails as always), and no
    Spark job runs. None when a footer cannot prove it (a null found, no statistics): Spark classifies.
    """

    non_null = [c.name for c in contract.columns if not c.nullable]
    assert src.base is not None
    counted = parquet_footer_counts(src.files, src.base, non_null, src.partition_cols)
    if counted is None or any(counted[1]):
        return None
    df = _load(_reader(ctx.spark, cfg, src), src, name, cfg)
    return df.select(*_conformed(ctx, name, df, contract)), counted[0]


def _conformed(ctx: RunContext, name: str, df: DataFrame, contract: Contract) -> list[SparkColumn]:
    """A typed source's columns as the contract wants them (widened where allowed); drift raises."""
    check = check_schema(contract, frame_fields(df))
    if not check.ok:
        raise _drift_error(ctx, name, contract, check.problems())
    return contract_columns(contract, check)


def _strict_read(ctx: RunContext, name: str, cfg: DatasetConfig, src: _Source,
                 contract: Contract) -> tuple[DataFrame, dict[str, Any]]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    info: dict[str, Any] = {"schema": contract.fields(), "schema_version": contract.version}
    if not (src.files or cfg.format == "jdbc"):
        empty = ctx.spark.createDataFrame([], struct_type(contract.fields()))
        return empty, {**info, "rows": 0, "accepted_rows": 0, "rejected_rows": 0, "corrupt_rows": 0}
    previous = _persisted.pop(name, None)
    if previous is not None:
        previous.unpersist()
    if cfg.format == "parquet":
        proven = _parquet_without_bad_rows(ctx, name, cfg, src, contract)
        if proven is not None:
            df, rows = proven
            return df, {**info, "rows": rows, "accepted_rows": rows, "rejected_rows": 0, "corrupt_rows": 0}
    typed_files = cfg.format in ("csv", "parquet")  # immutable files: never persisted, re-read as needed
    one_pass = typed_files and cfg.on_bad_rows == "quarantine" and src.bytes > SMALL_SOURCE_BYTES
    classified = _classify(ctx, name, cfg, src, contract, late_source=typed_files, count=one_pass)
    # A row counts as bad exactly as the accepted frame filters it: with every column parsed (see _PINNED).
    bad_row = sql_name(_BAD) + (f" OR {sql_name(_PINNED)}" if _PINNED in classified.frame.columns else "")
    counters = ("count(1) AS `rows`", f"count_if({bad_row}) AS `bad`", f"count({sql_name(RAW)}) AS `corrupt`")
    if one_pass:
        # One pass: the quarantine write also counts every row (observed on the scans). The accepted frame
        # stays lazy and re-reads the (immutable) files with the same classification. The observed metric
        # is the row count alone (CollectMetrics runs uncompiled, per row): rejected and corrupt rows are
        # counted in the staged quarantine files.
        assert classified.counted is not None
        # Written in place (each scan task writes its own bad rows): no shuffle, so no adaptive stage that
        # could be dropped as empty, taking the observed metrics with it, when no row is rejected.
        staged = stage_rejected(ctx, replace(classified, frame=classified.counted).rejected(contract), name,
                                in_place=True)
        rows = sum(int(o.get["rows"]) for o in classified.observations)
        rejected, corrupt = staged.rows, staged.raw_rows
        info["rejected_reasons"] = staged.reasons
    else:
        if not typed_files:
            # JSON (no pruning switch) and JDBC (a database changes between queries): parse once, persist.
            classified.frame = classified.frame.persist(StorageLevel.MEMORY_AND_DISK_DESER)
            _persisted[name] = classified.frame
        row = classified.frame.selectExpr(*counters).collect()[0]
        rows, rejected, corrupt = int(row[0]), int(row[1]), int(row[2])
    info.update(rows=rows, accepted_rows=rows - rejected, rejected_rows=rejected, corrupt_rows=corrupt)
    if rejected and not one_pass:
        bad = classified.rejected(contract)
        if cfg.on_bad_rows == "fail":
            top = bad.groupBy(REASON).count().orderBy(F.desc("count"), REASON).limit(5).collect()
            examples = bad.select(REASON, RAW, SOURCE).limit(3).collect()
            classified.frame.unpersist()
            shown = "; ".join(f"{e[0]} ({e[2]}{': ' + repr(e[1][:80]) if e[1] else ''})" for e in examples)
            counts = ", ".join(f"{int(r[1])} x {r[0]}" for r in top)
            raise BadRowsError(
                f"dataset {name!r}: {rejected} of {rows} rows violate contract v{contract.version} "
                f"({counts}); e.g. {shown}",
                hint=f"fix the source rows, or set datasets.{name}.on_bad_rows: quarantine in nbpipe.yaml "
                f"to keep them in {name}__rejected")
        info["rejected_reasons"] = stage_rejected(ctx, bad, name).reasons
    elif not one_pass:
        info["rejected_reasons"] = {}
    accepted = classified.frame.filter(f"NOT ({bad_row})").selectExpr(*[sql_name(c) for c in contract.names])
    return accepted, info


# --------------------------------------------------------------------------- contracts vs data
def diff_contract_with_data(project: Project, dataset: str) -> ContractDiff:
    """Compare a dataset's contract with the schema of its current data (``nbpipe contracts diff``).

    The data side is read as explore mode would (inferred schema); a column is nullable on the
    data side when it holds nulls.
    """
    from pyspark.sql import functions as F

    from nbpipe.spark import get_session

    contract = load_contract(contract_path(project, dataset))
    cfg = dataset_config(project, dataset)
    src = _source(project, dataset, cfg, None)
    df = flexible_frame(get_session(project), dataset, cfg, src, None)
    fields = [f for f in frame_fields(df) if f["name"] != CORRUPT_COLUMN]
    names = [f["name"] for f in fields]
    nulls = {}
    if names and (src.files or cfg.format == "jdbc"):
        row = df.agg(*[F.count(F.when(F.col(f"`{c}`").isNull(), 1)) for c in names]).collect()[0]
        nulls = dict(zip(names, row, strict=True))
    data_fields = [{**f, "nullable": bool(nulls.get(f["name"]))} for f in fields]
    diff = diff_contracts(contract, contract_from_schema(dataset, data_fields, version=contract.version),
                          compare_keys=False)
    diff.new_version = None
    return diff


def header_of(path: Path, options: dict[str, str]) -> list[str]:
    """The header row of a CSV file (empty list for an empty file)."""
    opts = {k.lower(): v for k, v in options.items()}
    sep = opts.get("sep", opts.get("delimiter", ","))
    quote = opts.get("quote", '"')
    with open(path, encoding=opts.get("encoding", opts.get("charset", "utf-8")), errors="replace", newline="") as fh:
        line = fh.readline()
    if not line.strip():
        return []
    return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=sep, quotechar=quote or None))]


def first_json_keys(path: Path) -> list[str]:
    """Keys of the first JSON-lines record of a file (empty when unreadable)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    value = json.loads(line)
                except ValueError:
                    return []
                return list(value) if isinstance(value, dict) else []
    return []
