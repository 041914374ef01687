"""Skip-if-unchanged, ``--force`` and ``--resume`` with real kernels (and real Spark for resume).

Skipping is tested on a notebook without Spark (``incremental_daily``: a declared file input and
a day parameter), so a run costs a kernel start only; resume needs real incremental reads, so it
runs ``incremental_state`` against the session's Spark Connect server (``spark_connect_url``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core.config import load_project
from nbpipe.run.runner import Runner
from nbpipe.run.store import RunStore
from tests.support.cli import run_cli
from tests.support.projects import copy_notebook, write_config


def project(root: Path, notebook: str, pipeline: str, extra: dict[str, Any] | None = None,
            profile: dict[str, Any] | None = None) -> Path:
    root.mkdir(parents=True)
    copy_notebook(root, notebook)
    return write_config(
        root,
        project="skip",
        datasets={"landing": {"path": "landing/events", "format": "csv", "options": {"header": "true"}}},
        pipelines={pipeline: {"notebook": f"{notebook}.ipynb", "reads": ["landing"], **(extra or {})}},
        **({"profiles": {"dev": profile}} if profile else {}),
    )


def land(root: Path, day: str, rows: list[tuple[int, float]], name: str = "part.csv") -> Path:
    target = root / "landing" / "events" / f"day={day}" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("id,amount\n" + "".join(f"{i},{a}\n" for i, a in rows))
    return target


def record(root: Path, pipeline: str, run_id: str) -> dict[str, Any]:
    return json.loads((root / "runs" / pipeline / run_id / "run.json").read_text())


# --------------------------------------------------------------------------- skip if unchanged
@pytest.fixture
def daily(tmp_path: Path) -> Iterator[tuple[Path, Runner]]:
    root = project(tmp_path / "p", "incremental_daily", "daily")
    land(root, "2024-01-01", [(1, 1.0)])
    runner = Runner(load_project(project_dir=root))
    yield root, runner
    runner.close()


def test_unchanged_run_is_skipped_and_recorded_force_runs_it(daily: tuple[Path, Runner]) -> None:
    root, runner = daily
    first = runner.run("daily", {"run_date": "2024-01-01"}, from_cli=frozenset({"run_date"}))
    assert first.status == "succeeded" and first.record["fingerprint"].startswith("sha256:")

    proc = run_cli(root, "run", "daily", "-p", "run_date=2024-01-01")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert ("up to date: notebook code, parameters, configuration, contracts, suites, profile, project modules "
            f"and inputs are unchanged since run {first.run_id}") in out
    assert "use --force" in out
    with RunStore(runner.project.store_url) as store:
        skipped = store.list_runs("daily", status="skipped")
        assert len(skipped) == 1 and skipped[0]["skipped_reason"].startswith("up to date")
        assert store.last_successful("daily")["run_id"] == first.run_id, "a skip is not a success"
    rec = record(root, "daily", skipped[0]["run_id"])
    assert rec["status"] == "skipped" and rec["exit_code"] == 0 and rec["attempts"] == []
    assert rec["fingerprint"] == first.record["fingerprint"] and "up to date" in rec["skipped_reason"]
    assert not (root / "runs" / "daily" / rec["run_id"] / "output.ipynb").exists(), "no kernel ran"

    forced = runner.run("daily", {"run_date": "2024-01-01"}, from_cli=frozenset({"run_date"}), force=True)
    assert forced.status == "succeeded" and forced.record["fingerprint"] == first.record["fingerprint"]


@pytest.mark.parametrize("change", ["input_file", "new_file", "param", "notebook_code"])
def test_a_change_in_code_params_or_inputs_runs_again(daily: tuple[Path, Runner], change: str) -> None:
    root, runner = daily
    given = {"run_date": "2024-01-01"}
    first = runner.run("daily", given, from_cli=frozenset(given))
    assert first.status == "succeeded"
    changed_part = {"input_file": "input:landing", "new_file": "input:landing", "param": "params",
                    "notebook_code": "notebook"}
    if change == "input_file":
        land(root, "2024-01-01", [(1, 1.0), (2, 2.0)])
    elif change == "new_file":
        land(root, "2024-01-02", [(3, 3.0)])
    elif change == "param":
        given = {"run_date": "2024-01-02"}
    else:
        nb = root / "incremental_daily.ipynb"
        text = nb.read_text()
        assert 'print(\\"done\\", run_date)' in text
        nb.write_text(text.replace('print(\\"done\\", run_date)', 'print(\\"finished\\", run_date)'))
    again = runner.run("daily", given, from_cli=frozenset(given))
    assert again.status == "succeeded", f"{change}: expected a real run, got {again.status}"
    parts, before = again.record["fingerprint_parts"], first.record["fingerprint_parts"]
    differs = sorted(k for k in set(parts) | set(before) if parts.get(k) != before.get(k))
    assert differs == [changed_part[change]], f"{change}: fingerprint parts that changed: {differs}"


# --------------------------------------------------------------------------- resume (Spark)
@pytest.mark.spark
@pytest.mark.slow
def test_resume_reads_exactly_the_failed_snapshot_then_new_files_then_skips(
    tmp_path: Path, spark_connect_url: str
) -> None:
    root = project(tmp_path / "p", "incremental_state", "ingest", profile={"spark": {"remote": spark_connect_url}})
    land(root, "2024-01-01", [(1, 1.0), (2, 2.0)])
    land(root, "2024-01-02", [(3, 3.0)])
    env = {"NBPIPE_SPARK_REMOTE": spark_connect_url}

    failed = run_cli(root, "run", "ingest", "-p", "fail=True", env=env)
    assert failed.returncode == 10, failed.stderr
    match = re.search(r"retry: nbpipe run ingest --resume (\S+)", failed.stderr)
    assert match, f"the failed incremental run prints the --resume command:\n{failed.stderr}"
    failed_id = match.group(1)
    failed_rec = record(root, "ingest", failed_id)
    assert failed_rec["status"] == "failed" and failed_rec["incremental"] is True
    assert failed_rec["state"] == {"before": {}, "after": {}}, "a failed run commits nothing"
    assert failed_rec["retry_command"] == f"nbpipe run ingest --resume {failed_id}"

    land(root, "2024-01-03", [(4, 4.0), (5, 5.0), (6, 6.0)])  # lands after the failure
    resumed = run_cli(root, "run", "ingest", "--resume", failed_id, "-p", "fail=False", env=env)
    assert resumed.returncode == 0, resumed.stderr
    with RunStore(load_project(project_dir=root).store_url) as store:
        resumed_id = store.list_runs("ingest", status="succeeded")[0]["run_id"]
        state_after_resume = store.get_state("ingest")
    rec = record(root, "ingest", resumed_id)
    assert rec["resumed_from"] == failed_id and rec["incremental"] is True
    assert rec["metrics"]["rows_in"] == 3, "exactly the failed run's files (not the new day)"
    assert sorted(state_after_resume["landing"]["files"]) == [
        "day=2024-01-01/part.csv", "day=2024-01-02/part.csv"]
    assert rec["state"]["before"] == {} and rec["state"]["after"] == state_after_resume
    assert rec["datasets"]["inputs"][0]["rows"] == 3

    nxt = run_cli(root, "run", "ingest", env=env)
    assert nxt.returncode == 0, nxt.stderr
    with RunStore(load_project(project_dir=root).store_url) as store:
        latest = store.list_runs("ingest", status="succeeded")[0]
        state = store.get_state("ingest")
    rec = record(root, "ingest", latest["run_id"])
    assert rec["metrics"]["rows_in"] == 3 and rec["resumed_from"] is None, "only the new day is read"
    assert rec["state"]["before"] == state_after_resume and rec["state"]["after"] == state
    assert len(state["landing"]["files"]) == 3

    unchanged = run_cli(root, "run", "ingest", env=env)
    assert unchanged.returncode == 0 and "up to date" in " ".join(unchanged.stdout.split()), unchanged.stderr


# --------------------------------------------------------------------------- what else makes a run stale
CHECKED = """import pandas as pd
import nbpipe
import checks_helper

ctx = nbpipe.context()
df = pd.read_csv(f"{ctx.project.root}/landing/events/day={run_date}/part.csv")
ctx.check(df, "amounts")
print("checked", len(df), checks_helper.LABEL)"""


def suite(max_amount: float) -> str:
    return json.dumps({"name": "amounts", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "max_value": max_amount}}]})


def why_not_skipped(root: Path, pipeline: str, run_id: str) -> str:
    lines = (root / "runs" / pipeline / run_id / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    (found,) = [e for e in events if "fingerprint_changed" in e]
    return str(found["message"])


def test_a_stricter_suite_or_a_changed_module_is_not_up_to_date(tmp_path: Path) -> None:
    import nbformat

    root = project(tmp_path / "p", "incremental_daily", "checked")
    cells = [nbformat.v4.new_code_cell('run_date = "2024-01-01"', metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell(CHECKED)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=json.loads(
        (root / "incremental_daily.ipynb").read_text())["metadata"]), root / "incremental_daily.ipynb")
    (root / "checks_helper.py").write_text('LABEL = "v1"\n')
    (root / "expectations").mkdir()
    (root / "expectations" / "amounts.json").write_text(suite(10))
    land(root, "2024-01-01", [(1, 1.0), (2, 2.0)])
    with Runner(load_project(project_dir=root)) as runner:
        first = runner.run("checked")
        assert first.status == "succeeded", first.error
        assert runner.run("checked").status == "skipped"

    (root / "expectations" / "amounts.json").write_text(suite(1.5))  # stricter: amount 2.0 now fails
    proc = run_cli(root, "run", "checked")
    assert proc.returncode == 13, f"the stricter suite ran and failed its gate:\n{proc.stdout}\n{proc.stderr}"
    with RunStore(load_project(project_dir=root).store_url) as store:
        (failed,) = store.list_runs("checked", status="failed")
    assert why_not_skipped(root, "checked", failed["run_id"]) == (
        f"not skipped: suite `amounts` changed since run {first.run_id}")

    (root / "expectations" / "amounts.json").write_text(suite(10))  # back as it was: up to date again
    proc = run_cli(root, "run", "checked")
    assert proc.returncode == 0 and f"unchanged since run {first.run_id}" in " ".join(proc.stdout.split())

    (root / "checks_helper.py").write_text('LABEL = "v2"\n')
    with Runner(load_project(project_dir=root)) as runner:
        changed = runner.run("checked")
    assert changed.status == "succeeded"
    assert why_not_skipped(root, "checked", changed.run_id) == (
        f"not skipped: project module `checks_helper.py` changed since run {first.run_id}")
    assert "checked 2 v2" in (changed.run_dir / "output.ipynb").read_text()


@pytest.mark.spark
@pytest.mark.slow
def test_an_incremental_rerun_without_reads_is_skipped_instead_of_recording_an_empty_run(
    tmp_path: Path, spark_connect_url: str
) -> None:
    root = project(tmp_path / "p", "incremental_state", "ingest", extra={"reads": []},
                   profile={"spark": {"remote": spark_connect_url}})
    land(root, "2024-01-01", [(1, 1.0), (2, 2.0)])
    env = {"NBPIPE_SPARK_REMOTE": spark_connect_url}
    assert run_cli(root, "run", "ingest", env=env).returncode == 0

    rerun = run_cli(root, "run", "ingest", env=env)
    assert rerun.returncode == 0 and "up to date" in " ".join(rerun.stdout.split()), rerun.stderr
    with RunStore(load_project(project_dir=root).store_url) as store:
        assert len(store.list_runs("ingest", status="succeeded")) == 1, "no empty run was recorded"

    land(root, "2024-01-02", [(3, 3.0)])
    third = run_cli(root, "run", "ingest", env=env)
    assert third.returncode == 0, third.stderr
    with RunStore(load_project(project_dir=root).store_url) as store:
        latest = store.list_runs("ingest", status="succeeded")[0]
    assert record(root, "ingest", latest["run_id"])["metrics"]["rows_in"] == 1
    assert "input `landing` changed" in why_not_skipped(root, "ingest", latest["run_id"])
