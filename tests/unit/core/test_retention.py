"""Retention rules without I/O: partition dates, run-id dates, cutoffs and the config check."""

from __future__ import annotations

import datetime as dt

import pytest

from nbpipe.core.config import DatasetConfig
from nbpipe.core.retention import check_retention, cutoff, partition_date, run_id_date, unit_value


def test_partition_values_and_dates() -> None:
    assert unit_value("day=2024-03-01/carrier=UA", "carrier") == "UA"
    assert unit_value("day=2024-03-01%2006%3A00%3A00", "day") == "2024-03-01 06:00:00"
    assert unit_value("day=2024-03-01", "hour") is None
    assert partition_date("2024-03-01 06:00:00") == partition_date("20240301") == dt.date(2024, 3, 1)
    assert partition_date("eu") is None and partition_date("2024-13-01") is None
    assert run_id_date("20240301T060000123456Z-ab12cd") == dt.date(2024, 3, 1)
    assert run_id_date("manual-run") is None
    assert cutoff(dt.date(2024, 3, 31), 30) == dt.date(2024, 3, 1)


def test_retention_needs_a_date_partition_column() -> None:
    check_retention(None, None, [])
    check_retention(30, None, ["day"])
    with pytest.raises(ValueError, match="retention_days needs a date partition column"):
        check_retention(30, None, [])
    with pytest.raises(ValueError, match="retention_column 'dy' is not one of partition_by"):
        check_retention(30, "dy", ["day"])
    cfg = DatasetConfig(partition_by=["region", "day"], retention_days=30, retention_column="day")
    assert (cfg.date_column(), cfg.quarantine_days()) == ("day", 30)
    assert DatasetConfig(partition_by=["day"], quarantine_retention_days=7).quarantine_days() == 7
    assert DatasetConfig().date_column() is None and DatasetConfig().quarantine_days() is None
