"""``nbpipe dag run`` through the real CLI, on real kernels: what ran, what did not, and concurrency.

* A failed pipeline stops only its downstream (transitively); the other branch runs to the end,
  one at a time and with ``--parallel 2``. Checked on the command's exit code and table, the run
  store, and the run directories (nothing recorded for a pipeline that was not run).
* ``--parallel 2`` really runs two pipelines at once: each notebook leaves a marker and waits for
  the other's (a rendezvous), and their run windows in the store overlap. Run one at a time, the
  first pipeline can never see the second's marker: the control case shows the probe tells the two
  apart (it does not measure speed; ``wait_s`` only bounds how long the lone run waits).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.support.cli import run_cli
from tests.support.projects import build_project

pytestmark = pytest.mark.slow

WIDE = {"COLUMNS": "200"}  # rich tables are as wide as the terminal: keep every cell on one line

# Leaves a marker named after its pipeline, then waits until every pipeline of the meeting left one.
MEET = """import json, os, pathlib, time
me = os.environ["NBPIPE_PIPELINE"]
meet = pathlib.Path(os.environ["NBPIPE_PROJECT"]) / "meet"
meet.mkdir(exist_ok=True)
(meet / me).write_text(me)
deadline = time.monotonic() + wait_s
while len(list(meet.iterdir())) < expected:
    if time.monotonic() > deadline:
        raise TimeoutError(f"{me} waited alone: no other pipeline ran at the same time")
    time.sleep(0.05)
seen = sorted(p.name for p in meet.iterdir())
(meet.parent / f"seen-{me}.json").write_text(json.dumps(seen))
print("met", seen)"""


def write_meet_notebook(root: Path) -> None:
    params = new_code_cell("expected = 2\nwait_s = 300.0", metadata={"tags": ["parameters"]})
    book = new_notebook(
        cells=[params, new_code_cell(MEET)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(book, root / "meet.ipynb")


def stored_runs(root: Path) -> dict[str, list[dict[str, Any]]]:
    """``{pipeline: [{run_id, status, started_at, ended_at, exit_code, error}, …]}`` from the SQLite store."""
    out: dict[str, list[dict[str, Any]]] = {}
    with sqlite3.connect(root / "runs" / "nbpipe.db") as conn:
        conn.row_factory = sqlite3.Row
        for row in conn.execute("SELECT run_id, pipeline, status, record_json FROM runs ORDER BY run_id"):
            record = json.loads(row["record_json"] or "{}")
            out.setdefault(row["pipeline"], []).append({
                "run_id": row["run_id"], "status": row["status"], "started_at": record.get("started_at"),
                "ended_at": record.get("ended_at"), "exit_code": record.get("exit_code"),
                "error": record.get("error") or {},
            })
    return out


def at(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def table_rows(stdout: str, pipelines: list[str]) -> dict[str, tuple[str, str]]:
    """``{pipeline: (status, run id)}`` parsed from the outcome table ``dag run`` prints."""
    rows: dict[str, tuple[str, str]] = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line)[1:-1]]
        if len(cells) >= 3 and cells[0] in pipelines:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


# --------------------------------------------------------------------------- downstream of a failure
FAILING_DAG: dict[str, dict[str, Any]] = {
    "bad": {"notebook": "exception.ipynb", "writes": ["x"]},
    "mid": {"notebook": "ok.ipynb", "reads": ["x"], "writes": ["y"]},  # downstream of bad
    "leaf": {"notebook": "ok.ipynb", "reads": ["y"]},  # downstream of mid, so of bad too
    "side": {"notebook": "ok.ipynb"},  # another branch
    "after_side": {"notebook": "ok.ipynb", "depends_on": ["side"]},
}


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_a_failed_pipeline_stops_only_its_downstream(tmp_path: Path, parallel: str) -> None:
    root = build_project(tmp_path / "p", pipelines=FAILING_DAG,
                         datasets={"x": {"format": "parquet"}, "y": {"format": "parquet"}})

    done = run_cli(root, "dag", "run", "--parallel", parallel, env=WIDE)

    assert done.returncode == 1, f"a failed pipeline fails the dag run\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr
    shown = table_rows(done.stdout, list(FAILING_DAG))
    assert {name: status for name, (status, _) in shown.items()} == {
        "bad": "failed", "mid": "upstream_failed", "leaf": "upstream_failed",
        "side": "succeeded", "after_side": "succeeded",
    }, done.stdout
    assert shown["mid"][1] == shown["leaf"][1] == "", "a pipeline that was not run has no run id"
    assert "upstream bad failed" in done.stdout and "upstream mid failed" in done.stdout

    stored = stored_runs(root)
    assert sorted(stored) == ["after_side", "bad", "side"], "only the pipelines that ran are recorded"
    assert {name: [r["status"] for r in runs] for name, runs in stored.items()} == {
        "bad": ["failed"], "side": ["succeeded"], "after_side": ["succeeded"],
    }
    bad = stored["bad"][0]
    assert (bad["exit_code"], bad["error"]["ename"], bad["error"]["evalue"]) == (
        10, "ValueError", "bad value in column dep_delay"
    ), "the failed run is recorded as the notebook's cell error (RunFailedError's exit code)"
    for name, runs in stored.items():
        assert shown[name][1] == runs[0]["run_id"], f"the table shows {name}'s run id"
        assert (root / "runs" / name / runs[0]["run_id"] / "run.json").is_file()
    for name in ("mid", "leaf"):
        assert not (root / "runs" / name).exists(), f"{name} was not run, so it has no run directory"
    side, after = stored["side"][0], stored["after_side"][0]
    assert at(after["started_at"]) >= at(side["ended_at"]), "after_side waits for side, its upstream"


# --------------------------------------------------------------------------- --parallel
def test_parallel_runs_two_pipelines_at_the_same_time(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", pipelines={"p": {"notebook": "meet.ipynb"}, "q": {"notebook": "meet.ipynb"}})
    write_meet_notebook(root)

    done = run_cli(root, "dag", "run", "--parallel", "2", env=WIDE)

    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    for me in ("p", "q"):
        seen = json.loads((root / f"seen-{me}.json").read_text())
        assert seen == ["p", "q"], f"{me} met {seen}"
    stored = stored_runs(root)
    assert {n: [r["status"] for r in runs] for n, runs in stored.items()} == {"p": ["succeeded"], "q": ["succeeded"]}
    p, q = (stored[n][0] for n in ("p", "q"))
    window = {n: (at(r["started_at"]), at(r["ended_at"])) for n, r in (("p", p), ("q", q))}
    assert window["p"][0] < window["q"][1] and window["q"][0] < window["p"][1], f"the runs did not overlap: {window}"
    assert table_rows(done.stdout, ["p", "q"]) == {"p": ("succeeded", p["run_id"]), "q": ("succeeded", q["run_id"])}


def test_one_at_a_time_the_rendezvous_cannot_happen(tmp_path: Path) -> None:
    """The control case: without --parallel the first pipeline waits alone, so the probe above is sound."""
    root = build_project(tmp_path / "p", pipelines={"p": {"notebook": "meet.ipynb"}, "q": {"notebook": "meet.ipynb"}})
    write_meet_notebook(root)

    done = run_cli(root, "dag", "run", "-p", "wait_s=1", env=WIDE)

    assert done.returncode == 1, f"{done.stdout}\n{done.stderr}"
    stored = stored_runs(root)
    first, second = sorted(stored, key=lambda n: at(stored[n][0]["started_at"]))
    assert stored[first][0]["status"] == "failed" and stored[second][0]["status"] == "succeeded", stored
    assert stored[first][0]["error"]["ename"] == "TimeoutError"
    assert stored[first][0]["error"]["evalue"] == f"{first} waited alone: no other pipeline ran at the same time"
    assert at(stored[second][0]["started_at"]) >= at(stored[first][0]["ended_at"]), "one at a time, no overlap"
