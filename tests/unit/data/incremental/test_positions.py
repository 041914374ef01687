"""Unit tests of the pure incremental position arithmetic in nbpipe.data.incremental.positions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbpipe.data.incremental import positions as state
from nbpipe.errors import StateError

UTC = dt.UTC


def meta(size: int, mtime: int = 1) -> dict[str, int]:
    return {"size": size, "mtime_ns": mtime}


# --------------------------------------------------------------------------- files


def test_new_files_first_run_reads_everything_sorted() -> None:
    listing = {"date=2/b.csv": meta(2), "date=1/a.csv": meta(1)}
    to_read, changed = state.new_files(listing, {})
    assert to_read == ["date=1/a.csv", "date=2/b.csv"]
    assert changed == []


def test_late_file_in_old_partition_is_new() -> None:
    pos = state.advance_files({}, {"date=1/a.csv": meta(1), "date=2/b.csv": meta(2)})
    listing = {"date=1/a.csv": meta(1), "date=1/late.csv": meta(5), "date=2/b.csv": meta(2)}
    assert state.new_files(listing, pos) == (["date=1/late.csv"], [])


def test_changed_file_is_reread_and_reported() -> None:
    pos = state.advance_files({}, {"a.csv": meta(1, 10), "b.csv": meta(2, 10)})
    listing = {"a.csv": meta(1, 11), "b.csv": meta(3, 10), "c.csv": meta(1)}
    to_read, changed = state.new_files(listing, pos)
    assert to_read == ["a.csv", "b.csv", "c.csv"]
    assert changed == ["a.csv", "b.csv"]
    after = state.advance_files(pos, {p: listing[p] for p in to_read})
    assert state.new_files(listing, after) == ([], [])


def test_advance_files_is_json_and_keeps_old_files() -> None:
    pos = state.advance_files({}, {"a": meta(1)})
    pos2 = state.advance_files(pos, {"b": meta(2)})
    assert json.loads(json.dumps(pos2)) == {"kind": "files", "files": {"a": meta(1), "b": meta(2)}}
    assert pos == {"kind": "files", "files": {"a": meta(1)}}  # input not mutated


def test_limit_files_validates() -> None:
    assert state.limit_files(["a", "b", "c"], 2) == ["a", "b"]
    assert state.limit_files(["a"], None) == ["a"]
    with pytest.raises(StateError, match="max_files"):
        state.limit_files(["a"], 0)


@settings(max_examples=60, deadline=None)
@given(
    n_files=st.integers(min_value=0, max_value=25),
    cuts=st.lists(st.integers(min_value=0, max_value=25), max_size=6),
    max_files=st.one_of(st.none(), st.integers(min_value=1, max_value=7)),
)
def test_any_split_of_arrivals_reads_each_file_exactly_once(
    n_files: int, cuts: list[int], max_files: int | None
) -> None:
    files = [f"date={i % 4}/part-{i:03d}.csv" for i in range(n_files)]
    arrivals = sorted({min(c, n_files) for c in cuts} | {n_files})
    position: dict = {}
    listing: dict[str, dict[str, int]] = {}
    read: list[str] = []
    for upto in arrivals:
        for f in files[:upto]:
            listing.setdefault(f, meta(len(f)))
        to_read, changed = state.new_files(listing, position)
        assert changed == []
        batch = state.limit_files(to_read, max_files)
        read.extend(batch)
        position = state.advance_files(position, {p: listing[p] for p in batch})
    # drain: runs with no new arrivals until nothing is left
    for _ in range(n_files + 1):
        batch = state.limit_files(state.new_files(listing, position)[0], max_files)
        if not batch:
            break
        read.extend(batch)
        position = state.advance_files(position, {p: listing[p] for p in batch})
    assert sorted(read) == sorted(files)
    assert len(read) == len(set(read))


# --------------------------------------------------------------------------- positions


def test_check_position_empty_and_wrong_kind() -> None:
    assert state.check_position(None, "files", "d") == {"kind": "files", "files": {}}
    assert state.check_position({}, "kafka", "d")["offsets"] == {}
    with pytest.raises(StateError, match="'files' position but this read is 'watermark'"):
        state.check_position({"kind": "files", "files": {}}, "watermark", "d")
    with pytest.raises(StateError, match="lacks field"):
        state.check_position({"kind": "watermark", "column": "x"}, "watermark", "d")
    with pytest.raises(StateError, match="not a mapping"):
        state.check_position([1], "files", "d")
    with pytest.raises(StateError, match="did you mean 'kafka'"):
        state.empty_position("kafak")


# --------------------------------------------------------------------------- watermark


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 days", dt.timedelta(days=2)),
        ("6h", dt.timedelta(hours=6)),
        ("30 minutes", dt.timedelta(minutes=30)),
        ("1.5 hours", dt.timedelta(minutes=90)),
        ("1 week", dt.timedelta(days=7)),
        ("10", 10.0),
        (5, 5),
        (dt.timedelta(seconds=3), dt.timedelta(seconds=3)),
        (None, None),
    ],
)
def test_parse_lookback(text: object, expected: object) -> None:
    assert state.parse_lookback(text) == expected


def test_parse_lookback_errors_suggest_units() -> None:
    with pytest.raises(StateError, match="did you mean 'day'"):
        state.parse_lookback("2 dayz")
    with pytest.raises(StateError, match="not understood"):
        state.parse_lookback("soon")
    with pytest.raises(StateError, match="negative"):
        state.parse_lookback(dt.timedelta(days=-1))
    with pytest.raises(StateError, match=">= 0"):
        state.parse_lookback(-1)


@pytest.mark.parametrize(
    ("value", "wtype"),
    [
        (dt.datetime(2013, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "timestamp"),
        (dt.datetime(2013, 1, 2, 3, 4, 5), "timestamp_ntz"),
        (dt.date(2013, 1, 2), "date"),
        (42, "number"),
        (4.25, "number"),
        ("abc", "string"),
    ],
)
def test_watermark_encoding_round_trips_through_json(value: object, wtype: str) -> None:
    encoded = json.loads(json.dumps(state.encode_watermark(value, wtype)))
    assert state.decode_watermark(encoded, wtype) == value


def test_naive_timestamp_is_taken_as_utc() -> None:
    enc = state.encode_watermark(dt.datetime(2013, 1, 1, 5), "timestamp")
    assert enc == "2013-01-01T05:00:00+00:00"


def test_bad_committed_watermark_says_how_to_fix() -> None:
    with pytest.raises(StateError, match="reset this dataset's state"):
        state.decode_watermark("yesterday", "timestamp")


def test_watermark_range_first_run_and_lookback() -> None:
    empty = state.empty_position("watermark", column="t", type="timestamp")
    t1 = dt.datetime(2013, 1, 2, tzinfo=UTC)
    assert state.watermark_range(empty, t1, None, "timestamp") == (None, t1)
    pos = state.advance_watermark(empty, "t", "timestamp", t1)
    t2 = dt.datetime(2013, 1, 3, tzinfo=UTC)
    low, high = state.watermark_range(pos, t2, state.parse_lookback("6h"), "timestamp")
    assert (low, high) == (t1 - dt.timedelta(hours=6), t2)
    # nothing new: the range collapses onto the committed high, which never moves back
    assert state.watermark_range(pos, None, None, "timestamp") == (t1, t1)
    assert state.advance_watermark(pos, "t", "timestamp", None)["high"] == pos["high"]
    older = dt.datetime(2012, 1, 1, tzinfo=UTC)
    assert state.advance_watermark(pos, "t", "timestamp", older)["high"] == pos["high"]


def test_lookback_type_mismatch_and_dates() -> None:
    with pytest.raises(StateError, match="give a duration"):
        state.lower_bound(dt.datetime(2013, 1, 1, tzinfo=UTC), 5, "timestamp")
    with pytest.raises(StateError, match="give a number"):
        state.lower_bound(10, dt.timedelta(days=1), "number")
    with pytest.raises(StateError, match="string"):
        state.lower_bound("b", 1, "string")
    assert state.lower_bound(dt.date(2013, 1, 5), dt.timedelta(hours=6), "date") == dt.date(2013, 1, 4)
    assert state.lower_bound(100, 10, "number") == 90


def test_watermark_column_switch_is_refused_with_fix() -> None:
    pos = {"kind": "watermark", "column": "updated_at", "type": "timestamp"}
    pos["high"] = "2013-01-01T00:00:00+00:00"
    with pytest.raises(StateError, match="pass column='updated_at'"):
        state.check_watermark_column(pos, "updated", "timestamp", "orders")
    with pytest.raises(StateError, match="was a timestamp and is now a number"):
        state.check_watermark_column(pos, "updated_at", "number", "orders")
    state.check_watermark_column(pos, "updated_at", "timestamp", "orders")


# --------------------------------------------------------------------------- kafka


def test_kafka_ranges_from_earliest_then_committed() -> None:
    ranges, warnings = state.kafka_ranges({}, {0: 5, 1: 0}, {0: 0, 1: 0}, topic="t")
    assert ranges == {"0": (0, 5), "1": (0, 0)}
    assert warnings == []
    pos = state.advance_kafka(state.empty_position("kafka", topic="t"), "t", ranges)
    assert pos == {"kind": "kafka", "topic": "t", "offsets": {"0": 5, "1": 0}}
    ranges2, _ = state.kafka_ranges(state.committed_offsets(pos, "t", "d"), {0: 8, 1: 2}, {0: 0, 1: 0})
    assert ranges2 == {"0": (5, 8), "1": (0, 2)}


def test_kafka_ranges_retention_gap_warns_and_beyond_end_fails() -> None:
    ranges, warnings = state.kafka_ranges({"0": 3}, {"0": 10}, {"0": 6}, topic="t")
    assert ranges == {"0": (6, 10)}
    assert "deleted by retention" in warnings[0]
    with pytest.raises(StateError, match="recreated"):
        state.kafka_ranges({"0": 30}, {"0": 10}, {"0": 0}, topic="t")
    _, warnings = state.kafka_ranges({"0": 1, "7": 2}, {"0": 1}, {"0": 0}, topic="t")
    assert "partitions 7 no longer exist" in warnings[0]


def test_committed_offsets_refuse_other_topic() -> None:
    with pytest.raises(StateError, match="read from topic 'a'"):
        state.committed_offsets({"kind": "kafka", "topic": "a", "offsets": {}}, "b", "d")


@settings(max_examples=60, deadline=None)
@given(
    ends=st.lists(
        st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=5), min_size=1, max_size=4
    )
)
def test_kafka_batches_cover_each_offset_exactly_once(ends: list[list[int]]) -> None:
    # ends[p] = growing high-water marks of partition p over successive runs
    growth = [sorted(e) for e in ends]
    runs = max(len(g) for g in growth)
    position: dict = {}
    seen: dict[str, list[int]] = {}
    for r in range(runs):
        end = {p: g[min(r, len(g) - 1)] for p, g in enumerate(growth)}
        ranges, warnings = state.kafka_ranges(
            state.committed_offsets(position, "t", "d"), end, {p: 0 for p in end}
        )
        assert warnings == []
        for part, (frm, until) in ranges.items():
            seen.setdefault(part, []).extend(range(frm, until))
        position = state.advance_kafka(position, "t", ranges)
    for p, g in enumerate(growth):
        assert seen[str(p)] == list(range(g[-1]))
