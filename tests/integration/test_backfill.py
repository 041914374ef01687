"""``nbpipe backfill``: one run per day, past failures, resumable, parallel where state allows.

Real kernels run ``tests/notebooks/incremental_daily.ipynb`` (no Spark: a day parameter, a
declared file input, a failure marker ``fail/<day>`` outside the inputs, and ``propose=True`` to
behave like an incremental read), so each day costs a kernel start.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core.config import load_project
from nbpipe.errors import ParameterError, RunLockedError
from nbpipe.ops.backfill import backfill, days_between, parse_day
from nbpipe.run.locks import PipelineLock
from nbpipe.run.runner import BackfillSlot, Runner
from nbpipe.run.store import RunStore
from tests.support.cli import run_cli
from tests.support.projects import copy_notebook, write_config

WIDE = {"COLUMNS": "200"}  # the CLI's tables on one line each


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    (root / "landing").mkdir(parents=True)
    (root / "landing" / "a.csv").write_text("id\n1\n")
    copy_notebook(root, "incremental_daily", as_name="daily")
    return write_config(
        root,
        project="bf",
        datasets={"landing": {"path": "landing", "format": "csv"}},
        pipelines={"daily": {"notebook": "daily.ipynb", "reads": ["landing"],
                             "params": {"run_date": {"type": "date", "required": True}}}},
    )


def store_runs(root: Path) -> list[dict[str, Any]]:
    with RunStore(load_project(project_dir=root).store_url) as store:
        return store.list_runs("daily", limit=100)


def test_backfill_continues_past_a_failed_day_and_a_rerun_resumes(root: Path) -> None:
    (root / "fail").mkdir()
    (root / "fail" / "2024-01-02").write_text("")
    proc = run_cli(root, "backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-03", "-p", "label=x", env=WIDE)
    assert proc.returncode == 10, "the exit code of the failed day's run (a cell raised)"
    rows = {m.group(1): m.group(2) for m in re.finditer(r"│ (2024-01-0\d) │ (\w+)", proc.stdout)}
    assert rows == {"2024-01-01": "succeeded", "2024-01-02": "failed", "2024-01-03": "succeeded"}, proc.stdout
    assert "3 day(s): 2 succeeded, 0 skipped, 1 failed" in proc.stdout
    assert "nbpipe backfill daily --from 2024-01-01 --to 2024-01-03 -p label=x" in proc.stderr
    assert sorted(p.name for p in (root / "daily_out").iterdir()) == ["2024-01-01.json", "2024-01-03.json"]
    assert json.loads((root / "daily_out" / "2024-01-03.json").read_text()) == {"run_date": "2024-01-03", "label": "x"}
    first_ids = {r["run_id"] for r in store_runs(root)}
    assert len(first_ids) == 3

    (root / "fail" / "2024-01-02").unlink()  # repaired outside the declared inputs: same fingerprint
    proc = run_cli(root, "backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-03", "-p", "label=x", env=WIDE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {m.group(1): m.group(2) for m in re.finditer(r"│ (2024-01-0\d) │ (\w+)", proc.stdout)}
    assert rows == {"2024-01-01": "skipped", "2024-01-02": "succeeded", "2024-01-03": "skipped"}, proc.stdout
    runs = [r for r in store_runs(root) if r["run_id"] not in first_ids]
    assert sorted(r["status"] for r in runs) == ["skipped", "skipped", "succeeded"]
    assert all("up to date" in r["skipped_reason"] for r in runs if r["status"] == "skipped")


def test_parallel_backfill_runs_every_day_under_the_pipeline_lock(root: Path) -> None:
    seen: list[str] = []
    project = load_project(project_dir=root)
    result = backfill(project, "daily", start=parse_day("2024-02-01", "--from"), end=parse_day("2024-02-04", "--to"),
                      parallel=2, on_day=lambda d: seen.append(d.day))
    assert [d.status for d in result.days] == ["succeeded"] * 4 and result.exit_code == 0
    assert sorted(seen) == [d.day for d in result.days] == ["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04"]
    assert len({d.run_id for d in result.days}) == 4 and not result.warnings
    assert len(list((root / "daily_out").iterdir())) == 4
    runs = store_runs(root)
    assert sorted(r["status"] for r in runs) == ["succeeded"] * 4
    for d in result.days:
        rec = json.loads((root / "runs" / "daily" / str(d.run_id) / "run.json").read_text())
        assert rec["params"]["run_date"] == d.day
    assert not json.loads((root / "runs" / ".locks" / "daily.lock").read_text() or "{}"), "lock released"

    # Held by someone else: a backfill is refused like a run, before any day starts.
    lock = PipelineLock(project.runs_dir, "daily", "someone-else", "2024-01-01T00:00:00+00:00").acquire()
    try:
        with pytest.raises(RunLockedError, match="already running: run someone-else"):
            backfill(project, "daily", start=parse_day("2024-02-05", "--from"), end=parse_day("2024-02-05", "--to"))
    finally:
        lock.release()


def test_parallel_backfill_of_an_incremental_pipeline_runs_days_in_order(root: Path) -> None:
    project = load_project(project_dir=root)
    result = backfill(project, "daily", start=parse_day("2024-03-01", "--from"), end=parse_day("2024-03-03", "--to"),
                      parallel=3, given={"propose": "True"}, from_cli=frozenset({"propose"}))
    assert [d.status for d in result.days] == ["succeeded"] * 3, [d.error for d in result.days]
    assert result.days[0].incremental and any("ran one after the other" in w for w in result.warnings)
    with RunStore(project.store_url) as store:
        history = store.state_history("daily", "landing")
    assert [list(h["position"]["files"]) for h in history] == [["2024-03-01"], ["2024-03-02"], ["2024-03-03"]]
    assert [h["run_id"] for h in history] == [d.run_id for d in result.days], "committed in day order"


def test_a_concurrent_day_that_proposes_state_fails_before_publishing(root: Path) -> None:
    runner = Runner(load_project(project_dir=root))
    try:
        result = runner.run("daily", {"run_date": "2024-04-01", "propose": "True"},
                            from_cli=frozenset({"run_date", "propose"}), backfill=BackfillSlot("bf-1", concurrent=True))
        assert result.status == "failed" and result.exit_code == 9
        assert "cannot run in parallel" in result.error.message and "--parallel 1" in (result.error.hint or "")
        assert runner.store.get_state("daily") == {} and runner.store.pending_publishes("daily") == []
    finally:
        runner.close()


def test_backfill_refuses_bad_ranges_and_parameters(root: Path) -> None:
    assert [d.isoformat() for d in days_between(parse_day("2024-02-28", "--from"), parse_day("2024-03-01", "--to"))] \
        == ["2024-02-28", "2024-02-29", "2024-03-01"]
    with pytest.raises(ParameterError, match="is not a date"):
        parse_day("2024-13-01", "--from")
    proc = run_cli(root, "backfill", "daily", "--from", "2024-01-05", "--to", "2024-01-01", env=WIDE)
    assert proc.returncode == 3 and "--to 2024-01-01 is before --from 2024-01-05" in proc.stderr
    proc = run_cli(root, "backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-02", "--param", "run_dat",
                   env=WIDE)
    assert proc.returncode == 3 and "did you mean 'run_date'" in proc.stderr
    proc = run_cli(root, "backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-02", "-p", "run_date=x",
                   env=WIDE)
    assert proc.returncode == 3 and "set by the backfill for each day" in proc.stderr
    assert not (root / "runs" / "daily").exists(), "nothing ran"


# --------------------------------------------------------------------------- incremental pipelines on Spark

INGEST = {"2024-05-01": [(1, 1.5), (2, 2.5)], "2024-05-02": [(3, 3.25)], "2024-05-03": [(4, 4.0), (5, 5.5), (6, 6.0)]}


@pytest.mark.spark
@pytest.mark.slow
def test_backfill_of_an_incremental_pipeline_reprocesses_each_named_day(tmp_path: Path, spark_connect_url: str) -> None:
    """After a run ingested everything, a backfill re-reads each day's partition and leaves the state alone."""
    import yaml

    root = tmp_path / "inc"
    root.mkdir()
    copy_notebook(root, "incremental_ingest")
    for day, rows in INGEST.items():
        target = root / "landing" / "events" / f"day={day}" / "part.csv"
        target.parent.mkdir(parents=True)
        target.write_text("id,amount\n" + "".join(f"{i},{a}\n" for i, a in rows))
    write_config(
        root, project="bfinc", profiles={"dev": {"spark": {"remote": spark_connect_url}}},
        datasets={"landing": {"path": "landing/events", "format": "csv", "options": {"header": "true"}},
                  "events": {"format": "parquet", "partition_by": ["day"]}},
        pipelines={"ingest": {"notebook": "incremental_ingest.ipynb", "reads": ["landing"], "writes": ["events"],
                              "params": {"run_date": {"type": "date"}}}},
    )
    (root / "contracts").mkdir()
    (root / "contracts" / "events.yaml").write_text(yaml.safe_dump({
        "dataset": "events", "version": "1.0", "partition_by": ["day"],
        "columns": [{"name": n, "type": t, "nullable": n != "day"}
                    for n, t in (("day", "string"), ("id", "int"), ("amount", "double"), ("amount_x2", "double"))],
    }, sort_keys=False))
    env = {"NBPIPE_SPARK_REMOTE": spark_connect_url, **WIDE}
    first = run_cli(root, "run", "ingest", "-p", "run_date=2024-05-03", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    project = load_project(project_dir=root)
    with RunStore(project.store_url) as store:
        committed = store.get_state("ingest")
    assert sorted(committed["landing"]["files"]) == [f"day={d}/part.csv" for d in INGEST]

    proc = run_cli(root, "backfill", "ingest", "--from", "2024-05-01", "--to", "2024-05-02", "--parallel", "2",
                   env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with RunStore(project.store_url) as store:
        assert store.get_state("ingest") == committed, "a backfill does not move the committed position"
        runs = store.list_runs("ingest", limit=10)
    read_rows = {}
    for run in runs[:2]:  # the backfill's days, newest first
        record = json.loads((root / "runs" / "ingest" / run["run_id"] / "run.json").read_text())
        assert record["status"] == "succeeded"
        read_rows[record["params"]["run_date"]] = record["metrics"]["rows_in"]
    assert read_rows == {"2024-05-01": 2, "2024-05-02": 1}, "each day re-read exactly its own partition"
