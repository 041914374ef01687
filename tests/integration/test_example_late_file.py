"""The worked example's ingest with a late file: the afternoon drop of a day lands after the day was
published. Its flights are merged into the day (``write_mode: merge`` in ``nbpipe.yaml``); before,
the late file's flights replaced the day's published ones.

The committed ``ingest_flights`` transform cells run on the real landed files; the writes go
through the production path (contract, primary key, staging, publish) with the example's config.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events
from nbpipe.core.config import Project, load_project
from nbpipe.data.write import write_dataset
from nbpipe.examples import flights as demo
from nbpipe.notebook import run_tagged_cells
from nbpipe.run.publish import publish
from tests.integration.example_notebooks import ROOT
from tests.support.scope import ScopeForTest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SPLIT_DAY = "2013-01-03"  # d % 3 == 2: a morning and an afternoon drop


def ingest(spark: Any, project: Project, run_id: str, files: list[Path]) -> int:
    """One ``ingest_flights`` run over ``files``: transform, drop null carriers (the suite's
    quarantine does that in a run), write and publish ``flights``. Returns the rows written."""
    landing = project.path(project.dataset("raw_flights").path or "")
    raw = spark.read.option("header", "true").option("basePath", str(landing)).csv([str(f) for f in files])
    flights = run_tagged_cells(ROOT / "notebooks" / "ingest_flights.ipynb", {"raw": raw})["flights"]
    ctx = ScopeForTest(project, spark, project.runs_dir / "ingest_flights" / run_id, run_id=run_id,
                       pipeline="ingest_flights")
    write_dataset(ctx, flights.where("carrier IS NOT NULL"), "flights")
    publish(project, ctx.run_dir, ctx.events(events.DATASET_STAGED) + ctx.events(events.DATASET_REJECTED))
    return int(flights.where("carrier IS NOT NULL").count())


def test_a_late_file_for_an_ingested_day_is_merged_not_replacing_it(tmp_path: Path, spark: Any) -> None:
    root = tmp_path / "flights"
    root.mkdir()
    shutil.copy(ROOT / "nbpipe.yaml", root / "nbpipe.yaml")
    shutil.copytree(ROOT / "contracts", root / "contracts")
    demo.land(root, days=3)
    project = load_project(project_dir=root)
    day = project.path("data/landing/flights") / f"date={SPLIT_DAY}"
    morning, afternoon = sorted(day.glob("part-*.csv"))
    assert project.dataset("flights").write_mode == "merge"

    first = ingest(spark, project, "r1", [morning])
    late = ingest(spark, project, "r2", [afternoon])
    published = spark.read.parquet(str(project.warehouse / "flights")).where(f"flight_date = DATE'{SPLIT_DAY}'")
    assert published.count() == first + late, "the late file's flights joined the day; none was lost"
    assert published.where("sched_dep_time >= 1500").count() == late
    # The same late file again (a rerun) changes nothing.
    files = {p: p.read_bytes() for p in (project.warehouse / "flights").rglob("*.parquet")}
    ingest(spark, project, "r3", [afternoon])
    assert {p: p.read_bytes() for p in (project.warehouse / "flights").rglob("*.parquet")} == files
