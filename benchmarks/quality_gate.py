"""How much faster is nbpipe's quality gate than great-expectations on Spark?

Two cases (``--case``):

* ``fact`` (default): a 20-column fact table (ids, a unique key, categorical strings, amounts,
  a decimal, dates, timestamps, nullable columns), validated against the suite ``nbpipe promote``
  writes for it: :func:`nbpipe.quality.profile_dataframe` then :func:`nbpipe.quality.suggest_suite`
  with promote's default margin, on the generated data itself.
* ``flights``: 8 hand-picked expectations (regex, lengths, a column pair, ``mostly``) on 6 columns.

Each suite is validated three ways, with and without its uniqueness rules: nbpipe's gate
(``validate_prepared``, i.e. ``fast_spark.validate``), GX 1.x native Spark validation
(``nbpipe.quality.native.validate``: an ephemeral context, a Spark dataframe asset, a whole-frame
batch), and one hand-written exact aggregation computing the same counts (plus one ``GROUP BY`` per
uniqueness rule). "warm" times the call in a process where everything is imported and each case ran
once; "cold" runs a fresh subprocess per sample and times imports + set-up + the first validation
after the Spark session started (the session and the DataFrame are created first and not counted;
their time is printed separately). Rounds interleave the cases; medians are printed.

The data is read back uncached every time. GX persists the DataFrame it validates (its Spark
datasource's default, ``persist=True``) and leaves it cached, so the warm loop clears Spark's cache
after every GX call and checks that no other case starts from a cached frame.

    .venv/bin/python benchmarks/quality_gate.py --rows 10000000 --rounds 3
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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

FLIGHTS: list[dict[str, Any]] = [
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
UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
CASES = ("gate", "gx", "hand")


def session() -> Any:
    from nbpipe.spark.session import prepare_environment

    prepare_environment()
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master("local[2]").appName("bench_quality")
            .config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "2g")
            .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate())


def make_flights(spark: Any, rows: int, path: Path) -> None:
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


def make_fact(spark: Any, rows: int, path: Path) -> None:
    """A sales fact table: 20 columns, deterministic pseudo-random values (hashes of the row id)."""
    from pyspark.sql import functions as F

    i = F.col("id")

    def h(salt: int, mod: int) -> Any:  # a deterministic value in [0, mod)
        return F.pmod(F.xxhash64(i, F.lit(salt)), F.lit(mod))

    def pick(salt: int, values: list[str]) -> Any:
        return F.element_at(F.array(*[F.lit(v) for v in values]), (h(salt, len(values)) + 1).cast("int"))

    def nullable(salt: int, one_in: int, value: Any) -> Any:
        return F.when(h(salt, one_in) == 0, F.lit(None)).otherwise(value)

    countries = ["US", "CA", "MX", "GB", "IE", "FR", "DE", "ES", "IT", "NL", "BE", "SE", "PL", "JP", "AU"]
    order_date = F.date_add(F.lit("2024-01-01").cast("date"), h(9, 730).cast("int"))
    created = (F.unix_timestamp(order_date.cast("timestamp")) + h(10, 86_400)).cast("timestamp")
    qty = (h(11, 20) + 1).cast("int")
    price = (h(12, 50_000) + 99) / 100.0
    amount = (qty * price).cast("decimal(12,2)")
    df = spark.range(rows).select(
        (i + 1_000_000).alias("order_id"),
        F.concat(F.lit("SO-"), F.date_format(order_date, "yyyyMMdd"), F.lit("-"), F.lpad(i.cast("string"), 9, "0"))
        .alias("order_key"),
        (h(1, 2_000_000) + 1).alias("customer_id"),
        (h(2, 50_000) + 1).cast("int").alias("product_id"),
        (h(3, 800) + 1).cast("int").alias("store_id"),
        pick(4, ["web", "store", "app", "phone", "partner"]).alias("channel"),
        nullable(5, 50, pick(6, ["placed", "paid", "shipped", "delivered", "returned", "cancelled"])).alias("status"),
        pick(7, countries).alias("country"),
        pick(8, ["USD", "EUR", "GBP", "JPY"]).alias("currency"),
        nullable(13, 20, pick(14, ["card", "paypal", "cash", "gift_card", "transfer", "klarna", "apple_pay"]))
        .alias("payment_method"),
        qty.alias("quantity"),
        price.alias("unit_price"),
        amount.alias("amount"),
        nullable(15, 3, h(16, 51) / 100.0).alias("discount"),
        F.round(amount.cast("double") * 0.2, 2).alias("tax"),
        order_date.alias("order_date"),
        created.alias("created_at"),
        nullable(17, 10, (F.unix_timestamp(created) + h(18, 5 * 86_400) + 3_600).cast("timestamp")).alias("shipped_at"),
        (h(19, 25) == 0).alias("is_gift"),
        F.when(h(20, 5) == 0, F.concat(F.lit("PROMO"), h(21, 5_000).cast("string"))).alias("promo_code"),
    )
    df.write.mode("overwrite").parquet(str(path))


def load_suite(case: str, spark: Any, data: Path) -> dict[str, Any]:
    """The case's suite; for ``fact`` what promote suggests from the data (profiled once, then kept)."""
    from nbpipe.quality import new_suite, suggest_suite

    if case == "flights":
        return new_suite("bench", FLIGHTS)
    saved = data / "_promoted_suite.json"
    if not saved.exists():
        t = time.perf_counter()
        profile = profile_by_column(spark.read.parquet(str(data)))
        suite = suggest_suite("fact_sales", profile)  # promote's default margin (0.1)
        saved.write_text(json.dumps(suite, indent=1))
        print(f"profiled and suggested the suite in {time.perf_counter() - t:.0f} s")
    return dict(json.loads(saved.read_text()))


def profile_by_column(df: Any) -> dict[str, Any]:
    """``profile_dataframe(df)``, computed one column at a time (the same numbers; every part is per column).

    On the whole 20-column frame its 20 ``count(DISTINCT)`` make Spark expand every row 20 times
    before shuffling (~45M distinct rows at 10M): it spilled for over 20 minutes on 2 cores. One
    column at a time is one plain grouped count each.
    """
    from nbpipe.quality import profile_dataframe

    parts = [profile_dataframe(df.select(f"`{name}`")) for name in df.columns]
    return {"rows": parts[0]["rows"], "columns": {k: v for p in parts for k, v in p["columns"].items()},
            "key_candidates": [k for p in parts for k in p["key_candidates"]]}


def without_unique(suite: dict[str, Any]) -> dict[str, Any]:
    return {**suite, "expectations": [e for e in suite["expectations"] if e["type"] not in UNIQUE_TYPES]}


def hand(df: Any, expectations: list[dict[str, Any]]) -> dict[str, Any]:
    """The same counts written by hand: one aggregation, plus one GROUP BY per uniqueness rule."""
    from pyspark.sql import functions as F

    def c(name: str) -> Any:
        return F.col(f"`{name}`")

    def bad(cond: Any, label: str) -> Any:
        return F.count(F.when(cond, 1)).alias(label)

    aggs = [F.count(F.lit(1)).alias("rows")]
    keys: list[str] = []
    for n, exp in enumerate(expectations):
        t, kw = exp["type"], exp["kwargs"]
        col = c(kw["column"]) if "column" in kw else None
        if t == "expect_column_values_to_not_be_null":
            aggs.append(bad(col.isNull(), f"e{n}"))
        elif t == "expect_column_values_to_be_between":
            aggs += [bad(~col.between(kw["min_value"], kw["max_value"]), f"e{n}"), F.count(col).alias(f"d{n}")]
        elif t == "expect_column_values_to_be_in_set":
            aggs += [bad(~col.isin(kw["value_set"]), f"e{n}"), F.count(col).alias(f"d{n}")]
        elif t == "expect_column_values_to_match_regex":
            aggs += [bad(~col.rlike(kw["regex"]), f"e{n}"), F.count(col).alias(f"d{n}")]
        elif t == "expect_column_value_lengths_to_be_between":
            aggs += [bad(~F.length(col).between(kw["min_value"], kw["max_value"]), f"e{n}"),
                     F.count(col).alias(f"d{n}")]
        elif t == "expect_column_pair_values_a_to_be_greater_than_b":
            a, b = c(kw["column_A"]), c(kw["column_B"])
            aggs += [bad(~(a > b), f"e{n}"), bad(a.isNotNull() | b.isNotNull(), f"d{n}")]
        elif t == "expect_column_values_to_be_unique":
            keys.append(kw["column"])
        elif t != "expect_table_row_count_to_be_between":
            raise ValueError(f"no hand-written count for {t}")
    out = df.agg(*aggs)
    for j, key in enumerate(keys):
        dup = df.where(c(key).isNotNull()).groupBy(c(key)).count().agg(
            F.coalesce(F.sum(F.when(F.col("count") > 1, F.col("count"))), F.lit(0)).alias(f"dup{j}"))
        out = out.crossJoin(dup)
    return dict(out.collect()[0].asDict())


def runners(df: Any, suite: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The six timed calls: each way, with (``+u``) and without (``-u``) the uniqueness rules."""
    from nbpipe.quality import gx_model, native
    from nbpipe.quality.checkpoint import validate_prepared

    out: dict[str, Callable[[], Any]] = {}
    for tag, s in (("+u", suite), ("-u", without_unique(suite))):
        prepared = gx_model.prepare(s)
        out["gate" + tag] = lambda p=prepared: validate_prepared(df, p)
        out["gx" + tag] = lambda s=s: native.validate(df, s["expectations"])
        out["hand" + tag] = lambda s=s: hand(df, s["expectations"])
    return out


def child(case: str, name: str, data: str) -> None:
    """Cold sample: Spark + DataFrame untimed, then imports + set-up + the first validation timed."""
    t0 = time.perf_counter()
    spark = session()
    df = spark.read.parquet(data)
    spark_s = time.perf_counter() - t0
    suite = json.loads((Path(data) / "_promoted_suite.json").read_text()) if case == "fact" else {
        "name": "bench", "expectations": FLIGHTS}
    if name.endswith("-u"):
        suite = without_unique(suite)
    t1 = time.perf_counter()
    if name.startswith("gate"):
        from nbpipe.quality.checkpoint import validate_frame

        validate_frame(df, suite)  # builds the suite through GX's model (cached verdicts), then validates
    elif name.startswith("gx"):
        from nbpipe.quality import native

        native.validate(df, suite["expectations"])
    else:
        hand(df, suite["expectations"])
    print(json.dumps({"timed_s": time.perf_counter() - t1, "spark_s": spark_s}))


def jobs_of(spark: Any, group: str) -> tuple[int, int]:
    tracker = spark.sparkContext.statusTracker()
    ids = tracker.getJobIdsForGroup(group)
    stages = sum(len(info.stageIds) for j in ids if (info := tracker.getJobInfo(j)) is not None)
    return len(ids), stages


def compare(gate: list[Any], gx: list[Any], hand_row: dict[str, Any], suite: dict[str, Any]) -> int:
    """Print every count where the gate, GX and the hand-written pass disagree; return how many."""
    diffs = 0
    for exp, f, g in zip(suite["expectations"], gate, gx, strict=True):
        if (f.success, f.unexpected_count, f.observed_value) != (g.success, g.unexpected_count, g.observed_value):
            diffs += 1
            print(f"  DIFF {exp['type']}({exp['kwargs'].get('column')}): gate={f.unexpected_count}/"
                  f"{f.observed_value} gx={g.unexpected_count}/{g.observed_value}")
    for n, f in enumerate(gate):
        if f"e{n}" in hand_row and hand_row[f"e{n}"] != f.unexpected_count:
            diffs += 1
            print(f"  DIFF hand-written e{n}: {hand_row[f'e{n}']} against the gate's {f.unexpected_count}")
    print(f"  {diffs} disagreements over {len(gate)} expectations (gate against GX and hand-written); "
          f"hand-written rows={hand_row['rows']:,}, failed expectations: {sum(not r.success for r in gate)}")
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=["fact", "flights"], default="fact")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved warm and cold rounds (medians)")
    ap.add_argument("--cold", choices=["all", "none"], default="all", help="take the cold samples too")
    ap.add_argument("--data", type=Path, default=None, help="Parquet dir (created if missing)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.data or Path(tempfile.gettempdir()) / f"nbpipe_bench_quality_{args.case}_{args.rows}"
    if args.child:
        child(args.case, args.child, str(data))
        return
    spark = session()
    if not (data / "_SUCCESS").exists():
        t = time.perf_counter()
        (make_fact if args.case == "fact" else make_flights)(spark, args.rows, data)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t:.0f} s: {data}")
    suite = load_suite(args.case, spark, data)
    exps = suite["expectations"]
    by_type = Counter(e["type"].removeprefix("expect_") for e in exps)
    print(f"suite: {len(exps)} expectations: " + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items())),
          flush=True)
    df = spark.read.parquet(str(data))  # not cached: every validation reads Parquet
    import great_expectations  # noqa: F401  (warm means imported)

    calls = runners(df, suite)
    shape: dict[str, tuple[int, int]] = {}
    results: dict[str, Any] = {}
    for name, call in calls.items():  # warm-up: JIT, GX context, plan caches; and jobs/stages per case
        spark.sparkContext.setJobGroup(f"warmup-{name}", name)
        results[name] = call()
        spark.catalog.clearCache()  # GX leaves its persisted frame behind
        shape[name] = jobs_of(spark, f"warmup-{name}")
    spark.sparkContext.setJobGroup("timed", "timed")
    compare(results["gate+u"], results["gx+u"], results["hand+u"], suite)
    for name, (jobs, stages) in shape.items():
        print(f"  warm-up {name}: {jobs} Spark jobs, {stages} stages", flush=True)
    warm: dict[str, list[float]] = {n: [] for n in calls}
    cold: dict[str, list[float]] = {n: [] for n in calls}
    spark_start: list[float] = []
    for r in range(args.rounds):
        for name, call in calls.items():
            if df.storageLevel.useMemory or df.storageLevel.useDisk:
                raise SystemExit(f"the DataFrame is cached before {name}: the comparison would be unfair")
            t = time.perf_counter()
            call()
            warm[name].append(time.perf_counter() - t)
            spark.catalog.clearCache()
            print(f"  round {r + 1} warm {name}: {warm[name][-1]:.2f} s", flush=True)
    for r in range(args.rounds if args.cold == "all" else 0):  # after the warm rounds: they come first
        for name in calls:
            out = subprocess.run([sys.executable, __file__, "--case", args.case, "--rows", str(args.rows),
                                  "--data", str(data), "--child", name], capture_output=True, text=True,
                                 env=dict(os.environ), check=True)
            sample = json.loads(out.stdout.strip().splitlines()[-1])
            cold[name].append(sample["timed_s"])
            spark_start.append(sample["spark_s"])
            print(f"  round {r + 1} cold {name}: {cold[name][-1]:.2f} s "
                  f"(+ {spark_start[-1]:.1f} s untimed Spark start)", flush=True)
    report(args, exps, warm, cold, shape, spark_start)


def report(args: argparse.Namespace, exps: list[dict[str, Any]], warm: dict[str, list[float]],
           cold: dict[str, list[float]], shape: dict[str, tuple[int, int]], spark_start: list[float]) -> None:
    med = {k: statistics.median(v) for k, v in warm.items()}
    cmed = {k: statistics.median(v) if v else float("nan") for k, v in cold.items()}
    n_unique = sum(e["type"] in UNIQUE_TYPES for e in exps)
    print(f"\ncase={args.case} rows={args.rows:,} expectations={len(exps)} (uniqueness rules: {n_unique}) "
          f"rounds={args.rounds} load={os.getloadavg()[0]:.1f} cores={os.cpu_count()}")
    print(f"{'variant':<22}{'warm median s':>14}{'cold median s':>14}{'jobs':>6}{'stages':>8}   warm samples")
    labels = {"gate": "nbpipe gate", "gx": "GX native", "hand": "hand-written"}
    for tag, what in (("+u", "with uniqueness"), ("-u", "without uniqueness")):
        for kind in CASES:
            name = kind + tag
            samples = " ".join(f"{s:.2f}" for s in warm[name])
            print(f"{labels[kind] + ' ' + tag:<22}{med[name]:>14.2f}{cmed[name]:>14.2f}"
                  f"{shape[name][0]:>6}{shape[name][1]:>8}   {samples}")
        print(f"  {what}: GX / gate  warm {med['gx' + tag] / med['gate' + tag]:.1f}x (target >= 5x)"
              f"   cold {cmed['gx' + tag] / cmed['gate' + tag]:.1f}x (target >= 10x)"
              f"   gate / hand  warm {med['gate' + tag] / med['hand' + tag]:.2f}x"
              f"  cold {cmed['gate' + tag] / cmed['hand' + tag]:.2f}x (target <= 1.3x)")
    if spark_start:
        print(f"(untimed Spark start + read in cold children: median {statistics.median(spark_start):.1f} s)")


if __name__ == "__main__":
    main()
