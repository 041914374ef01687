"""``nbpipe backfill ingest_flights`` on the worked example: each named day is re-ingested from its own
landing partition, after a run already ingested every day (the committed position does not move)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nbpipe.core.config import load_project
from nbpipe.examples import flights as demo
from nbpipe.run.store import RunStore
from tests.integration.example_notebooks import ROOT
from tests.support.cli import run_cli

pytestmark = [pytest.mark.spark, pytest.mark.slow]
DAYS = ["2013-01-01", "2013-01-02"]  # two days show the per-day re-read; each more costs a kernel run


def landed_rows(root: Path, day: str) -> int:
    """Data lines landed for ``day`` (every part file, header excluded)."""
    parts = (root / demo.LANDING / "flights" / f"date={day}").glob("part-*.csv")
    return sum(len(p.read_text(encoding="utf-8").splitlines()) - 1 for p in parts)


def test_backfill_of_the_example_ingest_reprocesses_each_day(tmp_path: Path, spark_connect_url: str) -> None:
    root = tmp_path / "flights"
    root.mkdir()
    shutil.copy(ROOT / "nbpipe.yaml", root / "nbpipe.yaml")
    for folder in ("contracts", "expectations"):
        shutil.copytree(ROOT / folder, root / folder)
    (root / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "ingest_flights.ipynb", root / "notebooks")
    demo.land(root, days=len(DAYS))
    env = {"NBPIPE_SPARK_REMOTE": spark_connect_url, "COLUMNS": "200"}

    # The scheduled run of the next day ingests every landed file (what `nbpipe demo` leaves behind).
    first = run_cli(root, "run", "ingest_flights", "-p", "run_date=2013-01-04", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    project = load_project(project_dir=root)
    with RunStore(project.store_url) as store:
        committed = store.get_state("ingest_flights")
    assert len(committed["raw_flights"]["files"]) >= len(DAYS)

    proc = run_cli(root, "backfill", "ingest_flights", "--from", DAYS[0], "--to", DAYS[-1], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with RunStore(project.store_url) as store:
        assert store.get_state("ingest_flights") == committed, "the backfill did not move the committed position"
        runs = store.list_runs("ingest_flights", limit=10)[: len(DAYS)]
    landed = {}
    for run in runs:
        record = json.loads((root / "runs" / "ingest_flights" / run["run_id"] / "run.json").read_text())
        assert record["status"] == "succeeded", record.get("error")
        landed[record["params"]["run_date"]] = record["metrics"]["rows_landed"]
    assert landed == {day: landed_rows(root, day) for day in DAYS}
    assert all(n > 0 for n in landed.values())
