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
failed run recorded in its proposal.

In a backfill (``NBPIPE_BACKFILL_DAY``, one run per day of ``nbpipe backfill``) a files read re-reads
the files of that day's partitions (``<column>=YYYY-MM-DD`` directories), whether or not a run read
them before, and proposes nothing: the committed position does not move, and days can run in
parallel. Watermark and Kafka reads have no day to re-read and refuse to run in a backfill.
Decisions are pure functions in :mod:`nbpipe.data.incremental.positions`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.protocol import ENV_BACKFILL_DAY, ENV_STATE
from nbpipe.data.incremental import positions as state
from nbpipe.data.incremental._common import (
    FILE_FORMATS,
    Batch,
    committed_state,
    emit_read,
    resume_part,
    resume_snapshots,
)
from nbpipe.data.incremental.files import read_files
from nbpipe.data.incremental.watermark import read_watermark
from nbpipe.errors import DatasetError, StateError
from nbpipe.spark.driver import driver_guard

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

__all__ = ["Batch", "committed_state", "read_incremental", "resume_snapshots"]

log = logging.getLogger(__name__)


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
        KernelDiedError: the Spark driver died during the read.
    """
    with driver_guard(lambda: ctx.spark, ctx.project, ctx.run_dir if ctx.is_prod else None,
                      f"reading dataset {name!r} incrementally"):
        return _read_incremental(ctx, name, column, lookback, max_files)


def _read_incremental(ctx: RunScope, name: str, column: str | None, lookback: Any,
                      max_files: int | None) -> DataFrame:
    cfg = ctx.project.dataset(name)
    committed = committed_state().get(name)
    resume = resume_snapshots().get(name)
    if resume is not None and not isinstance(resume, Mapping):
        raise StateError(f"resume snapshot of dataset {name!r} is not a state_proposal payload")
    if not os.environ.get(ENV_STATE) and ctx.is_prod:
        log.warning("%s is not set: reading %r relative to an empty state", ENV_STATE, name)
    day = os.environ.get(ENV_BACKFILL_DAY) or None
    if day is not None and (cfg.format == "kafka" or column is not None):
        how = "a Kafka topic" if cfg.format == "kafka" else f"by watermark (column={column!r})"
        raise StateError(
            f"pipeline {ctx.pipeline!r} reads dataset {name!r} {how}: a backfill of day {day} cannot re-read "
            "one day of it, and must not move its committed position",
            hint=f"run the pipeline for new data with `nbpipe run {ctx.pipeline}`; to re-process past days, read "
            f"them by value in the notebook (e.g. ctx.read({name!r}) filtered on the day parameter)",
        )
    if cfg.format == "kafka":
        if column is not None or max_files is not None:
            raise DatasetError(f"dataset {name!r} is a Kafka topic: column= and max_files= do not apply")
        from nbpipe.data.incremental.kafka import read_kafka

        resumed = resume_part(resume, "kafka", name)
        kb = read_kafka(ctx, name, cfg, state.check_position(committed, "kafka", name), resume=resumed)
        batch = Batch(kb.df, "kafka", kb.position, kb.snapshot, kb.rows, kb.warnings)
        emit_read(ctx, name, kb.rows, f"kafka://{kb.snapshot['topic']}", "kafka")
    elif column is not None:
        if max_files is not None:
            raise DatasetError(f"dataset {name!r}: max_files= applies to file reads, not column= reads")
        position = state.check_position(committed, "watermark", name)
        batch = read_watermark(ctx, name, cfg, position, column, lookback, resume)
    elif cfg.format in FILE_FORMATS and cfg.path:
        if lookback is not None:
            raise DatasetError(f"dataset {name!r}: lookback= needs column= (a watermark column)")
        batch = read_files(ctx, name, cfg, state.check_position(committed, "files", name), max_files,
                           None if day else resume, backfill_day=day)
    else:
        raise DatasetError(
            f"dataset {name!r} ({cfg.format}{'' if cfg.path else ', no path'}) cannot be read by new files",
            hint="pass column='<monotonic column>' to read it by watermark, e.g. "
            f"ctx.incremental({name!r}, column='updated_at')",
        )
    for message in batch.warnings:
        log.warning("%s: %s", name, message)
    if day is None:
        ctx.log.emit(events.STATE_PROPOSAL, **batch.proposal(name))
    return batch.df
