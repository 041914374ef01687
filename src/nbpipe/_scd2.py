"""SCD type 2 over many snapshots in one bounded plan (re-exported by :mod:`nbpipe.warehouse`).

Folding :func:`nbpipe.warehouse.scd2_merge` over N snapshots builds a plan N joins deep: Spark's
analyzer re-resolves the whole chain, and past a few dozen merges it gives up ("Max iterations
(100) reached for batch Resolution"). :func:`scd2_merge_snapshots` gives the same result from all
pending snapshots at once, with a fixed number of window functions whatever N is:

1. every event of a key in time order: its current version (from ``current``) and its row in
   each snapshot, each with the *slot* of its date (0 for the current version, j for the j-th
   snapshot date);
2. a new version starts at an event whose tracked attributes differ (null-safe) from the previous
   event's, or — with ``close_missing`` — whose previous event is not in the previous slot (the
   key was absent in between, so its version was closed);
3. a version keeps the attributes of the event that opened it and ends at the date of the slot
   after its last event (with ``close_missing``) or at the next version's start; versions that
   would end on the day they start are replaced, as ``scd2_merge`` replaces them.

History rows of ``current`` (not current) pass through untouched.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from nbpipe.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

_SLOT = "__scd2_slot"
_DATE = "__scd2_date"


def scd2_merge_snapshots(
    current: DataFrame | None,
    snapshots: DataFrame,
    *,
    key: list[str],
    tracked: list[str],
    snapshot_date: str = "snapshot_date",
    valid_from: str = "valid_from",
    valid_to: str = "valid_to",
    is_current: str = "is_current",
    surrogate_key: str | None = "sk",
    close_missing: bool = False,
) -> DataFrame:
    """Merge every snapshot in ``snapshots`` into ``current``, as ``scd2_merge`` once per date in order.

    Args:
        current: The dimension so far (every version), or None for the first load.
        snapshots: All snapshots to merge, one row per key and snapshot, the snapshot's date in
            the column ``snapshot_date`` (a date or ``YYYY-MM-DD``; dropped from the result).
        key, tracked, valid_from, valid_to, is_current, surrogate_key, close_missing: as for
            :func:`nbpipe.warehouse.scd2_merge`.
        snapshot_date: The column holding each row's snapshot date.

    Returns:
        The whole new dimension (history included), equal to folding ``scd2_merge`` over the
        snapshot dates in order, not yet written anywhere. ``snapshots`` empty: ``current``
        unchanged (None stays None).

    Raises:
        DatasetError: a named column is missing, a snapshot repeats a key, or ``current`` holds
            versions starting after the first snapshot date.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    from nbpipe.warehouse import _finish, _require

    key, tracked = list(key), list(tracked)
    if not key:
        raise DatasetError("scd2_merge_snapshots: no key columns given", hint="pass key=['business_key', ...]")
    _require(snapshots, [*key, *tracked, snapshot_date], "scd2_merge_snapshots snapshots")
    scd_cols = [valid_from, valid_to, is_current]
    if current is not None:
        _require(current, key + tracked + scd_cols, "scd2_merge_snapshots current")
    skip = {valid_from, valid_to, is_current, surrogate_key, snapshot_date}
    attrs = [c for c in snapshots.columns if c not in skip]
    snaps = snapshots.withColumn(_DATE, F.col(snapshot_date).cast("date"))
    dates = _dates(current, snaps, key, valid_from)
    if not dates:
        return current  # type: ignore[return-value]  # None in, None out
    types = {f.name: f.dataType for f in snapshots.schema.fields if f.name in attrs}
    extra: list[str] = []
    if current is not None:
        extra = [c for c in current.columns if c not in attrs and c not in scd_cols and c != surrogate_key]
        types.update({f.name: f.dataType for f in current.schema.fields if f.name in extra})
    order = [*attrs, *extra]
    slots = snaps.sparkSession.createDataFrame(
        [(d, j + 1) for j, d in enumerate(dates)], f"{_DATE} date, {_SLOT} int"
    )
    # A run whose last event is in slot j ends at the date of slot j + 1 (dates[j]); none after the last.
    end_of = F.create_map(*[x for j, d in enumerate(dates) for x in (F.lit(j), F.lit(d))])
    events = snaps.join(F.broadcast(slots), _DATE).select(
        *[F.col(c).cast(types[c]).alias(c) for c in attrs],
        *[F.lit(None).cast(types[c]).alias(c) for c in extra],
        F.col(_DATE).alias(valid_from),
        F.col(_SLOT),
    )
    history = None
    if current is not None:
        live = F.coalesce(F.col(is_current), F.lit(False))
        have = set(current.columns)
        # Columns new in the snapshots are null in the dimension's older versions, as scd2_merge makes them.
        as_before = [(F.col(c) if c in have else F.lit(None)).cast(types[c]).alias(c) for c in order]
        versions = current.filter(live).select(*as_before, F.col(valid_from), F.lit(0).alias(_SLOT))
        events = versions.unionByName(events)
        history = current.filter(~live).select(*as_before, *scd_cols)
    by_key = Window.partitionBy(*key).orderBy(_SLOT)
    state = F.struct(*[F.col(t) for t in tracked])
    prev_state = F.lag(state).over(by_key)
    prev_slot = F.lag(_SLOT).over(by_key)
    starts = prev_slot.isNull() | ~prev_state.eqNullSafe(state)
    if close_missing:
        starts = starts | (prev_slot != F.col(_SLOT) - 1)
    flagged = events.withColumn("__start", starts.cast("int"))
    runs = flagged.withColumn(
        "__run", F.sum("__start").over(by_key.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    )
    by_run = Window.partitionBy(*key, "__run")
    spans = runs.withColumn("__last", F.max(_SLOT).over(by_run)).filter(F.col("__start") == 1)
    next_start = F.lead(valid_from).over(Window.partitionBy(*key).orderBy(_SLOT))
    end = end_of[F.col("__last")] if close_missing else next_start
    versions_out = (
        spans.withColumn(valid_to, end.cast("date"))
        .filter(F.col(valid_to).isNull() | (F.col(valid_to) > F.col(valid_from)))
        .select(*order, valid_from, valid_to, F.col(valid_to).isNull().alias(is_current))
    )
    out = versions_out if history is None else history.unionByName(versions_out)
    return _finish(out, key, valid_from, surrogate_key)


def _dates(current: DataFrame | None, snaps: DataFrame, key: list[str], valid_from: str) -> list[dt.date]:
    """The snapshot dates in order, after refusing repeated keys and later versions (one job)."""
    from pyspark.sql import functions as F

    found = (
        snaps.groupBy(_DATE, *key)
        .count()
        .groupBy(_DATE)
        .agg(
            F.max("count").alias("n"),
            F.to_json(F.first(F.when(F.col("count") > 1, F.struct(*key)), ignorenulls=True)).alias("dupe"),
        )
        .orderBy(_DATE)
        .collect()
    )
    dupes = [f"{r.dupe} on {r[_DATE]}" for r in found if r.n > 1]
    if dupes:
        raise DatasetError(
            f"scd2_merge_snapshots: a snapshot has more than one row for key {', '.join(dupes[:5])}",
            hint="deduplicate each snapshot to one row per key before merging",
        )
    dates: list[dt.date] = [r[_DATE] for r in found]
    if None in dates:
        raise DatasetError(
            "scd2_merge_snapshots: some rows have no snapshot date", hint="fill or filter the snapshot date column"
        )
    if current is not None and dates:
        latest = current.agg(F.max(valid_from)).first()
        if latest is not None and latest[0] is not None and latest[0] > dates[0]:
            raise DatasetError(
                f"scd2_merge_snapshots: current already holds versions from {latest[0]} "
                f"(after the first snapshot date {dates[0]})",
                hint="merge snapshots after the dimension's latest valid_from; "
                "to rebuild history, start again from an empty dimension",
            )
    return dates
