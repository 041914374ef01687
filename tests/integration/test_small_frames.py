"""Small frames on real Spark: one materialization, then the check and the write in-process.

The two paths must be indistinguishable in what they produce (check results, quarantined rows and
reasons, staged rows, Parquet that Spark, pandas and DuckDB read alike); the local one must start
one Spark job where the Spark path starts many; and each operation records which path it took.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from nbpipe.core import events
from nbpipe.core.layout import REASON
from nbpipe.data import small
from nbpipe.data.write import write_dataset
from nbpipe.quality import suites as S
from nbpipe.quality.checkpoint import run_checkpoint
from tests.support.projects import ProjectForTest
from tests.support.scope import ScopeForTest

pytestmark = pytest.mark.spark

SCHEMA = "day date, id bigint, carrier string, delay double, seats int, sched timestamp"
FIELDS = [
    {"name": "day", "type": "date", "nullable": False},
    {"name": "id", "type": "bigint", "nullable": False},
    {"name": "carrier", "type": "string"},
    {"name": "delay", "type": "double"},
    {"name": "seats", "type": "bigint"},  # the frame's int widens into the contract's bigint
    {"name": "sched", "type": "timestamp"},
]
SUITE = [
    {"type": S.NOT_NULL, "kwargs": {"column": "carrier"}},
    {"type": S.IN_SET, "kwargs": {"column": "carrier", "value_set": ["AA", "UA", "DL", "Ünïcode"]}},
    {"type": S.BETWEEN, "kwargs": {"column": "delay", "min_value": -60, "max_value": 600}},
    {"type": S.ROW_COUNT, "kwargs": {"min_value": 1}},
]
T = dt.datetime(2013, 1, 1, 5, 30, tzinfo=dt.UTC)


def rows() -> list[tuple[Any, ...]]:
    day1, day2 = dt.date(2013, 1, 1), dt.date(2013, 1, 2)
    good = [(day1 if i % 2 else day2, i, ["AA", "UA", "DL", "Ünïcode"][i % 4], float(i % 50) - 10.0, i % 300,
             T + dt.timedelta(minutes=i)) for i in range(1, 41)]
    bad = [
        (day1, 100, None, 1.0, 10, T),                 # null carrier: quarantined by the check
        (day1, 101, "ZZ", float("nan"), 10, None),     # a carrier outside the set, NaN delay
        (day2, 102, "AA", 9999.0, None, T),            # delay out of range
        (day2, 7, "AA", 0.0, 1, T),                    # id 7 twice with other values: a key violation
        (day1, 3, "DL", -0.0, 3, T + dt.timedelta(minutes=3)),  # id 3 again with other values
    ]
    return good + bad


class Proj(ProjectForTest):
    def __init__(self, root: Path, spark: Any, threshold: int) -> None:
        super().__init__(root, spark=spark, project="s",
                         profiles={"dev": {"spark": {"small_frame_rows": threshold}}},
                         datasets={"flights": {"format": "parquet", "partition_by": ["day"], "primary_key": ["id"]}},
                         pipelines={"ingest": {"notebook": "n.ipynb"}})
        self.contract("flights", FIELDS, partition_by=["day"], primary_key=["id"])
        S.save_suite(root, S.new_suite("flights", SUITE))

    def frame(self) -> Any:
        return self.spark.createDataFrame(rows(), SCHEMA)


def jobs_of(spark: Any, fn: Any) -> tuple[Any, int]:
    """``fn()`` and how many Spark jobs it started (a job group on the classic session)."""
    group = f"t-{uuid.uuid4().hex[:8]}"
    sc = spark.sparkContext
    sc.setJobGroup(group, "test")
    try:
        value = fn()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return value, len(sc.statusTracker().getJobIdsForGroup(group))


def check_and_write(ctx: ScopeForTest, df: Any) -> tuple[Any, Any]:
    result = run_checkpoint(ctx, df, "flights", quarantine=True)
    return result, write_dataset(ctx, result.passing, "flights")


def staged_rows(root: Path) -> list[tuple[Any, ...]]:
    import pyarrow.dataset as ds

    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    return sorted(tuple(json.dumps(v, default=str) for v in r.values()) for r in table.to_pylist())


def hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    small.forget_all()


def test_materialize_decides_by_rows_and_input_size_and_reuses_the_table(tmp_path: Path, spark: Any) -> None:
    proj = Proj(tmp_path / "p", spark, threshold=45)
    ctx = proj.scope()
    df = proj.frame()  # 45 rows
    (found, engine), jobs = jobs_of(spark, lambda: small.materialize(ctx, df))
    assert found is not None and found.rows == 45 and engine.path == "local" and jobs == 1
    assert engine.threshold_rows == 45 and "45 rows" in engine.reason
    (again, engine), jobs = jobs_of(spark, lambda: small.materialize(ctx, df))
    assert again is found and jobs == 0 and "materialized earlier" in engine.reason
    bigger = spark.createDataFrame(rows() + rows()[:1], SCHEMA)
    (none, engine), jobs = jobs_of(spark, lambda: small.materialize(ctx, bigger))
    assert none is None and engine.path == "spark" and "more than spark.small_frame_rows (45)" in engine.reason
    assert jobs == 1  # the bounded probe
    src = tmp_path / "src"
    df.write.parquet(str(src))
    tiny = Proj(tmp_path / "q", spark, threshold=45)
    tiny.project.config = tiny.project.config.model_copy(update={"profiles": {"dev": tiny.project.profile.model_copy(
        update={"spark": tiny.project.profile.spark.model_copy(update={"small_frame_input_mb": 0.000001})})}})
    from_files = spark.read.parquet(str(src))  # (reading the footers for the schema is a job of its own)
    (none, engine), jobs = jobs_of(spark, lambda: small.materialize(tiny.scope(), from_files))
    assert none is None and "spark.small_frame_input_mb" in engine.reason and jobs == 0
    off = Proj(tmp_path / "r", spark, threshold=0)
    assert small.materialize(off.scope(), df)[1].reason == "the local path is off (spark.small_frame_rows: 0)"


def test_both_paths_give_the_same_results_and_the_local_one_starts_one_job(tmp_path: Path, spark: Any) -> None:
    outcomes = {}
    for path, threshold in (("local", 100_000), ("spark", 0)):
        proj = Proj(tmp_path / path, spark, threshold)
        ctx = proj.scope("r1")
        (result, written), jobs = jobs_of(spark, lambda ctx=ctx, proj=proj: check_and_write(ctx, proj.frame()))
        check_event = ctx.events(events.CHECK)[-1]
        staged_event = ctx.events(events.DATASET_STAGED)[-1]
        assert check_event["engine"]["path"] == path and staged_event["engine"]["path"] == path
        quarantine = pq.read_table(ctx.staging_dir / "flights__rejected").to_pandas()
        quarantine = sorted(map(tuple, quarantine.drop(columns=["nbpipe_run_id"]).astype(str).to_numpy().tolist()))
        outcomes[path] = {
            "jobs": jobs,
            "check": {k: v for k, v in result.to_dict().items() if k != "duration_s"},
            "written": (written.rows, written.rejected_rows, written.partitions, written.schema),
            "staged": staged_rows(ctx.staging_dir / "flights"),
            "spark": sorted(map(str, spark.read.parquet(str(ctx.staging_dir / "flights")).collect())),
            "quarantine": quarantine,
        }
        # a rerun of the same input on the same path writes the same bytes
        again = proj.scope("r2")
        check_and_write(again, proj.frame())
        assert hashes(again.staging_dir / "flights") == hashes(ctx.staging_dir / "flights")
    local, spark_path = outcomes["local"], outcomes["spark"]
    for key in ("check", "written", "staged", "spark", "quarantine"):
        assert local[key] == spark_path[key], key
    assert local["check"]["results"][1]["unexpected_count"] == 1  # ZZ (the null carrier is not in the domain)
    assert any("duplicate primary key" in r[-2] or "duplicate primary key" in r[-3] for r in local["quarantine"])
    assert local["written"][1] == 4  # ids 3 and 7, twice each, rejected by the key
    # the quarantine's rejected rows go back to Spark (its string casts); everything else is in-process
    assert local["jobs"] < spark_path["jobs"], (local["jobs"], spark_path["jobs"])


def test_a_clean_small_frame_costs_one_spark_job_for_check_and_write(tmp_path: Path, spark: Any) -> None:
    proj = Proj(tmp_path, spark, 100_000)
    ctx = proj.scope()
    clean = proj.frame().where("id < 50 AND carrier IS NOT NULL AND delay BETWEEN -60 AND 600 AND id NOT IN (3, 7)")
    (result, written), jobs = jobs_of(spark, lambda: check_and_write(ctx, clean))
    assert result.success and written.rows == 38 and jobs == 1
    (table, jobs) = jobs_of(spark, lambda: small.cached(ctx, result.passing))
    assert table is not None and table.rows == 38 and jobs == 0
    record = ctx.events(events.DATASET_STAGED)[-1]["engine"]
    assert record == {"path": "local", "reason": "materialized earlier in this run (no Spark job)", "rows": 38,
                      "threshold_rows": 100_000}


def test_csv_and_decimal_casts_stay_on_spark_and_say_why(tmp_path: Path, spark: Any) -> None:
    proj = ProjectForTest(tmp_path, spark=spark, project="c",
                          datasets={"out": {"format": "csv"}}, pipelines={"ingest": {"notebook": "n.ipynb"}})
    ctx = proj.scope()
    write_dataset(ctx, spark.createDataFrame([(1, "a")], "id int, s string"), "out")
    engine = ctx.events(events.DATASET_STAGED)[-1]["engine"]
    assert engine["path"] == "spark" and "csv" in engine["reason"]


def test_the_reason_column_is_the_quarantines_own(tmp_path: Path, spark: Any) -> None:
    proj = Proj(tmp_path, spark, 100_000)
    ctx = proj.scope()
    check_and_write(ctx, proj.frame())
    table = pq.read_table(ctx.staging_dir / "flights__rejected")
    assert REASON in table.column_names and table.num_rows == 7


def test_a_frame_arrow_cannot_hold_stays_on_spark_and_says_why(tmp_path: Path, spark: Any) -> None:
    proj = Proj(tmp_path, spark, 100_000)
    found, engine = small.materialize(proj.scope(), spark.sql("SELECT make_interval(0, 0, 0, 1) AS gap"))
    assert found is None and engine.path == "spark" and "could not be collected as Arrow" in engine.reason


def test_explore_mode_reads_the_frame_again_because_its_files_may_change(tmp_path: Path, spark: Any) -> None:
    proj = Proj(tmp_path, spark, 100_000)
    src = tmp_path / "src"
    spark.createDataFrame([(1,)], "n int").write.parquet(str(src))
    ctx = proj.scope("s1", mode="explore")
    df = spark.read.parquet(str(src))
    first, _ = small.materialize(ctx, df)
    assert first is not None and first.rows == 1
    spark.createDataFrame([(2,), (3,)], "n int").write.mode("append").parquet(str(src))
    spark.catalog.clearCache()
    again, engine = small.materialize(ctx, spark.read.parquet(str(src)))
    assert small.cached(ctx, df) is None  # never reused in explore
    assert again is not None and again.rows == 3 and "materialized earlier" not in engine.reason
    prod = proj.scope("r9")
    found, _ = small.materialize(prod, df)
    assert small.cached(prod, df) is found  # a production run reuses it
