"""``nbpipe docs`` on a large project: 200 datasets (each with a contract), 100 pipelines, 10,000 runs.

The run store (SQLite) is filled beforehand with the runner's own row mapping
(:func:`nbpipe.run.store_schema.run_row` / ``child_rows``) in one transaction: every run read one
dataset, wrote one and checked it with three expectations. Timed: ``nbpipe docs`` as a fresh process
(what a user waits for, interpreter start included), and the in-process build. Target: < 5 s.

    python benchmarks/docs.py [--runs 3] [--datasets 200] [--history 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 5.0


def build(root: Path, datasets: int, history: int) -> None:
    import yaml

    from nbpipe.core.config import load_project
    from nbpipe.core.contracts import Column, Contract, save_contract
    from nbpipe.run.store import RunStore
    from nbpipe.run.store_schema import RUN_CHILDREN, child_rows, run_row, runs

    pipelines = datasets // 2
    config = {
        "project": "bench", "profiles": {"dev": {"store": "sqlite:///runs/nbpipe.db"}},
        "datasets": {f"d{i:03d}": {"format": "parquet", "owner": f"team {i % 7}", "tags": [f"t{i % 5}"],
                                   "description": f"dataset {i}"} for i in range(datasets)},
        "pipelines": {f"p{i:03d}": {"notebook": f"p{i}.ipynb", "reads": [f"d{2 * i:03d}"],
                                    "writes": [f"d{2 * i + 1:03d}"], "schedule": "@daily",
                                    "params": {"run_date": {"type": "date", "description": "day"}}}
                      for i in range(pipelines)},
    }  # fmt: skip
    root.mkdir(parents=True)
    (root / "nbpipe.yaml").write_text(yaml.safe_dump(config))
    for i in range(datasets):
        cols = tuple(Column(name=f"c{j}", type="bigint", description=f"column {j}", pii=j == 9) for j in range(10))
        save_contract(Contract(dataset=f"d{i:03d}", columns=cols), root / "contracts" / f"d{i:03d}.yaml")
    project = load_project(project_dir=root)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with RunStore(project.store_url) as store, store.engine.begin() as conn:
        run_rows, children = [], {t: [] for t in RUN_CHILDREN}
        for n in range(history):
            p = n % pipelines
            at = start + dt.timedelta(hours=n)
            record = {
                "run_id": f"{at:%Y%m%dT%H%M%SZ}-{n:05d}", "pipeline": f"p{p:03d}", "mode": "prod",
                "status": "failed" if n % 17 == 0 else "succeeded", "started_at": at.isoformat(),
                "ended_at": (at + dt.timedelta(seconds=40)).isoformat(), "duration_s": 40.0,
                "datasets": {"inputs": [{"dataset": f"d{2 * p:03d}", "rows": 1000 + n % 50}],
                             "outputs": [{"dataset": f"d{2 * p + 1:03d}", "rows": 900 + n % 40,
                                          "schema_version": "1.0"}]},
                "checks": [{"suite": f"d{2 * p + 1:03d}", "dataset": f"d{2 * p + 1:03d}", "results": [
                    {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": f"c{k}"},
                     "success": (n + k) % 11 != 0} for k in range(3)]}],
            }  # fmt: skip
            run_rows.append(run_row(record, {}))
            for table, rows in child_rows(record, []).items():
                children[table] += [{"run_id": record["run_id"], **r} for r in rows]
        conn.execute(runs.insert(), run_rows)
        for table, rows in children.items():
            if rows:
                conn.execute(table.insert(), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--history", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nbpipe-docs-")) / "proj"
    t0 = time.perf_counter()
    build(root, args.datasets, args.history)
    print(f"setup: {args.datasets} datasets, {args.history} runs in {time.perf_counter() - t0:.1f} s")

    cli, cpu, inproc = [], [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-m", "nbpipe.cli", "docs"], cwd=root, capture_output=True,
                              text=True, check=False)
        cli.append(time.perf_counter() - t0)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"nbpipe docs failed: {done.stderr}")
    from nbpipe.core.config import load_project
    from nbpipe.ops.catalog import build_docs
    from nbpipe.run.store import RunStore

    project = load_project(project_dir=root)
    for _ in range(args.runs):
        t0 = time.perf_counter()
        with RunStore(project.store_url) as store:
            result = build_docs(project, store)
        inproc.append(time.perf_counter() - t0)
    pages = result.datasets + result.pipelines + 1
    median = statistics.median(cli)
    print(f"nbpipe docs (fresh process): median {median:.2f} s over {args.runs} runs ({pages} pages)")
    print(f"nbpipe docs CPU time:        median {statistics.median(cpu):.2f} s (wall includes waiting for a core)")
    print(f"build_docs (in process):     median {statistics.median(inproc):.2f} s")
    print(f"target < {TARGET_S:.0f} s: {'met' if median < TARGET_S else 'MISSED'} (ratio {median / TARGET_S:.2f})")


if __name__ == "__main__":
    main()
