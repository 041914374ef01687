"""Where is the small-frame threshold? nbpipe's check + write on Spark vs in-process, by frame size.

For each size N, a frame of N flight-like rows (read from Parquet with a derived column, not
persisted, as a notebook would hand it over) goes through what a production notebook does with its
result: ``ctx.check(df, suite, quarantine=True)`` (a promoted-style suite: not-null, ranges, sets, a
unique key, a compound key, the row count) and ``ctx.write(result.passing, dataset)`` (contract,
primary key, merge into a partitioned dataset, staged sorted Parquet). Two cases per size, rounds
interleaved, medians of wall seconds:

* ``spark``: ``spark.small_frame_rows: 0`` — every step is Spark jobs (the path before the design);
* ``local``: the threshold above N — one Spark job materializes the frame as Arrow, the rest runs
  in-process.

``local/spark`` below 1 means the in-process path is faster; the default threshold
(``spark.small_frame_rows``) sits below the size where the ratio crosses 1. The last column is the
probe a frame *above* the threshold pays (``df.limit(threshold + 1).toArrow()``, thrown away).

    .venv/bin/python benchmarks/small_frames.py [--sizes 1000,10000,100000,300000,1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

CONTRACT = {
    "dataset": "events", "version": "1.0", "primary_key": ["id"], "partition_by": ["day"],
    "columns": [
        {"name": "id", "type": "bigint", "nullable": False},
        {"name": "day", "type": "date", "nullable": False},
        {"name": "carrier", "type": "string", "nullable": True},
        {"name": "flight", "type": "int", "nullable": True},
        {"name": "origin", "type": "string", "nullable": True},
        {"name": "delay", "type": "double", "nullable": True},
        {"name": "distance", "type": "double", "nullable": True},
        {"name": "cancelled", "type": "boolean", "nullable": True},
        {"name": "sched", "type": "timestamp", "nullable": True},
        {"name": "delay_class", "type": "string", "nullable": True},
    ],
}
SUITE = {"name": "events", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "carrier"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "carrier",
                                                            "value_set": ["AA", "UA", "DL", "B6", "EV", "WN"]}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "origin", "value_set": ["JFK", "LGA", "EWR"]}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "delay", "min_value": -60, "max_value": 1500}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "distance", "min_value": 0, "max_value": 5000}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "flight", "min_value": 1, "max_value": 9999}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["day", "carrier", "flight", "id"]}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
]}


def project(root: Path, rows: int) -> Path:
    (root / "contracts").mkdir(parents=True)
    (root / "expectations").mkdir()
    (root / "contracts" / "events.yaml").write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    (root / "expectations" / "events.json").write_text(json.dumps(SUITE))
    config = {"project": "bench", "profiles": {"dev": {"spark": {
        "master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "2"}, "small_frame_rows": 0}}},
        "datasets": {"events": {"path": "warehouse/events", "partition_by": ["day"], "primary_key": ["id"]}},
        "pipelines": {"bench": {"notebook": "bench.ipynb", "writes": ["events"]}}}
    (root / "nbpipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def source(spark: Any, directory: Path, rows: int) -> None:
    (spark.range(rows).selectExpr(
        "id", "date_add(DATE'2013-01-01', CAST(id % 7 AS INT)) AS day",
        "element_at(array('AA','UA','DL','B6','EV','WN'), CAST(id % 6 AS INT) + 1) AS carrier",
        "CAST(id % 3000 + 1 AS INT) AS flight",
        "element_at(array('JFK','LGA','EWR'), CAST(id % 3 AS INT) + 1) AS origin",
        "CAST(id % 250 AS DOUBLE) - 20 AS delay", "CAST(id % 4000 AS DOUBLE) AS distance",
        "id % 97 = 0 AS cancelled",
        "TIMESTAMP'2013-01-01 05:00:00' + make_interval(0, 0, 0, 0, 0, CAST(id % 900 AS INT)) AS sched")
        .repartition(2).write.mode("overwrite").parquet(str(directory)))


def one(spark: Any, root: Path, src: Path, rows: int, threshold: int, round_no: int) -> float:
    from pyspark.sql import functions as F

    from nbpipe.core.config import load_project
    from nbpipe.data import small
    from nbpipe.kernel.context import RunContext

    small.forget_all()
    project = load_project(project_dir=root)
    spark_cfg = project.config.profiles["dev"].spark.model_copy(update={"small_frame_rows": threshold})
    profiles = {"dev": project.config.profiles["dev"].model_copy(update={"spark": spark_cfg})}
    project.config = project.config.model_copy(update={"profiles": profiles})
    run_id = f"r{round_no}-{threshold}-{rows}"
    run_dir = root / "runs" / "bench" / run_id
    run_dir.mkdir(parents=True)
    ctx = RunContext(project, mode="prod", run_id=run_id, run_dir=run_dir, pipeline="bench", attempt=1, params={})
    ctx.__dict__["spark"] = spark
    started = time.perf_counter()
    df = spark.read.parquet(str(src)).withColumn(
        "delay_class", F.when(F.col("delay") > 15, "late").otherwise("on time"))
    result = ctx.check(df, "events", quarantine=True)
    ctx.write(result.passing, "events")
    elapsed = time.perf_counter() - started
    shutil.rmtree(run_dir, ignore_errors=True)
    return elapsed


def probe_cost(spark: Any, src: Path, threshold: int) -> float:
    started = time.perf_counter()
    spark.read.parquet(str(src)).limit(threshold + 1).toArrow()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,300000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from nbpipe.core.config import SparkConfig, load_project
    from nbpipe.spark.session import build_session

    tmp = Path(tempfile.mkdtemp(prefix="nbpipe-small-"))
    try:
        roots = {n: project(tmp / f"p{n}", n) for n in sizes}
        spark = build_session(SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"}))
        for n in sizes:
            source(spark, tmp / f"src{n}", n)
        load_project(project_dir=roots[sizes[0]])  # config errors before timing
        for n in sizes[:2]:  # warm-up: JIT and class loading for both paths
            one(spark, roots[n], tmp / f"src{n}", n, 0, 0)
            one(spark, roots[n], tmp / f"src{n}", n, n + 1, 0)
        times: dict[tuple[int, str], list[float]] = {}
        for r in range(1, args.runs + 1):
            for n in sizes:
                for case, threshold in (("spark", 0), ("local", n + 1)):
                    times.setdefault((n, case), []).append(one(spark, roots[n], tmp / f"src{n}", n, threshold, r))
        default = SparkConfig().small_frame_rows
        probes = {n: statistics.median([probe_cost(spark, tmp / f"src{n}", default) for _ in range(3)])
                  for n in sizes if n > default}
        print(f"check (10 rules, quarantine) + merge write, local[2], medians of {args.runs} rounds (s)")
        print(f"{'rows':>10} {'spark':>8} {'local':>8} {'local/spark':>12} {'probe@' + str(default):>13}")
        for n in sizes:
            s, loc = statistics.median(times[(n, "spark")]), statistics.median(times[(n, "local")])
            probe = f"{probes[n]:.2f}" if n in probes else "-"
            print(f"{n:>10} {s:>8.2f} {loc:>8.2f} {loc / s:>11.2f}x {probe:>13}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
