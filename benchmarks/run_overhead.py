"""What does a production run cost on top of plain papermill?

Baselines: (a) the ``papermill`` CLI alone, (b) ``papermill`` followed by ``jupyter nbconvert --to
html`` (what a user does by hand to get an executed notebook plus an HTML report). Candidate:
``nbpipe run`` (parameter validation, lock, executed notebook, sanitized self-contained HTML,
run.json, events, store row). Each is a fresh process, as users run them; runs are interleaved so
machine noise hits all three alike. Prints medians and ratios.

    python benchmarks/run_overhead.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

BIN = Path(sys.executable).parent


def make_project(root: Path) -> Path:
    nb = new_notebook(
        cells=[
            new_code_cell('run_date = "2013-01-01"\nlimit = 10', metadata={"tags": ["parameters"]}),
            new_code_cell("total = sum(range(limit))\nprint(run_date, total)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, root / "trivial.ipynb")
    (root / "nbpipe.yaml").write_text("project: bench\npipelines:\n  trivial: {notebook: trivial.ipynb}\n")
    return root / "trivial.ipynb"


def timed(cmd: list[list[str]], cwd: Path) -> float:
    start = time.perf_counter()
    for c in cmd:
        subprocess.run(c, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nbpipe-bench-"))
    try:
        nb = make_project(work)
        out = work / "out.ipynb"
        cases = {
            "papermill CLI (a)": [[str(BIN / "papermill"), str(nb), str(out), "-p", "limit", "20"]],
            "papermill + nbconvert html (b)": [
                [str(BIN / "papermill"), str(nb), str(out), "-p", "limit", "20"],
                [str(BIN / "jupyter"), "nbconvert", "--to", "html", str(out)],
            ],
            "nbpipe run": [[str(BIN / "nbpipe"), "run", "trivial", "-p", "limit=20", "--force"]],
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        timed(cases["nbpipe run"], work)  # warm the file cache and create the store once
        timed(cases["papermill CLI (a)"], work)
        for i in range(args.runs):
            for name, cmd in cases.items():
                times[name].append(timed(cmd, work))
            print(
                f"round {i + 1}/{args.runs}: " + ", ".join(f"{k}={v[-1]:.2f}s" for k, v in times.items()),
                file=sys.stderr,
            )
        med = {k: statistics.median(v) for k, v in times.items()}
        nb_med = med["nbpipe run"]
        print(f"\nrun overhead — trivial parameterized notebook, {args.runs} interleaved runs, cpus={os.cpu_count()}")
        print(f"{'case':34} {'median s':>9} {'min s':>7} {'max s':>7} {'nbpipe / case':>14}")
        for name, values in times.items():
            ratio = nb_med / med[name]
            print(f"{name:34} {med[name]:9.2f} {min(values):7.2f} {max(values):7.2f} {ratio:14.2f}")
        print("\ntargets: nbpipe / (a) <= 1.2, nbpipe / (b) <= 0.75")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
