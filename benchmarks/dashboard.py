"""How does ``nbpipe report`` scale with the run history?

A small real store is built once: two real ``nbpipe run``s of a trivial notebook (runs, attempts,
events rows as the runner writes them). Its runs are then bulk-copied with new ids and start times
(one run every 10 minutes, newest at the wall clock, over two pipelines), each copy with the facts a
production run records: two output datasets (rows and bytes, a quarantine) and three check results.
``nbpipe report`` (default 30-day window, gc's dry run included) is timed on stores of 10k and 100k
runs, each a fresh process, with its CPU time and peak RSS from ``wait4`` (on a shared machine the
CPU time is the steadier figure). Targets: < 2 s and < 200 MB at 100k.

    python benchmarks/dashboard.py [--runs 5] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

BIN = Path(sys.executable).parent
CHILDREN = ("attempts", "events", "datasets", "checks", "metrics")


def make_project(root: Path) -> None:
    nb = new_notebook(
        cells=[new_code_cell("limit = 10", metadata={"tags": ["parameters"]}),
               new_code_cell("total = sum(range(limit))\nprint(total)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, root / "trivial.ipynb")
    (root / "nbpipe.yaml").write_text(
        "project: bench\npipelines:\n"
        "  orders: {notebook: trivial.ipynb, schedule: '@hourly'}\n"
        "  calls: {notebook: trivial.ipynb, schedule: '@daily'}\n"
        "datasets:\n  orders: {partition_by: [day], retention_days: 30}\n")
    for limit in (10, 20):
        subprocess.run([str(BIN / "nbpipe"), "run", "orders", "-p", f"limit={limit}"], cwd=root, check=True,
                       capture_output=True)


def clone(db: Path, total: int) -> None:
    """Copy the real runs (and their child rows) until the store holds ``total`` runs."""
    con = sqlite3.connect(db)
    cur = con.cursor()
    cols = {t: [r[1] for r in cur.execute(f"PRAGMA table_info({t})")] for t in ("runs", *CHILDREN)}
    base = [dict(zip(cols["runs"], r, strict=True)) for r in cur.execute("SELECT * FROM runs")]
    kids = {t: {b["run_id"]: [dict(zip(cols[t], r, strict=True)) for r in
                              cur.execute(f"SELECT * FROM {t} WHERE run_id = ?", (b["run_id"],))] for b in base}
            for t in CHILDREN}
    have = cur.execute("SELECT count(*) FROM runs").fetchone()[0]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows: dict[str, list[tuple[object, ...]]] = {t: [] for t in ("runs", *CHILDREN)}
    for i in range(total - have):
        src = base[i % len(base)]
        started = now - dt.timedelta(minutes=10 * (have + i))  # continues the history of an earlier call
        rid = started.strftime("%Y%m%dT%H%M%S") + f"{i:06d}Z-c{i % 4096:03x}"
        status = "failed" if i % 17 == 0 else "succeeded"
        run = {**src, "run_id": rid, "pipeline": ("orders", "calls")[i % 2], "status": status,
               "started_at": started, "ended_at": started + dt.timedelta(seconds=src["duration_s"] or 1),
               "duration_s": (src["duration_s"] or 1.0) * (1 + (i % 7) / 10),
               "quality": ("passed", "warned", "failed")[i % 3], "run_dir": None}
        rows["runs"].append(tuple(run[c] for c in cols["runs"]))
        for t in ("attempts", "events", "metrics"):
            for child in kids[t][src["run_id"]]:
                rows[t].append(tuple({**child, "run_id": rid}.get(c) for c in cols[t] if c != "id"))
        for name, count in (("orders", 1000 + i % 50), ("orders__rejected", i % 5), ("orders_daily", 24)):
            rows["datasets"].append(tuple({"run_id": rid, "dataset": name, "direction": "out", "rows": count,
                                           "bytes": count * 40}.get(c) for c in cols["datasets"] if c != "id"))
        for k, exp in enumerate(("not_null", "unique", "between")):
            rows["checks"].append(tuple({"run_id": rid, "suite": "orders_suite", "dataset": "orders",
                                         "expectation_type": f"expect_column_values_to_be_{exp}",
                                         "column_name": "id", "success": (i + k) % 11 != 0}.get(c)
                                        for c in cols["checks"] if c != "id"))
    for t, values in rows.items():
        names = [c for c in cols[t] if c != "id"]
        if values:
            cur.executemany(f"INSERT INTO {t} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values)
    con.commit()
    # one bulk transaction leaves a WAL as big as the copy; a store written run by run checkpoints as it goes
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def report(root: Path, runs: int) -> tuple[float, float, float]:
    """Median wall and CPU seconds and peak MB of ``nbpipe report`` over ``runs`` fresh processes."""
    results = [timed([str(BIN / "nbpipe"), "report"], root) for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results),
            max(r[2] for r in results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--clone", nargs=2, metavar=("DB", "RUNS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.clone:  # in its own process: a forked child's peak RSS would include this one's
        clone(Path(args.clone[0]), int(args.clone[1]))
        return
    work = Path(tempfile.mkdtemp(prefix="nbpipe-bench-dash-"))
    try:
        make_project(work)
        baseline = timed([str(BIN / "nbpipe"), "--help"], work)
        print(f"\nnbpipe report — 30-day window, {args.runs} runs per size, cpus={os.cpu_count()}")
        print(f"{'store':>14} {'median s':>9} {'CPU s':>6} {'peak MB':>8}   (nbpipe --help alone: "
              f"{baseline[0]:.2f} s, {baseline[1]:.2f} CPU s, {baseline[2]:.0f} MB)")
        for size in (int(s) for s in args.sizes.split(",")):
            subprocess.run([sys.executable, __file__, "--clone", str(work / "runs" / "nbpipe.db"), str(size)],
                           check=True)
            seconds, cpu, peak = report(work, args.runs)
            print(f"{size:>9,} runs {seconds:9.2f} {cpu:6.2f} {peak:8.0f}")
        print("\ntargets at 100k runs: < 2 s and < 200 MB peak")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
