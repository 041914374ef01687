"""The ``nbpipe`` CLI as a user runs it: real processes, real kernels, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import nbformat
import pytest

from tests.support.cli import run_cli, start_cli


def outputs_text(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def only_run_dir(root: Path, pipeline: str) -> Path:
    dirs = [p for p in (root / "runs" / pipeline).iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_run_success_prints_record_and_exit_zero(make_project):
    root = make_project(pipelines={"ok": {}})
    proc = run_cli(root, "run", "ok", "-p", "limit=3")
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout and "report.html" in proc.stdout
    assert "cell 4/4" in proc.stderr, "progress names the cell number"
    listed = json.loads(run_cli(root, "runs", "--json").stdout)
    assert listed[0]["pipeline"] == "ok" and listed[0]["status"] == "succeeded"
    shown = run_cli(root, "show", listed[0]["run_id"][:18])
    assert shown.returncode == 0 and '"limit": 3' in shown.stdout


def test_failure_exit_code_message_and_retry_command(make_project):
    root = make_project(pipelines={"exception": {}})
    proc = run_cli(root, "run", "exception", "-p", "limit=4")
    assert proc.returncode == 10
    assert "cell 3 (In [4]) raised ValueError: bad value in column dep_delay" in proc.stderr
    assert "retry: nbpipe run exception -p limit=4" in proc.stderr
    assert run_cli(root, "runs", "--status", "failed", "--json").stdout.count('"failed"') == 1


def test_parameter_errors_exit_3_before_a_kernel_starts(make_project):
    root = make_project(pipelines={"ok": {}})
    proc = run_cli(root, "run", "ok", "-p", "limt=3")
    assert proc.returncode == 3
    assert "unknown parameter 'limt' (did you mean 'limit'?)" in proc.stderr
    proc = run_cli(root, "run", "ok", "-p", "limit=3.5")
    assert proc.returncode == 3 and "'3.5' is not a valid int" in proc.stderr
    assert not (root / "runs" / "ok").exists()


def test_unknown_pipeline_and_bad_config(make_project):
    root = make_project(pipelines={"ingest_flights": {"notebook": "ok.ipynb"}}, notebooks=["ok"])
    proc = run_cli(root, "run", "ingest_flight")
    assert proc.returncode == 2 and "did you mean 'ingest_flights'" in proc.stderr
    (root / "nbpipe.yaml").write_text("pipelines:\n  x: {notebook: ok.ipynb, retries: many}\n")
    proc = run_cli(root, "run", "x")
    assert proc.returncode == 2 and "pipelines.x.retries" in proc.stderr


@pytest.mark.parametrize(
    "evil",
    [
        "x'); import os; os.system('touch PWNED') #",
        '"""',
        "'''; import os; os.system('touch PWNED'); '''",
        "\\\"; import os; os.system('touch PWNED') #",
        "{__import__('os').system('touch PWNED')}",
    ],
)
def test_parameters_are_data_never_code(make_project, evil):
    root = make_project(pipelines={"params_echo": {}})
    proc = run_cli(root, "run", "params_echo", "-p", f"label={evil}")
    assert proc.returncode == 0, proc.stderr
    assert not list(root.rglob("PWNED")), "a parameter value was executed"
    out = outputs_text(only_run_dir(root, "params_echo") / "output.ipynb")
    echoed = out.split("PARAM_VALUE_BEGIN\n")[1].split("\nPARAM_VALUE_END")[0]
    assert echoed == repr(evil), "the notebook received the exact string"


def test_secrets_never_reach_any_artifact_or_the_store(make_project):
    secret = "tok-9f8e7d6c5b4a-SECRET"
    root = make_project(pipelines={"secret": {}})
    proc = run_cli(root, "run", "secret", "-p", "api_token=env:API_TOKEN", env={"API_TOKEN": secret})
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run_dir(root, "secret")
    printed = outputs_text(run_dir / "output.ipynb")
    assert f"length {len(secret)}" in printed, "the notebook really received the secret"
    assert secret not in proc.stdout + proc.stderr
    for path in [*run_dir.rglob("*"), *(root / "runs").glob("nbpipe.db*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"
    with sqlite3.connect(root / "runs" / "nbpipe.db") as db:
        for (table,) in db.execute("select name from sqlite_master where type='table'"):
            for row in db.execute(f"select * from {table}"):
                assert secret not in json.dumps(row, default=str), f"secret in store table {table}"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["params"]["api_token"] == "***" and record["secret_params"] == ["api_token"]
    assert "api_token=env:API_TOKEN" in record["retry_command"]


def test_secret_by_name_pattern_is_masked(make_project):
    secret = "plain-but-secret-123"
    root = make_project(pipelines={"secret": {}})
    assert run_cli(root, "run", "secret", "-p", f"api_token={secret}").returncode == 0
    run_dir = only_run_dir(root, "secret")
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"


def test_two_runs_at_once_second_is_refused_with_holder(make_project):
    root = make_project(pipelines={"slow": {}, "ok": {}})
    first = start_cli(root, "run", "slow")
    try:
        lock = root / "runs" / ".locks" / "slow.lock"
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        holder = json.loads(lock.read_text())
        second = run_cli(root, "run", "slow")
        assert second.returncode == 5
        assert f"run {holder['run_id']}" in second.stderr and f"pid {holder['pid']}" in second.stderr
        other = run_cli(root, "run", "ok")
        assert other.returncode == 0, "a different pipeline runs concurrently"
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)


def test_killed_runner_leaves_no_lock_and_next_run_reports_it(make_project):
    root = make_project(pipelines={"slow": {"timeout_s": 60}})
    proc = start_cli(root, "run", "slow", new_session=True)
    lock = root / "runs" / ".locks" / "slow.lock"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any((root / "runs" / "slow").glob("*/output.ipynb")) if (root / "runs" / "slow").exists() else False:
            break
        time.sleep(0.1)
    killed = json.loads(lock.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    (root / "slow.ipynb").write_text((root / "slow.ipynb").read_text().replace("time.sleep(30)", "time.sleep(0)"))
    again = run_cli(root, "run", "slow")
    assert again.returncode == 0, again.stderr
    assert f"broke the stale lock of run {killed['run_id']}" in again.stdout
    runs = {r["run_id"]: r for r in json.loads(run_cli(root, "runs", "--json").stdout)}
    assert runs[killed["run_id"]]["status"] == "failed"
    killed_dir = root / "runs" / "slow" / killed["run_id"]
    evidence = json.loads((killed_dir / "run.json").read_text())
    assert evidence["error"]["type"] == "RunnerKilledError" and "nothing was published" in evidence["error"]["message"]
    assert (killed_dir / "output.ipynb").exists(), "the partial notebook is kept as evidence"
    assert not (killed_dir / "staging").exists()
