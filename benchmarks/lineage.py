"""What does emitting OpenLineage cost a run?

A trivial Spark pipeline (read a small CSV, rename a column, write Parquet) runs with ``nbpipe run
--force`` in a fresh process each time, against one Spark Connect server the benchmark starts
(``local[2]``), in three cases, interleaved so machine noise hits all alike:

* lineage off (no ``lineage:`` block, no ``OPENLINEAGE_*`` variables);
* lineage to a local HTTP receiver (``http.server`` on 127.0.0.1 in this process);
* lineage to an endpoint that is down (a closed port): the run must not wait for it.

Prints the median wall time of each, and the overhead against "off" in seconds and percent
(target: ≤ 2 % with the receiver up). Then, because whole runs vary by seconds on a busy machine,
it times what lineage adds to the runner's own path directly: ``start`` (the run's identity; START
is built and sent by the background thread) and ``finish`` (the closing event built, appended and
delivered to the receiver), in-process, over a run directory with a read, a write and a check.
The catalog half of the lineage measurement (``nbpipe docs``) is ``benchmarks/docs.py``.

    python benchmarks/lineage.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_notebook

CODE = """import nbpipe
from pyspark.sql import functions as F
ctx = nbpipe.context()
raw = ctx.read("raw")
ctx.write(raw.select(F.col("id").alias("order_id"), "amount"), "orders")"""


class _Sink(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Sink.received += 1
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def make_project(root: Path, remote: str, lineage: dict | None) -> Path:
    root.mkdir(parents=True)
    config = {
        "project": "bench",
        "profiles": {"dev": {"spark": {"remote": remote}}},
        "datasets": {"raw": {"path": "landing", "format": "csv", "options": {"header": "true"}},
                     "orders": {"format": "parquet"}},
        "pipelines": {"orders": {"notebook": "orders.ipynb", "reads": ["raw"], "writes": ["orders"]}},
    }
    if lineage:
        config["lineage"] = lineage
    (root / "nbpipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    nb = new_notebook(cells=[new_code_cell('run_date = "2024-01-01"', metadata={"tags": ["parameters"]}),
                             new_code_cell(CODE)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, root / "orders.ipynb")
    (root / "landing").mkdir()
    (root / "landing" / "a.csv").write_text("id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(100)))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed_run(root: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "nbpipe.cli", "run", "orders", "--force"], cwd=root, env=env,
                         capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"run failed in {root}: {out.stderr[-2000:]}")
    return took


def critical_path(work: Path, url: str, rounds: int = 20) -> tuple[float, float]:
    """Median seconds of the lineage calls on the runner's path (start, finish) for one small run."""
    from nbpipe.core import events as ev
    from nbpipe.core.config import load_project
    from nbpipe.core.masking import Masker
    from nbpipe.run.lineage import hooks

    root = make_project(work / "direct", "sc://127.0.0.1:1", {"transport": {"type": "http", "url": url}})
    project = load_project(project_dir=root)
    starts, finishes = [], []
    for i in range(rounds):
        run_dir = root / "runs" / "orders" / f"r{i}"
        log = ev.EventLog.in_run_dir(run_dir, source="runner", attempt=1)
        log.emit(ev.DATASET_READ, dataset="raw", rows=100, schema=[{"name": "id", "type": "int"}])
        log.emit(ev.DATASET_STAGED, dataset="orders", rows=100, bytes=2048,
                 schema=[{"name": "order_id", "type": "int"}],
                 column_lineage={"order_id": [{"dataset": "raw", "field": "id", "subtype": "IDENTITY"}]})
        log.emit(ev.CHECK, suite="raw", dataset="raw", gate="fail", results=[
            {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "success": True,
             "unexpected_count": 0, "element_count": 100}])
        t0 = time.perf_counter()
        lineage = hooks.start(project, pipeline="orders", run_id=f"r{i}", run_dir=run_dir,
                              notebook=root / "orders.ipynb", params={"run_date": "2024-01-01"}, masker=Masker(),
                              started=ev.utcnow())
        t1 = time.perf_counter()
        assert lineage is not None
        lineage.forwarder.ready.wait(60)  # in a real run the notebook executes meanwhile
        t2 = time.perf_counter()
        lineage.finish(status="succeeded", error=None, ended=ev.utcnow(), log=log, attempt=1)
        t3 = time.perf_counter()
        starts.append(t1 - t0)
        finishes.append(t3 - t2)
    return statistics.median(starts), statistics.median(finishes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from nbpipe.core.config import load_project
    from nbpipe.spark import server as sparkserver

    work = Path(tempfile.mkdtemp(prefix="nbpipe-bench-lineage-"))
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    server_root = work / "spark"
    server_root.mkdir()
    (server_root / "nbpipe.yaml").write_text(yaml.safe_dump({"project": "bench_spark", "profiles": {"dev": {
        "spark": {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "2"}}}}}))
    server_project = load_project(project_dir=server_root)
    info = sparkserver.start_connect_server(server_project, master="local[2]", timeout_s=600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    src = str(Path(__file__).resolve().parents[1] / "src")  # the runs use this checkout's nbpipe
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        remote = str(info.url)
        cases = {
            "lineage off": make_project(work / "off", remote, None),
            "lineage → local HTTP receiver": make_project(
                work / "on", remote, {"transport": {"type": "http", "url": f"http://127.0.0.1:{sink.server_port}"}}),
            "lineage → endpoint down": make_project(
                work / "down", remote, {"transport": {"type": "http", "url": f"http://127.0.0.1:{free_port()}"}}),
        }
        for root in cases.values():  # warm: first run of each project (kernel caches, Spark plan cache)
            timed_run(root, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, root in cases.items():
                times[name].append(timed_run(root, env))
                print(f"  {name}: {times[name][-1]:.3f} s", flush=True)
        base = statistics.median(times["lineage off"])
        print(f"nbpipe run --force, trivial Spark pipeline over Spark Connect, {args.runs} runs each (median):")
        for name, values in times.items():
            med = statistics.median(values)
            extra = "" if name == "lineage off" else f"  overhead {med - base:+.3f} s ({(med - base) / base:+.1%})"
            print(f"  {name:32s} {med:7.3f} s{extra}")
        pending = sum(1 for _ in (work / "down" / "runs" / ".lineage-pending").iterdir())
        print(f"  events received: {_Sink.received}; runs with undelivered events kept (endpoint down): {pending}")
        print(json.dumps({k: [round(v, 3) for v in vs] for k, vs in times.items()}))
        start_s, finish_s = critical_path(work, f"http://127.0.0.1:{sink.server_port}")
        print(f"on the runner's path (in-process, median of 20): start {start_s * 1000:.1f} ms, "
              f"finish (closing event built and delivered) {finish_s * 1000:.1f} ms; "
              f"together {(start_s + finish_s) / base:.2%} of the 'off' run")
    finally:
        sink.shutdown()
        if not info.reused:
            sparkserver.stop(server_project, "connect")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
