"""``nbpipe backfill fact_flights`` over N days: one shared Spark (now) vs Spark in every kernel (before).

Setup (not timed): a fresh copy of the worked example with N+1 days landed and ``nbpipe demo``
run for its last day, so every upstream dataset exists. Each case then backfills days 1..N of
``fact_flights`` on its own copy of that project, as a fresh process:

* ``per-kernel Spark`` — ``--local-spark``: each day's kernel starts its own local JVM (what every
  backfill did before one managed Spark per command);
* ``shared Spark`` — the default on a local profile: one Spark Connect server for the command.

Rounds interleave the cases; the table shows medians, the JVMs' CPU seconds beside wall time, and
the published rows (identical in both cases).

    python benchmarks/backfill.py [--days 31] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _example import example_copy
from _jvm import JvmCpu

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CASES = {"per-kernel Spark (before)": ["--local-spark"], "shared Spark (now)": []}


def prepared(days: int) -> Path:
    root = example_copy("nbpipe-bf-", land_days=days + 1)
    proc = subprocess.run([str(BIN / "nbpipe"), "demo", "--days", str(days + 1)], cwd=root, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"setup: nbpipe demo failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return root


def fact_rows(root: Path) -> int:
    import pyarrow.dataset as ds

    from nbpipe.core.config import load_project
    from nbpipe.core.layout import dataset_root

    folder = dataset_root(load_project(project_dir=root), "fact_flights")
    files = [str(p) for p in folder.rglob("*.parquet")]
    return int(ds.dataset(files, format="parquet").count_rows())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    base = prepared(args.days)
    last = (dt.date(2013, 1, 1) + dt.timedelta(days=args.days - 1)).isoformat()
    wall: dict[str, list[float]] = {name: [] for name in CASES}
    jvm: dict[str, list[float]] = {name: [] for name in CASES}
    rows: dict[str, int] = {}
    try:
        for i in range(args.rounds):
            for name, flags in CASES.items():
                root = base.parent / f"case-{i}-{len(wall[name])}-{(flags and 'local') or 'shared'}"
                shutil.copytree(base, root)
                try:
                    cmd = [str(BIN / "nbpipe"), "backfill", "fact_flights", "--from", "2013-01-01", "--to", last,
                           *flags]
                    with JvmCpu(root) as cpu:
                        start = time.perf_counter()
                        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
                        took = time.perf_counter() - start
                    if proc.returncode != 0:
                        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                         f"{proc.stderr[-3000:]}")
                    wall[name].append(took)
                    jvm[name].append(cpu.seconds)
                    rows[name] = fact_rows(root)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
            print(f"round {i + 1}/{args.rounds}: " + ", ".join(f"{k}={v[-1]:.1f}s" for k, v in wall.items()),
                  file=sys.stderr)
    finally:
        shutil.rmtree(base.parent, ignore_errors=True)
    before = statistics.median(wall["per-kernel Spark (before)"])
    print(f"\nnbpipe backfill fact_flights — {args.days} days, {args.rounds} interleaved round(s), fresh processes")
    print(f"{'case':28} {'median s':>9} {'s/day':>6} {'JVM CPU s':>10} {'speed-up':>9}")
    for name in CASES:
        med = statistics.median(wall[name])
        print(f"{name:28} {med:9.1f} {med / args.days:6.1f} {statistics.median(jvm[name]):10.1f} {before / med:9.2f}")
    print(f"\nfact_flights rows published: {rows}")
    print("target: shared >= 3x faster than per-kernel Spark")


if __name__ == "__main__":
    main()
