"""The in-process write path gives what the Spark write path gives, on generated frames.

Each property runs the Spark functions (``write_modes``, ``write._write_files``) on
``spark.createDataFrame(table)`` and :mod:`nbpipe.data.local_write` on that frame's ``toArrow()``
(what the caller hands it), and compares the rows (floats by ``repr``: ``-0.0`` and NaN count),
the reasons, the partition directories, and the files as Spark, pyarrow (pandas) and DuckDB read
them back. The frames draw from small pools so that duplicates, shared keys, NaN, ``-0.0``, nulls,
unicode and empty strings and empty frames are common.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from nbpipe.core.config import DatasetConfig
from nbpipe.core.layout import REASON
from nbpipe.data import local_write as lw
from nbpipe.data import write_modes as modes
from nbpipe.data.write import _write_files, frame_fields

pytestmark = [pytest.mark.spark, pytest.mark.slow]

UTC = dt.UTC
POOLS: dict[str, tuple[pa.DataType, list[Any]]] = {
    "tinyint": (pa.int8(), [0, 1, -128, 127]),
    "smallint": (pa.int16(), [0, 7, -32768]),
    "int": (pa.int32(), [0, 1, 2, -2147483648]),
    "bigint": (pa.int64(), [0, 1, 2**40, -(2**63)]),
    "float": (pa.float32(), [0.0, -0.0, float("nan"), float("inf"), 1.5]),
    "double": (pa.float64(), [0.0, -0.0, float("nan"), float("-inf"), 0.1, 1e300]),
    "string": (pa.string(), ["", "a", "B", "é", "😀", "a b", "x/y=z%", "日本"]),
    "boolean": (pa.bool_(), [True, False]),
    "date": (pa.date32(), [dt.date(2013, 1, 2), dt.date(1969, 12, 31), dt.date(1500, 3, 1), dt.date(9999, 12, 31)]),
    "timestamp": (pa.timestamp("us", tz="UTC"),
                  [dt.datetime(2013, 1, 2, 5, 6, 7, 123456, tzinfo=UTC),
                   dt.datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
                   dt.datetime(1900, 3, 1, tzinfo=UTC), dt.datetime(2200, 1, 1, tzinfo=UTC)]),
}
PARTITIONABLE = ["tinyint", "int", "bigint", "string", "boolean", "date"]
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@st.composite
def tables(draw: st.DrawFn, kinds: list[str] | None = None, max_rows: int = 10) -> pa.Table:
    """A table of 1-4 columns of the pool types (or ``kinds``), values from small pools, nulls anywhere."""
    if kinds is None:
        kinds = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=4))
    rows = draw(st.integers(0, max_rows))
    repeat = draw(st.lists(st.integers(0, rows - 1), max_size=3)) if rows else []  # identical rows are common
    arrays = []
    for kind in kinds:
        arrow, pool = POOLS[kind]
        values = draw(st.lists(st.one_of(st.none(), st.sampled_from(pool)), min_size=rows, max_size=rows))
        arrays.append(pa.array(values + [values[i] for i in repeat], arrow))
    return pa.table(arrays, names=[f"c{i}" for i in range(len(kinds))])


def token(value: Any) -> Any:
    return ("f", repr(value)) if isinstance(value, float) else value


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    """The rows as tuples of comparable Python values (floats by repr), sorted."""
    names = table.column_names
    return sorted((tuple(token(r[n]) for n in names) for r in table.to_pylist()), key=repr)


def spark_frame(spark: Any, table: pa.Table) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    if table.num_rows:
        return spark.createDataFrame(table)
    return spark.createDataFrame([], from_arrow_schema(table.schema))


def columns_and_keys(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    kinds = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=4))
    keys = draw(st.lists(st.integers(0, len(kinds) - 1), min_size=1, max_size=2, unique=True))
    return kinds, [f"c{i}" for i in sorted(keys)]


@st.composite
def keyed(draw: st.DrawFn) -> tuple[pa.Table, list[str]]:
    kinds, keys = columns_and_keys(draw)
    return draw(tables(kinds)), keys


@settings(SETTINGS, max_examples=12)
@given(case=keyed())
def test_split_key_violations_matches_spark(spark: Any, case: tuple[pa.Table, list[str]]) -> None:
    table, keys = case
    df = spark_frame(spark, table)
    good, bad = modes.split_key_violations(df, keys)
    both = good.withColumn(REASON, F.lit(None).cast("string")).unionByName(bad).toArrow()  # one Spark job
    local_good, local_bad = lw.split_key_violations(table, keys)  # as df.toArrow() gives it (see writes)
    assert rows_of(local_good.append_column(REASON, pa.nulls(local_good.num_rows, pa.string()))) == \
        rows_of(both.filter(pc.is_null(both[REASON])))
    assert rows_of(local_bad) == rows_of(both.filter(pc.is_valid(both[REASON])))
    assert local_bad.column_names == bad.columns


@st.composite
def combinations(draw: st.DrawFn) -> tuple[pa.Table, pa.Table | None, str, list[str]]:
    kinds, keys = columns_and_keys(draw)
    mode = draw(st.sampled_from(["merge", "append", "append_nokey"]))
    batch = draw(tables(kinds))
    existing = draw(st.one_of(st.none(), tables(kinds)))
    if mode == "append_nokey":
        return batch, existing, "append", []
    return batch, existing, mode, keys


@settings(SETTINGS, max_examples=15)
@given(case=combinations())
def test_combine_matches_spark(spark: Any, case: tuple[pa.Table, pa.Table | None, str, list[str]]) -> None:
    batch, existing, mode, keys = case
    df = spark_frame(spark, batch)
    old = spark_frame(spark, existing) if existing is not None else None
    rows, clash = modes.combine(df, old, mode, keys)
    local_rows, local_clash = lw.combine(batch, existing, mode, keys)
    assert rows_of(local_rows) == rows_of(rows.toArrow())
    assert (local_clash is None) == (clash is None)
    if clash is not None:
        assert local_clash is not None
        assert rows_of(local_clash) == rows_of(clash.toArrow())


# --------------------------------------------------------------------------- files
@st.composite
def writes(draw: st.DrawFn) -> tuple[pa.Table, list[str], list[str]]:
    data = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=3))
    parts = draw(st.lists(st.sampled_from(PARTITIONABLE), max_size=2))
    table = draw(tables([*parts, *data], max_rows=8))
    names = table.column_names
    partition_by = names[:len(parts)]
    rest = names[len(parts):]
    sort_cols = draw(st.one_of(st.just(rest), st.lists(st.sampled_from(rest), min_size=1, max_size=2, unique=True)))
    return table, partition_by, sort_cols


def file_bytes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_back(spark: Any, root: Path, units: list[str]) -> dict[str, Any]:
    """What Spark reads from the dataset, and what pyarrow and DuckDB read from each file."""
    import duckdb

    seen: dict[str, Any] = {}
    if units:
        frame = spark.read.parquet(str(root))
        seen["spark"] = (frame.schema.simpleString(), rows_of(frame.toArrow()))
    for unit in units:
        path = root / unit / "part-00000.parquet" if unit else root / "part-00000.parquet"
        table = pq.read_table(path, coerce_int96_timestamp_unit="us")
        meta = pq.read_metadata(path).metadata
        seen[f"pyarrow {unit}"] = (table.schema.remove_metadata(), rows_of(table), meta)
        relation = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
        seen[f"duckdb {unit}"] = (relation.types, sorted((tuple(map(token, r)) for r in relation.fetchall()), key=repr))
    return seen


@settings(SETTINGS)
@given(case=writes(), seed=st.integers(0, 2**16))
def test_write_files_reads_back_as_spark_writes(spark: Any, case: tuple[pa.Table, list[str], list[str]],
                                                seed: int) -> None:
    table, partition_by, sort_cols = case
    df = spark_frame(spark, table)
    arrow = df.toArrow()
    assert arrow.schema == table.schema  # what the split and combine properties hand the local path
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        units = _write_files(df, base / "spark", "parquet", partition_by, sort_cols, {})
        local_units = lw.write_files(arrow, base / "local", partition_by, sort_cols, df.schema.json())
        assert local_units == units
        assert read_back(spark, base / "local", units) == read_back(spark, base / "spark", units)
        order = list(range(arrow.num_rows))
        random.Random(seed).shuffle(order)
        again = lw.write_files(arrow.take(pa.array(order, pa.int64())), base / "again", partition_by, sort_cols,
                               df.schema.json())
        assert again == units
        assert file_bytes(base / "again") == file_bytes(base / "local")


@st.composite
def stored(draw: st.DrawFn) -> tuple[pa.Table, pa.Table, pa.Table, list[str]]:
    data = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=2))
    parts = draw(st.lists(st.sampled_from(["int", "string", "date", "boolean"]), max_size=2))
    kinds = [*parts, *data]
    live, staged, batch = draw(tables(kinds, 8)), draw(tables(kinds, 8)), draw(tables(kinds, 6))
    names = live.column_names[:len(parts)]
    return live, staged, batch, names


@settings(SETTINGS, max_examples=8)
@given(case=stored(), local_live=st.booleans())
def test_existing_rows_matches_spark(spark: Any, case: tuple[pa.Table, pa.Table, pa.Table, list[str]],
                                     local_live: bool) -> None:
    """Live rows written by either path, staged rows by the other: both paths read the same existing rows."""
    live, staged, batch, partition_by = case
    frames = {name: spark_frame(spark, t) for name, t in (("live", live), ("staged", staged), ("batch", batch))}
    cfg = DatasetConfig(format="parquet", partition_by=partition_by)
    fields = frame_fields(frames["batch"])
    with tempfile.TemporaryDirectory() as tmp:
        roots = {name: Path(tmp) / name for name in ("live", "staged")}
        for name, root in roots.items():
            df = frames[name]
            rest = [c for c in df.columns if c not in partition_by]
            if (name == "live") == local_live:
                lw.write_files(df.toArrow(), root, partition_by, rest, df.schema.json())
            else:
                _write_files(df, root, "parquet", partition_by, rest, {})
        expected = modes.existing_rows(spark, cfg, roots["staged"], roots["live"], fields, partition_by,
                                       frames["batch"])
        got = lw.existing_rows(cfg, roots["staged"], roots["live"], fields, partition_by, frames["batch"].toArrow())
        assert (got is None) == (expected is None)
        if expected is not None:
            assert got is not None
            assert got.schema == frames["batch"].toArrow().schema
            assert rows_of(got) == rows_of(expected.toArrow())


def test_a_dataset_written_by_both_paths_reads_back_whole(spark: Any, tmp_path: Path) -> None:
    """Partitions written by Spark and by the local path, side by side: Spark, pandas and DuckDB read every row."""
    import duckdb
    import pandas as pd

    schema = pa.schema([("flight_date", pa.date32()), ("carrier", pa.string()), ("delay", pa.float64()),
                        ("seats", pa.int16()), ("at", pa.timestamp("us", tz="UTC")), ("ok", pa.bool_())])

    def day(d: int, n: int) -> pa.Table:
        date = dt.date(2013, 1, d)
        return pa.table([[date] * n, [f"c{i % 3}é" for i in range(n)],
                         [float(i) - 1.5 if i % 4 else None for i in range(n)], list(range(n)),
                         [dt.datetime(2013, 1, d, i, tzinfo=UTC) for i in range(n)],
                         [i % 2 == 0 for i in range(n)]], schema=schema)

    root = tmp_path / "flights"
    spark_day, local_day = spark_frame(spark, day(1, 5)), spark_frame(spark, day(2, 7))
    spark_units = _write_files(spark_day, tmp_path / "a", "parquet", ["flight_date"], ["carrier"], {})
    local_units = lw.write_files(local_day.toArrow(), tmp_path / "b", ["flight_date"], ["carrier"],
                                 local_day.schema.json())
    assert spark_units == ["flight_date=2013-01-01"] and local_units == ["flight_date=2013-01-02"]
    root.mkdir()
    (tmp_path / "a" / spark_units[0]).rename(root / spark_units[0])
    (tmp_path / "b" / local_units[0]).rename(root / local_units[0])

    expected = rows_of(pa.concat_tables([day(1, 5), day(2, 7)]).select(
        ["carrier", "delay", "seats", "at", "ok", "flight_date"]))
    by_spark = spark.read.parquet(str(root))
    assert by_spark.schema.simpleString() == ("struct<carrier:string,delay:double,seats:smallint,at:timestamp,"
                                              "ok:boolean,flight_date:date>")
    assert rows_of(by_spark.toArrow()) == expected
    by_pandas = pd.read_parquet(root)
    assert len(by_pandas) == 12
    assert sorted(by_pandas["seats"].tolist()) == sorted([*range(5), *range(7)])
    assert {str(v)[:10] for v in by_pandas["flight_date"]} == {"2013-01-01", "2013-01-02"}
    assert by_pandas["at"].min() == pd.Timestamp("2013-01-01 00:00:00")
    by_duckdb = duckdb.sql(f'SELECT carrier, delay, seats, "at", ok, CAST(flight_date AS DATE) '
                           f"FROM read_parquet('{root}/*/*.parquet', hive_partitioning=true)").fetchall()
    assert sorted((tuple(map(token, (*r[:3], r[3].replace(tzinfo=UTC), *r[4:]))) for r in by_duckdb),
                  key=repr) == expected
    metas = [pq.read_metadata(p).metadata for p in sorted(root.rglob("*.parquet"))]
    assert metas[0] == metas[1]
    assert json.loads(metas[1][b"org.apache.spark.sql.parquet.row.metadata"])["fields"][0]["name"] == "carrier"
