"""How much faster is nbpipe's quality gate than great-expectations on Spark?

Builds an N-row Parquet dataset (default 10M rows; ``--rows``), reads it back uncached and
validates 8 expectations three ways: nbpipe's fast path, GX 1.x native Spark validation, and
one hand-written exact aggregation computing the same numbers. "warm" times only the
validation call in a process where everything is imported and set up; "cold" runs a fresh
subprocess per sample and times imports + context set-up + validation (the Spark session and
the DataFrame are created first and not counted; their time is printed separately).

    .venv/bin/python benchmarks/quality_gate.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXPECTATIONS: list[dict[str, Any]] = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "carrier"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "dep_delay", "min_value": -60,
                                                             "max_value": 1500, "mostly": 0.99}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "carrier",
                                                            "value_set": ["AA", "UA", "DL", "B6", "EV", "WN"]}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "tailnum", "regex": "^N[0-9]+[A-Z]*$"}},
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "tailnum", "min_value": 4,
                                                                    "max_value": 7}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "arr_time",
                                                                           "column_B": "dep_time",
                                                                           "mostly": 0.9}},
]


def session() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from nbpipe.spark.session import prepare_environment

    prepare_environment()
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master("local[2]").appName("bench_quality")
            .config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "2g")
            .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate())


def make_data(spark: Any, rows: int, path: Path) -> None:
    from pyspark.sql import functions as F

    carriers = F.array(*[F.lit(c) for c in ["AA", "UA", "DL", "B6", "EV", "WN", "9E"]])
    df = spark.range(rows).select(
        F.col("id"),
        F.when(F.col("id") % 997 == 0, F.lit(None)).otherwise(F.element_at(carriers, (F.col("id") % 7 + 1).cast(
            "int"))).alias("carrier"),
        F.when(F.col("id") % 101 == 0, F.lit(None)).otherwise((F.col("id") * 7919 % 400) - 30.0).alias("dep_delay"),
        F.concat(F.lit("N"), (F.col("id") % 9000).cast("string"), F.when(F.col("id") % 3 == 0, F.lit("AA"))
                 .otherwise(F.lit(""))).alias("tailnum"),
        (F.col("id") % 2400).alias("dep_time"),
        ((F.col("id") % 2400) + 90 - (F.col("id") % 13) * 10).alias("arr_time"),
    )
    df.write.mode("overwrite").parquet(str(path))


def fast(df: Any, expectations: list[dict[str, Any]] | None = None) -> list[Any]:
    from nbpipe.quality import new_suite, validate_frame

    return validate_frame(df, new_suite("bench", expectations or EXPECTATIONS))


def gx_native(df: Any, expectations: list[dict[str, Any]] | None = None) -> list[Any]:
    from nbpipe.quality import native

    return native.validate(df, expectations or EXPECTATIONS)


def hand(df: Any, unique: bool = True) -> dict[str, Any]:
    """One exact aggregation (+ the GROUP BY uniqueness needs), written by hand."""
    from pyspark.sql import functions as F

    c = F.col
    main = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(c("carrier").isNull(), 1)).alias("carrier_null"),
        F.count(F.when(~c("dep_delay").between(-60, 1500), 1)).alias("delay_out"),
        F.count(c("dep_delay")).alias("delay_nonnull"),
        F.count(F.when(~c("carrier").isin("AA", "UA", "DL", "B6", "EV", "WN"), 1)).alias("carrier_out"),
        F.count(F.when(~c("tailnum").rlike("^N[0-9]+[A-Z]*$"), 1)).alias("tail_regex"),
        F.count(F.when(~F.length("tailnum").between(4, 7), 1)).alias("tail_len"),
        F.count(c("tailnum")).alias("tail_nonnull"),
        F.count(F.when(~(c("arr_time") > c("dep_time")), 1)).alias("pair_bad"),
        F.count(F.when(c("arr_time").isNotNull() | c("dep_time").isNotNull(), 1)).alias("pair_dom"),
    )
    if not unique:
        return main.collect()[0].asDict()
    dup = df.groupBy("id").count().agg(F.coalesce(F.sum(F.when(c("count") > 1, c("count"))), F.lit(0)).alias("dup"))
    return main.crossJoin(dup).collect()[0].asDict()


def child(kind: str, path: str) -> None:
    """Cold sample: Spark + DataFrame untimed, then imports + set-up + validation timed."""
    t0 = time.perf_counter()
    spark = session()
    df = spark.read.parquet(path)
    spark_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    if kind == "fast":
        fast(df)
    elif kind == "gx":
        gx_native(df)
    else:
        hand(df)
    print(json.dumps({"kind": kind, "timed_s": time.perf_counter() - t1, "spark_s": spark_s}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="warm samples per variant")
    ap.add_argument("--cold", type=int, default=1, help="cold subprocess samples per variant")
    ap.add_argument("--data", type=Path, default=None, help="Parquet dir (created if missing)")
    ap.add_argument("--child", choices=["fast", "gx", "hand"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.data or Path(tempfile.gettempdir()) / f"nbpipe_bench_quality_{args.rows}"
    if args.child:
        child(args.child, str(data))
        return
    spark = session()
    if not (data / "_SUCCESS").exists():
        make_data(spark, args.rows, data)
    df = spark.read.parquet(str(data))  # not cached: every validation reads Parquet
    import great_expectations  # noqa: F401  (warm means imported)

    fast(df), gx_native(df), hand(df)  # warm-up: JIT, GX context, plan caches
    check_f, check_g = fast(df), gx_native(df)
    for f, g in zip(check_f, check_g):
        same = (f.success, f.unexpected_count, f.observed_value) == (g.success, g.unexpected_count, g.observed_value)
        fv = f.observed_value if f.unexpected_count is None else f.unexpected_count
        gv = g.observed_value if g.unexpected_count is None else g.unexpected_count
        print(f"  {'same' if same else 'DIFF'}  {f.expectation_type}: fast={fv} gx={gv}")
    warm: dict[str, list[float]] = {"fast": [], "gx": [], "hand": []}
    for _ in range(args.repeat):
        for name, fn in (("fast", fast), ("gx", gx_native), ("hand", hand)):
            t = time.perf_counter()
            fn(df)
            warm[name].append(time.perf_counter() - t)
    # The same without the exact uniqueness rule: its shuffle of every key dominates all three variants
    # at 10M rows, so this shows what the rest of the suite costs.
    no_unique = [e for e in EXPECTATIONS if e["type"] != "expect_column_values_to_be_unique"]
    rest: dict[str, list[float]] = {"fast": [], "gx": [], "hand": []}
    for _ in range(args.repeat):
        for name, call in (("fast", lambda: fast(df, no_unique)), ("gx", lambda: gx_native(df, no_unique)),
                           ("hand", lambda: hand(df, unique=False))):
            t = time.perf_counter()
            call()
            rest[name].append(time.perf_counter() - t)
    cold: dict[str, list[float]] = {"fast": [], "gx": [], "hand": []}
    spark_start: list[float] = []
    env = dict(os.environ)
    for _ in range(args.cold):
        for name in cold:
            out = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--data", str(data),
                                  "--child", name], capture_output=True, text=True, env=env, check=True)
            sample = json.loads(out.stdout.strip().splitlines()[-1])
            cold[name].append(sample["timed_s"])
            spark_start.append(sample["spark_s"])
    med = {k: statistics.median(v) for k, v in warm.items()}
    cmed = {k: statistics.median(v) for k, v in cold.items()}
    print(f"\nrows={args.rows:,} expectations={len(EXPECTATIONS)} warm samples={args.repeat} cold={args.cold} "
          f"load={os.getloadavg()[0]:.1f} cores={os.cpu_count()}")
    print(f"{'variant':<14}{'warm median s':>15}{'cold median s':>15}")
    for name, label in (("fast", "nbpipe fast"), ("gx", "GX native"), ("hand", "hand-written")):
        print(f"{label:<14}{med[name]:>15.2f}{cmed[name]:>15.2f}")
    print(f"GX / nbpipe      warm {med['gx'] / med['fast']:.1f}x   cold {cmed['gx'] / cmed['fast']:.1f}x"
          "   (targets >= 5x warm, >= 10x cold)")
    print(f"nbpipe / hand    warm {med['fast'] / med['hand']:.2f}x  cold {cmed['fast'] / cmed['hand']:.2f}x"
          "  (target <= 1.3x)")
    print(f"(untimed Spark start + read in cold children: median {statistics.median(spark_start):.1f} s)")
    rmed = {k: statistics.median(v) for k, v in rest.items()}
    print(f"\nwithout the uniqueness rule ({len(no_unique)} expectations), warm medians: "
          f"nbpipe fast {rmed['fast']:.2f} s, GX native {rmed['gx']:.2f} s, hand-written {rmed['hand']:.2f} s")
    print(f"GX / nbpipe      warm {rmed['gx'] / rmed['fast']:.1f}x   "
          f"nbpipe / hand  warm {rmed['fast'] / rmed['hand']:.2f}x")


if __name__ == "__main__":
    main()
