"""Publishing readers can trust, end to end: ``nbpipe run`` in real kernels against one real Spark.

* a runner SIGKILLed mid-publish (the ``mid_publish`` failpoint) leaves day 6 new and day 7 old in
  the folder, yet a pipeline reading the dataset with ``ctx.read`` sees the previous publish whole
  until the next run rolls the publish forward;
* a notebook that writes into a published dataset's folder itself (bypassing ``ctx.write``) fails
  its run with exit code 6, naming the dataset, the file and ``ctx.write``; nothing is published;
* a read-only warehouse fails the run with exit code 6, the path and the fix, no traceback, and no
  pending entry in the publish journal.

The kernels attach to the session's Spark Connect server (``local[2]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pyarrow.dataset as pads
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbpipe.core.manifest import MANIFEST
from nbpipe.run import failpoints
from tests.support.cli import NBPIPE, TIMEOUT_S, cli_env, run_cli
from tests.support.privileges import unprivileged
from tests.support.projects import write_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DAYS = ("2024-01-06", "2024-01-07")
WRITER = [
    'tag = "v1"\nstray = False',
    """import nbpipe
ctx = nbpipe.context()
df = ctx.spark.createDataFrame([(d, i, tag) for i, d in enumerate(DAYS)], "day string, id int, tag string")
ctx.write(df, "daily")""",
    """# the bypass: a file written straight into the published folder, not through ctx.write
if stray:
    import pandas as pd
    folder = ctx.project.warehouse / "daily" / f"day={DAYS[0]}"
    pd.DataFrame({"id": [99], "tag": ["stray"]}).to_parquet(folder / "extra.parquet")""",
]
READER = """import json, pathlib
import nbpipe
ctx = nbpipe.context()
rows = sorted([str(r.day), r.tag] for r in ctx.read("daily").collect())
pathlib.Path(ctx.run_dir, "rows.json").write_text(json.dumps(rows))"""


def notebook(path: Path, *cells: str) -> None:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)


@pytest.fixture
def root(tmp_path: Path, spark_connect_url: str) -> Path:
    """A project with pipeline ``daily`` (writes ``daily``, partitioned by day) and ``reader`` (reads it)."""
    root = write_config(
        tmp_path / "p", project="guards", profiles={"dev": {"spark": {"remote": spark_connect_url}}},
        datasets={"daily": {"format": "parquet", "partition_by": ["day"], "write_mode": "overwrite_partitions"}},
        pipelines={"daily": {"notebook": "daily.ipynb", "writes": ["daily"]},
                   "reader": {"notebook": "reader.ipynb"}},
    )
    notebook(root / "daily.ipynb", WRITER[0], f"DAYS = {DAYS!r}\n" + WRITER[1], WRITER[2])
    notebook(root / "reader.ipynb", "", READER)
    return root


def nbpipe(root: Path, *args: str, env: dict[str, str] | None = None,
           prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    if prefix:
        return subprocess.run([*prefix, *NBPIPE, *args], cwd=root, env=cli_env(env), capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False)
    return run_cli(root, *args, env=env)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


def read_through_nbpipe(root: Path) -> list[list[str]]:
    ok(nbpipe(root, "run", "reader"))
    newest = max((root / "runs" / "reader").iterdir(), key=lambda p: p.name)
    return list(json.loads((newest / "rows.json").read_text()))


def plain_rows(root: Path) -> list[tuple[str, str]]:
    """The folder as a plain Parquet reader (pyarrow) sees it."""
    table = pads.dataset(root / "warehouse" / "daily", partitioning="hive").to_table()
    return sorted((str(d), t) for d, t in zip(table.column("day").to_pylist(), table.column("tag").to_pylist(),
                                              strict=True))


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def store(root: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(root / "runs" / "nbpipe.db") as conn:
        return list(conn.execute(query).fetchall())


def pending_publishes(root: Path) -> list[tuple[Any, ...]]:
    return store(root, "SELECT run_id FROM publish_journal WHERE status = 'pending'")


def kernels_of(root: Path) -> list[int]:
    marker = f"NBPIPE_PROJECT={root.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_publish_killed_midway_is_invisible_to_ctx_read(root: Path) -> None:
    ok(nbpipe(root, "run", "daily"))
    old = [[d, "v1"] for d in DAYS]
    assert read_through_nbpipe(root) == old
    killed = nbpipe(root, "run", "daily", "-p", "tag=v2", env={failpoints.ENV: "mid_publish"})
    for pid in kernels_of(root):  # the killed runner's kernel
        os.kill(pid, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert plain_rows(root) == [(DAYS[0], "v2"), (DAYS[1], "v1")], "a plain reader sees day 6 new, day 7 old"
    assert read_through_nbpipe(root) == old, "ctx.read sees the last whole publish"

    rerun = ok(nbpipe(root, "run", "daily", "-p", "tag=v2"))
    assert "completed the publish of run" in rerun.stdout + rerun.stderr
    assert read_through_nbpipe(root) == [[d, "v2"] for d in DAYS]
    assert plain_rows(root) == [(d, "v2") for d in DAYS]
    assert not list((root / "warehouse" / "daily").glob("*/.nbpipe_prev"))


def test_a_write_that_bypasses_ctx_write_fails_the_run_and_publishes_nothing(root: Path) -> None:
    ok(nbpipe(root, "run", "daily"))
    live = root / "warehouse" / "daily"
    before = tree(live)
    proc = nbpipe(root, "run", "daily", "-p", "tag=v2", "-p", "stray=true")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 6, out
    assert "dataset 'daily' was changed outside nbpipe's publish step" in out
    assert f"day={DAYS[0]}/extra.parquet" in out and "ctx.write(df, 'daily')" in out
    assert "Traceback" not in out
    extra = f"day={DAYS[0]}/extra.parquet"
    after = tree(live)
    assert after.pop(extra) and after == before, "nothing published; the stray file is left where it was written"
    assert pending_publishes(root) == []
    (run_id, status, exit_code), *_ = store(
        root, "SELECT run_id, status, exit_code FROM runs WHERE pipeline = 'daily' ORDER BY started_at DESC")
    assert (status, exit_code) == ("failed", 6)
    assert not (root / "runs" / "daily" / run_id / "staging").exists()
    assert read_through_nbpipe(root) == [[d, "v1"] for d in DAYS]

    (live / extra).unlink()
    ok(nbpipe(root, "run", "daily", "-p", "tag=v2"))
    assert read_through_nbpipe(root) == [[d, "v2"] for d in DAYS]


def test_a_read_only_warehouse_fails_clearly_and_journals_nothing(root: Path) -> None:
    ok(nbpipe(root, "run", "daily"))
    warehouse = root / "warehouse"
    before = tree(warehouse)
    folders = [warehouse, *(p for p in warehouse.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:
        proc = nbpipe(root, "run", "daily", "-p", "tag=v2", prefix=unprivileged())
    finally:
        for folder in folders:
            folder.chmod(0o755)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 6, out
    assert "Traceback" not in out and "PermissionError" not in out
    assert f"cannot publish dataset 'daily': {warehouse}" in out and "is not writable" in out
    assert "chmod -R u+w" in out
    assert pending_publishes(root) == [], "no publish journal entry is left for the next run to roll forward"
    assert tree(warehouse) == before
    assert json.loads((warehouse / "daily" / MANIFEST).read_text())["version"] == 1

    ok(nbpipe(root, "run", "daily", "-p", "tag=v2"))
    assert plain_rows(root) == [(d, "v2") for d in DAYS]
