"""How long does ``nbpipe cost`` take on a store of 10k and 100k runs? (target: < 1 s)

The runs are cloned from a real store: ``--source DIR`` names a project whose run store holds
real runs (after ``nbpipe demo``, say); without it the script runs ``nbpipe demo --days 1`` in a
temporary project first. Each source run, with its measured cost lines, is copied to N runs spread
over the last 90 days and over ten copies of each pipeline name, into a fresh SQLite store (schema
of this nbpipe; the source is migrated on open if older). Timed: the ``nbpipe cost --since 30d``
command as a user runs it (a fresh process, by pipeline and by dataset), and the in-process
``cost_breakdown`` call, which is what the dashboard uses. Prints medians.

    python benchmarks/cost.py [--source DIR] [--sizes 10000 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from nbpipe.core.config import load_project
from nbpipe.ops.cost import cost_breakdown
from nbpipe.run.store import RunStore
from nbpipe.run.store_schema import cost_lines, runs

NBPIPE = [sys.executable, "-m", "nbpipe.cli"]


def source_rows(project_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The source store's finished runs and their cost lines."""
    project = load_project(project_dir=project_dir)
    with RunStore(project.store_url) as store, store.engine.connect() as conn:
        found = [dict(r) for r in conn.execute(sa.select(runs).where(runs.c.status != "running")).mappings()]
        lines = [dict(r) for r in conn.execute(sa.select(cost_lines)).mappings()]
    if not found:
        raise SystemExit(f"{project_dir}: the run store holds no finished runs to clone")
    return found, lines


def clone(target: Path, n: int, found: list[dict[str, Any]], lines: list[dict[str, Any]]) -> None:
    """A project in ``target`` whose store holds ``n`` runs cloned from ``found``."""
    pipelines = sorted({r["pipeline"] for r in found})
    config = {"project": "bench", "pipelines": {f"{p}_{k}": {"notebook": "x.ipynb"} for p in pipelines
                                                 for k in range(10)}}
    target.mkdir(parents=True)
    (target / "nbpipe.yaml").write_text(yaml.safe_dump(config))
    by_run: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_run.setdefault(line["run_id"], []).append(line)
    now = dt.datetime.now(dt.UTC)
    project = load_project(project_dir=target)
    with RunStore(project.store_url) as store:
        batch_runs: list[dict[str, Any]] = []
        batch_lines: list[dict[str, Any]] = []
        for i in range(n):
            src = found[i % len(found)]
            run_id = f"{i:08d}-{src['run_id']}"
            started = now - dt.timedelta(seconds=90 * 86400 * (i + 0.5) / n)
            pipeline = f"{src['pipeline']}_{i % 10}"
            batch_runs.append({**src, "run_id": run_id, "pipeline": pipeline, "started_at": started.isoformat()})
            for line in by_run.get(src["run_id"], ()):
                batch_lines.append({**line, "run_id": run_id, "pipeline": pipeline,
                                    "started_at": started.isoformat(), "day": started.date().isoformat()})
            if len(batch_runs) == 5000 or i == n - 1:
                with store.engine.begin() as conn:
                    conn.execute(runs.insert(), batch_runs)
                    if batch_lines:
                        conn.execute(cost_lines.insert(), batch_lines)
                batch_runs, batch_lines = [], []


def timed(fn: Any) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process and its children (the figure load does not inflate)."""
    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    start, start_cpu = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - start, cpu() - start_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, help="a project whose run store holds real runs (default: run the demo)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nbpipe-bench-cost-"))
    try:
        source = args.source
        if source is None:
            source = work / "demo"
            subprocess.run([*NBPIPE, "init", str(source)], check=True, capture_output=True)
            subprocess.run([*NBPIPE, "demo", "--days", "1"], cwd=source, check=True)
        found, lines = source_rows(source)
        print(f"source: {len(found)} runs, {len(lines)} cost lines from {source}")
        for n in args.sizes:
            target = work / f"store-{n}"
            clone(target, n, found, lines)
            project = load_project(project_dir=target)
            cases = {
                "nbpipe cost --since 30d": lambda t=target: subprocess.run(
                    [*NBPIPE, "cost", "--since", "30d"], cwd=t, check=True, capture_output=True),
                "nbpipe cost --since 30d --by dataset": lambda t=target: subprocess.run(
                    [*NBPIPE, "cost", "--since", "30d", "--by", "dataset"], cwd=t, check=True, capture_output=True),
            }
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in [*cases, "cost_breakdown() in-process"]}
            with RunStore(project.store_url) as store:
                for _ in range(args.runs):
                    for name, fn in cases.items():
                        times[name].append(timed(fn))
                    times["cost_breakdown() in-process"].append(
                        timed(lambda s=store, p=project: cost_breakdown(p, s, since="30d", by="pipeline")))
            for name, values in times.items():
                wall, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
                verdict = "ok" if wall < 1 else "MISSED"
                print(f"{n:>7} runs  {name:<40} median {wall:6.3f} s wall, {cpu:6.3f} s CPU  (target < 1 s: {verdict})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
