"""Incremental reads: only what no successful run of this pipeline has processed yet.

``ctx.incremental(name)`` lands here. Three kinds, chosen from the dataset config:

* **files** (csv/json/parquet with a ``path``): the files under the dataset root not in the
  committed position (late files in old partitions included); changed files are re-read and
  reported. A dataset with a contract is read through the catalog (:mod:`nbpipe.data.read`), so
  prod runs enforce it and quarantine bad rows exactly as ``ctx.read`` does;
* **watermark** (``column=``): rows with ``column > committed_high - lookback``, de-duplicated by
  the dataset's ``primary_key``; the filter is applied before any action so JDBC pushes it down;
* **kafka** (``format: kafka``): a bounded batch from the committed offsets to the end offsets
  seen at run start (:mod:`nbpipe.data.incremental.kafka`).

The committed positions come from the file named by ``NBPIPE_STATE`` (written by the runner; no
variable means an empty state). Each read emits one ``state_proposal`` event ``{dataset, kind,
position, snapshot, rows, warnings}``; the runner commits ``position`` only if the run succeeds.
With ``NBPIPE_RESUME_SNAPSHOT`` (``nbpipe run --resume``) the read repeats exactly the range of the
failed run recorded in its proposal. Decisions are pure functions in :mod:`nbpipe.data.incremental.positions`.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.config import DatasetConfig
from nbpipe.core.layout import Listing, dataset_root, list_files
from nbpipe.core.protocol import ENV_RESUME, ENV_STATE, handoff_json
from nbpipe.data.incremental import positions as state
from nbpipe.errors import DatasetError, StateError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

FILE_FORMATS = ("csv", "json", "parquet")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
log = logging.getLogger(__name__)


@dataclass
class Batch:
    """What one incremental read returns to the context and proposes to the runner."""

    df: DataFrame
    kind: str
    position: dict[str, Any]
    snapshot: dict[str, Any]
    rows: int
    warnings: list[str] = field(default_factory=list)

    def proposal(self, dataset: str) -> dict[str, Any]:
        """The ``state_proposal`` event payload.

        The read kind is under ``incremental`` (and in ``position["kind"]``): an event's own
        ``kind`` field is the event kind, ``state_proposal``.
        """
        return {
            "dataset": dataset,
            "incremental": self.kind,
            "position": self.position,
            "snapshot": self.snapshot,
            "rows": self.rows,
            "warnings": self.warnings,
        }


# --------------------------------------------------------------------------- state from the runner


def committed_state() -> dict[str, Any]:
    """The committed positions ``{dataset: position}`` of this pipeline (``{}`` outside a run)."""
    return handoff_json(ENV_STATE)


def resume_snapshots() -> dict[str, Any]:
    """``{dataset: state_proposal payload}`` of the failed run being resumed (``{}`` otherwise)."""
    return handoff_json(ENV_RESUME)


# --------------------------------------------------------------------------- entry point


def read_incremental(
    ctx: RunScope,
    name: str,
    *,
    column: str | None = None,
    lookback: Any = None,
    max_files: int | None = None,
) -> DataFrame:
    """Read what is new in dataset ``name`` since the last successful run, and propose the position.

    Args:
        ctx: the run context (its Spark session, project config and event log are used).
        name: a dataset declared in ``nbpipe.yaml``.
        column: read by watermark on this column instead of by files.
        lookback: with ``column``: re-read this much before the committed high (a timedelta,
            ``"2 days"``/``"6h"``, or a number for numeric columns); rows are de-duplicated by the
            dataset's ``primary_key``.
        max_files: read at most this many new files (by path order); the rest wait for the next run.

    Returns:
        A Spark DataFrame; empty (with the dataset's schema) when nothing is new.

    Raises:
        DatasetError: unknown dataset, missing path or column, unsupported format.
        StateError: the committed state or resume snapshot does not fit this read.
    """
    cfg = ctx.project.dataset(name)
    committed = committed_state().get(name)
    resume = resume_snapshots().get(name)
    if resume is not None and not isinstance(resume, Mapping):
        raise StateError(f"resume snapshot of dataset {name!r} is not a state_proposal payload")
    if not os.environ.get(ENV_STATE) and ctx.is_prod:
        log.warning("%s is not set: reading %r relative to an empty state", ENV_STATE, name)
    if cfg.format == "kafka":
        if column is not None or max_files is not None:
            raise DatasetError(f"dataset {name!r} is a Kafka topic: column= and max_files= do not apply")
        from nbpipe.data.incremental.kafka import read_kafka

        resumed = _resume_part(resume, "kafka", name)
        kb = read_kafka(ctx, name, cfg, state.check_position(committed, "kafka", name), resume=resumed)
        batch = Batch(kb.df, "kafka", kb.position, kb.snapshot, kb.rows, kb.warnings)
        _emit_read(ctx, name, kb.rows, f"kafka://{kb.snapshot['topic']}", "kafka")
    elif column is not None:
        if max_files is not None:
            raise DatasetError(f"dataset {name!r}: max_files= applies to file reads, not column= reads")
        position = state.check_position(committed, "watermark", name)
        batch = _read_watermark(ctx, name, cfg, position, column, lookback, resume)
    elif cfg.format in FILE_FORMATS and cfg.path:
        if lookback is not None:
            raise DatasetError(f"dataset {name!r}: lookback= needs column= (a watermark column)")
        batch = _read_files(ctx, name, cfg, state.check_position(committed, "files", name), max_files, resume)
    else:
        raise DatasetError(
            f"dataset {name!r} ({cfg.format}{'' if cfg.path else ', no path'}) cannot be read by new files",
            hint="pass column='<monotonic column>' to read it by watermark, e.g. "
            f"ctx.incremental({name!r}, column='updated_at')",
        )
    for message in batch.warnings:
        log.warning("%s: %s", name, message)
    ctx.log.emit(events.STATE_PROPOSAL, **batch.proposal(name))
    return batch.df


def _resume_part(resume: Mapping[str, Any] | None, kind: str, name: str) -> Mapping[str, Any] | None:
    if resume is None:
        return None
    position = resume.get("position")
    found = resume.get("incremental") or (position.get("kind") if isinstance(position, Mapping) else None)
    if found != kind or not isinstance(resume.get("snapshot"), Mapping) or not isinstance(position, Mapping):
        raise StateError(
            f"the resumed run read dataset {name!r} as {found!r}, this read is {kind!r}",
            hint="resume with the same notebook code, or start a fresh run without --resume",
        )
    return resume


def dataset_contract(ctx: RunScope, name: str) -> Any:
    """The dataset's contract (``nbpipe.core.contracts``), or None when there is none."""
    from nbpipe.core.contracts import find_contract

    return find_contract(ctx.project, name)


def primary_key(ctx: RunScope, name: str, cfg: DatasetConfig) -> list[str]:
    """The dataset's ``primary_key`` from nbpipe.yaml, else from its contract."""
    if cfg.primary_key:
        return list(cfg.primary_key)
    contract = dataset_contract(ctx, name)
    return list(getattr(contract, "primary_key", ()) or ())


def _emit_read(ctx: RunScope, name: str, rows: int, path: str, kind: str) -> None:
    ctx.log.emit(events.DATASET_READ, dataset=name, rows=rows, bytes=None, schema_version=None,
                 rejected_rows=0, path=path, incremental=kind)


# --------------------------------------------------------------------------- files


def source_root(ctx: RunScope, name: str, cfg: DatasetConfig) -> Path:
    """The root directory (or file) of a path dataset (``core.layout.dataset_root``); it must exist."""
    if not cfg.path:
        raise DatasetError(f"dataset {name!r} has no path", hint=f"set datasets.{name}.path in nbpipe.yaml")
    root = dataset_root(ctx.project, name, cfg)
    if not root.exists():
        raise DatasetError(
            f"input of dataset {name!r} is missing: {root} does not exist",
            hint=f"land data there first (e.g. `make demo`), or fix datasets.{name}.path in nbpipe.yaml",
        )
    return root


def _read_files(
    ctx: RunScope,
    name: str,
    cfg: DatasetConfig,
    position: dict[str, Any],
    max_files: int | None,
    resume: Mapping[str, Any] | None,
) -> Batch:
    root = source_root(ctx, name, cfg)
    listing = list_files(root)
    warnings: list[str] = []
    previous = _resume_part(resume, "files", name)
    if previous is not None:
        chosen = [f["path"] for f in previous["snapshot"].get("files", [])]
        missing = [p for p in chosen if p not in listing]
        if missing:
            raise StateError(
                f"cannot resume dataset {name!r}: {len(missing)} file(s) the failed run read are gone "
                f"(first: {missing[0]})",
                hint="restore the files, or start a fresh run without --resume",
            )
        recorded = {f["path"]: f for f in previous["snapshot"]["files"]}
        for p in chosen:
            if (listing[p]["size"], listing[p]["mtime_ns"]) != (recorded[p]["size"], recorded[p]["mtime_ns"]):
                warnings.append(f"file {p} changed since the failed run read it; reading its current content")
        new_position = dict(previous["position"])
        changed = list(previous["snapshot"].get("changed", []))
    else:
        to_read, changed = state.new_files(listing, position)
        chosen = state.limit_files(to_read, max_files)
        changed = [p for p in changed if p in set(chosen)]
        for p in changed:
            warnings.append(f"file {p} changed since it was read (size/mtime differ); re-reading it")
        new_position = state.advance_files(position, {p: listing[p] for p in chosen})
        if len(chosen) < len(to_read):
            left = len(to_read) - len(chosen)
            warnings.append(f"max_files={max_files}: {left} new file(s) left for later runs")
    paths = [str(root / p) if root.is_dir() else str(root) for p in chosen]
    if chosen and dataset_contract(ctx, name) is not None:
        # A contracted dataset: the catalog enforces it (prod: strict schema, quarantine) and its
        # one pass over the new files also counts them; it emits the dataset_read event.
        from nbpipe.data.read import read_with_event

        df, event = read_with_event(ctx, name, paths=paths, incremental="files")
        rows = int(event.get("rows") or 0)
    else:
        if chosen:
            df = read_paths(ctx, name, cfg, root, paths)
            rows = int(df.count())
        else:
            df = _empty_like(ctx, name, cfg, root, listing)
            rows = 0
        _emit_read(ctx, name, rows, str(root), "files")
    snapshot = {
        "root": str(root),
        "files": [{"path": p, **listing[p]} for p in chosen],
        "changed": changed,
    }
    return Batch(df, "files", new_position, snapshot, rows, warnings)


def read_paths(ctx: RunScope, name: str, cfg: DatasetConfig, root: Path, paths: list[str]) -> DataFrame:
    """Read exactly ``paths`` of a file dataset without a contract, keeping partition columns (``basePath``).

    The files are read as configured (``options``), as the notebook wants them: a raw landing zone
    read as text is parsed by the notebook itself. Datasets with a contract go through the catalog.
    """
    reader = ctx.spark.read.format(cfg.format).options(**cfg.options)
    if root.is_dir():
        reader = reader.option("basePath", str(root))
    header = _csv_string_schema(cfg, Path(paths[0])) if paths else None
    if header is not None:
        reader = reader.schema(header)  # what Spark would derive, without its header-reading job
    try:
        return reader.load(paths)
    except Exception as exc:
        raise DatasetError(
            f"cannot read {len(paths)} new file(s) of dataset {name!r} under {root}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            hint=f"check datasets.{name}.format/options in nbpipe.yaml against the files",
        ) from exc


def _csv_string_schema(cfg: DatasetConfig, first: Path) -> str | None:
    """The all-string schema Spark gives a headed CSV without ``inferSchema``, read from ``first`` in Python.

    None (let Spark read the header itself) whenever Spark might name the columns differently:
    schema inference, an empty, padded, duplicate or BOM-prefixed name, or an unusual encoding.
    """
    opts = {k.lower(): str(v) for k, v in cfg.options.items()}
    if (cfg.format != "csv" or opts.get("header", "").lower() != "true"
            or opts.get("inferschema", "false").lower() != "false" or "schema" in opts
            or opts.get("encoding", opts.get("charset", "utf-8")).lower() not in ("utf-8", "utf8")):
        return None
    sep = opts.get("sep", opts.get("delimiter", ","))
    quote = opts.get("quote", '"')
    try:
        with open(first, encoding="utf-8", newline="") as fh:
            line = fh.readline()
        names = next(csv.reader([line.rstrip("\r\n")], delimiter=sep, quotechar=quote or None))
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error, TypeError):
        return None
    if (not names or line.startswith("\ufeff") or any(not n or n != n.strip() or "`" in n for n in names)
            or len({n.lower() for n in names}) != len(names)):
        return None
    return ", ".join(f"`{n}` string" for n in names)


def _empty_like(
    ctx: RunScope, name: str, cfg: DatasetConfig, root: Path, listing: Listing
) -> DataFrame:
    """No new files: an empty frame with the schema of the newest file already read."""
    if listing:
        newest = max(listing, key=lambda p: (listing[p]["mtime_ns"], p))
        return read_paths(ctx, name, cfg, root, [str(root / newest) if root.is_dir() else str(root)]).limit(0)
    from pyspark.sql.types import StructType

    log.warning("dataset %r has no files under %s: returning an empty frame without columns", name, root)
    return ctx.spark.createDataFrame([], StructType([]))


# --------------------------------------------------------------------------- watermark


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
        high = _EPOCH + dt.timedelta(microseconds=int(high))
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


def _read_watermark(
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
    previous = _resume_part(resume, "watermark", name)
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
    _emit_read(ctx, name, rows, cfg.path or cfg.options.get("dbtable", cfg.format), "watermark")
    snapshot = {
        "column": column,
        "type": wtype,
        "low": state.encode_watermark(low, wtype),
        "high": state.encode_watermark(high, wtype),
        "lookback": None if delta is None else str(delta),
        "primary_key": key,
    }
    return Batch(selected, "watermark", new_position, snapshot, rows, warnings)
