"""The worked example, 7 days of NYC flights: nbpipe vs the same transformations as one pyspark script.

Candidate: ``nbpipe demo --days 7`` on a fresh project (six notebooks run by papermill in
dependency order, each a production run with contracts, quality gates, staged atomic publish,
run records and a store; one shared Spark Connect server). Baseline: one plain Python process
that starts local Spark and runs exactly the same transformation cells of the same notebooks
(their ``transform``-tagged cells) on the same landed files, writing the same Parquet outputs,
with no checks and no records. Both are timed as fresh processes, including Spark start-up;
landing the data is done beforehand and not timed. Outputs are compared (row counts). A third case
runs the demo with ``--parallel N`` (independent pipelines at once, each its own ``nbpipe run``).

    python benchmarks/flights_e2e.py [--runs 2] [--days 7] [--parallel 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def fresh_project(days: int) -> Path:
    from nbpipe.examples.flights import land

    root = Path(tempfile.mkdtemp(prefix="nbpipe-e2e-")) / "flights"
    root.mkdir()
    shutil.copy(REPO / "nbpipe.yaml", root / "nbpipe.yaml")
    for folder in ("notebooks", "contracts", "expectations"):
        shutil.copytree(REPO / folder, root / folder)
    land(root, days=days)
    return root


def baseline_child(root: Path, run_date: str) -> dict[str, int]:
    """The plain-pyspark pipeline: same transform cells, same inputs, Parquet outputs."""
    from nbpipe.core.config import load_project
    from nbpipe.notebook import run_tagged_cells
    from nbpipe.spark.session import build_session

    project = load_project(project_dir=root)
    spark = build_session(project.profile.spark)

    def raw(name: str) -> Any:
        cfg = project.dataset(name)
        return spark.read.format(cfg.format).options(**cfg.options).load(str(project.path(cfg.path or "")))

    def transform(notebook: str, **inputs: Any) -> dict[str, Any]:
        return run_tagged_cells(root / "notebooks" / f"{notebook}.ipynb", inputs)

    def store(df: Any, name: str) -> Any:
        path = str(root / "plain" / name)
        df.write.mode("overwrite").partitionBy(*project.dataset(name).partition_by).parquet(path)
        return spark.read.parquet(path)

    ingest = transform("ingest_flights", raw=raw("raw_flights"), run_date=run_date)
    flights = store(ingest["flights"].filter("carrier IS NOT NULL"), "flights")
    carriers = store(transform("dim_carrier", airlines=raw("raw_airlines"))["dim_carrier"], "dim_carrier")
    airports = store(transform("dim_airport", airports_raw=raw("raw_airports"))["dim_airport"], "dim_airport")
    planes = store(
        transform("dim_plane", snapshots=raw("raw_planes"), current=None, run_date=run_date)["dim_plane"], "dim_plane"
    )
    fact = store(
        transform(
            "fact_flights",
            flights=flights,
            carriers=carriers,
            airports=airports,
            planes=planes,
            weather=raw("raw_weather"),
            run_date=run_date,
        )["fact"],
        "fact_flights",
    )
    report = transform("daily_delay_report", fact=fact, carriers=carriers, airports=airports, run_date=run_date)
    store(report["daily_delay"], "daily_delay")
    return {"flights": flights.count(), "fact_flights": fact.count(), "daily_delay": len(report["table"])}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--parallel", type=int, default=2, help="also time `nbpipe demo --parallel N` (1: skip)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    run_date = f"2013-01-{args.days:02d}"
    if args.child:
        print(json.dumps(baseline_child(Path(args.child), run_date)))
        return
    demos = {"nbpipe demo (6 notebooks)": []}
    if args.parallel > 1:
        demos[f"nbpipe demo --parallel {args.parallel}"] = []
    times: dict[str, list[float]] = {**demos, "plain pyspark script": []}
    counts: dict[str, Any] = {}
    for i in range(args.runs):
        for name in times:
            root = fresh_project(args.days)
            try:
                start = time.perf_counter()
                if name.startswith("nbpipe"):
                    proc = subprocess.run(
                        [str(BIN / "nbpipe"), "demo", "--days", str(args.days),
                         "--parallel", name.rsplit(" ", 1)[-1] if "--parallel" in name else "1"],
                        cwd=root,
                        capture_output=True,
                        text=True,
                    )
                    if proc.returncode != 0:
                        raise SystemExit(
                            f"nbpipe demo failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
                        )
                    times[name].append(time.perf_counter() - start)
                    counts[name] = nbpipe_counts(root)
                else:
                    proc = subprocess.run(
                        [sys.executable, __file__, "--days", str(args.days), "--child", str(root)],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    times[name].append(time.perf_counter() - start)
                    counts[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            finally:
                shutil.rmtree(root.parent, ignore_errors=True)
        print(
            f"round {i + 1}/{args.runs}: " + ", ".join(f"{k}={v[-1]:.1f}s" for k, v in times.items()), file=sys.stderr
        )
    base = statistics.median(times["plain pyspark script"])
    print(f"\nflights end to end — {args.days} days, {args.runs} runs each, fresh processes, Spark start-up included")
    print(f"{'case':30} {'median s':>9} {'min s':>7} {'ratio vs plain':>15}")
    for name, values in times.items():
        print(f"{name:30} {statistics.median(values):9.1f} {min(values):7.1f} {statistics.median(values) / base:15.2f}")
    print(f"\noutput rows: {json.dumps(counts)}")
    print("target: nbpipe / plain <= 1.3")


if __name__ == "__main__":
    main()
