"""``nbpipe backfill`` on a local profile: the days share one Spark Connect server started for the command.

The same two-day backfill of a Spark notebook runs twice on copies of one project: with
``--local-spark`` (each day's kernel starts its own JVM, as before) and by default (one server for
the whole backfill, stopped at its end). Both publish the same rows and record the same metrics.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import yaml

from nbpipe.core.config import load_project
from nbpipe.run.store import RunStore
from tests.support.cli import start_cli
from tests.support.projects import copy_notebook, write_config

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.cluster]

DAYS = {"2024-05-01": [(1, 10.5), (2, 20.0)], "2024-05-02": [(3, 7.25)]}
SERVER_LINE = "shared Spark Connect server: sc://127.0.0.1:"


def make_project(root: Path) -> Path:
    root.mkdir()
    copy_notebook(root, "incremental_ingest")
    for day, rows in DAYS.items():
        target = root / "landing" / "events" / f"day={day}" / "part.csv"
        target.parent.mkdir(parents=True)
        target.write_text("id,amount\n" + "".join(f"{i},{a}\n" for i, a in rows))
    (root / "contracts").mkdir()
    (root / "contracts" / "events.yaml").write_text(yaml.safe_dump({
        "dataset": "events", "version": "1.0", "partition_by": ["day"],
        "columns": [{"name": n, "type": t, "nullable": n != "day"}
                    for n, t in (("day", "string"), ("id", "int"), ("amount", "double"), ("amount_x2", "double"))],
    }, sort_keys=False))
    return write_config(
        root, project="shared",
        profiles={"dev": {"spark": {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "2"}}}},
        datasets={"landing": {"path": "landing/events", "format": "csv", "options": {"header": "true"}},
                  "events": {"format": "parquet", "partition_by": ["day"]}},
        pipelines={"ingest": {"notebook": "incremental_ingest.ipynb", "reads": ["landing"], "writes": ["events"],
                              "params": {"run_date": {"type": "date"}}}},
    )


def backfill_counting_jvms(root: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run a two-day backfill in ``root``; return it and how many JVMs ran with their files in ``root``."""
    proc = start_cli(root, "backfill", "ingest", "--from", "2024-05-01", "--to", "2024-05-02", *flags,
                     env={"COLUMNS": "200"})
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.communicate(timeout=900)))
    reader.start()
    jvms: set[int] = set()
    while reader.is_alive():  # a JVM lives for seconds: polling every 0.1 s sees each one
        for p in psutil.process_iter(["name", "cwd", "cmdline"]):
            launcher = "org.apache.spark.launcher.Main" in (p.info["cmdline"] or [])  # spark-submit's helper
            if p.info["name"] == "java" and str(p.info["cwd"] or "").startswith(str(root)) and not launcher:
                jvms.add(p.pid)
        reader.join(0.1)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out[0], out[1]), len(jvms)


def published(root: Path) -> tuple[list[tuple], dict[str, float]]:
    """The published rows (sorted) and each day's rows_in metric."""
    project = load_project(project_dir=root)
    files = sorted(p for p in root.rglob("*.parquet") if "runs" not in p.relative_to(root).parts)
    rows = sorted(
        (p.parent.name, *r.values()) for p in files for r in pq.read_table(p).to_pylist()
    )
    with RunStore(project.store_url) as store:
        runs = store.list_runs("ingest", limit=10)
    metrics = {}
    for run in runs:
        record = json.loads((root / "runs" / "ingest" / run["run_id"] / "run.json").read_text())
        assert record["status"] == "succeeded", record.get("error")
        metrics[record["params"]["run_date"]] = record["metrics"]["rows_in"]
    return rows, metrics


def test_a_backfill_shares_one_spark_and_publishes_what_per_kernel_spark_does(tmp_path: Path) -> None:
    base = make_project(tmp_path / "base")
    shared = tmp_path / "shared"
    shutil.copytree(base, shared)

    before, jvms_before = backfill_counting_jvms(base, "--local-spark")
    assert before.returncode == 0, before.stdout + before.stderr
    assert SERVER_LINE not in before.stderr and not (base / "runs" / ".spark" / "connect.log").exists()
    assert jvms_before == 2, "one JVM per day's kernel"

    after, jvms_after = backfill_counting_jvms(shared)
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stderr.count(SERVER_LINE) == 1, after.stderr
    assert jvms_after == 1, "one JVM, the shared server, for the whole backfill"
    state = shared / "runs" / ".spark"
    assert (state / "connect.log").is_file(), "the days ran on the server nbpipe started"
    assert not (state / "connect.json").exists(), "the server was stopped when the backfill ended"

    rows, metrics = published(shared)
    assert (rows, metrics) == published(base)
    assert metrics == {"2024-05-01": 2, "2024-05-02": 1}
    assert [r[:3] for r in rows] == [("day=2024-05-01", 1, 10.5), ("day=2024-05-01", 2, 20.0),
                                     ("day=2024-05-02", 3, 7.25)]
