"""Retention rules that need no I/O: which date a partition holds, and whether it is past its days.

``nbpipe gc`` deletes a dataset's partitions by the VALUE of its date partition column
(``day=2024-03-01``), never by file times, and a quarantine's partitions
(``nbpipe_run_id=<run>``) by the date of the run that wrote them.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote


def check_retention(days: int | None, column: str | None, partition_by: list[str]) -> None:
    """Refuse a ``retention_days`` that gc could not apply (config validation; ``ValueError``)."""
    if column is not None and column not in partition_by:
        raise ValueError(
            f"retention_column {column!r} is not one of partition_by {partition_by}: name a date partition "
            "column of the dataset"
        )
    if days is not None and not partition_by:
        raise ValueError(
            "retention_days needs a date partition column, and this dataset has no partition_by: add "
            "partition_by: [<date column>] (values like 2024-03-01) or remove retention_days"
        )


def unit_value(unit: str, column: str) -> str | None:
    """The value of ``column`` in a partition path such as ``day=2024-03-01/carrier=UA``, or None."""
    for part in unit.split("/"):
        name, sep, value = part.partition("=")
        if sep and name == column:
            return unquote(value)
    return None


def partition_date(value: str) -> dt.date | None:
    """The date a partition value holds (``2024-03-01``, ``2024-03-01 06:00:00``, ``20240301``), or None."""
    text = value.strip()
    for candidate in (text[:10], text[:8]):
        try:
            return dt.date.fromisoformat(candidate)
        except ValueError:
            continue
    return None


def run_id_date(run_id: str) -> dt.date | None:
    """The UTC date at the start of a run id (``20240301T060000123456Z-ab12cd``), or None."""
    try:
        return dt.datetime.strptime(run_id[:8], "%Y%m%d").date()
    except ValueError:
        return None


def cutoff(today: dt.date, days: int) -> dt.date:
    """Partitions dated before this are past ``days`` of retention."""
    return today - dt.timedelta(days=days)
