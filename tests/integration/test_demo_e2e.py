"""`nbpipe demo` end to end, as `make demo` runs it: a fresh copy of the example project, 7 landed
days, one shared Spark Connect server, six production runs in dependency order; then a rerun that
finds everything up to date.

The expected counts come from the landing zone's own summary of what it injected (see
``nbpipe.examples.flights``): on 2013-01-02 an unparseable number and a truncated line (rejected by
ingest_flights), on 2013-01-03 two null carriers (quarantined by the flights suite), on
2013-01-05 a duplicated line (dropped).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbpipe.core.config import load_project
from nbpipe.examples import flights as demo
from nbpipe.run.store import RunStore

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]
NBPIPE = str(Path(sys.executable).parent / "nbpipe")
PIPELINES = {"ingest_flights", "dim_carrier", "dim_airport", "dim_plane", "fact_flights", "daily_delay_report"}


def _demo(root: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([NBPIPE, "demo", "--days", "7"], cwd=root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_demo_runs_every_pipeline_in_order_then_is_up_to_date(tmp_path: Path) -> None:
    root = tmp_path / "flights"
    root.mkdir()
    shutil.copy(ROOT / "nbpipe.yaml", root / "nbpipe.yaml")
    for folder in ("notebooks", "contracts", "expectations"):
        shutil.copytree(ROOT / folder, root / folder)
    landed = demo.land(root, days=7)
    kinds = [d["kind"] for found in landed["defects"].values() for d in found]
    assert sorted(kinds) == ["duplicate_row", "null_carrier", "null_carrier", "unparseable_number",
                             "wrong_column_count"]
    lines = landed["rows"]["flights"]

    first = _demo(root)
    assert "0 file(s) written" in first.stdout  # landed above; the demo finds every file unchanged
    project = load_project(project_dir=root)
    with RunStore(project.store_url) as store:
        runs = store.list_runs(limit=50)
        assert sorted(r["pipeline"] for r in runs) == sorted(PIPELINES)
        assert {r["status"] for r in runs} == {"succeeded"}
        order = [r["pipeline"] for r in sorted(runs, key=lambda r: r["started_at"])]
        assert order.index("ingest_flights") < order.index("fact_flights") < order.index("daily_delay_report")
        out = {(r["pipeline"], r["dataset"]): r for r in store.dataset_history() if r["direction"] == "out"}
        ins = {(r["pipeline"], r["dataset"]): r for r in store.dataset_history() if r["direction"] == "in"}
    # every line is accounted for: ingested, rejected by the notebook, dropped as a duplicate, or
    # quarantined by the suite's gate (the two null carriers)
    assert out["ingest_flights", "flights_rejected"]["rows"] == 2
    assert out["ingest_flights", "flights__rejected"]["rows"] == 2  # the suite's quarantine
    assert out["ingest_flights", "flights"]["rows"] == sum(lines.values()) - 2 - 1 - 2
    assert ins["ingest_flights", "raw_flights"]["rows"] == sum(lines.values())
    # the fact and the report cover the latest landed day only, which has no defect
    assert out["fact_flights", "fact_flights"]["rows"] == lines["2013-01-07"]
    assert out["daily_delay_report", "daily_delay"]["rows"] > 3  # carriers + the three NYC origins
    # every output is written under its contract (none is inferred any more)
    versions = {key[1]: r["schema_version"] for key, r in out.items()}
    assert versions == {**dict.fromkeys(versions, "1.0"), "flights_rejected": None, "flights__rejected": None}
    assert (root / "runs" / "index.html").is_file()
    catalog = root / "runs" / "_catalog"  # the demo builds the data catalog too
    assert {p.stem for p in (catalog / "pipelines").glob("*.html")} >= set(PIPELINES)
    assert "flights_rejected" in (catalog / "index.html").read_text(encoding="utf-8")
    report = next((root / "runs" / "daily_delay_report").glob("*/report.html")).read_text(encoding="utf-8")
    assert "<script" not in report.lower() and "data:image/png;base64," in report

    _demo(root)
    with RunStore(project.store_url) as store:
        again = [r for r in store.list_runs(limit=50) if r["run_id"] not in {x["run_id"] for x in runs}]
    assert sorted(r["pipeline"] for r in again) == sorted(PIPELINES)
    assert {r["status"] for r in again} == {"skipped"}, [(r["pipeline"], r["status"]) for r in again]
    assert not list((root / "runs" / ".kernels").glob("*")), "no spare kernel or environment file is left"
