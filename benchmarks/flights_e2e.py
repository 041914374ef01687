"""The worked example over N days of NYC flights: nbpipe vs one pyspark script vs papermill per notebook.

Candidate: ``nbpipe demo --days 7`` on a fresh project (six notebooks run by papermill in
dependency order, each a production run with contracts, quality gates, staged atomic publish,
run records and a store; one shared Spark Connect server). Baseline: one plain Python process
that starts local Spark and runs exactly the same transformation cells of the same notebooks
(their ``transform``-tagged cells) on the same landed files, writing the same Parquet outputs,
with no checks and no records. Both are timed as fresh processes, including Spark start-up;
landing the data is done beforehand and not timed. Outputs are compared (row counts). A second
baseline runs the notebooks the way people do without nbpipe: each step by plain ``papermill`` as
its own process, each kernel starting its own local Spark, running the same transform cells. An
optional case runs the demo with ``--parallel N``. Rounds interleave the cases; the JVMs' CPU
seconds (``_jvm.JvmCpu``) are printed beside wall time. ``--days`` goes up to 365 (all of 2013).

    python benchmarks/flights_e2e.py [--runs 3] [--days 7|90|365] [--parallel 2] [--no-papermill]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _example import example_copy
from _jvm import JvmCpu

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def fresh_project(days: int) -> Path:
    return example_copy("nbpipe-e2e-", land_days=days)


STEPS = ("ingest_flights", "dim_carrier", "dim_airport", "dim_plane", "fact_flights", "daily_delay_report")
OUTPUTS = {"ingest_flights": "flights", "dim_carrier": "dim_carrier", "dim_airport": "dim_airport",
           "dim_plane": "dim_plane", "fact_flights": "fact_flights", "daily_delay_report": "daily_delay"}


def plain_step(root: Path, step: str, run_date: str, spark: Any = None) -> None:
    """One notebook's transform cells on plain pyspark: inputs from the landing zone or earlier steps' Parquet."""
    from nbpipe.core.config import load_project
    from nbpipe.notebook import run_tagged_cells
    from nbpipe.spark.session import build_session

    project = load_project(project_dir=root)
    spark = spark or build_session(project.profile.spark)

    def raw(name: str) -> Any:
        cfg = project.dataset(name)
        return spark.read.format(cfg.format).options(**cfg.options).load(str(project.path(cfg.path or "")))

    def stored(name: str) -> Any:
        return spark.read.parquet(str(root / "plain" / name))

    def transform(**inputs: Any) -> dict[str, Any]:
        return run_tagged_cells(root / "notebooks" / f"{step}.ipynb", inputs)

    def store(df: Any, name: str) -> None:
        df.write.mode("overwrite").partitionBy(*project.dataset(name).partition_by).parquet(str(root / "plain" / name))

    if step == "ingest_flights":
        store(transform(raw=raw("raw_flights"), run_date=run_date)["flights"].filter("carrier IS NOT NULL"), "flights")
    elif step == "dim_carrier":
        store(transform(airlines=raw("raw_airlines"))["dim_carrier"], "dim_carrier")
    elif step == "dim_airport":
        store(transform(airports_raw=raw("raw_airports"))["dim_airport"], "dim_airport")
    elif step == "dim_plane":
        store(transform(snapshots=raw("raw_planes"), current=None, run_date=run_date)["dim_plane"], "dim_plane")
    elif step == "fact_flights":
        out = transform(flights=stored("flights"), carriers=stored("dim_carrier"), airports=stored("dim_airport"),
                        planes=stored("dim_plane"), weather=raw("raw_weather"), run_date=run_date)
        store(out["fact"], "fact_flights")
    else:
        out = transform(fact=stored("fact_flights"), carriers=stored("dim_carrier"), airports=stored("dim_airport"),
                        run_date=run_date)
        store(out["daily_delay"], "daily_delay")


def baseline_child(root: Path, run_date: str) -> None:
    """The plain-pyspark pipeline: every step's transform cells in one process, one Spark."""
    from nbpipe.core.config import load_project
    from nbpipe.spark.session import build_session

    spark = build_session(load_project(project_dir=root).profile.spark)
    for step in STEPS:
        plain_step(root, step, run_date, spark)


def papermill_notebook(folder: Path) -> Path:
    """A notebook running one step, as a user would run each notebook with papermill and local Spark."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell('root = ""\nstep = ""\nrun_date = ""', metadata={"tags": ["parameters"]}),
        new_code_cell(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                      "from pathlib import Path\nfrom flights_e2e import plain_step\n"
                      "plain_step(Path(root), step, run_date)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "plain_step.ipynb"
    nbformat.write(nb, path)
    return path


def plain_counts(root: Path) -> dict[str, int]:
    import pyarrow.dataset as ds

    return {name: int(ds.dataset(str(root / "plain" / name), format="parquet", partitioning="hive").count_rows())
            for name in ("flights", "fact_flights", "daily_delay")}


def nbpipe_counts(root: Path) -> dict[str, int]:
    from nbpipe.core.config import load_project
    from nbpipe.run.store import RunStore

    project = load_project(project_dir=root)
    store = RunStore(project.store_url)
    try:
        out: dict[str, int] = {}
        for row in store.dataset_history():
            if row["direction"] == "out" and row["dataset"] in ("flights", "fact_flights", "daily_delay"):
                out[row["dataset"]] = out.get(row["dataset"], 0) + int(row["rows"] or 0)
        return out
    finally:
        store.close()


def run_case(name: str, root: Path, days: int, run_date: str, parallel: str) -> dict[str, int]:
    """Run one case as fresh processes in ``root``; return its output row counts."""
    def check(proc: subprocess.CompletedProcess[str]) -> None:
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")

    if name.startswith("nbpipe"):
        check(subprocess.run([str(BIN / "nbpipe"), "demo", "--days", str(days), "--parallel", parallel],
                             cwd=root, capture_output=True, text=True, check=False))
        return nbpipe_counts(root)
    if name.startswith("papermill"):
        template = papermill_notebook(root)
        for step in STEPS:
            check(subprocess.run([str(BIN / "papermill"), str(template), str(root / f"out-{step}.ipynb"),
                                  "-p", "root", str(root), "-p", "step", step, "-p", "run_date", run_date],
                                 cwd=root, capture_output=True, text=True, check=False))
        return plain_counts(root)
    check(subprocess.run([sys.executable, __file__, "--run-date", run_date, "--child", str(root)], cwd=root,
                         capture_output=True, text=True, check=False))
    return plain_counts(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--days", type=int, default=7, help="days of 2013 (1-365); the pipelines run for the last")
    ap.add_argument("--parallel", type=int, default=1, help="also time `nbpipe demo --parallel N` (1: skip)")
    ap.add_argument("--no-papermill", action="store_true", help="skip the plain-papermill-per-notebook baseline")
    ap.add_argument("--run-date", help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        baseline_child(Path(args.child), args.run_date)
        return
    import datetime as dt

    run_date = (dt.date(2013, 1, 1) + dt.timedelta(days=args.days - 1)).isoformat()
    cases = ["nbpipe demo (6 notebooks)"]
    if args.parallel > 1:
        cases.append(f"nbpipe demo --parallel {args.parallel}")
    cases.append("plain pyspark script")
    if not args.no_papermill:
        cases.append("papermill per notebook")
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    counts: dict[str, Any] = {}
    for i in range(args.runs):
        for name in cases:
            root = fresh_project(args.days)
            try:
                parallel = name.rsplit(" ", 1)[-1] if "--parallel" in name else "1"
                with JvmCpu(root) as jvm:
                    start = time.perf_counter()
                    counts[name] = run_case(name, root, args.days, run_date, parallel)
                    times[name].append(time.perf_counter() - start)
                cpu[name].append(jvm.seconds)
            finally:
                shutil.rmtree(root.parent, ignore_errors=True)
        print(f"round {i + 1}/{args.runs}: " + ", ".join(f"{k}={v[-1]:.1f}s" for k, v in times.items()),
              file=sys.stderr)
    base = statistics.median(times["plain pyspark script"])
    print(f"\nflights end to end — {args.days} days (run_date {run_date}), {args.runs} interleaved round(s), "
          "fresh processes, Spark start-up included")
    print(f"{'case':30} {'median s':>9} {'min s':>7} {'JVM CPU s':>10} {'ratio vs plain':>15}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:30} {med:9.1f} {min(values):7.1f} {statistics.median(cpu[name]):10.1f} {med / base:15.2f}")
    if "papermill per notebook" in times:
        ratio = statistics.median(times["papermill per notebook"]) / statistics.median(times[cases[0]])
        print(f"nbpipe vs papermill per notebook: {ratio:.2f}x faster")
    print(f"\noutput rows: {json.dumps(counts)}")
    print("targets: nbpipe / plain <= 1.3 (7 days), <= 1.2 (90, 365 days); >= 2x faster than papermill per notebook")


if __name__ == "__main__":
    main()
