"""What does a contract-enforced read with quarantine cost, compared with a plain Spark read?

Generates ROWS rows of flight-like CSV (BAD fraction malformed / uncastable / null in a non-null
column) in a temp project, then times, in N interleaved rounds (medians, wall and JVM CPU seconds):

* ``plain``: ``spark.read.schema(<contract schema>).csv(dir)`` and a full consume (noop write);
* ``plain+persist``: the same read persisted and counted (the frame is materialized and its row count
  known, as a strict read gives you), then a full consume;
* ``contract read``: ``nbpipe.data.read.read_dataset`` in prod mode (contract schema, drift check, row
  classification, counts, quarantine staged as parquet: one full pass over the source) — the target
  is <= 1.3x ``plain``;
* ``contract+consume``: the same, then a full consume of the accepted (lazy) frame, which parses the
  source a second time.

It also prints the Spark session start cost: a cold local session in a fresh process versus
reusing the session already running in this one. JVM CPU time is read from /proc and is the better
guide on a shared, loaded machine.

    .venv/bin/python benchmarks/strict_read.py --rows 5000000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

CONTRACT = [
    {"name": "id", "type": "bigint", "nullable": False},
    {"name": "flight_date", "type": "date", "nullable": False},
    {"name": "carrier", "type": "string", "nullable": False},
    {"name": "flight", "type": "int", "nullable": True},
    {"name": "origin", "type": "string", "nullable": True},
    {"name": "dest", "type": "string", "nullable": True},
    {"name": "dep_delay", "type": "int", "nullable": True},
    {"name": "arr_delay", "type": "int", "nullable": True},
    {"name": "distance", "type": "double", "nullable": True},
    {"name": "sched_dep", "type": "timestamp", "nullable": True},
]
CARRIERS = ["AA", "UA", "DL", "B6", "EV", "WN", "US", "MQ"]
AIRPORTS = ["JFK", "LGA", "EWR", "ATL", "ORD", "LAX", "SFO", "BOS"]


def generate(directory: Path, rows: int, bad: float, files: int, seed: int = 7) -> int:
    """Write ``rows`` CSV rows over ``files`` files; return how many are bad."""
    rnd = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    n_bad, per_file = 0, -(-rows // files)
    for k in range(files):
        with open(directory / f"part-{k:03d}.csv", "w") as fh:
            fh.write(",".join(c["name"] for c in CONTRACT) + "\n")
            for i in range(k * per_file, min(rows, (k + 1) * per_file)):
                d = f"2013-{1 + i % 12:02d}-{1 + i % 28:02d}"
                if rnd.random() < bad:
                    n_bad += 1
                    kind = i % 3
                    if kind == 0:
                        fh.write(f"{i},{d},AA,abc,JFK,LAX,1,2,3.0,{d} 00:00:00\n")
                    elif kind == 1:
                        fh.write(f"{i},{d},,12,JFK,LAX,1,2,3.0,{d} 00:00:00\n")
                    else:
                        fh.write(f"{i},{d},AA,12\n")
                    continue
                fh.write(f"{i},{d},{CARRIERS[i % 8]},{rnd.randint(1, 3000)},{AIRPORTS[i % 8]},"
                         f"{AIRPORTS[(i + 3) % 8]},{rnd.randint(-20, 300)},{rnd.randint(-40, 300)},"
                         f"{rnd.random() * 3000:.1f},{d} {i % 24:02d}:{i % 60:02d}:00\n")
    return n_bad


def cold_start_s() -> float:
    """Seconds for a fresh process to get a local session and run a first job."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    code = (f"import time,sys;t=time.time();sys.path.insert(0,{src!r});from nbpipe.core.config import SparkConfig;"
            "from nbpipe.spark.session import build_session;s=build_session(SparkConfig(master='local[2]'));"
            "s.range(1).count();print(time.time()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bad", type=float, default=0.01)
    parser.add_argument("--files", type=int, default=0, help="input files (default: one per million rows)")
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold session start measurement")
    parser.add_argument("--target-only", action="store_true",
                        help="time only 'plain' and 'contract read' (more rounds in the same time)")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from nbpipe.core.config import SparkConfig, load_project
    from nbpipe.core.contracts import contract_from_schema, save_contract
    from nbpipe.data.read import read_dataset
    from nbpipe.kernel.context import RunContext
    from nbpipe.spark.session import build_session

    root = Path(tempfile.mkdtemp(prefix="nbpipe-bench-"))
    try:
        t = time.perf_counter()
        n_bad = generate(root / "landing", args.rows, args.bad, args.files or max(1, args.rows // 1_000_000))
        gen_s = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (root / "landing").iterdir())
        (root / "nbpipe.yaml").write_text(yaml.safe_dump({"datasets": {"raw": {
            "path": "landing", "format": "csv", "options": {"header": "true"}}}}))
        save_contract(contract_from_schema("raw", CONTRACT), root / "contracts" / "raw.yaml")
        project = load_project(project_dir=root)

        cold = None if args.skip_cold else cold_start_s()
        t = time.perf_counter()
        spark = build_session(SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"}))
        spark.range(1).count()
        first_in_process = time.perf_counter() - t
        t = time.perf_counter()
        again = build_session(SparkConfig(master="local[2]"))
        again.range(1).count()
        reuse = time.perf_counter() - t

        pid = spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
        tick = os.sysconf("SC_CLK_TCK")

        def jvm_cpu() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory  # type: ignore[union-attr]

        def gc_s() -> float:
            """Seconds the JVM's garbage collectors have spent so far."""
            return sum(b.getCollectionTime() for b in beans.getGarbageCollectorMXBeans()) / 1000

        from pyspark import StorageLevel
        from pyspark.sql.types import StructType

        schema = StructType.fromDDL(", ".join(f"`{c['name']}` {c['type']}" for c in CONTRACT))
        landing = str(root / "landing")

        def consume(df: Any) -> None:
            df.write.format("noop").mode("overwrite").save()

        def plain() -> None:
            consume(spark.read.option("header", "true").schema(schema).csv(landing))

        def plain_persist() -> None:
            df = spark.read.option("header", "true").schema(schema).csv(landing).persist(
                StorageLevel.MEMORY_AND_DISK_DESER)
            df.count()
            consume(df)
            df.unpersist()

        counter = iter(range(10**6))
        seen: dict[str, Any] = {}

        def contract(then_consume: bool = True) -> None:
            run_id = f"bench-{next(counter)}"
            ctx = RunContext(project, mode="prod", run_id=run_id, run_dir=root / "runs" / "bench" / run_id,
                             pipeline=None, attempt=1, params={})
            ctx.__dict__["spark"] = spark
            df = read_dataset(ctx, "raw")
            if then_consume:
                consume(df)
            seen.update(next(e for e in ctx.log.read() if e["kind"] == "dataset_read"))
            shutil.rmtree(ctx.run_dir)
            for rdd_id, _ in list(spark.sparkContext._jsc.getPersistentRDDs().items()):  # type: ignore[union-attr]
                spark.sparkContext._jsc.getPersistentRDDs()[rdd_id].unpersist()  # type: ignore[union-attr]

        cases: dict[str, Callable[[], None]] = {
            "plain": plain, "plain+persist": plain_persist,
            "contract read": lambda: contract(False), "contract+consume": contract,
        }
        if args.target_only:
            cases = {name: cases[name] for name in ("plain", "contract read")}
        for fn in cases.values():
            fn()  # warm-up (JIT, file cache)
        # Interleaved rounds (each case once per round): the JVM's state after one case (heap grown
        # by a persisted frame, JIT) must not favour whichever case happens to run first.
        walls: dict[str, list[float]] = {name: [] for name in cases}
        cpus: dict[str, list[float]] = {name: [] for name in cases}
        gcs: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, fn in cases.items():
                g, c, t0 = gc_s(), jvm_cpu(), time.perf_counter()
                fn()
                walls[name].append(time.perf_counter() - t0)
                cpus[name].append(jvm_cpu() - c)
                gcs[name].append(gc_s() - g)
        results = {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in cases}
        assert seen["rows"] == args.rows and seen["rejected_rows"] == n_bad, seen
        assert seen["rows"] == seen["accepted_rows"] + seen["rejected_rows"]

        load = os.getloadavg()[0]
        print(f"\nstrict read benchmark: {args.rows:,} rows ({size / 1e6:.0f} MB CSV, {n_bad:,} bad = "
              f"{n_bad / args.rows:.2%}), generated in {gen_s:.1f} s; medians of {args.runs} runs; "
              f"load average {load:.1f} on {os.cpu_count()} cores")
        print(f"{'read':<18}{'wall s':>10}{'JVM cpu s':>12}{'GC s':>8}{'wall ratio':>12}{'cpu ratio':>11}"
              f"   walls")
        base_w, base_c = results["plain"]
        for name, (w, c) in results.items():
            print(f"{name:<18}{w:>10.2f}{c:>12.2f}{statistics.median(gcs[name]):>8.2f}{w / base_w:>12.2f}"
                  f"{c / base_c:>11.2f}   {' '.join(f'{x:.1f}' for x in walls[name])}")
        paired = statistics.median(c / p for c, p in zip(walls["contract read"], walls["plain"], strict=True))
        paired_cpu = statistics.median(c / p for c, p in zip(cpus["contract read"], cpus["plain"], strict=True))
        print(f"median of the per-round ratios (contract read / the plain read just before it): wall {paired:.2f}x, "
              f"cpu {paired_cpu:.2f}x")
        cw, cc = results["contract read"]
        print(f"target: contract read (counts + quarantine, one full pass) <= 1.3x plain: wall {cw / base_w:.2f}x, "
              f"cpu {cc / base_c:.2f}x -> {'met' if max(cw / base_w, cc / base_c) <= 1.3 else 'NOT met'}")
        print(f"rows {seen['rows']:,} = accepted {seen['accepted_rows']:,} + rejected {seen['rejected_rows']:,}; "
              f"reasons {seen.get('rejected_reasons')}")
        print("\nSpark session start (local[2])")
        if cold is not None:
            print(f"  cold, fresh process (JVM + session + first job): {cold:6.2f} s")
        print(f"  first session in this process:                   {first_in_process:6.2f} s")
        print(f"  reuse of the running session (+ a job):           {reuse:6.2f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
