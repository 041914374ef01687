"""How long does ``nbpipe monitor --once`` take over a big run store?

Builds a SQLite store holding 100,000 runs of 50 hourly pipelines (each writing one dataset, with
one quality check per run; bulk-inserted; ten pipelines late, five datasets with a volume drop), a
project declaring those pipelines with schedules and ``expect_rows``, then times, each in a fresh
process and interleaved (after a first pass that opens the alerts; later passes count repeats):

* ``nbpipe --help`` (the CLI's start: interpreter, imports, argument parsing), the baseline;
* ``nbpipe monitor --once`` (every rule over every pipeline and dataset, alert state written);
* ``nbpipe runs --limit 1`` (the same imports and store, one query), to tell imports from the pass;
* and one pass in this process (no imports, no process start).

Prints the medians and the difference, which is what the monitor itself costs (target < 1 s).

    python benchmarks/monitor.py [--runs 5] [--pipelines 50] [--total 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NBPIPE = [sys.executable, "-m", "nbpipe.cli"]


def build(root: Path, pipelines: int, total: int) -> None:
    from nbpipe.run.store import RunStore
    from nbpipe.run.store_schema import checks, datasets, runs

    names = [f"p{i:02d}" for i in range(pipelines)]
    config = {"project": "bench",
              "datasets": {f"d_{n}": {"expect_rows": {"min": 1}} for n in names},
              "pipelines": {n: {"notebook": f"{n}.ipynb", "writes": [f"d_{n}"], "schedule": "@hourly"}
                            for n in names}}
    (root / "nbpipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    store = RunStore(f"sqlite:///{root / 'runs' / 'nbpipe.db'}")
    per = total // pipelines
    now = dt.datetime.now(dt.UTC)
    with store.engine.begin() as conn:
        for i, n in enumerate(names):
            # One pipeline in five stopped 5 hours ago (late), and one in ten wrote far too few rows last.
            end = now - dt.timedelta(minutes=10) - dt.timedelta(hours=5 if i % 5 == 0 else 0)
            run_rows, ds_rows, check_rows = [], [], []
            for k in range(per):
                at = end - dt.timedelta(hours=per - 1 - k)
                run_id = f"{n}-{k:06d}"
                status = "failed" if k % 17 == 5 else "succeeded"
                run_rows.append({"run_id": run_id, "pipeline": n, "status": status, "mode": "prod",
                                 "started_at": at.isoformat(), "ended_at": (at + dt.timedelta(minutes=3)).isoformat(),
                                 "duration_s": 180.0, "exit_code": 0 if status == "succeeded" else 10})
                rows = 1000 if (i % 10 == 3 and k == per - 1) else 10000 + (k * 37) % 400
                ds_rows.append({"run_id": run_id, "dataset": f"d_{n}", "direction": "out",
                                "rows": rows, "rejected_rows": k % 3})
                check_rows.append({"run_id": run_id, "suite": n, "dataset": f"d_{n}",
                                   "expectation_type": "expect_column_values_to_not_be_null", "column_name": "id",
                                   "success": k % 17 != 0})
            conn.execute(runs.insert(), run_rows)
            conn.execute(datasets.insert(), ds_rows)
            conn.execute(checks.insert(), check_rows)
    store.close()


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*NBPIPE, *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nbpipe {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pipelines", type=int, default=50)
    ap.add_argument("--total", type=int, default=100_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nbpipe-bench-monitor-"))
    try:
        began = time.perf_counter()
        build(work, args.pipelines, args.total)
        print(f"store: {args.total:,} runs of {args.pipelines} pipelines built in {time.perf_counter() - began:.1f} s")
        timed(["monitor", "--once"], work)  # the first pass opens this hour's alerts; later passes are steady state
        help_s, monitor_s, runs_s = [], [], []
        for _ in range(args.runs):
            help_s.append(timed(["--help"], work))
            monitor_s.append(timed(["monitor", "--once"], work))
            runs_s.append(timed(["runs", "--limit", "1"], work))
        in_process = []
        from nbpipe.core.config import load_project
        from nbpipe.ops.monitor.service import Monitor
        from nbpipe.run.store import RunStore

        project = load_project(project_dir=work)
        with RunStore(project.store_url) as store:
            for _ in range(args.runs):
                start = time.perf_counter()
                findings = len(Monitor(project, store).once().findings)
                in_process.append(time.perf_counter() - start)
        h, m = statistics.median(help_s), statistics.median(monitor_s)
        print(f"nbpipe --help          median {h:.3f} s  ({', '.join(f'{x:.2f}' for x in help_s)})")
        print(f"nbpipe monitor --once  median {m:.3f} s  ({', '.join(f'{x:.2f}' for x in monitor_s)})")
        r = statistics.median(runs_s)
        print(f"nbpipe runs --limit 1  median {r:.3f} s  (the same imports: config, SQLAlchemy store; one query)")
        print(f"monitor beyond CLI start: {m - h:.3f} s (target < 1 s); ratio {m / h:.2f}x; "
              f"beyond `nbpipe runs`: {m - r:.3f} s")
        print(f"one pass in process (no imports): median {statistics.median(in_process):.3f} s, {findings} findings")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
