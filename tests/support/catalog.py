"""A small project for the lineage and catalog tests: config, contracts, a suite, Parquet data, run history.

:func:`catalog_project` writes ``nbpipe.yaml`` (a CSV source, two Parquet outputs, two pipelines),
contracts with governance keys (one with a PII column), a suite, a published Parquet file (through
the manifest, as a publish leaves it) holding a ``<script>`` value, a fake run report, and run
records saved into a real SQLite run store with :meth:`RunStore.save_run` — the way the runner
saves them. ``daily_stats`` runs read ``airports``, which ``nbpipe.yaml`` does not declare.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project, load_project
from nbpipe.core.contracts import Column, Contract, save_contract
from nbpipe.run.store import RunStore
from tests.support.projects import write_config

PWN = "window.__pwned = 1; alert('pwned')"
EVIL = f"<script>{PWN}</script><img src=x onerror=\"{PWN}\">"
DAYS = 4


def _record(pipeline: str, day: int, status: str, inputs: list[dict[str, Any]],
            outputs: list[dict[str, Any]], checks: list[dict[str, Any]]) -> dict[str, Any]:
    start = dt.datetime(2013, 1, 1 + day, 6, tzinfo=dt.UTC)
    return {
        "schema_version": 1, "run_id": f"2013010{1 + day}T060000Z-{pipeline[:4]}", "pipeline": pipeline,
        "status": status, "mode": "prod", "profile": "dev", "started_at": start.isoformat(),
        "ended_at": (start + dt.timedelta(seconds=30)).isoformat(), "duration_s": 30.0,
        "params": {"run_date": f"2013-01-0{1 + day}", "api_token": "s3cr3t-token-value"},
        "datasets": {"inputs": inputs, "outputs": outputs}, "checks": checks,
    }


def _parquet(root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    unit = root / "flight_date=2013-01-01"
    unit.mkdir(parents=True)
    table = pa.table({"carrier": ["UA", EVIL], "flights": [12, 7], "flight_date": ["2013-01-01"] * 2})
    pq.write_table(table, unit / "part-0000.parquet")


def catalog_project(root: Path, store: str = "sqlite:///runs/nbpipe.db") -> Project:
    """Write the project into ``root`` and fill its run store (``store``: a URL); return it loaded."""
    write_config(
        root, project="catalogtest",
        profiles={"dev": {"store": store}},
        datasets={
            "raw_flights": {"path": "data/landing/flights", "format": "csv", "owner": "landing team",
                            "tags": ["source"], "description": "Daily CSV drops"},
            "flights": {"format": "parquet", "partition_by": ["flight_date"], "owner": "flights team",
                        "tags": ["core"], "description": f"Flights per carrier {EVIL}"},
            "passengers": {"format": "parquet", "pii": True, "description": "Who flew"},
            "daily_stats": {"format": "parquet"},
        },
        pipelines={
            "ingest_flights": {"notebook": "ingest.ipynb", "reads": ["raw_flights"], "writes": ["flights"],
                               "schedule": "@daily", "params": {
                                   "run_date": {"type": "date", "required": True, "description": "Day to load"},
                                   "api_token": {"type": "str", "secret": True}}},
            "daily_stats": {"notebook": "stats.ipynb", "reads": ["flights"], "writes": ["daily_stats"]},
            "passengers": {"notebook": "pax.ipynb", "writes": ["passengers"]},
        },
    )
    (root / "data" / "landing" / "flights").mkdir(parents=True)
    (root / "data" / "landing" / "flights" / "day1.csv").write_text("carrier,flights\nUA,12\n")
    save_contract(Contract(dataset="flights", version="1.1", owner="flights team", tags=("core", "daily"),
                           description=f"Flights per carrier and day {EVIL}", partition_by=("flight_date",),
                           columns=(Column(name="carrier", type="string", nullable=False,
                                           description=f"IATA code {EVIL}", tags=("dimension",)),
                                    Column(name="flights", type="bigint"),
                                    Column(name="flight_date", type="string"))),
                  root / "contracts" / "flights.yaml")
    save_contract(Contract(dataset="passengers", columns=(Column(name="name", type="string", pii=True),
                                                          Column(name="seat", type="string"))),
                  root / "contracts" / "passengers.yaml")
    (root / "expectations").mkdir()
    (root / "expectations" / "flights.json").write_text(
        '{"name": "flights", "expectations": [{"type": "expect_column_values_to_not_be_null", '
        '"kwargs": {"column": "carrier"}}]}')
    _parquet(root / "warehouse" / "flights")
    project = load_project(project_dir=root)
    with RunStore(project.store_url) as store:
        for day in range(DAYS):
            check = {"suite": "flights", "dataset": "flights", "results": [
                {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "carrier"},
                 "success": day != 2}]}
            store.save_run(_record("ingest_flights", day, "succeeded",
                                   [{"dataset": "raw_flights", "rows": 100 + day}],
                                   [{"dataset": "flights", "rows": 90 + 5 * day, "schema_version": "1.0" if day < 2
                                     else "1.1"}], [check]), [])
            store.save_run(_record("daily_stats", day, "succeeded" if day != 1 else "failed",
                                   [{"dataset": "flights", "rows": 90}, {"dataset": "airports", "rows": 3}],
                                   [{"dataset": "daily_stats", "rows": 1}], []), [])
    report = project.runs_dir / "ingest_flights" / "20130104T060000Z-inge" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<!DOCTYPE html><title>run report</title><h1 id='nbpipe-status'>succeeded</h1>")
    return project
