"""Warehouse modelling helpers for Spark: deterministic surrogate keys and SCD type 2 merges.

``scd2_merge`` keeps the full history of a dimension: each version of a business key is a row
with ``valid_from`` (inclusive), ``valid_to`` (exclusive; null while current) and
``is_current``. Merging a new snapshot at an effective date

- inserts keys seen for the first time as current versions;
- closes the current version of a key whose tracked attributes changed (``valid_to`` = the
  effective date, ``is_current`` false) and inserts the new version from that date;
- keeps unchanged keys untouched (comparisons are null-safe: null == null is "unchanged");
- with ``close_missing=True`` closes keys absent from the snapshot (a later reappearance opens
  a new version);
- keeps closed history rows untouched.

A version opened *on* the effective date is replaced rather than closed (no zero-length
versions), so re-running a merge with corrected data at the same date corrects it, and merging
the same snapshot twice changes nothing. Merges must go forward in time: a current table holding
versions that start after the effective date is refused.

``scd2_merge_snapshots`` (from :mod:`nbpipe._scd2`) gives the result of merging many snapshots one
after another in one plan of fixed size: use it instead of a loop of ``scd2_merge`` calls, whose
plan grows with every merge until Spark's analyzer gives up.

Surrogate keys are ``xxhash64`` of the business key (and ``valid_from`` for SCD2 versions), each
column cast to string with a null marker, so the same input always gives the same key, with no
dependence on partitioning, ordering or run. Only the DataFrame API is used, so everything here
works on classic sessions and Spark Connect alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nbpipe._scd2 import scd2_merge_snapshots
from nbpipe.errors import DatasetError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

__all__ = ["as_of", "current_versions", "scd2_merge", "scd2_merge_snapshots", "surrogate_key"]

NULL_MARKER = "\u0000"
_PREFIX_CURRENT = "__c_"
_PREFIX_INCOMING = "__i_"


def _key_column(cols: Sequence[str | Column]) -> Column:
    from pyspark.sql import functions as F

    parts = [
        F.coalesce(F.col(c).cast("string") if isinstance(c, str) else c.cast("string"), F.lit(NULL_MARKER))
        for c in cols
    ]
    return F.xxhash64(*parts)


def surrogate_key(df: DataFrame, cols: Sequence[str], name: str = "sk") -> DataFrame:
    """Add (or replace) a deterministic bigint surrogate key computed from ``cols``.

    Args:
        df: Any DataFrame.
        cols: The columns identifying a row (the business key, plus ``valid_from`` for versions).
        name: The name of the key column; it is placed first.

    Returns:
        ``df`` with ``name`` = xxhash64 over the string form of ``cols`` (nulls distinguished
        from empty strings and from each other's positions).

    Raises:
        DatasetError: ``cols`` is empty or names a column ``df`` does not have.
    """
    if not cols:
        raise DatasetError(f"surrogate_key({name!r}): no columns given", hint="pass the business key columns")
    _require(df, cols, "surrogate_key input")
    rest = [c for c in df.columns if c != name]
    return df.select(_key_column(list(cols)).alias(name), *rest)


def _require(df: DataFrame, cols: Sequence[str], what: str) -> None:
    have = set(df.columns)
    for col in cols:
        if col not in have:
            raise DatasetError(
                f"{what} has no column {col!r}{did_you_mean(col, df.columns)}",
                hint=f"its columns are: {', '.join(df.columns)}",
            )


def _as_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DatasetError(
            f"scd2_merge: effective_date {value!r} is not a date", hint="pass a date or 'YYYY-MM-DD'"
        ) from None


def scd2_merge(
    current: DataFrame | None,
    incoming: DataFrame,
    *,
    key: list[str],
    tracked: list[str],
    effective_date: str | dt.date,
    valid_from: str = "valid_from",
    valid_to: str = "valid_to",
    is_current: str = "is_current",
    surrogate_key: str | None = "sk",
    close_missing: bool = False,
) -> DataFrame:
    """Merge a snapshot ``incoming`` into the SCD type 2 dimension ``current`` at ``effective_date``.

    Args:
        current: The dimension so far (every version), or None for the first load. It must have
            the ``key`` and ``tracked`` columns plus ``valid_from``, ``valid_to``, ``is_current``.
        incoming: The new snapshot, one row per key. Columns beyond ``key`` and ``tracked`` are
            carried along (taken from the snapshot for new versions, kept for unchanged ones).
        key: The business key columns.
        tracked: The attributes whose change opens a new version.
        effective_date: The date the snapshot is valid from (``date`` or ``YYYY-MM-DD``).
        valid_from: Name of the version start column (date, inclusive).
        valid_to: Name of the version end column (date, exclusive; null while current).
        is_current: Name of the boolean current-version flag.
        surrogate_key: Name of the surrogate key column (xxhash64 of key + ``valid_from``), placed
            first; None for no surrogate key.
        close_missing: Close the current version of keys absent from ``incoming``.

    Returns:
        The whole new dimension (history included), not yet written anywhere.

    Raises:
        DatasetError: a named column is missing, ``incoming`` repeats a key, or ``current`` holds
            versions starting after ``effective_date``.
    """
    from pyspark.sql import functions as F

    key, tracked = list(key), list(tracked)
    if not key:
        raise DatasetError("scd2_merge: no key columns given", hint="pass key=['business_key', ...]")
    _require(incoming, key + tracked, "scd2_merge incoming")
    eff_date = _as_date(effective_date)
    eff = F.lit(eff_date)
    attrs = [c for c in incoming.columns if c not in (valid_from, valid_to, is_current, surrogate_key)]
    scd_cols = [valid_from, valid_to, is_current]

    if current is not None:
        _require(current, key + tracked + scd_cols, "scd2_merge current")
    _validate(current, incoming, key, valid_from, eff_date)
    if current is None:
        return _finish(
            incoming.select(
                *attrs,
                eff.alias(valid_from),
                F.lit(None).cast("date").alias(valid_to),
                F.lit(True).alias(is_current),
            ),
            key,
            valid_from,
            surrogate_key,
        )
    cur_cols = [c for c in current.columns if c != surrogate_key]
    order = [*attrs, *[x for x in cur_cols if x not in attrs and x not in scd_cols], *scd_cols]
    # One full outer join, each output row built from one joined row, so that the plan of a
    # chain of merges grows linearly (history rows never match: the join requires is_current).
    c = current.select(*[F.col(x).alias(_PREFIX_CURRENT + x) for x in cur_cols], F.lit(True).alias("__in_c"))
    i = incoming.select(*[F.col(x).alias(_PREFIX_INCOMING + x) for x in attrs], F.lit(True).alias("__in_i"))
    live = F.coalesce(F.col(_PREFIX_CURRENT + is_current), F.lit(False))
    cond = live
    for k in key:
        cond = cond & F.col(_PREFIX_CURRENT + k).eqNullSafe(F.col(_PREFIX_INCOMING + k))
    joined = c.join(i, cond, "full_outer")
    in_c = F.col("__in_c").isNotNull()
    in_i = F.col("__in_i").isNotNull()
    same = F.lit(True)
    for t in tracked:
        same = same & F.col(_PREFIX_CURRENT + t).eqNullSafe(F.col(_PREFIX_INCOMING + t))
    gone = ~in_i if close_missing else F.lit(False)
    ends = in_c & live & ((in_i & ~same) | gone)
    opened_today = F.col(_PREFIX_CURRENT + valid_from) >= eff
    types = {f.name: f.dataType for f in incoming.schema.fields}
    types.update({f.name: f.dataType for f in current.schema.fields if f.name not in types})

    def version(prefix: str, overrides: dict[str, Column]) -> Column:
        have = cur_cols if prefix == _PREFIX_CURRENT else attrs
        return F.struct(
            *[
                (overrides[x] if x in overrides else F.col(prefix + x) if x in have else F.lit(None))
                .cast(types[x])
                .alias(x)
                for x in order
            ]
        )

    old = F.when(in_c & ~ends, version(_PREFIX_CURRENT, {})).when(
        ends & ~opened_today, version(_PREFIX_CURRENT, {valid_to: eff, is_current: F.lit(False)})
    )
    new = F.when(
        in_i & (~in_c | ~same),
        version(_PREFIX_INCOMING, {valid_from: eff, valid_to: F.lit(None), is_current: F.lit(True)}),
    )
    out = joined.select(F.explode(F.array(old, new)).alias("__v")).filter(F.col("__v").isNotNull())
    return _finish(out.select("__v.*"), key, valid_from, surrogate_key)


def _validate(
    current: DataFrame | None, incoming: DataFrame, key: list[str], valid_from: str, eff_date: dt.date
) -> None:
    """Refuse repeated keys in ``incoming`` and versions after ``eff_date`` in ``current`` (one job)."""
    from pyspark.sql import functions as F

    problems = (
        incoming.groupBy(*key)
        .count()
        .filter(F.col("count") > 1)
        .select(F.lit("duplicate").alias("kind"), F.to_json(F.struct(*key)).alias("detail"))
        .limit(5)
    )
    if current is not None:
        later = current.filter(F.col(valid_from) > F.lit(eff_date)).select(
            F.lit("later").alias("kind"), F.col(valid_from).cast("string").alias("detail")
        )
        problems = problems.unionByName(later.limit(1))
    found = problems.collect()
    dupes = [r.detail for r in found if r.kind == "duplicate"]
    if dupes:
        raise DatasetError(
            f"scd2_merge: incoming has more than one row for key {', '.join(sorted(dupes))}",
            hint="deduplicate the snapshot to one row per key before merging",
        )
    if found:
        raise DatasetError(
            f"scd2_merge: current already holds versions from {found[0].detail} (after the effective date {eff_date})",
            hint="merge snapshots in date order; to rebuild history, start again from an empty dimension",
        )


def _finish(df: DataFrame, key: list[str], valid_from: str, surrogate_key: str | None) -> DataFrame:
    if surrogate_key is None:
        return df
    return df.select(_key_column([*key, valid_from]).alias(surrogate_key), *df.columns)


def current_versions(dim: DataFrame, is_current: str = "is_current") -> DataFrame:
    """The current version of every key of an SCD2 dimension."""
    from pyspark.sql import functions as F

    return dim.filter(F.coalesce(F.col(is_current), F.lit(False)))


def as_of(dim: DataFrame, on_date: Column, *, valid_from: str = "valid_from", valid_to: str = "valid_to") -> Column:
    """Join condition picking the version of ``dim`` in force on ``on_date``.

    Use it with a key equality, e.g. ``fact.join(dim, (fact.tailnum == dim.tailnum) &
    as_of(dim, fact.flight_date), "left")``.
    """
    return (dim[valid_from] <= on_date) & (dim[valid_to].isNull() | (on_date < dim[valid_to]))
