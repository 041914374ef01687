"""SCD type 2 merges and surrogate keys on a real local Spark session."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from nbpipe.errors import DatasetError
from nbpipe.warehouse import as_of, current_versions, scd2_merge, surrogate_key

pytestmark = pytest.mark.spark

D1, D2, D3 = dt.date(2013, 1, 1), dt.date(2013, 1, 8), dt.date(2013, 1, 15)
SCHEMA = "tailnum string, seats int, engine string, model string"
KW: dict[str, Any] = {"key": ["tailnum"], "tracked": ["seats", "engine"]}


def snap(spark: Any, rows: list[tuple]) -> Any:
    return spark.createDataFrame(rows, SCHEMA)


def rows(df: Any) -> list[tuple]:
    """Every version as (tailnum, seats, engine, model, valid_from, valid_to, is_current), sorted."""
    cols = ["tailnum", "seats", "engine", "model", "valid_from", "valid_to", "is_current"]
    return sorted((tuple(r) for r in df.select(*cols).collect()), key=lambda r: (r[0], r[4]))


def full(df: Any) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def test_first_load_inserts_everything_as_current(spark: Any) -> None:
    dim = scd2_merge(None, snap(spark, [("N1", 100, "fan", "A"), ("N2", 50, "jet", "B")]), effective_date=D1, **KW)
    assert dim.columns == [
        "sk",
        "tailnum",
        "seats",
        "engine",
        "model",
        "valid_from",
        "valid_to",
        "is_current",
    ]
    assert rows(dim) == [("N1", 100, "fan", "A", D1, None, True), ("N2", 50, "jet", "B", D1, None, True)]
    assert dict(dim.schema.fields[0].jsonValue(), name="sk")["type"] == "long"


def test_insert_update_unchanged_in_one_merge(spark: Any) -> None:
    dim = scd2_merge(None, snap(spark, [("N1", 100, "fan", "A"), ("N2", 50, "jet", "B")]), effective_date=D1, **KW)
    incoming = snap(spark, [("N1", 120, "fan", "A"), ("N2", 50, "jet", "B2"), ("N3", 10, "prop", "C")])
    out = scd2_merge(dim, incoming, effective_date="2013-01-08", **KW)
    assert rows(out) == [
        ("N1", 100, "fan", "A", D1, D2, False),  # changed: old version closed at the effective date
        ("N1", 120, "fan", "A", D2, None, True),  # ... and the new one opened
        ("N2", 50, "jet", "B", D1, None, True),  # untracked change only: unchanged, kept as it was
        ("N3", 10, "prop", "C", D2, None, True),  # new key
    ]
    assert full(current_versions(out).select("tailnum")) == [("N1",), ("N2",), ("N3",)]
    # the surrogate keys of untouched versions do not move
    before = {(r.tailnum, r.valid_from): r.sk for r in dim.collect()}
    after = {(r.tailnum, r.valid_from): r.sk for r in out.collect()}
    assert after[("N1", D1)] == before[("N1", D1)] and after[("N2", D1)] == before[("N2", D1)]
    assert len(set(after.values())) == 4


def test_merging_the_same_snapshot_twice_changes_nothing(spark: Any) -> None:
    dim = scd2_merge(None, snap(spark, [("N1", 100, "fan", "A"), ("N2", 50, "jet", "B")]), effective_date=D1, **KW)
    incoming = snap(spark, [("N1", 120, "fan", "A"), ("N3", 10, "prop", "C")])
    once = scd2_merge(dim, incoming, effective_date=D2, close_missing=True, **KW)
    twice = scd2_merge(once, incoming, effective_date=D2, close_missing=True, **KW)
    assert full(twice) == full(once)
    # and the result is the same, surrogate keys included, however often it is computed
    again = scd2_merge(dim, incoming, effective_date=D2, close_missing=True, **KW)
    assert full(again) == full(once)


def test_nulls_compare_equal_and_changes_to_or_from_null_are_changes(spark: Any) -> None:
    dim = scd2_merge(
        None,
        snap(spark, [("N1", None, "fan", "A"), ("N2", 50, None, "B"), ("N3", 7, "jet", "C")]),
        effective_date=D1,
        **KW,
    )
    out = scd2_merge(
        dim,
        snap(spark, [("N1", None, "fan", "A"), ("N2", 50, "jet", "B"), ("N3", None, "jet", "C")]),
        effective_date=D2,
        **KW,
    )
    assert rows(out) == [
        ("N1", None, "fan", "A", D1, None, True),  # null == null: unchanged
        ("N2", 50, None, "B", D1, D2, False),  # null -> value
        ("N2", 50, "jet", "B", D2, None, True),
        ("N3", 7, "jet", "C", D1, D2, False),  # value -> null
        ("N3", None, "jet", "C", D2, None, True),
    ]


def test_missing_keys_are_kept_or_closed(spark: Any) -> None:
    dim = scd2_merge(None, snap(spark, [("N1", 100, "fan", "A"), ("N2", 50, "jet", "B")]), effective_date=D1, **KW)
    only_n1 = snap(spark, [("N1", 100, "fan", "A")])
    kept = scd2_merge(dim, only_n1, effective_date=D2, **KW)
    assert full(kept) == full(dim)
    closed = scd2_merge(dim, only_n1, effective_date=D2, close_missing=True, **KW)
    assert rows(closed) == [("N1", 100, "fan", "A", D1, None, True), ("N2", 50, "jet", "B", D1, D2, False)]
    # a key that comes back opens a new version; the closed one stays history
    back = scd2_merge(
        closed,
        snap(spark, [("N1", 100, "fan", "A"), ("N2", 60, "jet", "B")]),
        effective_date=D3,
        close_missing=True,
        **KW,
    )
    assert rows(back)[1:] == [("N2", 50, "jet", "B", D1, D2, False), ("N2", 60, "jet", "B", D3, None, True)]


def test_several_effective_dates_build_a_history(spark: Any) -> None:
    dim = scd2_merge(None, snap(spark, [("N1", 100, "fan", "A")]), effective_date=D1, **KW)
    dim = scd2_merge(dim, snap(spark, [("N1", 110, "fan", "A")]), effective_date=D2, **KW)
    dim = scd2_merge(dim, snap(spark, [("N1", 110, "jet", "A")]), effective_date=D3, **KW)
    assert rows(dim) == [
        ("N1", 100, "fan", "A", D1, D2, False),
        ("N1", 110, "fan", "A", D2, D3, False),
        ("N1", 110, "jet", "A", D3, None, True),
    ]
    # the version in force on a date, through the as_of join condition
    facts = spark.createDataFrame(
        [
            ("N1", dt.date(2013, 1, 1)),
            ("N1", dt.date(2013, 1, 8)),
            ("N1", dt.date(2013, 1, 14)),
            ("N1", dt.date(2013, 3, 1)),
            ("N9", dt.date(2013, 1, 2)),
        ],
        "tailnum string, flight_date date",
    )
    joined = facts.join(dim, (facts.tailnum == dim.tailnum) & as_of(dim, facts.flight_date), "left")
    got = sorted(
        (r.flight_date, r.seats, r.engine) for r in joined.select(facts.flight_date, "seats", "engine").collect()
    )
    assert got == [
        (dt.date(2013, 1, 1), 100, "fan"),
        (dt.date(2013, 1, 2), None, None),
        (dt.date(2013, 1, 8), 110, "fan"),
        (dt.date(2013, 1, 14), 110, "fan"),
        (dt.date(2013, 3, 1), 110, "jet"),
    ]


def test_a_correction_on_the_same_date_replaces_the_version(spark: Any) -> None:
    dim = scd2_merge(None, snap(spark, [("N1", 100, "fan", "A")]), effective_date=D1, **KW)
    wrong = scd2_merge(dim, snap(spark, [("N1", 999, "fan", "A")]), effective_date=D2, **KW)
    fixed = scd2_merge(wrong, snap(spark, [("N1", 110, "fan", "A")]), effective_date=D2, **KW)
    assert rows(fixed) == [("N1", 100, "fan", "A", D1, D2, False), ("N1", 110, "fan", "A", D2, None, True)]


def test_misuse_is_refused_with_a_useful_message(spark: Any) -> None:
    dim = scd2_merge(None, snap(spark, [("N1", 100, "fan", "A")]), effective_date=D2, **KW)
    with pytest.raises(DatasetError, match="date order"):
        scd2_merge(dim, snap(spark, [("N1", 1, "fan", "A")]), effective_date=D1, **KW)
    with pytest.raises(DatasetError, match=re.escape('key {"tailnum":"N1"}')):
        scd2_merge(dim, snap(spark, [("N1", 1, "fan", "A"), ("N1", 2, "fan", "A")]), effective_date=D3, **KW)
    with pytest.raises(DatasetError, match="did you mean 'seats'"):
        scd2_merge(dim, snap(spark, [("N1", 1, "fan", "A")]), key=["tailnum"], tracked=["seat"], effective_date=D3)
    with pytest.raises(DatasetError, match="not a date"):
        scd2_merge(dim, snap(spark, [("N1", 1, "fan", "A")]), effective_date="next week", **KW)


def test_surrogate_key_is_deterministic_and_null_aware(spark: Any) -> None:
    df = spark.createDataFrame([("a", None), (None, "a"), ("a", ""), ("", "a"), ("a", "b")], "x string, y string")
    first = {(r.x, r.y): r.sk for r in surrogate_key(df, ["x", "y"]).collect()}
    second = {(r.x, r.y): r.sk for r in surrogate_key(df.repartition(3), ["x", "y"]).collect()}
    assert first == second
    assert len(set(first.values())) == 5  # (a, null), (null, a), (a, ''), ('', a) all differ
    keyed = surrogate_key(df, ["x"], name="x_sk")
    assert keyed.columns == ["x_sk", "x", "y"]
    with pytest.raises(DatasetError, match="did you mean 'x'"):
        surrogate_key(df, ["xx"])
