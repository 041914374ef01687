"""What does an exported DAG file cost Airflow's DAG processor, which re-parses it every few minutes?

Baseline: a hand-written Airflow 3 DAG of the same shape (one ``BashOperator`` per pipeline of the
example, the same dependencies, nothing else). Candidate: the file ``nbpipe airflow export`` writes
for the example ``nbpipe.yaml`` (task subclass, failure callback, assets, exit-code table). Both are
parsed with ``DagBag`` in one warm process of the Airflow venv (``.venv-airflow``, ``make
.venv-airflow``), interleaved. Also times ``nbpipe airflow export`` itself (a fresh process, as
users run it). Prints medians and the ratio.

    python benchmarks/airflow_parse.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_PYTHON = REPO / ".venv-airflow" / "bin" / "python"

PARSE = r"""
import json, statistics, sys, time
from airflow.dag_processing.dagbag import DagBag

folders, runs = sys.argv[1:3], int(sys.argv[3])
DagBag(dag_folder=folders[0])  # warm: imports and plugins loaded once, as in the DAG processor
times = {f: [] for f in folders}
for _ in range(runs):
    for f in folders:
        start = time.perf_counter()
        bag = DagBag(dag_folder=f)
        times[f].append(time.perf_counter() - start)
        assert not bag.import_errors, bag.import_errors
print(json.dumps({f: statistics.median(t) for f, t in times.items()}))
"""


def baseline(folder: Path) -> None:
    """The example's DAG written by hand: BashOperators and edges only."""
    from nbpipe.core import dag as nbdag
    from nbpipe.core.config import load_project

    pipelines = load_project(project_dir=REPO).config.pipelines
    deps = nbdag.dependencies(pipelines)
    lines = [
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.sdk import DAG",
        "with DAG(dag_id='baseline', schedule='@daily', catchup=False, max_active_runs=1):",
    ]
    lines += [f"    {n} = BashOperator(task_id={n!r}, bash_command='nbpipe run {n} -p run_date={{{{ ds }}}}')"
              for n in pipelines]
    lines += [f"    {d} >> {n}" for n in pipelines for d in sorted(deps[n])]
    folder.mkdir()
    (folder / "baseline.py").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not AIRFLOW_PYTHON.exists():
        sys.exit(f"Airflow is not installed at {AIRFLOW_PYTHON.parent.parent}: run `make .venv-airflow`")
    work = Path(tempfile.mkdtemp(prefix="nbpipe-bench-airflow-"))
    try:
        exports = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nbpipe.cli", "airflow", "export", "--out", str(work / "exported")],
                           cwd=REPO, check=True, capture_output=True)
            exports.append(time.perf_counter() - start)
        baseline(work / "baseline")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AIRFLOW"))}
        env.update(AIRFLOW_HOME=str(work / "home"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
        done = subprocess.run([str(AIRFLOW_PYTHON), "-c", PARSE, str(work / "baseline"), str(work / "exported"),
                               str(args.runs)], env=env, check=True, capture_output=True, text=True)
        medians = json.loads(done.stdout.strip().splitlines()[-1])
        base, exported = medians[str(work / "baseline")], medians[str(work / "exported")]
        print(f"nbpipe airflow export (example, CLI process): median {statistics.median(exports):.2f} s")
        print(f"DagBag parse, hand-written BashOperator DAG:  median {base * 1000:.1f} ms")
        print(f"DagBag parse, exported DAG file:              median {exported * 1000:.1f} ms  "
              f"(ratio {exported / base:.2f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
