"""How long does ``nbpipe gc`` take to delete 1,000 partitions?

A dataset of 1,030 daily partitions (one small parquet file each, published by nbpipe's publish
code so it has its commit manifest) and ``retention_days: 30``: gc deletes the 1,000 oldest. Each
round restores a copy of the dataset and times, as fresh processes, the dry run (``nbpipe gc``)
and the delete (``nbpipe gc --yes``: manifest commit, then one rename per partition into the trash,
then the trash). Prints medians; baseline: ``nbpipe --help`` (the CLI's start-up).

    python benchmarks/gc.py [--runs 5] [--partitions 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nbpipe.core.config import load_project
from nbpipe.core.layout import RunDir, write_marker
from nbpipe.core.manifest import read_manifest
from nbpipe.run.publish import publish

BIN = Path(sys.executable).parent
KEEP = 30


def build(root: Path, partitions: int) -> None:
    (root / "nbpipe.yaml").write_text(
        f"project: bench\ndatasets:\n  events: {{partition_by: [day], retention_days: {KEEP}}}\n")
    project = load_project(project_dir=root)
    run_dir = RunDir.of(project.runs_dir, "load", "20240101T000000000000Z-bench0")
    today = dt.datetime.now(dt.UTC).date()
    units = []
    table = pa.table({"id": list(range(100))})
    for n in range(partitions + KEEP):
        unit = f"day={today - dt.timedelta(days=n)}"
        unit_dir = RunDir(run_dir.path).staging / "events" / unit
        unit_dir.mkdir(parents=True)
        pq.write_table(table, unit_dir / "part-00000.parquet")
        write_marker(unit_dir, run_id=run_dir.run_id, attempt=1, dataset="events")
        units.append(unit)
    publish(project, run_dir.path, [{"kind": "dataset_staged", "dataset": "events", "partition_by": ["day"],
                                     "partitions": units, "rows": 100 * len(units), "format": "parquet"}])
    shutil.rmtree(run_dir.path)


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN / "nbpipe"), *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--partitions", type=int, default=1000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nbpipe-bench-gc-"))
    try:
        template = work / "template"
        template.mkdir()
        build(template, args.partitions)
        times: dict[str, list[float]] = {"nbpipe --help": [], "gc (dry run)": [], "gc --yes": []}
        for i in range(args.runs):
            root = work / f"round{i}"
            shutil.copytree(template, root, symlinks=True)
            times["nbpipe --help"].append(timed(["--help"], root))
            times["gc (dry run)"].append(timed(["gc"], root))
            times["gc --yes"].append(timed(["gc", "--yes"], root))
            left = len(read_manifest(root / "warehouse" / "events")["units"])
            assert left == KEEP + 1 or left == KEEP, left  # today's partition and 30 days back
            shutil.rmtree(root)
        print(f"\nnbpipe gc — {args.partitions} expired partitions of {args.partitions + KEEP}, "
              f"{args.runs} rounds, cpus={os.cpu_count()}")
        print(f"{'case':16} {'median s':>9} {'min s':>7} {'max s':>7}")
        for name, values in times.items():
            print(f"{name:16} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
