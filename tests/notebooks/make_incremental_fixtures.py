"""Regenerate the incremental fixture notebooks: python tests/notebooks/make_incremental_fixtures.py.

* ``incremental_ingest``: reads the new files of dataset ``landing`` (``ctx.incremental``), can
  sleep in a marked cell (``sleep_s``, for mid-cell kills) or fail on purpose (``fail``), and
  writes the batch to the partitioned dataset ``events`` (``ctx.write``, staged then published).
* ``incremental_state``: the same without the write (state commit only, no outputs).
* ``incremental_daily``: a partition-parameter notebook for backfills and skip tests (``run_date``;
  fails while a marker ``fail/<run_date>`` exists; ``propose=True`` makes it propose a state
  position like an incremental read, without Spark).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

HERE = Path(__file__).parent
KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}

READ = """import pathlib, time
import nbpipe
from pyspark.sql import functions as F

ctx = nbpipe.context()
raw = ctx.incremental("landing")
rows = raw.count()
ctx.metric("rows_in", rows)
print("rows", rows)"""

SLEEP = """# the mid-cell kill point: the test waits for this marker, then kills the runner
pathlib.Path(ctx.run_dir, "cell_sleeping").write_text("sleeping")
time.sleep(sleep_s)"""

TRANSFORM = """out = (
    raw.select(
        F.col("day").cast("string").alias("day"),
        F.col("id").cast("int").alias("id"),
        F.col("amount").cast("double").alias("amount"),
    )
    .withColumn("amount_x2", F.col("amount") * 2)
    .repartition(1)
    .sortWithinPartitions("day", "id")
)"""

FAIL = """if fail:
    raise RuntimeError("failing on purpose (fail=True)")"""

WRITE = """# nothing new (e.g. the rerun after a crash whose publish was rolled forward): nothing to write.
# (nbpipe.data.publish cannot stage an empty Parquet write yet: it re-reads the files without a schema.)
if rows:
    ctx.write(out, "events")"""

DAILY = """import json, pathlib
import nbpipe

ctx = nbpipe.context()
root = pathlib.Path(ctx.project.root)
if (root / "fail" / run_date).exists():  # a marker outside the declared inputs: fixing it keeps the fingerprint
    raise ValueError(f"no data for {run_date} (marker fail/{run_date})")
if propose:  # behave like an incremental read: propose a position for the runner to commit
    ctx.log.emit("state_proposal", dataset="landing", incremental="files", rows=1, snapshot={}, warnings=[],
                 position={"kind": "files", "files": {run_date: {"size": 1, "mtime_ns": 1}}})
target = root / "daily_out"
target.mkdir(exist_ok=True)
(target / f"{run_date}.json").write_text(json.dumps({"run_date": run_date, "label": label}))
print("done", run_date)"""


def nb(params: str, *cells: str) -> nbformat.NotebookNode:
    out = [new_code_cell(params, metadata={"tags": ["parameters"]})] + [new_code_cell(c) for c in cells]
    book = new_notebook(cells=out, metadata=KERNEL)
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    return book


FIXTURES = {
    "incremental_ingest": nb("sleep_s = 0.0\nfail = False", READ, SLEEP, TRANSFORM, FAIL, WRITE),
    "incremental_state": nb("sleep_s = 0.0\nfail = False", READ, SLEEP, FAIL),
    "incremental_daily": nb('run_date = "2024-01-01"\nlabel = ""\npropose = False', DAILY),
}


def main() -> None:
    for name, book in FIXTURES.items():
        nbformat.write(book, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
