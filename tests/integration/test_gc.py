"""``nbpipe gc`` on real partitioned datasets published by the publish code, and a real SQLite store.

Partitions are real parquet files (pyarrow) staged as a run stages them and swapped in by
:func:`nbpipe.run.publish.publish`, so each dataset has its commit manifest. Dates are relative to
today (gc compares partition values with the wall clock's date).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nbpipe.core.config import load_project
from nbpipe.core.layout import RUN_ID_COLUMN, RunDir, write_marker
from nbpipe.core.manifest import committed_files, read_manifest
from nbpipe.errors import ConfigError, ParameterError
from nbpipe.ops.retention import GC_POINTS
from nbpipe.run.failpoints import ENV
from nbpipe.run.locks import PipelineLock
from nbpipe.run.publish import publish
from nbpipe.run.store import RunStore
from tests.support.cli import run_cli
from tests.support.projects import write_config

TODAY = dt.datetime.now(dt.UTC).date()
DAYS_AGO = (1, 5, 29, 31, 40, 60)  # retention_days 30: 31, 40 and 60 days ago are expired


def day(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def run_id(days_ago: int, n: int = 0) -> str:
    moment = dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(6, n), dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%S") + f"000000Z-{days_ago:03d}{n:03d}"


def stage_and_publish(project: Any, rid: str, dataset: str, units: dict[str, int], column: str) -> None:
    """Stage one parquet file per unit as a run does, then publish it as the runner does."""
    run_dir = RunDir.of(project.runs_dir, "load", rid).path
    for unit, rows in units.items():
        unit_dir = RunDir(run_dir).staging / dataset / unit
        unit_dir.mkdir(parents=True)
        pq.write_table(pa.table({"id": list(range(rows))}), unit_dir / "part-00000.parquet")
        write_marker(unit_dir, run_id=rid, attempt=1, dataset=dataset)
    event = {"kind": "dataset_staged", "dataset": dataset, "partition_by": [column],
             "partitions": list(units), "rows": sum(units.values()), "format": "parquet"}
    publish(project, run_dir, [event])


def record(rid: str, pipeline: str, status: str, days_ago: int) -> dict[str, Any]:
    started = dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(6), dt.UTC)
    return {"schema_version": 1, "run_id": rid, "pipeline": pipeline, "status": status, "mode": "prod",
            "started_at": started.isoformat(), "ended_at": started.isoformat(), "duration_s": 1.0,
            "datasets": {"inputs": [], "outputs": []}}


@pytest.fixture
def project(tmp_path: Path) -> Any:
    root = write_config(
        tmp_path / "p",
        datasets={"events": {"partition_by": ["day"], "retention_days": 30, "quarantine_retention_days": 10},
                  "totals": {}},
        pipelines={"load": {"notebook": "load.ipynb", "writes": ["events"]},
                   "summary": {"notebook": "summary.ipynb", "reads": ["events"], "writes": ["totals"]}},
        runs={"retention_days": 30, "keep_failed": 1},
    )
    for name in ("load", "summary"):
        (root / f"{name}.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                          "nbformat_minor": 5}))
    proj = load_project(project_dir=root)
    for n in DAYS_AGO:
        stage_and_publish(proj, run_id(n), "events", {f"day={day(n)}": 3}, "day")
        stage_and_publish(proj, run_id(n), "events__rejected", {f"{RUN_ID_COLUMN}={run_id(n)}": 1}, RUN_ID_COLUMN)
    with RunStore(proj.store_url) as store:
        for n in DAYS_AGO:
            store.save_run(record(run_id(n), "load", "succeeded", n), [])
            RunDir.of(proj.runs_dir, "load", run_id(n)).record.write_text("{}")
        for n, status in ((45, "failed"), (50, "failed"), (55, "running"), (70, "succeeded")):
            store.save_run(record(run_id(n, 1), "summary", status, n), [])
            RunDir.of(proj.runs_dir, "summary", run_id(n, 1)).path.mkdir(parents=True)
    # a dead run's staging: its record says failed
    dead = RunDir.of(proj.runs_dir, "load", run_id(2, 9))
    (dead.staging / "events" / f"day={day(2)}").mkdir(parents=True)
    dead.record.write_text(json.dumps({"status": "failed"}))
    return proj


def units(proj: Any, dataset: str = "events") -> list[str]:
    return sorted(read_manifest(proj.warehouse / dataset)["units"])


def test_dry_run_lists_then_yes_deletes_exactly_the_expired_and_is_idempotent(project: Any) -> None:
    root = project.root
    before = sorted(p.relative_to(project.warehouse).as_posix() for p in project.warehouse.rglob("*"))
    dry = run_cli(root, "gc")
    assert dry.returncode == 0, dry.stderr
    for n in (31, 40, 60):
        assert f"would delete partition events/day={day(n)}" in dry.stdout
    for n in (1, 5, 29):
        assert f"events/day={day(n)}" not in dry.stdout
    for n in (29, 31, 40, 60):  # quarantine keeps 10 days
        assert f"would delete quarantine partition events__rejected/{RUN_ID_COLUMN}={run_id(n)}" in dry.stdout
    assert f"would delete run load/{run_id(31)}" in dry.stdout and f"load/{run_id(60)}" in dry.stdout
    assert f"would delete run summary/{run_id(50, 1)}" in dry.stdout, "older than the 1 kept failed run"
    for kept in (run_id(45, 1), run_id(55, 1), run_id(70, 1)):  # last failed, running, last succeeded
        assert kept not in dry.stdout
    assert "would delete staging" in dry.stdout and "would be reclaimed" in dry.stdout
    assert sorted(p.relative_to(project.warehouse).as_posix() for p in project.warehouse.rglob("*")) == before

    done = run_cli(root, "gc", "--yes")
    assert done.returncode == 0, done.stderr
    assert units(project) == [f"day={day(n)}" for n in (29, 5, 1)]
    assert units(project, "events__rejected") == [f"{RUN_ID_COLUMN}={run_id(n)}" for n in (5, 1)]
    on_disk = sorted(p.name for p in (project.warehouse / "events").iterdir() if p.is_dir())
    assert on_disk == [f"day={day(n)}" for n in (29, 5, 1)]
    files = committed_files(project.warehouse / "events", "events")
    assert pq.read_table([str(f) for f in files]).num_rows == 9
    assert not list(project.warehouse.glob(".*.publish")), "no gc work directory is left"
    with RunStore(project.store_url) as store:
        left = {r["run_id"] for r in store.list_runs(limit=100)}
        with pytest.raises(ParameterError):
            store.get_run(run_id(40))
    assert left == {run_id(n) for n in (1, 5, 29)} | {run_id(n, 1) for n in (45, 55, 70)}
    assert not RunDir.of(project.runs_dir, "load", run_id(40)).path.exists()
    assert not RunDir.of(project.runs_dir, "load", run_id(2, 9)).staging.exists()
    assert RunDir.of(project.runs_dir, "summary", run_id(45, 1)).path.exists()

    again = run_cli(root, "gc", "--yes")
    assert again.returncode == 0 and "deleted 0 item(s), reclaimed 0 B" in again.stdout, again.stdout


def test_a_running_reader_and_unconsumed_state_protect_partitions(project: Any) -> None:
    with PipelineLock(project.runs_dir, "summary", "r-live", "now"):
        out = run_cli(project.root, "gc", "--yes", "--dataset", "events")
    assert out.returncode == 0, out.stderr
    assert "skipped events: pipeline 'summary' is already running: run r-live" in out.stdout
    assert len(units(project)) == len(DAYS_AGO), "nothing of a dataset a running run reads is deleted"
    # an incremental reader that has read every file but those of 40 days ago, and a watermark at 60 days ago
    listing = {f"day={day(n)}/part-00000.parquet": {"size": 1, "mtime_ns": 1} for n in DAYS_AGO if n != 40}
    with RunStore(project.store_url) as store:
        store.commit_state("summary", "r-s", {"events": {"kind": "files", "files": listing}}, committed_at=day(0))
    out = run_cli(project.root, "gc", "--yes", "--dataset", "events")
    assert f"keep events/day={day(40)}: an incremental reader has not read it yet" in out.stdout
    assert units(project) == [f"day={day(n)}" for n in (40, 29, 5, 1)]
    with RunStore(project.store_url) as store:
        store.commit_state("summary", "r-s", {"events": {"kind": "watermark", "column": "day", "type": "date",
                                                         "high": day(45)}}, committed_at=day(0))
    out = run_cli(project.root, "gc", "--yes", "--dataset", "events")
    assert f"keep events/day={day(40)}: a watermark on day points at" in out.stdout
    assert day(40) in " ".join(units(project))


def test_kill_9_at_each_gc_point_leaves_whole_datasets_and_the_next_gc_finishes(project: Any) -> None:
    """gc is killed at each of its points in turn, each run resuming what the killed one left."""
    for point in GC_POINTS:
        killed = run_cli(project.root, "gc", "--yes", env={ENV: point})
        assert killed.returncode == -9, (point, killed.stdout, killed.stderr)
        for dataset, rows in (("events", {18, 9}), ("events__rejected", {6, 2})):
            files = committed_files(project.warehouse / dataset, dataset)  # raises if a committed file is gone
            assert pq.read_table([str(f) for f in files]).num_rows in rows, (point, dataset)
    assert units(project) == [f"day={day(n)}" for n in (29, 5, 1)], "the first kill came after the commit"
    finished = run_cli(project.root, "gc", "--yes")
    assert finished.returncode == 0, finished.stderr
    assert units(project) == [f"day={day(n)}" for n in (29, 5, 1)]
    assert sorted(p.name for p in (project.warehouse / "events").iterdir() if p.is_dir()) == units(project)
    assert not list(project.warehouse.glob(".*.publish")), "the killed gcs' work directories are gone"
    with RunStore(project.store_url) as store:
        assert {r["run_id"] for r in store.list_runs("load", limit=100)} == {run_id(n) for n in (1, 5, 29)}
    assert not RunDir.of(project.runs_dir, "load", run_id(60)).path.exists()
    again = run_cli(project.root, "gc", "--yes")
    assert "deleted 0 item(s)" in again.stdout, again.stdout


def test_bad_retention_input_names_the_key_and_exits_with_its_code(tmp_path: Path) -> None:
    nb = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    cases = [
        ({"flat": {"retention_days": 30}}, "datasets.flat: retention_days needs a date partition column"),
        ({"d": {"partition_by": ["day"], "retention_days": 0}}, "datasets.d.retention_days"),
        ({"d": {"partition_by": ["day"], "retention_days": 5, "retention_column": "dy"}},
         "retention_column 'dy' is not one of partition_by"),
    ]
    out = run_cli(write_config(tmp_path / "c", datasets=cases[0][0]), "gc")
    assert (out.returncode, out.stdout) == (2, ""), out
    assert cases[0][1] in out.stderr and "Traceback" not in out.stderr
    for i, (datasets, needle) in enumerate([*cases[1:], ({}, "runs.retention_days")]):
        root = write_config(tmp_path / f"c{i}", datasets=datasets, runs={"retention_days": -3 if not datasets else 5})
        with pytest.raises(ConfigError, match=re.escape(needle)) as caught:
            load_project(project_dir=root)
        assert caught.value.exit_code == 2
    root = write_config(tmp_path / "bad", datasets={"d": {"partition_by": ["region"], "retention_days": 5}},
                        pipelines={"p": {"notebook": "p.ipynb"}})
    (root / "p.ipynb").write_text(nb)
    (root / "warehouse" / "d" / "region=eu").mkdir(parents=True)
    (root / "warehouse" / "d" / "region=eu" / "part-0.parquet").write_bytes(b"x")
    out = run_cli(root, "gc", "--yes")
    assert out.returncode == 6 and "partition 'region=eu' has no date in its column 'region'" in out.stderr
    assert "retention_column" in out.stderr and (root / "warehouse" / "d" / "region=eu").is_dir()
    out = run_cli(root, "gc", "--dataset", "e")
    assert out.returncode == 6 and "dataset 'e' is not declared" in out.stderr
    assert os.listdir(root / "warehouse" / "d") == ["region=eu"]
