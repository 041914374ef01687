"""Reading datasets on Spark: explore vs strict prod reads, schema drift, quarantine of bad rows.

The Spark adapter behind ``ctx.read`` (and the public face of the catalog: ``write_dataset``,
``write_rejected``, ``publish``, ``discard_staging`` and ``gc_staging`` live in
:mod:`nbpipe.data.publish` and are re-exported here):

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

import logging
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.config import DatasetConfig
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    Contract,
    contract_from_schema,
    diff_contracts,
    find_contract,
)
from nbpipe.core.manifest import committed_files
from nbpipe.data import _display as display
from nbpipe.data.encoding import TEXT_FORMATS, codec, undecodable_files
from nbpipe.data.sources import Source, flexible_frame, locate, mask_url
from nbpipe.data.strict import strict_read
from nbpipe.data.write import (
    frame_fields,
    promote_hint,
)
from nbpipe.data.write import schema_override as _as_contract
from nbpipe.errors import DatasetError
from nbpipe.spark.driver import driver_guard

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- reads
def read_dataset(ctx: RunScope, name: str, *, paths: list[str] | None = None,
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


def read_with_event(ctx: RunScope, name: str, *, paths: list[str] | None = None,
                    schema_override: Any = None, **annotations: Any) -> tuple[DataFrame, dict[str, Any]]:
    """:func:`read_dataset`, also returning its ``dataset_read`` event (``annotations`` are added to it).

    ``ctx.incremental`` reads its new files through here, so they get the same enforcement and the
    row counts come from the read's own pass instead of another ``count()``.

    Raises:
        KernelDiedError: the Spark driver died during the read (see :mod:`nbpipe.spark.driver`).
    """
    with driver_guard(lambda: ctx.spark, ctx.project, ctx.run_dir if ctx.is_prod else None,
                      f"reading dataset {name!r}"):
        return _read_with_event(ctx, name, paths, schema_override, annotations)


def _read_with_event(ctx: RunScope, name: str, paths: list[str] | None, schema_override: Any,
                     annotations: dict[str, Any]) -> tuple[DataFrame, dict[str, Any]]:
    cfg = ctx.project.dataset(name)
    if cfg.format == "kafka":
        raise DatasetError(f"dataset {name!r} is a Kafka topic", hint=f"read it with ctx.incremental({name!r})")
    src = locate(ctx.project, name, cfg, paths)
    if paths is None:
        src = committed_source(name, src)
    if ctx.mode == "prod":
        contract = _as_contract(schema_override, name) or find_contract(ctx.project, name)
        if contract is None:
            # No contract yet: the schema is inferred (as in explore mode), every column nullable, and
            # malformed lines are still quarantined; the run record says the schema was not enforced.
            df, info = strict_read(ctx, name, cfg, src, _inferred_contract(ctx, name, cfg, src))
            info["schema_version"] = None
            ctx.log.emit(events.LOG, level="warning",
                         message=f"dataset {name!r} has no contract, so its schema was inferred, not enforced; "
                         f"freeze it with `{promote_hint(ctx).split('`')[1]}`")
        else:
            df, info = strict_read(ctx, name, cfg, src, contract)
    else:
        df, info = _explore_read(ctx, name, cfg, src, schema_override)
    event = ctx.log.emit(events.DATASET_READ, dataset=name, mode=ctx.mode, format=cfg.format,
                         path=str(src.base) if src.base else mask_url(cfg.options.get("url", "")),
                         files=len(src.files), bytes=src.bytes, **info, **annotations)
    if ctx.mode == "explore":
        display.show_read(event, lambda: df.limit(10).toPandas())
    return df, event


def committed_source(name: str, src: Source) -> Source:
    """Only the files of the dataset's last committed publish, when it has a commit manifest.

    A publish in flight (or killed before its commit) is invisible: its units are read as they were
    committed (see :mod:`nbpipe.core.manifest`). Folders without a manifest are read as listed.
    """
    if src.base is None or not src.base.is_dir():
        return src
    files = committed_files(src.base, name)
    return src if files is None else Source(src.base, files, src.partition_cols)


def _inferred_contract(ctx: RunScope, name: str, cfg: DatasetConfig, src: Source) -> Contract:
    """A throwaway contract from the inferred schema (all columns nullable) for uncontracted prod reads."""
    if not src.files and cfg.format != "jdbc":
        return contract_from_schema(name, [], version="0.0")
    fields = [{**f, "nullable": True} for f in frame_fields(flexible_frame(ctx.spark, name, cfg, src, None))
              if f["name"] != CORRUPT_COLUMN]
    return contract_from_schema(name, fields, version="0.0", partition_by=cfg.partition_by)


def _explore_read(ctx: RunScope, name: str, cfg: DatasetConfig, src: Source,
                  override: Any) -> tuple[DataFrame, dict[str, Any]]:
    from pyspark.sql import functions as F

    contract_over = _as_contract(override, name)
    if cfg.format in TEXT_FORMATS:
        found = undecodable_files(src.with_rows().files, codec(name, cfg))
        if found:
            # Explore mode shows the data as Spark decoded it, and says where it could not.
            message = (f"dataset {name!r}: {len(found)} file(s) hold bytes that are not valid {found[0].encoding}, "
                       f"shown as U+FFFD here and quarantined in prod: " + "; ".join(u.describe() for u in found[:3])
                       + f" (set datasets.{name}.encoding in nbpipe.yaml to the files' real encoding)")
            log.warning(message)
            ctx.log.emit(events.LOG, level="warning", message=message)
        if not src.with_rows().files and contract_over is None:
            contract_over = find_contract(ctx.project, name)  # only empty drops: the contract's columns
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
