"""Every dataset nbpipe writes reads back the same in Spark, pandas (pyarrow) and DuckDB.

Outputs (partitioned, with a null partition value, and unpartitioned), quarantines and the explore
sandbox: the three readers must agree on the columns (partition columns included) and the rows.
Older quarantines (``_nbpipe_run_id=…`` partitions, which pyarrow skips) are renamed on publish.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events
from nbpipe.core.layout import LEGACY_MARKER, LEGACY_RUN_ID_COLUMN, MARKER, RUN_ID_COLUMN
from nbpipe.data.write import write_dataset, write_rejected
from nbpipe.errors import DatasetError
from nbpipe.run.publish import publish
from tests.support.projects import ProjectForTest
from tests.support.scope import ScopeForTest

pytestmark = pytest.mark.spark

Table = tuple[list[str], list[tuple[str | None, ...]]]


def _text(value: Any) -> str | None:
    """One cell as text, so the readers' types (date vs. string partition values) compare."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return str(value.isoformat())[:10] if isinstance(value, dt.date) else str(value.isoformat())
    return str(value)


def _table(names: list[str], rows: list[tuple[Any, ...]]) -> Table:
    order = sorted(range(len(names)), key=lambda i: names[i])
    cols = [names[i] for i in order]
    return cols, sorted((tuple(_text(r[i]) for i in order) for r in rows), key=repr)


def with_spark(spark: Any, root: Path) -> Table:
    df = spark.read.parquet(str(root))
    return _table(df.columns, [tuple(r) for r in df.collect()])


def with_pandas(root: Path) -> Table:
    import pandas as pd

    df = pd.read_parquet(root, dtype_backend="numpy_nullable").astype(object)  # nullable ints stay ints
    rows = [tuple(None if pd.isna(v) else v for v in row) for row in df.itertuples(index=False)]
    return _table(list(df.columns), rows)


def with_duckdb(root: Path) -> Table:
    import duckdb

    con = duckdb.connect()
    try:
        rel = con.sql(f"SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true)")
        return _table(list(rel.columns), [tuple(r) for r in rel.fetchall()])
    finally:
        con.close()


def assert_readers_agree(spark: Any, root: Path, rows: int) -> Table:
    seen = with_spark(spark, root)
    assert len(seen[1]) == rows, seen
    assert with_pandas(root) == seen, "pandas/pyarrow reads other rows or columns than Spark"
    assert with_duckdb(root) == seen, "DuckDB reads other rows or columns than Spark"
    return seen


class Shop(ProjectForTest):
    def __init__(self, root: Path, spark: Any) -> None:
        super().__init__(root, spark=spark, project="t", datasets={
            "orders": {"format": "parquet", "partition_by": ["order_date"], "primary_key": ["order_id"]},
            "events": {"format": "parquet", "partition_by": ["kind"], "write_mode": "overwrite_partitions"},
            "carriers": {"format": "parquet"},
        }, pipelines={"ingest": {"notebook": "notebooks/ingest.ipynb"}})

    def orders(self) -> Any:
        rows = [(1, dt.date(2024, 1, 1), "a", 10), (2, dt.date(2024, 1, 1), "b", None),
                (3, dt.date(2024, 1, 2), "c", 7)]
        return self.spark.createDataFrame(rows, "order_id int, order_date date, customer string, qty bigint")


def publish_run(ctx: ScopeForTest) -> None:
    staged = ctx.events(events.DATASET_STAGED) + ctx.events(events.DATASET_REJECTED)
    publish(ctx.project, ctx.run_dir, staged)


def test_outputs_quarantine_and_sandbox_read_the_same_everywhere(tmp_path: Path, spark: Any) -> None:
    from pyspark.sql import functions as F

    shop = Shop(tmp_path, spark)
    ctx = shop.scope("r1")
    write_dataset(ctx, shop.orders(), "orders")
    events_df = spark.createDataFrame([("click", 1), ("view", 2), ("view", 3)], "kind string, n int")
    write_dataset(ctx, events_df, "events")
    with pytest.raises(DatasetError, match=r"kind=__HIVE_DEFAULT_PARTITION__, which pandas/pyarrow cannot read"):
        write_dataset(ctx, spark.createDataFrame([("click", 4), (None, 5)], "kind string, n int"), "events")
    write_dataset(ctx, spark.createDataFrame([("AA",), ("UA",)], "code string"), "carriers")
    bad = shop.orders().withColumn("_nbpipe_reason", F.lit("qty is not positive"))
    write_rejected(ctx, bad, "orders")
    publish_run(ctx)
    wh = shop.warehouse
    cols, _ = assert_readers_agree(spark, wh / "orders", 3)
    assert cols == ["customer", "order_date", "order_id", "qty"]
    assert assert_readers_agree(spark, wh / "events", 3)[1] == [("click", "1"), ("view", "2"), ("view", "3")]
    assert assert_readers_agree(spark, wh / "carriers", 2)[0] == ["code"]
    cols, rows = assert_readers_agree(spark, wh / "orders__rejected", 3)
    assert RUN_ID_COLUMN in cols and {r[cols.index(RUN_ID_COLUMN)] for r in rows} == {"r1"}
    assert not list(wh.rglob(LEGACY_MARKER)) and list(wh.rglob(MARKER)), "markers match no data glob"

    sandbox = shop.scope("session-1", mode="explore")
    write_dataset(sandbox, shop.orders(), "orders")
    write_rejected(sandbox, bad, "orders")
    assert_readers_agree(spark, wh / "_explore" / "orders", 3)
    cols, rows = assert_readers_agree(spark, wh / "_explore" / "orders__rejected", 3)
    assert {r[cols.index(RUN_ID_COLUMN)] for r in rows} == {"session-1"}


def test_older_quarantine_layout_is_renamed_on_publish(tmp_path: Path, spark: Any) -> None:
    """A quarantine written before the rename (``_nbpipe_run_id=r0``): pandas saw 0 rows of it."""
    from pyspark.sql import functions as F

    shop = Shop(tmp_path, spark)
    bad = shop.orders().withColumn("_nbpipe_reason", F.lit("late"))
    r0 = shop.scope("r0")
    write_rejected(r0, bad, "orders")
    publish_run(r0)
    quarantine = shop.warehouse / "orders__rejected"
    # Recreate the older layout: the partition directory and the marker under their old names.
    old = quarantine / f"{LEGACY_RUN_ID_COLUMN}=r0"
    os.rename(quarantine / f"{RUN_ID_COLUMN}=r0", old)
    os.rename(old / MARKER, old / LEGACY_MARKER)
    shutil.copytree(shop.warehouse / "orders__rejected", tmp_path / "legacy")
    assert len(with_pandas(tmp_path / "legacy")[1]) == 0, "pyarrow skips _-prefixed partition directories"

    r1 = shop.scope("r1")
    write_rejected(r1, bad.limit(1), "orders")
    publish_run(r1)
    assert sorted(p.name for p in quarantine.iterdir() if p.is_dir()) == [f"{RUN_ID_COLUMN}=r0", f"{RUN_ID_COLUMN}=r1"]
    assert (quarantine / f"{RUN_ID_COLUMN}=r0" / MARKER).is_file()
    cols, rows = assert_readers_agree(spark, quarantine, 4)
    assert sorted(r[cols.index(RUN_ID_COLUMN)] for r in rows) == ["r0", "r0", "r0", "r1"]
