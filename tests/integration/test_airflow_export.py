"""``nbpipe airflow export`` against a real Airflow 3 (``.venv-airflow``, built by ``make test``).

Airflow lives in its own virtual environment with neither nbpipe, Spark nor great-expectations:
DagBag imports the exported files there, which proves they parse without them. One AIRFLOW_HOME
(SQLite, migrated once) serves the module; ``airflow dags test`` runs a small real project's DAG
end to end: a pipeline that succeeds, one that fails once and succeeds on Airflow's retry, and one
that fails deterministically and is not retried.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import dag as nbdag
from nbpipe.core.config import load_project
from nbpipe.core.layout import dataset_root
from nbpipe.core.records import read_record
from nbpipe.ops.airflow.plan import TIMEOUT_GRACE_S
from tests.support.cli import run_cli
from tests.support.env import unavailable
from tests.support.notify_servers import HttpReceiver
from tests.support.projects import build_project

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO / ".venv-airflow" / "bin" / "python"
LOGICAL_DATE = "2026-01-05"

# Run inside the Airflow venv: import the DAG files with DagBag and describe what Airflow sees.
DESCRIBE = r"""
import importlib.util, json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
out = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": {},
       "absent": [m for m in ("nbpipe", "pyspark", "great_expectations") if importlib.util.find_spec(m) is None],
       "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("nbpipe", "pyspark", "great_expectations"))}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for t in dag.tasks:
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        tasks[t.task_id] = {
            "operator": type(t).__name__, "bases": [c.__module__ + "." + c.__name__ for c in type(t).__mro__],
            "retries": t.retries, "retry_delay_s": t.retry_delay.total_seconds(),
            "backoff": t.retry_exponential_backoff,
            "timeout_s": None if t.execution_timeout is None else t.execution_timeout.total_seconds(),
            "upstream": sorted(t.upstream_task_ids), "skip_on_exit_code": list(t.skip_on_exit_code),
            "inlets": sorted([a.name, a.uri] for a in t.inlets), "outlets": sorted([a.name, a.uri] for a in t.outlets),
            "bash_command": t.bash_command, "env": t.env, "append_env": t.append_env,
            "callbacks": [c.__name__ for c in callbacks if c is not None],
        }
    out["dags"][dag_id] = {"schedule": str(dag.schedule), "catchup": dag.catchup,
                           "max_active_runs": dag.max_active_runs, "tasks": tasks}
print("DESCRIBE " + json.dumps(out))
"""


def airflow_env(home: Path, dags: Path) -> dict[str, str]:
    """Airflow's environment: its own home and dags folder, no examples, none of our Python path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PATH=f"{AIRFLOW_PYTHON.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def airflow(home: Path, dags: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AIRFLOW_PYTHON), *args], cwd=home, env=airflow_env(home, dags),
                          capture_output=True, text=True, timeout=timeout, check=False)


def describe(home: Path, dags: Path) -> dict[str, Any]:
    done = airflow(home, dags, "-c", DESCRIBE, str(dags))
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("DESCRIBE "))
    return json.loads(line.removeprefix("DESCRIBE "))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME whose SQLite database is migrated (once for the module)."""
    if not AIRFLOW_PYTHON.exists():
        unavailable(f"Airflow 3 is not installed at {AIRFLOW_PYTHON.parent.parent}: run `make .venv-airflow`")
    home = tmp_path_factory.mktemp("airflow-home")
    done = airflow(home, home / "dags", "-m", "airflow", "db", "migrate")
    assert done.returncode == 0, done.stderr[-3000:]
    return home


def test_the_example_exports_dags_airflow_imports_with_tasks_as_in_nbpipe_yaml(
    airflow_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dags"
    done = run_cli(REPO, "airflow", "export", "--out", str(out))
    assert done.returncode == 0, done.stderr
    seen = describe(airflow_home, out)

    assert seen["import_errors"] == {}
    assert seen["absent"] == ["nbpipe", "pyspark", "great_expectations"]  # Airflow's venv has none of them
    assert seen["loaded"] == []
    project = load_project(project_dir=REPO)
    pipelines = project.config.pipelines
    assert {p.schedule for p in pipelines.values()} == {"@daily"}  # the example: one schedule, one DAG
    assert list(seen["dags"]) == ["flights_daily"]
    dag = seen["dags"]["flights_daily"]
    assert (dag["schedule"], dag["catchup"], dag["max_active_runs"]) == ("@daily", False, 1)
    assert set(dag["tasks"]) == set(pipelines)
    deps = nbdag.dependencies(pipelines)
    for name, cfg in pipelines.items():
        task = dag["tasks"][name]
        assert task["operator"] == "NbpipeRun"
        assert "airflow.providers.standard.operators.bash.BashOperator" in task["bases"]
        assert task["upstream"] == sorted(deps[name])
        assert task["retries"] == cfg.retries
        assert task["retry_delay_s"] == cfg.retry_delay_s
        assert task["backoff"] == 2.0
        assert task["timeout_s"] == (None if cfg.timeout_s is None else cfg.timeout_s + TIMEOUT_GRACE_S)
        assert task["skip_on_exit_code"] == []  # exit 99 is a failure, not a silent skip
        assert task["outlets"] == sorted(
            [f"flights.{d}", dataset_root(project, d).as_uri()] for d in cfg.writes
        )
        assert task["inlets"] == sorted([f"flights.{d}", dataset_root(project, d).as_uri()] for d in cfg.reads)
        assert task["env"] == {"NBPIPE_ORCHESTRATOR": "airflow"} and task["append_env"] is True
        assert task["callbacks"] == ["notify_failure"]
        command = task["bash_command"]
        assert f" run {name} --project {REPO} --retries 0 -p run_date={{{{ ds }}}}" in command
        assert command.startswith("{% if macros.OpenLineageProviderPlugin is defined %}OPENLINEAGE_PARENT_ID=")
    assert pipelines["ingest_flights"].timeout_s == 3600 and dag["tasks"]["ingest_flights"]["timeout_s"] == 3660


def nbpipe_wrapper(path: Path, log: Path) -> Path:
    """An ``nbpipe`` executable for Airflow's tasks: logs its arguments, runs this checkout's CLI."""
    src = REPO / "src"
    path.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        f'PYTHONPATH="{src}" exec "{sys.executable}" -m nbpipe.cli "$@"\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_airflow_runs_the_exported_dag_retrying_only_what_a_retry_can_fix(
    airflow_home: Path, tmp_path: Path
) -> None:
    with HttpReceiver() as hook:
        _run_small_dag(airflow_home, tmp_path, hook)


def _run_small_dag(airflow_home: Path, tmp_path: Path, hook: HttpReceiver) -> None:
    root = build_project(
        tmp_path / "project",
        project="small",
        pipelines={
            "succeeds": {"notebook": "ok.ipynb", "params": {"run_date": {"type": "date"}},
                         "retries": 2, "retry_delay_s": 1, "schedule": "@daily"},
            "flaky": {"notebook": "fail_once.ipynb", "params": {"run_date": {"type": "date"}},
                      "depends_on": ["succeeds"], "retries": 1, "retry_delay_s": 1, "schedule": "@daily"},
            "bad_params": {"notebook": "ok.ipynb", "params": {"run_date": {"type": "date"},
                                                             "limit": {"type": "int", "required": True}},
                           "retries": 2, "retry_delay_s": 1, "schedule": "@daily"},
        },
        notify=[{"on": ["failure", "recovered"], "webhook": hook.url("/hook")}],
    )
    calls = tmp_path / "nbpipe-calls.log"
    wrapper = nbpipe_wrapper(tmp_path / "nbpipe", calls)
    dags = tmp_path / "dags"
    done = run_cli(root, "airflow", "export", "--out", str(dags), "--nbpipe-bin", str(wrapper))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dags.iterdir()) == ["small_daily.py"]

    done = airflow(airflow_home, dags, "-m", "airflow", "dags", "test", "small_daily", LOGICAL_DATE)
    output = done.stdout + done.stderr

    db = sqlite3.connect(airflow_home / "airflow.db")
    try:
        states = {task: (state, tries) for task, state, tries in db.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = 'small_daily'")}
    finally:
        db.close()
    assert states == {"succeeds": ("success", 1), "flaky": ("success", 2), "bad_params": ("failed", 1)}, output[-4000:]
    assert (root / "fail_once.marker").read_text() == LOGICAL_DATE

    # Airflow retried flaky once; nbpipe ran each try with its own retries off (one attempt each).
    records = {p: [read_record(f) for f in sorted((root / "runs" / p).glob("*/run.json"))]
               for p in ("succeeds", "flaky")}
    assert [r["status"] for r in records["succeeds"]] == ["succeeded"]
    assert [r["status"] for r in records["flaky"]] == ["failed", "succeeded"]
    assert all(len(r["attempts"]) == 1 for r in records["flaky"])
    assert all(r["params"]["run_date"] == LOGICAL_DATE for rs in records.values() for r in rs)
    assert not (root / "runs" / "bad_params").exists() or not any((root / "runs" / "bad_params").glob("*/run.json"))

    # The deterministic failure (exit 3, ParameterError) failed at once and went to the failure callback.
    assert "nbpipe run exited 3 (ParameterError): not retried" in output
    lines = calls.read_text().splitlines()
    expected = [f"run {p} --project {root} --retries 0 -p run_date={LOGICAL_DATE}" for p in ("bad_params", "flaky",
                                                                                          "flaky", "succeeds")]
    assert sorted(x for x in lines if x.startswith("run ")) == expected
    notify = [x for x in lines if x.startswith("notify ")]
    assert notify == ["notify send failure --pipeline bad_params --detail nbpipe run exited 3 (ParameterError): "
                      "not retried, a retry cannot fix it; fix the cause (see the task log), then clear the task"]
    # The failure reached people once, through the callback and nbpipe's channels; flaky's failed
    # first try was recorded in its alert without a message (Airflow retried it), and its success on
    # the retry resolved that alert silently (nobody had been told it was failing).
    bodies = hook.bodies("/hook")
    assert [(b["event"], b["pipeline"], b["state"]) for b in bodies] == [("failure", "bad_params", "opened")], bodies
    assert "nbpipe run exited 3 (ParameterError)" in bodies[0]["message"]
