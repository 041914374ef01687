"""The example project: config, notebooks, suites and contracts, and the notebooks' own transform
cells run on 14 landed days of real data with real Spark.

The cells tagged ``transform`` are executed exactly as committed; the frames the notebook would get
from ``ctx.read``/``ctx.incremental`` are read here the way explore mode does (the dataset's
format and options from ``nbpipe.yaml``), and written outputs go through parquet, as in a run.
Set ``NBPIPE_WRITE_CONTRACTS=1`` to (re)write ``contracts/flights.yaml`` and
``contracts/fact_flights.yaml`` from the schemas produced here.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from typing import Any

import nbformat
import pytest
import yaml

from nbpipe.core.config import Project, load_project
from nbpipe.core.contracts import check_schema, contract_from_schema, find_contract, load_contract, save_contract
from nbpipe.examples import flights as demo
from nbpipe.notebook import run_tagged_cells
from nbpipe.quality.checkpoint import validate_frame
from nbpipe.quality.suites import load_suite
from tests.integration.example_notebooks import NOTEBOOKS, ROOT, SUITES, render

# --------------------------------------------------------------------------- static checks


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_is_committed_clean_and_parameterised(name: str) -> None:
    path = ROOT / "notebooks" / f"{name}.ipynb"
    assert path.read_text(encoding="utf-8") == render(name), "regenerate: python tests/integration/example_notebooks.py"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    setup = next(i for i, c in enumerate(nb.cells) if "nbpipe.context()" in c.source)
    assert tagged[0] < setup
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    for cell in code:
        compile(cell.source, f"{name}.ipynb", "exec")


def test_config_declares_every_pipeline_and_dataset_the_notebooks_use() -> None:
    project = load_project(project_dir=ROOT)
    cfg = project.config
    assert set(cfg.profiles) == {"dev", "cluster"}
    assert cfg.profiles["cluster"].spark.remote == "sc://127.0.0.1:15002"
    assert set(cfg.pipelines) == {n for n in NOTEBOOKS if n != "explore_flights"}
    for name, pipe in cfg.pipelines.items():
        source = "\n".join(c.source for c in nbformat.read(ROOT / pipe.notebook, as_version=4).cells)
        for ds in [*pipe.reads, *pipe.writes]:
            assert ds in cfg.datasets, (name, ds)
            assert f'"{ds}"' in source, f"{name} declares {ds} but its notebook never names it"
    producers = {ds: name for name, p in cfg.pipelines.items() for ds in p.writes}
    upstream = {name: {producers[d] for d in p.reads if d in producers} - {name} for name, p in cfg.pipelines.items()}
    assert upstream["fact_flights"] == {"ingest_flights", "dim_carrier", "dim_airport", "dim_plane"}
    assert upstream["daily_delay_report"] == {"fact_flights", "dim_carrier", "dim_airport"}
    for ds in ("flights", "fact_flights"):
        contract = load_contract(project.path(cfg.datasets[ds].contract or ""))
        assert list(contract.partition_by) == cfg.datasets[ds].partition_by == ["flight_date"]
    # Every dataset a pipeline reads or writes has a contract (prod enforces it), except the flights
    # landing zone, which ingest_flights reads as text on purpose to say why a line is bad, and the
    # lines it rejects.
    uncontracted = {ds for ds in cfg.datasets if find_contract(project, ds) is None}
    assert uncontracted == {"raw_flights", "flights_rejected"}
    for suite in SUITES:
        assert load_suite(ROOT, suite)["expectations"], suite
    assert yaml.safe_load((ROOT / "nbpipe.yaml").read_text())["project"] == "flights"


# --------------------------------------------------------------------------- Spark


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("flights")
    shutil.copy(ROOT / "nbpipe.yaml", root / "nbpipe.yaml")
    demo.land(root, days=14)
    return load_project(project_dir=root)


def read_raw(spark: Any, project: Project, name: str) -> Any:
    cfg = project.dataset(name)
    return spark.read.format(cfg.format).options(**cfg.options).load(str(project.path(cfg.path or "")))


def stored(spark: Any, project: Project, df: Any, name: str, version: int = 1) -> Any:
    """Write ``df`` as the managed dataset ``name`` (parquet, partitioned as declared) and read it back."""
    path = str(project.warehouse / name / f"v{version}")
    df.write.mode("overwrite").partitionBy(*project.dataset(name).partition_by).parquet(path)
    return spark.read.parquet(path)


def transform(notebook: str, **inputs: Any) -> dict[str, Any]:
    """Run the notebook's parameters cell, then ``inputs``, then its ``transform`` cells."""
    return run_tagged_cells(ROOT / "notebooks" / f"{notebook}.ipynb", inputs)


def failures(df: Any, suite: str) -> dict[str, int | None]:
    results = validate_frame(df, load_suite(ROOT, suite))
    return {r.label: r.unexpected_count for r in results if not r.success}


def fields(df: Any) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in df.schema.fields]


def contract_matches(project: Project, dataset: str, df: Any) -> None:
    cfg = project.dataset(dataset)
    path = ROOT / (cfg.contract or f"contracts/{dataset}.yaml")
    if os.environ.get("NBPIPE_WRITE_CONTRACTS") == "1":
        save_contract(
            contract_from_schema(dataset, fields(df), partition_by=cfg.partition_by, primary_key=cfg.primary_key),
            path,
        )
    check = check_schema(load_contract(path), fields(df))
    assert check.ok, check.problems


@pytest.fixture(scope="module")
def warehouse(spark: Any, project: Project) -> dict[str, Any]:
    """Run the whole chain once (14 days ingested, dims, one fact and report day); keep the outputs."""
    out: dict[str, Any] = {}
    ingest = transform("ingest_flights", raw=read_raw(spark, project, "raw_flights"), run_date="2013-01-14")
    out["ingest"] = ingest
    out["flights"] = stored(spark, project, ingest["flights"], "flights")
    out["dim_carrier"] = stored(
        spark,
        project,
        transform("dim_carrier", airlines=read_raw(spark, project, "raw_airlines"))["dim_carrier"],
        "dim_carrier",
    )
    out["dim_airport"] = stored(
        spark,
        project,
        transform("dim_airport", airports_raw=read_raw(spark, project, "raw_airports"))["dim_airport"],
        "dim_airport",
    )
    snapshots = read_raw(spark, project, "raw_planes")
    first = transform("dim_plane", snapshots=snapshots, current=None, run_date="2013-01-07")
    out["dim_plane_first"] = first
    out["dim_plane_week1"] = stored(spark, project, first["dim_plane"], "dim_plane").cache()
    out["dim_plane_week1"].count()
    second = transform("dim_plane", snapshots=snapshots, current=out["dim_plane_week1"], run_date="2013-01-14")
    out["dim_plane_second"] = second
    out["dim_plane"] = stored(spark, project, second["dim_plane"], "dim_plane", version=2)
    return out


@pytest.mark.spark
@pytest.mark.slow
def test_ingest_rejects_malformed_lines_and_drops_duplicates(warehouse: dict[str, Any], project: Project) -> None:
    ingest = warehouse["ingest"]
    rejected = sorted((str(r.date), r.reason) for r in ingest["rejected"].select("date", "reason").collect())
    assert [d for d, _ in rejected] == ["2013-01-02", "2013-01-02", "2013-01-09", "2013-01-09"]
    assert sum("dep_delay is not a number: " in reason for _, reason in rejected) == 2
    assert sum("wrong column count" in reason for _, reason in rejected) == 2
    flights = warehouse["flights"]
    landed = demo.land(project.root, days=14)  # no-op; its summary says what the files hold
    assert landed["written"] == []
    lines = sum(landed["rows"]["flights"].values())
    duplicates = sum(d["kind"] == "duplicate_row" for found in landed["defects"].values() for d in found)
    assert duplicates == 2
    assert flights.count() == lines - len(rejected) - duplicates
    per_day = {str(r.flight_date): r["count"] for r in flights.groupBy("flight_date").count().collect()}
    assert per_day["2013-01-01"] == 842 and len(per_day) == 14
    # hhmm times become timestamps; actual departure = schedule + delay (crossing midnight too)
    first = flights.filter("flight_date = DATE'2013-01-01' AND carrier = 'UA' AND flight = 1545").first()
    assert (first.sched_dep_ts, first.dep_ts) == (
        dt.datetime(2013, 1, 1, 5, 15),
        dt.datetime(2013, 1, 1, 5, 17),
    )
    assert flights.filter("cancelled").count() == flights.filter("dep_time IS NULL").count() > 0
    # the suite finds exactly the injected null carriers, which ctx.check(quarantine=True) removes
    assert failures(flights, "flights") == {"expect_column_values_to_not_be_null(carrier)": 4}
    contract_matches(project, "flights", flights)


@pytest.mark.spark
@pytest.mark.slow
def test_explore_notebook_profiles_and_plots_the_landing_zone(spark: Any, project: Project) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    ns = transform("explore_flights", raw=read_raw(spark, project, "raw_flights"))
    assert len(ns["per_day"]) == 14
    profile = ns["profile"]
    assert profile.loc["dep_delay", "not_a_number"] == 2  # the two "12x"-style values
    assert profile.loc["carrier", "missing"] == 4  # the injected null carriers
    assert profile.loc["origin", "missing"] == profile.loc["time_hour", "missing"] == 2  # truncated lines
    assert len(plt.get_fignums()) == 3
    plt.close("all")


@pytest.mark.spark
@pytest.mark.slow
def test_dimensions_are_keyed_and_valid(warehouse: dict[str, Any], project: Project) -> None:
    carriers, airports = warehouse["dim_carrier"], warehouse["dim_airport"]
    assert carriers.count() == 16 and carriers.select("carrier_sk").distinct().count() == 16
    assert failures(carriers, "dim_carrier") == {}
    assert failures(airports, "dim_airport") == {}
    assert sorted(r.faa for r in airports.filter("is_nyc_origin").collect()) == ["EWR", "JFK", "LGA"]
    contract_matches(project, "dim_carrier", carriers)
    contract_matches(project, "dim_airport", airports)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["raw_airlines", "raw_airports", "raw_planes", "raw_weather"])
def test_landing_contracts_parse_every_landed_row(spark: Any, project: Project, dataset: str) -> None:
    """Promote inferred these from 7 days; 14 days of real rows must parse under them (FAILFAST)."""
    from pyspark.sql import functions as F

    from nbpipe.data.write import struct_type

    contract = load_contract(ROOT / "contracts" / f"{dataset}.yaml")
    cfg = project.dataset(dataset)
    df = (spark.read.format("csv").options(**cfg.options).option("mode", "FAILFAST")
          .schema(struct_type(contract.fields())).load(str(project.path(cfg.path or ""))))
    counts = df.agg(F.count(F.lit(1)), *[F.count(F.col(f"`{c}`")) for c in df.columns]).first()
    rows = demo.land(project.root, days=14)["rows"][dataset.removeprefix("raw_")]
    assert counts[0] == (sum(rows.values()) if isinstance(rows, dict) else rows) > 0


@pytest.mark.spark
@pytest.mark.slow
def test_dim_plane_keeps_history_across_snapshots(warehouse: dict[str, Any], project: Project) -> None:
    changes = demo.land(project.root, days=14)["planes_changes"]["2013-01-08"]
    assert [d.isoformat() for d in warehouse["dim_plane_first"]["merged"]] == ["2013-01-01"]
    assert [d.isoformat() for d in warehouse["dim_plane_second"]["merged"]] == ["2013-01-08"]
    week1, dim = warehouse["dim_plane_week1"], warehouse["dim_plane"]
    closed = sorted(r.tailnum for r in dim.filter("NOT is_current").collect())
    assert closed == sorted(changes["updated"] + changes["removed"])
    assert all(r.valid_to == dt.date(2013, 1, 8) for r in dim.filter("NOT is_current").collect())
    current = dim.filter("is_current")
    assert current.count() == week1.count() + len(changes["inserted"]) - len(changes["removed"])
    assert failures(dim, "dim_plane") == {}
    contract_matches(project, "dim_plane", dim)
    # running the day again merges nothing: the dimension stays as it is
    again = transform(
        "dim_plane",
        snapshots=read_raw(dim.sparkSession, project, "raw_planes"),
        current=dim,
        run_date="2013-01-14",
    )
    assert again["merged"] == [] and again["dim_plane"] is dim


@pytest.mark.spark
@pytest.mark.slow
def test_fact_and_report_for_one_day(spark: Any, warehouse: dict[str, Any], project: Project) -> None:
    run_date = "2013-01-09"
    flights = warehouse["flights"].filter("carrier IS NOT NULL")  # what the quarantine leaves
    fact = transform(
        "fact_flights",
        flights=flights,
        carriers=warehouse["dim_carrier"],
        airports=warehouse["dim_airport"],
        planes=warehouse["dim_plane"],
        weather=read_raw(spark, project, "raw_weather"),
        run_date=run_date,
    )["fact"]
    fact = stored(spark, project, fact, "fact_flights")
    day = flights.filter(f"flight_date = DATE'{run_date}'")
    assert fact.count() == day.count() > 800
    assert failures(fact, "fact_flights") == {}
    assert fact.filter("temp IS NOT NULL").count() > 0.9 * fact.count()
    # planes are joined as of the flight date: a plane changed on 2013-01-08 shows its new seats
    dim = warehouse["dim_plane"]
    new_seats = {r.tailnum: r.seats for r in dim.filter("is_current AND valid_from = DATE'2013-01-08'").collect()}
    flown = fact.filter(fact.tailnum.isin(list(new_seats))).select("tailnum", "plane_seats").collect()
    assert all(r.plane_seats == new_seats[r.tailnum] for r in flown)
    contract_matches(project, "fact_flights", fact)

    ns = transform(
        "daily_delay_report",
        fact=fact,
        carriers=warehouse["dim_carrier"],
        airports=warehouse["dim_airport"],
        run_date=run_date,
    )
    table = ns["daily_delay"].toPandas()  # the notebook shows it from the rows its check materialized
    origins = table[table.dimension == "origin"]
    assert sorted(origins.code) == ["EWR", "JFK", "LGA"]
    assert int(origins.flights.sum()) == fact.count()
    contract_matches(project, "daily_delay", ns["daily_delay"])
    assert int(table[table.dimension == "carrier"].flights.sum()) == fact.count()
    assert table.on_time_pct.between(0, 100).all()
    assert failures(ns["daily_delay"], "daily_delay") == {}
