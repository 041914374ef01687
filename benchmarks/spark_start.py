"""What does starting Spark cost per notebook, and how much does a shared Spark Connect server save?

Measures, each in a fresh process (as every pipeline run is):

1. ``session``: a cold embedded ``local[2]`` session vs a Spark Connect client attaching to a
   running server, each up to the end of a first small job;
2. ``notebook``: a papermill run of a one-job notebook whose kernel starts local Spark vs one
   whose kernel attaches to the Connect server.

Prints the one-off cost of starting the server, medians (min–max) and the local/Connect ratios,
and how many notebook runs it takes for the server to pay for itself.

Usage: ``.venv/bin/python benchmarks/spark_start.py [--repeat 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SESSION_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from nbpipe.core.config import SparkConfig
from nbpipe.spark.session import build_session
t_import = time.perf_counter()
target = sys.argv[1]
cfg = SparkConfig(remote=target, conf={"spark.sql.shuffle.partitions": "2"}) if target.startswith("sc://") \\
    else SparkConfig(master=target, conf={"spark.sql.shuffle.partitions": "2"})
spark = build_session(cfg)
t_session = time.perf_counter()
assert spark.range(1000).selectExpr("sum(id) AS s").first()["s"] == 499500
t_job = time.perf_counter()
parts = {"import_s": t_import - t0, "session_s": t_session - t_import, "first_job_s": t_job - t_session}
print(json.dumps(parts))
"""

NOTEBOOK_CELLS = [
    'target = "local[2]"',
    "from nbpipe.core.config import SparkConfig\n"
    "from nbpipe.spark.session import build_session\n"
    "conf = {'spark.sql.shuffle.partitions': '2'}\n"
    "remote = target.startswith('sc://')\n"
    "cfg = SparkConfig(remote=target, conf=conf) if remote else SparkConfig(master=target, conf=conf)\n"
    "spark = build_session(cfg)",
    "assert spark.range(1000).selectExpr('sum(id) AS s').first()['s'] == 499500",
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env.pop("NBPIPE_SPARK_REMOTE", None)
    return env


def time_session(target: str) -> dict[str, float]:
    """Wall time of a fresh process that builds a session for ``target`` and runs one job."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-", target],
        input=SESSION_SCRIPT,
        text=True,
        capture_output=True,
        env=_env(),
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"session run for {target} failed:\n{proc.stderr[-3000:]}")
    parts: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, **parts}


def write_notebook(path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell(NOTEBOOK_CELLS[0], metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(c) for c in NOTEBOOK_CELLS[1:]]
    book = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.write(book, path)


def time_notebook(notebook: Path, out: Path, target: str) -> dict[str, float]:
    """Wall time of ``papermill.execute_notebook`` (fresh kernel) of the one-job notebook."""
    import papermill

    start = time.perf_counter()
    papermill.execute_notebook(
        str(notebook), str(out), parameters={"target": target}, kernel_name="python3", progress_bar=False
    )
    return {"wall_s": time.perf_counter() - start}


def summarize(samples: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    os.environ.update(_env())
    from nbpipe.core.config import load_project
    from nbpipe.spark import server as sparkserver

    with tempfile.TemporaryDirectory(prefix="nbpipe-bench-") as tmp:
        root = Path(tmp)
        (root / "nbpipe.yaml").write_text(
            "project: bench\nprofiles:\n"
            '  dev: {spark: {master: "local[2]", conf: {spark.sql.shuffle.partitions: "2"}}}\n'
        )
        project = load_project(project_dir=root)
        notebook = root / "start.ipynb"
        write_notebook(notebook)
        results: dict[str, Any] = {"repeat": args.repeat, "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
        t0 = time.perf_counter()
        with sparkserver.running(project, "connect", master="local[2]") as server:
            results["connect_server_start_s"] = time.perf_counter() - t0
            # A first client warms the server (its first job compiles code paths), as any long-lived
            # server would be; the measured runs are the steady state every later notebook sees.
            time_session(server.url)
            cases = {
                "session local[2]": lambda: time_session("local[2]"),
                "session connect": lambda: time_session(server.url),
                "notebook local[2]": lambda: time_notebook(notebook, root / "out.ipynb", "local[2]"),
                "notebook connect": lambda: time_notebook(notebook, root / "out.ipynb", server.url),
            }
            raw: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
            for _ in range(args.repeat):  # interleaved, so load drift hits every case alike
                for name, run in cases.items():
                    raw[name].append(run())
                    print(f"  {name}: {raw[name][-1]['wall_s']:.1f}s", file=sys.stderr, flush=True)
        results["cases"] = {name: summarize([s["wall_s"] for s in samples]) for name, samples in raw.items()}
        for name in ("session local[2]", "session connect"):
            for part in ("import_s", "session_s", "first_job_s"):
                results["cases"][name][f"{part}_median"] = statistics.median(s[part] for s in raw[name])
        results["load_avg_after"] = os.getloadavg()
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _print(results: dict[str, Any]) -> None:
    cases = results["cases"]
    print(
        f"\nSpark start cost ({results['cpus']} CPUs, repeat {results['repeat']}, "
        f"load avg {results['load_avg'][0]:.1f} → {results['load_avg_after'][0]:.1f})"
    )
    print(f"one-off: start a Spark Connect server (local[2]) = {results['connect_server_start_s']:.1f}s\n")
    print(f"{'case':<20} {'median':>8} {'min–max':>15} {'session part':>13} {'first job':>10}")
    for name, c in cases.items():
        extra = (
            f"{c['session_s_median']:>12.1f}s {c['first_job_s_median']:>9.1f}s"
            if "session_s_median" in c
            else ""
        )
        print(f"{name:<20} {c['median_s']:>7.1f}s {c['min_s']:>6.1f}–{c['max_s']:<6.1f}s {extra}")
    print()
    for kind in ("session", "notebook"):
        local, remote = cases[f"{kind} local[2]"]["median_s"], cases[f"{kind} connect"]["median_s"]
        print(f"{kind}: local / connect = {local / remote:.2f}x  (saves {local - remote:.1f}s per run)")
    saved = cases["notebook local[2]"]["median_s"] - cases["notebook connect"]["median_s"]
    if saved > 0:
        print(
            f"the server pays for itself after {results['connect_server_start_s'] / saved:.1f} "
            "notebook run(s)"
        )


if __name__ == "__main__":
    main()
