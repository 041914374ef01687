"""Strict (prod) reads: a source classified against its contract, bad rows quarantined and counted.

See :mod:`nbpipe.data.read` for the whole read path; this module holds the contract side.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.config import DatasetConfig
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    Contract,
    check_schema,
    contract_path,
)
from nbpipe.core.layout import RAW, REASON, SOURCE
from nbpipe.core.sqltext import sql_name, sql_text
from nbpipe.data.encoding import REPLACEMENT, TEXT_FORMATS, Undecodable, codec, undecodable_files
from nbpipe.data.sources import Source, first_json_keys, header_of, load, mask_url, reader_for
from nbpipe.data.write import (
    contract_columns,
    frame_fields,
    parquet_footer_counts,
    promote_hint,
    stage_rejected,
    struct_type,
)
from nbpipe.errors import BadRowsError, ContractViolationError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

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


# --------------------------------------------------------------------------- strict (prod) reads
def _opt(cfg: DatasetConfig, key: str, default: str) -> str:
    return next((v for k, v in cfg.options.items() if k.lower() == key.lower()), default)


def _drift_error(ctx: RunScope, name: str, contract: Contract, problems: list[str]) -> ContractViolationError:
    return ContractViolationError(
        f"dataset {name!r}: the source drifted from its contract v{contract.version} "
        f"({contract_path(ctx.project, name)}): " + "; ".join(problems), hint=promote_hint(ctx))


def _csv_groups(ctx: RunScope, name: str, cfg: DatasetConfig, src: Source,
                contract: Contract) -> dict[tuple[str, ...], list[Path]]:
    """Files grouped by header; a header that differs from the contract is drift."""
    expected = [c for c in contract.names if c not in src.partition_cols]
    problems = [f"partition directory column {c} is not in the contract" for c in src.partition_cols
                if c not in contract.names]
    if _opt(cfg, "header", "false").lower() != "true":
        return {tuple(expected): list(src.files)}
    groups: dict[tuple[str, ...], list[Path]] = {}
    for f in src.files:
        header = tuple(header_of(f, name, cfg))
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


def _json_drift(ctx: RunScope, name: str, cfg: DatasetConfig, src: Source, contract: Contract) -> None:
    extra: dict[str, Path] = {}
    for f in src.files:
        for key in first_json_keys(f, name, cfg):
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
    undecodable: dict[int, tuple[str, str]] = field(default_factory=dict)  # group -> (SQL test, reason)

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
                f"WHEN {group_col} = {group} THEN {self._undecodable(group)}"
                f"{_reason_sql(contract, checked, f'{_PARSED}{group}')}{' END' if group in self.undecodable else ''}"
                for group, checked, _ in self.reparse) + " END"
        source = sql_name(SOURCE) if self.late_source is None else self.late_source
        # JSON keeps an undecodable line's bytes as they were: stored valid (U+FFFD), or Parquet readers choke.
        kept = f"make_valid_utf8({raw}) AS {raw}" if self.undecodable else raw
        return bad.selectExpr(*[sql_name(c) for c in contract.names], f"{reason} AS {sql_name(REASON)}", kept,
                              f"{source} AS {sql_name(SOURCE)}")


    def _undecodable(self, group: int) -> str:
        """The head of a group's reason: rows of files with undecodable bytes that hold U+FFFD."""
        if group not in self.undecodable:
            return ""
        test, why = self.undecodable[group]
        return f"CASE WHEN {test} THEN {sql_text(why)} ELSE "


def _holds_replacement(columns: list[str]) -> str:
    """SQL: one of ``columns`` holds U+FFFD (what Spark decoded an undecodable byte to) or invalid UTF-8.

    Spark's JSON reader keeps a malformed line's raw bytes in the corrupt-record column, undecoded.
    """
    mark = sql_text(REPLACEMENT)
    return "(" + " OR ".join(f"coalesce(instr({c}, {mark}) > 0 OR NOT is_valid_utf8({c}), false)"
                             for c in columns) + ")"


def _classify(ctx: RunScope, name: str, cfg: DatasetConfig, src: Source, contract: Contract,
              *, late_source: bool = False, count: bool = False,
              undecodable: list[Undecodable] | None = None) -> _Classified:
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

    reader = reader_for(ctx.spark, cfg, src, name)
    names = [sql_name(c) for c in contract.names]
    nulls = [f"{sql_name(c.name)} IS NULL" for c in contract.columns if not c.nullable]
    # input_file_name() is cheaper per row than the _metadata struct
    per_file = sql_text(mask_url(cfg.options.get("url", ""))) if cfg.format == "jdbc" else "input_file_name()"
    opts = {k: v for k, v in cfg.options.items() if k.lower() not in ("header", "inferschema", "basepath")}
    opts.update(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT_COLUMN)

    def flagged(df: DataFrame, raw: str, group: int, source: str, replaced: str | None = None) -> DataFrame:
        bad = "(" + " OR ".join([f"{raw} IS NOT NULL", *nulls, *([replaced] if replaced else [])]) + ")"
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
            _json_drift(ctx, name, cfg, src, contract)
            groups = {tuple(contract.names): list(src.files)}
        frames, counted, reparse = [], [], []
        bad_files = {u.path for u in undecodable or []}
        split: list[tuple[tuple[str, ...], list[Path], bool]] = []
        for header, files in groups.items():
            split += [(header, chosen, bad) for bad in (False, True)
                      if (chosen := [f for f in files if (f in bad_files) == bad])]
        replaced_in: dict[int, tuple[str, str]] = {}  # group -> (test on the flagged frame, reason)
        flags: dict[int, str] = {}  # group -> the same test on the source frame
        for group, (header, files, bad) in enumerate(split):
            checked = [c for c in header if c not in src.partition_cols]
            if bad:
                # Spark decoded these files with U+FFFD in place of the bytes it could not decode: a row
                # holding U+FFFD in a text column (or in its raw line) is one of them.
                texts = [sql_name(c) for c in checked if contract.column(c).type == "string"]  # type: ignore[union-attr]
                flags[group] = _holds_replacement([*texts, sql_name(CORRUPT_COLUMN)])
                replaced_in[group] = (_holds_replacement([*texts, sql_name(RAW)]), f"undecodable bytes: not valid "
                                      f"{undecodable[0].encoding} (datasets.{name}.encoding)")  # type: ignore[index]
            fields = [contract.column(c).field() for c in header]  # type: ignore[union-attr]
            fields += [contract.column(c).field() for c in src.partition_cols if c not in header]  # type: ignore[union-attr]
            corrupt = {"name": CORRUPT_COLUMN, "type": "string"}
            df = load(reader.schema(struct_type([*fields, corrupt])), Source(src.base, files), name, cfg)
            replaced = flags.get(group)
            frames.append(flagged(df, sql_name(CORRUPT_COLUMN), group, per_file, replaced))
            if count:
                counted.append(flagged(observed(df), sql_name(CORRUPT_COLUMN), group, per_file, replaced))
            reparse.append((group, checked, ", ".join(f"{sql_name(c)} string" for c in [*checked, CORRUPT_COLUMN])))
        return _Classified(union(frames), reparse, cfg.format, opts, per_file if late_source else None,
                           union(counted) if count else None, observations, replaced_in)
    df = load(reader, src, name, cfg)
    kept = [] if late_source else [F.expr(per_file).alias("_nbpipe_src")]
    conformed = _conformed(ctx, name, df, contract)

    def typed(frame: DataFrame) -> DataFrame:
        return flagged(frame.select(*conformed, *kept), "CAST(NULL AS STRING)", 0, sql_name("_nbpipe_src"))

    return _Classified(typed(df), [], cfg.format, opts, per_file if late_source else None,
                       typed(observed(df)) if count else None, observations)


def _parquet_without_bad_rows(ctx: RunScope, name: str, cfg: DatasetConfig, src: Source,
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
    df = load(reader_for(ctx.spark, cfg, src, name), src, name, cfg)
    return df.select(*_conformed(ctx, name, df, contract)), counted[0]


def _conformed(ctx: RunScope, name: str, df: DataFrame, contract: Contract) -> list[SparkColumn]:
    """A typed source's columns as the contract wants them (widened where allowed); drift raises."""
    check = check_schema(contract, frame_fields(df))
    if not check.ok:
        raise _drift_error(ctx, name, contract, check.problems())
    return contract_columns(contract, check)


def _undecodable_found(ctx: RunScope, name: str, cfg: DatasetConfig, found: list[Undecodable]) -> None:
    """Files with undecodable bytes: fail (``on_bad_rows: fail``) before reading, else say so in the log."""
    lines = sum(u.lines for u in found)
    shown = "; ".join(u.describe() for u in found[:3])
    shown += f"; and {len(found) - 3} more file(s)" if len(found) > 3 else ""
    what = (f"dataset {name!r}: {lines} line(s) in {len(found)} file(s) hold bytes that are not valid "
            f"{found[0].encoding}")
    fix = (f"set datasets.{name}.encoding in nbpipe.yaml to the files' real encoding (e.g. latin-1, cp1252), "
           "or fix the files")
    if cfg.on_bad_rows == "fail":
        raise BadRowsError(f"{what}: {shown}",
                           hint=f"{fix}; or set datasets.{name}.on_bad_rows: quarantine to keep those rows in "
                           f"{name}__rejected")
    ctx.log.emit(events.LOG, level="warning",
                 message=f"{what} (their rows go to {name}__rejected, nothing is replaced): {shown}; {fix}")


def strict_read(ctx: RunScope, name: str, cfg: DatasetConfig, src: Source,
                 contract: Contract) -> tuple[DataFrame, dict[str, Any]]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    info: dict[str, Any] = {"schema": contract.fields(), "schema_version": contract.version}
    if cfg.format in TEXT_FORMATS:
        src = src.with_rows()  # an empty drop holds no rows (and no header to check)
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
    undecodable = undecodable_files(src.files, codec(name, cfg)) if cfg.format in TEXT_FORMATS else []
    if undecodable:
        _undecodable_found(ctx, name, cfg, undecodable)
    typed_files = cfg.format in ("csv", "parquet")  # immutable files: never persisted, re-read as needed
    one_pass = typed_files and cfg.on_bad_rows == "quarantine" and src.bytes > SMALL_SOURCE_BYTES
    classified = _classify(ctx, name, cfg, src, contract, late_source=typed_files, count=one_pass,
                           undecodable=undecodable)
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
