"""The in-process write path (:mod:`nbpipe.data.local_write`) on hand-made tables, without Spark.

The expected values here are what the Spark path gives for the same input (checked against Spark
by ``tests/integration/test_local_write_spark.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nbpipe.core.config import DatasetConfig
from nbpipe.data import local_write as lw

UTC = dt.UTC
NAN = float("nan")


def spark_json(table: pa.Table, non_null: tuple[str, ...] = ()) -> str:
    names = {pa.int8(): "byte", pa.int16(): "short", pa.int32(): "integer", pa.int64(): "long",
             pa.float32(): "float", pa.float64(): "double", pa.string(): "string", pa.bool_(): "boolean",
             pa.date32(): "date", pa.timestamp("us", tz="UTC"): "timestamp"}
    return json.dumps({"fields": [{"metadata": {}, "name": f.name, "nullable": f.name not in non_null,
                                   "type": names[f.type]} for f in table.schema], "type": "struct"}, sort_keys=True)


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted((tuple(repr(v) if isinstance(v, float) else v for v in r.values()) for r in table.to_pylist()),
                  key=repr)


# --------------------------------------------------------------------------- not_local
FIELDS = [{"name": "d", "type": "date", "nullable": True}, {"name": "x", "type": "double", "nullable": True},
          {"name": "s", "type": "string", "nullable": False}, {"name": "t", "type": "timestamp", "nullable": True}]


def test_not_local_accepts_flat_parquet_of_the_supported_types() -> None:
    assert lw.not_local(FIELDS, "parquet", ["d"]) is None
    assert lw.not_local(FIELDS, "parquet", ["s", "d"]) is None
    assert lw.not_local(FIELDS, "parquet", []) is None


@pytest.mark.parametrize(("fields", "fmt", "partition_by", "reason"), [
    (FIELDS, "csv", [], "format csv"),
    ([], "parquet", [], "no columns"),
    ([*FIELDS, {"name": "m", "type": "map<string,int>", "nullable": True}], "parquet", [], "column m has type map"),
    ([*FIELDS, {"name": "a", "type": "decimal(10,2)", "nullable": True}], "parquet", [], "type decimal(10,2)"),
    ([*FIELDS, {"name": "n", "type": "timestamp_ntz", "nullable": True}], "parquet", [], "timestamp_ntz"),
    ([*FIELDS, {"name": "c", "type": "string collate UTF8_LCASE", "nullable": True}], "parquet", [], "collate"),
    ([*FIELDS, {"name": "S", "type": "string", "nullable": True}], "parquet", [], "S, s differ only in case"),
    (FIELDS, "parquet", ["x"], "partition column x has type double"),
    (FIELDS, "parquet", ["t"], "partition column t has type timestamp"),
    (FIELDS, "parquet", ["nope"], "partition column nope is not in the frame"),
    (FIELDS[:1], "parquet", ["d"], "every column is a partition column"),
])
def test_not_local_says_why(fields: list[dict[str, Any]], fmt: str, partition_by: list[str], reason: str) -> None:
    said = lw.not_local(fields, fmt, partition_by)
    assert said is not None and reason in said


# --------------------------------------------------------------------------- partition names
def test_partition_names_escape_as_spark_does() -> None:
    # Directory names Spark 4.3 wrote for these values (partitionBy on a string column).
    spark_named = {"\x01": "%01", "\x1f": "%1F", " ": " ", '"': "%22", "#": "%23", "%": "%25", "'": "%27",
                   "*": "%2A", "/": "%2F", ":": "%3A", "=": "%3D", "?": "%3F", "[": "%5B", "\\": "%5C", "]": "%5D",
                   "^": "%5E", "{": "%7B", "}": "}", "\x7f": "%7F", "|": "|", "~": "~", "`": "`", "é": "é",
                   "😀": "😀", "a b": "a b", "x%y": "x%25y", "": lw.NULL_PARTITION, None: lw.NULL_PARTITION}
    for value, name in spark_named.items():
        assert lw.partition_text(value, "string", "p") == name
        assert lw.parse_partition(name, "string", "p") == (value or None)
    assert lw.partition_text(dt.date(1, 1, 1), "date", "d") == "0001-01-01"
    assert lw.partition_text(False, "boolean", "b") == "false"
    assert lw.partition_text(-(2**63), "bigint", "n") == "-9223372036854775808"
    assert lw.parse_partition("2013-01-02", "date", "d") == dt.date(2013, 1, 2)
    assert lw.parse_partition("-5", "int", "n") == -5


def test_partition_values_named_differently_are_not_local() -> None:
    with pytest.raises(lw.NotLocal, match="NUL"):
        lw.partition_text("a\x00b", "string", "p")
    with pytest.raises(lw.NotLocal, match="n=007"):
        lw.parse_partition("007", "int", "n")  # Spark reads 7; we do not guess
    with pytest.raises(lw.NotLocal, match="d=2013-1-2"):
        lw.parse_partition("2013-1-2", "date", "d")


def test_a_date_partition_past_year_9999_is_not_local(tmp_path: Path) -> None:
    table = pa.table({"d": pa.array([3_000_000], pa.date32()), "v": [1]})  # year 10183: Spark names it +10183-…
    with pytest.raises(lw.NotLocal, match="partition column d has a value Python cannot represent"):
        lw.write_files(table, tmp_path / "o", ["d"], ["v"], spark_json(table))
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- primary key
def test_split_key_violations_keeps_identical_rows_once_and_rejects_shared_and_null_keys() -> None:
    table = pa.table({"id": [1, 1, 2, 2, 3, None, 4], "v": [-0.0, 0.0, NAN, NAN, 1.0, 5.0, 2.0],
                      "s": ["a", "a", "x", "y", "", "n", None]})
    good, bad = lw.split_key_violations(table, ["id"])
    assert rows(good) == [(1, "0.0", "a"), (3, "1.0", ""), (4, "2.0", None)]  # -0.0 and 0.0 are one row: 0.0
    assert bad.column_names == ["id", "v", "s", "_nbpipe_reason"]
    assert rows(bad) == [
        (2, "nan", "x", "duplicate primary key (id): 2 rows in this write share it with different values"),
        (2, "nan", "y", "duplicate primary key (id): 2 rows in this write share it with different values"),
        (None, "5.0", "n", "null in primary key (id)")]


def test_split_key_violations_groups_float_keys_as_spark_does() -> None:
    table = pa.table({"k": [-0.0, 0.0, NAN, NAN, 1.0], "v": [1, 2, 3, 3, 4]})
    good, bad = lw.split_key_violations(table, ["k", "v"])  # (nan, 3) twice is one row
    assert rows(good) == [("0.0", 1), ("0.0", 2), ("1.0", 4), ("nan", 3)]
    good, bad = lw.split_key_violations(table, ["k"])
    assert rows(good) == [("1.0", 4), ("nan", 3)]
    assert [r["_nbpipe_reason"][:27] for r in bad.to_pylist()] == ["duplicate primary key (k): "] * 2


def test_split_key_violations_of_an_empty_table() -> None:
    good, bad = lw.split_key_violations(pa.table({"k": pa.array([], pa.int32())}), ["k"])
    assert good.num_rows == bad.num_rows == 0 and bad.column_names == ["k", "_nbpipe_reason"]


# --------------------------------------------------------------------------- write modes
def test_merge_replaces_stored_rows_by_key_null_safe_and_keeps_written_values() -> None:
    batch = pa.table({"k": [-0.0, NAN, None], "v": [1, 2, 3]})
    existing = pa.table({"k": [0.0, NAN, None, 7.0], "v": [9, 9, 9, 9]})
    combined, rejected = lw.combine(batch, existing, "merge", ["k"])
    assert rejected is None
    assert rows(combined) == [("-0.0", 1), ("7.0", 9), ("nan", 2), (None, 3)]  # a join keeps -0.0


def test_append_with_a_key_rejects_rows_whose_key_is_stored_with_other_values() -> None:
    batch = pa.table({"k": [1, 2, 3, 3], "v": ["a", "b", "c", "c"]})
    existing = pa.table({"k": [1, 2], "v": ["a", "other"]})
    combined, rejected = lw.combine(batch, existing, "append", ["k"])
    assert rows(combined) == [(1, "a"), (2, "other"), (3, "c")]
    assert rejected is not None
    assert rows(rejected) == [(2, "b", "duplicate primary key (k): already stored with different values "
                                       "(write mode append)")]


def test_append_without_a_key_is_a_set_union_with_floats_normalized() -> None:
    batch = pa.table({"x": [-0.0, NAN, None, 2.0, 2.0]})
    existing = pa.table({"x": [0.0, 5.0, 5.0]})
    combined, rejected = lw.combine(batch, existing, "append", [])
    assert rejected is None
    assert rows(combined) == [("0.0",), ("2.0",), ("5.0",), ("nan",), (None,)]
    alone, _ = lw.combine(batch, None, "append", [])
    assert rows(alone) == [("0.0",), ("2.0",), ("nan",), (None,)]
    keyed, _ = lw.combine(batch, None, "merge", ["x"])
    assert keyed is batch  # with a key and nothing stored, the batch as it is


def test_combine_casts_the_stored_rows_to_the_batch_schema() -> None:
    batch = pa.table({"k": pa.array([1], pa.int64()), "v": ["a"]})
    existing = pa.table({"v": ["b"], "k": pa.array([2], pa.int64())})
    combined, _ = lw.combine(batch, existing, "merge", ["k"])
    assert combined.column_names == ["k", "v"] and rows(combined) == [(1, "a"), (2, "b")]


# --------------------------------------------------------------------------- files
def test_sort_order_is_sparks_then_total() -> None:
    table = pa.table({"x": [1.0, NAN, None, -0.0, 0.0, -math.inf], "y": [0, 0, 0, 2, 1, 0]})
    order = lw.sort_indices(table, ["x"]).to_pylist()
    # nulls first, NaN last, -0.0 ties with 0.0 (the next column decides), inf below numbers
    assert [(repr(table["x"][i].as_py()), table["y"][i].as_py()) for i in order] == [
        ("None", 0), ("-inf", 0), ("0.0", 1), ("-0.0", 2), ("1.0", 0), ("nan", 0)]
    strings = pa.table({"s": ["b", "é", "B", "", None, "😀", "a"]})
    assert strings.take(lw.sort_indices(strings, ["s"]))["s"].to_pylist() == [None, "", "B", "a", "b", "é", "😀"]


def flights(n: int = 6) -> pa.Table:
    return pa.table({
        "flight_date": pa.array([dt.date(2013, 1, 1 + i % 2) for i in range(n)], pa.date32()),
        "carrier": pa.array([["UA", "AA", "x/y"][i % 3] for i in range(n)], pa.string()),
        "delay": pa.array([None if i == 0 else -0.0 if i == 1 else float(i) for i in range(n)], pa.float64()),
        "at": pa.array([dt.datetime(2013, 1, 1, i, tzinfo=UTC) for i in range(n)], pa.timestamp("us", tz="UTC")),
    })


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_files_writes_one_sorted_file_per_partition_as_spark_names_them(tmp_path: Path) -> None:
    table = flights(12)
    units = lw.write_files(table, tmp_path / "out", ["flight_date", "carrier"], ["delay"], spark_json(table))
    assert units == [f"flight_date=2013-01-0{d}/carrier={c}" for d in (1, 2) for c in ("AA", "UA", "x%2Fy")]
    assert sorted(digest(tmp_path / "out")) == [f"{u}/part-00000.parquet" for u in units]
    path = tmp_path / "out" / units[1] / "part-00000.parquet"
    meta = pq.read_metadata(path)
    assert meta.metadata[b"org.apache.spark.sql.parquet.row.metadata"] == (
        b'{"type":"struct","fields":[{"name":"delay","type":"double","nullable":true,"metadata":{}},'
        b'{"name":"at","type":"timestamp","nullable":true,"metadata":{}}]}')
    assert meta.metadata[b"org.apache.spark.version"].decode() == __import__("pyspark").__version__
    assert b"ARROW:schema" not in meta.metadata
    assert meta.schema.column(1).physical_type == "INT96"
    assert meta.row_group(0).column(0).compression == "SNAPPY"
    written = pq.read_table(path, coerce_int96_timestamp_unit="us")
    assert written.column_names == ["delay", "at"]
    assert [repr(v) for v in written["delay"].to_pylist()] == ["None", "6.0"]
    assert written["at"].to_pylist() == [dt.datetime(2013, 1, 1, 0), dt.datetime(2013, 1, 1, 6)]  # UTC, naive


def test_write_files_sorts_by_the_sort_columns_then_the_rest(tmp_path: Path) -> None:
    table = pa.table({"k": [2, 1, None, 1], "v": ["b", "z", "c", "a"]})
    assert lw.write_files(table, tmp_path / "o", [], ["k"], spark_json(table)) == [""]
    assert pq.read_table(tmp_path / "o" / "part-00000.parquet").to_pylist() == [
        {"k": None, "v": "c"}, {"k": 1, "v": "a"}, {"k": 1, "v": "z"}, {"k": 2, "v": "b"}]


def test_write_files_gives_the_same_bytes_for_the_same_rows_in_any_order(tmp_path: Path) -> None:
    table = pa.table({"p": ["a", "a", "b", "a"], "x": [0.0, -0.0, NAN, 1.0], "n": [1, 1, 2, 1]})
    first = lw.write_files(table, tmp_path / "one", ["p"], ["n"], spark_json(table))
    again = lw.write_files(table.take([3, 2, 1, 0]), tmp_path / "two", ["p"], ["n"], spark_json(table))
    assert first == again == ["p=a", "p=b"]
    assert digest(tmp_path / "one") == digest(tmp_path / "two")


def test_null_and_empty_partition_values_share_spark_null_directory(tmp_path: Path) -> None:
    table = pa.table({"a": [None, None, ""], "b": [1, 2, 1], "v": [1, 2, 3]})
    units = lw.write_files(table, tmp_path / "o", ["a", "b"], ["v"], spark_json(table))
    assert units == [f"a={lw.NULL_PARTITION}/b=1", f"a={lw.NULL_PARTITION}/b=2"]
    assert sorted(pq.read_table(tmp_path / "o" / units[0] / "part-00000.parquet")["v"].to_pylist()) == [1, 3]


def test_an_empty_table_writes_what_spark_writes(tmp_path: Path) -> None:
    empty = flights(0)
    assert lw.write_files(empty, tmp_path / "p", ["flight_date"], ["delay"], spark_json(empty)) == []
    assert (tmp_path / "p").is_dir() and not any((tmp_path / "p").iterdir())
    assert lw.write_files(empty, tmp_path / "u", [], ["delay"], spark_json(empty)) == [""]
    meta = pq.read_metadata(tmp_path / "u" / "part-00000.parquet")
    assert (meta.num_rows, meta.num_row_groups, meta.num_columns) == (0, 0, 4)


def test_write_files_keeps_non_null_columns_required(tmp_path: Path) -> None:
    table = pa.table({"k": [1, 2], "v": ["a", None]})
    lw.write_files(table, tmp_path / "o", [], ["k"], spark_json(table, non_null=("k",)))
    schema = pq.read_metadata(tmp_path / "o" / "part-00000.parquet").schema
    assert schema.column(0).max_definition_level == 0 and schema.column(1).max_definition_level == 1
    with pytest.raises(lw.NotLocal, match="column v is not nullable and has nulls"):
        lw.write_files(table, tmp_path / "p", [], ["k"], spark_json(table, non_null=("v",)))


def test_write_files_refuses_a_schema_that_does_not_match(tmp_path: Path) -> None:
    table = pa.table({"k": [1]})
    with pytest.raises(ValueError, match="the Spark schema names"):
        lw.write_files(table, tmp_path / "o", [], ["k"], spark_json(pa.table({"j": [1]})))


# --------------------------------------------------------------------------- existing rows
FIELDS_FLIGHTS = [{"name": "flight_date", "type": "date", "nullable": True},
                  {"name": "carrier", "type": "string", "nullable": True},
                  {"name": "delay", "type": "double", "nullable": True},
                  {"name": "at", "type": "timestamp", "nullable": True}]


def test_existing_rows_reads_touched_units_staged_before_published(tmp_path: Path) -> None:
    cfg = DatasetConfig(partition_by=["flight_date"])
    live, staged = tmp_path / "live", tmp_path / "staged"
    table = flights()
    lw.write_files(table, live, ["flight_date"], ["carrier"], spark_json(table))
    newer = table.filter(pa.compute.equal(table["flight_date"], dt.date(2013, 1, 2))).slice(0, 1)
    lw.write_files(newer, staged, ["flight_date"], ["carrier"], spark_json(newer))
    batch = pa.table({"flight_date": pa.array([dt.date(2013, 1, 1), dt.date(2013, 1, 2), dt.date(2013, 1, 9)],
                                              pa.date32()),
                      "carrier": ["a", "b", "c"], "delay": [1.0, 2.0, 3.0],
                      "at": pa.array([None] * 3, pa.timestamp("us", tz="UTC"))})
    got = lw.existing_rows(cfg, staged, live, FIELDS_FLIGHTS, ["flight_date"], batch)
    assert got is not None and got.schema == batch.schema
    day1 = table.filter(pa.compute.equal(table["flight_date"], dt.date(2013, 1, 1)))
    assert rows(got) == rows(pa.concat_tables([day1, newer]))  # day 2 from staging only, nothing of day 9
    assert got["at"].to_pylist()[0].tzinfo is not None  # INT96 read back as the UTC instant
    only_new = batch.slice(2, 1)
    assert lw.existing_rows(cfg, staged, live, FIELDS_FLIGHTS, ["flight_date"], only_new).num_rows == 0
    assert lw.existing_rows(cfg, tmp_path / "none", None, FIELDS_FLIGHTS, ["flight_date"], batch) is None


def test_existing_rows_of_an_unpartitioned_dataset_prefers_the_staged_copy(tmp_path: Path) -> None:
    cfg = DatasetConfig()
    old, new = pa.table({"k": [1, 2]}), pa.table({"k": [3]})
    lw.write_files(old, tmp_path / "live", [], ["k"], spark_json(old))
    lw.write_files(new, tmp_path / "staged", [], ["k"], spark_json(new))
    fields = [{"name": "k", "type": "bigint", "nullable": True}]
    got = lw.existing_rows(cfg, tmp_path / "staged", tmp_path / "live", fields, [], new)
    assert got is not None and got["k"].to_pylist() == [3]
    got = lw.existing_rows(cfg, tmp_path / "nothing", tmp_path / "live", fields, [], new)
    assert got is not None and sorted(got["k"].to_pylist()) == [1, 2]


def test_existing_rows_fills_absent_columns_and_widens_integers(tmp_path: Path) -> None:
    stored = pa.table({"k": pa.array([1], pa.int32())})
    pq.write_table(stored, (tmp_path / "d").mkdir() or tmp_path / "d" / "part-00000.parquet")
    batch = pa.table({"k": pa.array([5], pa.int64()), "extra": ["x"]})
    fields = [{"name": "k", "type": "bigint", "nullable": True}, {"name": "extra", "type": "string", "nullable": True}]
    got = lw.existing_rows(DatasetConfig(), tmp_path / "d", None, fields, [], batch)
    assert got is not None and got.to_pylist() == [{"k": 1, "extra": None}] and got.schema == batch.schema


@pytest.mark.parametrize(("write", "reason"), [
    (lambda p: pq.write_table(pa.table({"k": ["1"]}), p), "stores a column as string, not int64"),
    (lambda p: pq.write_table(pa.table({"k": [1]}).replace_schema_metadata(
        {"org.apache.spark.legacyDateTime": ""}), p), "org.apache.spark.legacyDateTime"),
    (lambda p: pq.write_table(pa.table({"K": [1]}), p), "names column k in another case"),
])
def test_existing_rows_refuses_files_spark_would_read_differently(tmp_path: Path, write: Any, reason: str) -> None:
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "part-00000.parquet")
    fields = [{"name": "k", "type": "bigint", "nullable": True}]
    with pytest.raises(lw.NotLocal, match=reason):
        lw.existing_rows(DatasetConfig(), tmp_path / "d", None, fields, [], pa.table({"k": [1]}))
