"""``scd2_merge_snapshots`` equals a loop of ``scd2_merge`` calls, in one plan whatever the history.

Random small histories (keys, null attributes, gaps, repeated values, an existing dimension,
``close_missing`` on and off) are merged both ways on one local Spark session for the module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbpipe.errors import DatasetError
from nbpipe.warehouse import scd2_merge, scd2_merge_snapshots

pytestmark = pytest.mark.spark

SCHEMA = "tailnum string, seats int, engine string, model string, snapshot_date date"
KW: dict[str, Any] = {"key": ["tailnum"], "tracked": ["seats", "engine"], "surrogate_key": "plane_sk"}
DAY0 = dt.date(2013, 1, 1)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from nbpipe.core.config import SparkConfig
    from nbpipe.spark.session import build_session

    yield build_session(SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"}))


def rows(df: Any) -> list[tuple]:
    return sorted((tuple(r) for r in df.collect()), key=repr)


def fold(current: Any, snaps: Any, dates: list[dt.date], close_missing: bool) -> Any:
    """The one-snapshot-at-a-time result (the reference)."""
    from pyspark.sql import functions as F

    dim = current
    for day in dates:
        one = snaps.filter(F.col("snapshot_date") == F.lit(day)).drop("snapshot_date")
        dim = scd2_merge(dim, one, effective_date=day, close_missing=close_missing, **KW)
    return dim


attrs = st.tuples(st.sampled_from([100, 120, None]), st.sampled_from(["fan", "jet", None]), st.sampled_from(["A", "B"]))
# A date without rows is no snapshot: every generated snapshot has at least one key.
snapshot = st.dictionaries(st.sampled_from(["N1", "N2", "N3", None]), attrs, min_size=1, max_size=4)
history = st.lists(st.tuples(st.integers(1, 9), snapshot), min_size=2, max_size=4)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(history=history, split=st.integers(0, 4), close_missing=st.booleans())
def test_one_pass_equals_the_loop_of_merges(spark: Any, history: list, split: int, close_missing: bool) -> None:
    dates, day = [], DAY0
    data = []
    for gap, snap in history:
        day = day + dt.timedelta(days=gap)
        dates.append(day)
        data += [(k, s, e, m, day) for k, (s, e, m) in snap.items()]
    snaps = spark.createDataFrame(data, SCHEMA)
    split = min(split, len(dates) - 1)
    # Part of the history already merged into an existing dimension, the rest pending.
    current = fold(None, snaps, dates[:split], close_missing) if split else None
    expected = fold(current, snaps, dates[split:], close_missing)
    from pyspark.sql import functions as F

    pending = snaps.filter(F.col("snapshot_date") >= F.lit(dates[split]))
    got = scd2_merge_snapshots(current, pending, close_missing=close_missing, **KW)
    assert got.columns == expected.columns
    assert rows(got) == rows(expected)


def test_a_year_of_weekly_snapshots_is_one_plan_of_fixed_size(spark: Any) -> None:
    def plan_joins(weeks: int) -> tuple[int, list[tuple]]:
        # N1 flips its engine every week; N2 is absent every third week (closed, then reopened).
        data = []
        for w in range(weeks):
            day = DAY0 + dt.timedelta(weeks=w)
            data.append(("N1", 100, "fan" if w % 2 else "jet", "A", day))
            if w % 3 != 2:
                data.append(("N2", 50, "jet", "B", day))
        dim = scd2_merge_snapshots(None, spark.createDataFrame(data, SCHEMA), close_missing=True, **KW)
        plan = dim._jdf.queryExecution().analyzed().toString()
        return plan.count("Join"), rows(dim.select("tailnum", "valid_from", "valid_to", "is_current"))

    joins_5, _ = plan_joins(5)
    joins_52, versions = plan_joins(52)
    assert joins_5 == joins_52
    n1 = [v for v in versions if v[0] == "N1"]
    n2 = [v for v in versions if v[0] == "N2"]
    assert len(n1) == 52 and sum(v[3] for v in n1) == 1
    assert len(n2) == 18  # opened in weeks 0, 3, 6, ..., 51; each closed when absent
    assert n2[0][1:] == (DAY0, DAY0 + dt.timedelta(weeks=2), False)


def test_refuses_repeated_keys_and_snapshots_before_the_dimension(spark: Any) -> None:
    snaps = spark.createDataFrame([("N1", 1, "fan", "A", DAY0), ("N1", 2, "jet", "A", DAY0)], SCHEMA)
    with pytest.raises(DatasetError, match=r"more than one row for key \{\"tailnum\":\"N1\"\} on 2013-01-01"):
        scd2_merge_snapshots(None, snaps, **KW)
    later = spark.createDataFrame([("N1", 1, "fan", "A", DAY0 + dt.timedelta(days=7))], SCHEMA)
    dim = scd2_merge_snapshots(None, later, **KW)
    with pytest.raises(DatasetError, match="already holds versions from 2013-01-08"):
        scd2_merge_snapshots(dim, spark.createDataFrame([("N1", 1, "fan", "A", DAY0)], SCHEMA), **KW)
    with pytest.raises(DatasetError, match="no column 'snapshot_day'"):
        scd2_merge_snapshots(None, later, snapshot_date="snapshot_day", **KW)
    assert scd2_merge_snapshots(dim, later.limit(0), **KW) is dim


def test_columns_new_in_the_snapshots_or_only_in_the_dimension_match_the_loop(spark: Any) -> None:
    from pyspark.sql import functions as F

    old = spark.createDataFrame([("N1", 100, "fan", "hangar 1"), ("N2", 50, "jet", "hangar 2")],
                                "tailnum string, seats int, engine string, hangar string")
    current = scd2_merge(None, old, effective_date=DAY0, close_missing=True, **KW)
    days = [DAY0 + dt.timedelta(days=7), DAY0 + dt.timedelta(days=14)]
    snaps = spark.createDataFrame([("N1", 120, "fan", "A", days[0]), ("N3", 10, "prop", "C", days[0]),
                                   ("N1", 120, "fan", "B", days[1])], SCHEMA)
    expected = fold(current, snaps, days, close_missing=True)
    got = scd2_merge_snapshots(current, snaps, close_missing=True, **KW)
    assert got.columns == expected.columns == ["plane_sk", "tailnum", "seats", "engine", "model", "hangar",
                                               "valid_from", "valid_to", "is_current"]
    assert rows(got) == rows(expected)
    assert got.filter(F.col("tailnum") == "N1").count() == 2
