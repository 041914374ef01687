"""How many Spark jobs does each notebook of the worked example start, and who starts them?

Runs ``nbpipe demo --days N`` in a fresh copy of the example (or reads an existing project's runs
with ``--project``) and prints, for each pipeline's last run, the Spark jobs its run record
counted (``resources.spark``: jobs tagged with the run, read from Spark's REST API), split into
nbpipe's own operations (``ctx.read``/``incremental``/``check``/``write``, tagged per call) and the
notebook's own code (the rest), with the path each check and write took (``local``: materialized
once as Arrow and done in-process; ``spark``).

    .venv/bin/python benchmarks/notebook_jobs.py [--days 2] [--project DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _example import example_copy


def fresh(days: int) -> Path:
    root = example_copy("nbpipe-jobs-")
    subprocess.run([str(Path(sys.executable).parent / "nbpipe"), "demo", "--days", str(days)], cwd=root,
                   check=True, stdout=subprocess.DEVNULL)
    return root


def summary(record: dict[str, Any]) -> tuple[int, Counter[str], list[str]]:
    spark = (record.get("resources") or {}).get("spark") or {}
    total, ops = 0, Counter()
    for attempt in spark.get("attempts", []):
        total += int((attempt.get("totals") or {}).get("jobs", 0))
        for op in attempt.get("ops", []):
            ops[op["op"]] += int((op.get("metrics") or {}).get("jobs", 0))
    paths = [f"check {c['suite']}: {(c.get('engine') or {}).get('path', '-')}" for c in record.get("checks", [])]
    paths += [f"write {o['dataset']}: {(o.get('engine') or {}).get('path', '-')}"
              for o in record["datasets"]["outputs"] if not o.get("rejected")]
    return total, ops, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--project", type=Path)
    args = parser.parse_args()
    root = args.project or fresh(args.days)
    print(f"{'pipeline':<20} {'jobs':>5} {'read':>5} {'check':>6} {'write':>6} {'notebook':>9}  paths")
    grand = 0
    for pipeline_dir in sorted(p for p in (root / "runs").iterdir() if p.is_dir() and not p.name.startswith("_")):
        records = sorted(pipeline_dir.glob("*/run.json"))
        if not records:
            continue
        record = json.loads(records[-1].read_text())
        if record.get("status") != "succeeded":
            continue
        total, ops, paths = summary(record)
        grand += total
        own = total - sum(ops.values())
        print(f"{pipeline_dir.name:<20} {total:>5} {ops['read']:>5} {ops['check']:>6} {ops['write']:>6} {own:>9}  "
              f"{'; '.join(paths)}")
    print(f"{'all':<20} {grand:>5}")


if __name__ == "__main__":
    main()
