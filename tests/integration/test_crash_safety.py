"""Crash safety: SIGKILL the runner at every failpoint (and mid-cell) and prove nothing is damaged.

A small incremental pipeline (``tests/notebooks/incremental_ingest.ipynb``: ``ctx.incremental``
over a CSV landing zone, ``ctx.write`` to a dataset partitioned by day) runs in
real kernels against one real Spark (a Spark Connect server running ``local[2]``, shared by the
test session through the ``spark_connect_url`` fixture, so each kernel attaches in seconds instead
of starting its own JVM).

Every case starts from the same committed first batch (a copied template project), lands the same
second batch, kills ``nbpipe run`` with SIGKILL at one point and asserts:

* the runner and its kernel are gone (the kernel exits when its parent dies);
* no partial partition is visible: every partition in the warehouse is byte-identical to the one
  of the uninterrupted run or of the template;
* the position did not advance unless the data was published (old state + old data, or new state
  + new data; a publish cut in the middle keeps the old state and is rolled forward);
* the next ``nbpipe run`` converges: state and published files are byte-identical to an
  uninterrupted run's, the killed run is closed in the store, no staging is left behind.

There is no weaker stand-in: the cases always run ``incremental_ingest`` (which publishes), the
modules it and the runner need are imported without a fallback, and the template and baseline runs
must have published every landed day. A module that does not import fails these tests loudly.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from nbpipe.run import failpoints
from tests.support.cli import run_cli, start_cli
from tests.support.projects import FIXTURE_NOTEBOOKS, copy_notebook, write_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]

NOTEBOOK = "incremental_ingest"
PIPELINE = "ingest"
BATCH_A = {"2024-01-01": [(1, 1.5), (2, 2.5)], "2024-01-02": [(3, 3.25)]}
BATCH_B = {"2024-01-03": [(4, 4.0), (5, 5.5)], "2024-01-04": [(6, 6.75), (7, 7.0)]}
# Points reached after the outputs were published: the position may (must, after recovery) advance.
PUBLISHED_AT = {"after_publish", "after_commit", "after_record"}
COMMITTED_AT = {"after_commit", "after_record"}
KILL_POINTS = [*failpoints.POINTS, "mid_cell"]
# What the notebook and the runner use on this path: read incrementally, stage, publish, commit, recover.
REQUIRED_MODULES = (
    "nbpipe.kernel.context",
    "nbpipe.data.incremental",
    "nbpipe.data.write",
    "nbpipe.run.publish",
    "nbpipe.run.recovery",
    "nbpipe.run.runner",
)


def days(batch: dict[str, list[tuple[int, float]]]) -> set[str]:
    return {f"day={d}" for d in batch}


def write_batch(root: Path, batch: dict[str, list[tuple[int, float]]]) -> None:
    """Land CSV drops ``landing/events/day=D/part.csv`` with fixed bytes and modification times."""
    for day, rows in batch.items():
        target = root / "landing" / "events" / f"day={day}" / "part.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("id,amount\n" + "".join(f"{i},{a}\n" for i, a in rows))
        stamp = 1_700_000_000 + int(day.replace("-", "")) % 1000 * 60
        os.utime(target, (stamp, stamp))


def crash_project(root: Path, remote: str) -> Path:
    """The incremental pipeline's project in ``root`` (a new directory), its Spark at ``remote``."""
    root.mkdir(parents=True)
    copy_notebook(root, NOTEBOOK)
    write_config(
        root,
        project="crash",
        profiles={"dev": {"spark": {"remote": remote}}},
        datasets={
            "landing": {"path": "landing/events", "format": "csv", "options": {"header": "true"}},
            "events": {"format": "parquet", "partition_by": ["day"]},
        },
        pipelines={PIPELINE: {"notebook": f"{NOTEBOOK}.ipynb", "reads": ["landing"], "writes": ["events"]}},
    )
    (root / "contracts").mkdir()
    (root / "contracts" / "events.yaml").write_text(yaml.safe_dump({
        "dataset": "events", "version": "1.0", "partition_by": ["day"], "primary_key": ["day", "id"],
        "columns": [{"name": n, "type": t, "nullable": n != "day"}
                    for n, t in (("day", "string"), ("id", "int"), ("amount", "double"), ("amount_x2", "double"))],
    }, sort_keys=False))
    return root


def state_of(root: Path) -> dict[str, Any]:
    """The committed positions, read straight from the SQLite store."""
    db = root / "runs" / "nbpipe.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT dataset, position_json FROM state WHERE pipeline = ?", (PIPELINE,)).fetchall()
    return {d: json.loads(p) for d, p in rows}


def runs_of(root: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(root / "runs" / "nbpipe.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT run_id, status, record_json FROM runs WHERE pipeline = ?", (PIPELINE,))
        return {r["run_id"]: {"status": r["status"], "record": json.loads(r["record_json"] or "{}")} for r in rows}


def partitions(root: Path) -> dict[str, list[str]]:
    """``{partition dir: sorted sha256 of its data files}`` of the published dataset (names vary per write)."""
    base = root / "warehouse" / "events"
    out: dict[str, list[str]] = {}
    if not base.exists():
        return out
    for part in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        files = [f for f in sorted(part.rglob("*")) if f.is_file() and not f.name.startswith((".", "_"))]
        out[part.name] = sorted(hashlib.sha256(f.read_bytes()).hexdigest() for f in files)
    return out


def processes_of(root: Path) -> list[int]:
    """Pids of live processes started for this project: the runner's env names it (kernels inherit it)."""
    marker = f"NBPIPE_PROJECT={root.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_kernels_gone(root: Path, timeout_s: float = 120) -> list[int]:
    """Wait until no kernel of ``root`` is left (a kernel exits ~1 s after its parent died)."""
    deadline = time.monotonic() + timeout_s
    while (left := processes_of(root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def run_killed(root: Path, point: str, remote: str) -> int:
    """Start ``nbpipe run`` in its own process group, let it die at ``point``; return its pid."""
    env = {"NBPIPE_SPARK_REMOTE": remote}
    args = ["run", PIPELINE]
    if point == "mid_cell":
        args += ["-p", "sleep_s=600"]
    else:
        env[failpoints.ENV] = point
    before = {p.name for p in (root / "runs" / PIPELINE).iterdir()}
    proc = start_cli(root, *args, env=env, new_session=True)
    try:
        if point == "mid_cell":
            deadline = time.monotonic() + 600
            while not [m for m in (root / "runs" / PIPELINE).glob("*/cell_sleeping") if m.parent.name not in before]:
                assert proc.poll() is None, f"the run ended before the sleeping cell: {proc.communicate()}"
                assert time.monotonic() < deadline, "the run never reached the sleeping cell"
                time.sleep(0.2)
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == -signal.SIGKILL, f"{point}: runner was not killed: {proc.returncode}\n{out}\n{err}"
        assert not wait_kernels_gone(root), f"{point}: the kernel outlived the killed runner"
    finally:
        for pid in processes_of(root):
            os.kill(pid, signal.SIGKILL)
    return proc.pid


# --------------------------------------------------------------------------- module fixtures
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, spark_connect_url: str) -> Path:
    """A project whose first batch is committed (and published), with the second batch landed."""
    root = crash_project(tmp_path_factory.mktemp("crash") / "template", spark_connect_url)
    write_batch(root, BATCH_A)
    first = run_cli(root, "run", PIPELINE, env={"NBPIPE_SPARK_REMOTE": spark_connect_url})
    assert first.returncode == 0, f"the first run failed (a module not importing?):\n{first.stdout}\n{first.stderr}"
    assert state_of(root), "the first run committed a position"
    published = partitions(root)
    assert set(published) == days(BATCH_A) and all(published.values()), f"the first batch is published: {published}"
    write_batch(root, BATCH_B)
    return root


def copy_of(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)  # copy2 keeps the landing files' mtimes
    return dest


@pytest.fixture(scope="module")
def baseline(template: Path, tmp_path_factory: pytest.TempPathFactory, spark_connect_url: str) -> dict[str, Any]:
    """The uninterrupted second run: its state, published files and rows processed."""
    root = copy_of(template, tmp_path_factory.mktemp("baseline") / "p")
    proc = run_cli(root, "run", PIPELINE, env={"NBPIPE_SPARK_REMOTE": spark_connect_url})
    assert proc.returncode == 0, f"the uninterrupted run failed:\n{proc.stdout}\n{proc.stderr}"
    published = partitions(root)
    assert set(published) == days(BATCH_A) | days(BATCH_B) and all(published.values()), (
        f"the second batch is published next to the first: {published}"
    )
    newest = max((root / "runs" / PIPELINE).iterdir(), key=lambda p: p.name)
    record = json.loads((newest / "run.json").read_text())
    return {
        "state": state_of(root),
        "partitions": partitions(root),
        "rows": record["metrics"]["rows_in"],
        "before": state_of(template),
        "old_partitions": partitions(template),
    }


# --------------------------------------------------------------------------- the tests
def test_the_cases_run_the_publishing_notebook_on_modules_that_import() -> None:
    """No fallback: a module that does not import, or a notebook that stops writing, fails here."""
    for module in REQUIRED_MODULES:
        importlib.import_module(module)  # ImportError is the failure, on purpose
    book = nbformat.read(FIXTURE_NOTEBOOKS / f"{NOTEBOOK}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in book.cells if cell.cell_type == "code")
    assert 'ctx.incremental("landing")' in code and 'ctx.write(out, "events")' in code, (
        f"{NOTEBOOK} must read incrementally and publish; the crash cases test nothing less"
    )


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_leaves_old_or_new_and_rerun_converges(
    point: str, template: Path, baseline: dict[str, Any], tmp_path: Path, spark_connect_url: str
) -> None:
    root = copy_of(template, tmp_path / "p")
    known_runs = set(runs_of(root))
    assert baseline["state"] != baseline["before"], "the second batch moves the position"

    run_killed(root, point, spark_connect_url)

    # --- right after the crash: old state + old data, or new state + new data; nothing partial.
    state = state_of(root)
    visible = partitions(root)
    for part, digests in visible.items():
        assert digests in (baseline["partitions"].get(part), baseline["old_partitions"].get(part)), (
            f"{point}: partition {part} is partial or foreign"
        )
    if point in COMMITTED_AT:
        assert state == baseline["state"], f"{point}: the commit happened, the position must be new"
        assert visible == baseline["partitions"], f"{point}: committed state needs all new data published"
    else:
        assert state == baseline["before"], f"{point}: the position advanced before the commit"
        if point not in PUBLISHED_AT and point != "mid_publish":
            assert visible == baseline["old_partitions"], f"{point}: data published before the publish step"
    if point in PUBLISHED_AT:
        assert visible == baseline["partitions"]
    killed = [r for r in runs_of(root) if r not in known_runs]
    assert len(killed) == 1 or point == "after_lock", f"{point}: expected one killed run, got {killed}"

    # --- the next run converges to the uninterrupted result.
    rerun = run_cli(root, "run", PIPELINE, env={"NBPIPE_SPARK_REMOTE": spark_connect_url})
    assert rerun.returncode == 0, f"{point}: rerun failed\n{rerun.stdout}\n{rerun.stderr}"
    assert state_of(root) == baseline["state"], f"{point}: the rerun did not converge to the same position"
    assert partitions(root) == baseline["partitions"], f"{point}: published bytes differ from the clean run"
    assert not list((root / "warehouse").glob(".*.publish")), f"{point}: publish work left behind"
    stored = runs_of(root)
    assert not [r for r, v in stored.items() if v["status"] == "running"], "an orphaned run is still 'running'"
    new = {r: v for r, v in stored.items() if r not in known_runs}
    rows = sum(v["record"].get("metrics", {}).get("rows_in", 0) for v in new.values() if v["status"] == "succeeded")
    assert rows == baseline["rows"], f"{point}: committed runs processed {rows} rows, the clean run {baseline['rows']}"
    for run_id in killed:
        closed = stored[run_id]
        published = point in PUBLISHED_AT or point in ("after_publish_journal", "mid_publish")
        assert closed["status"] == ("succeeded" if published else "failed"), (point, closed)
        if not published:
            assert closed["record"]["error"]["type"] == "RunnerKilledError"
        assert not (root / "runs" / PIPELINE / run_id / "staging").exists(), "staging left behind"
    if point in ("after_publish_journal", "mid_publish", "after_publish"):
        assert "completed the publish of run" in rerun.stdout, "the rerun reports the roll-forward"

