"""OpenLineage events of real runs (real kernels, a real HTTP receiver on 127.0.0.1, the spec's schemas).

Runs of trivial notebooks (no Spark): START and exactly one closing event per run, stable run
ids recorded in run.json, job and run facets, secrets kept out, a killed runner's ABORT sent by
the next run's recovery, an unreachable endpoint that costs the run nothing and a flush that
delivers later, and no ``openlineage`` import at all with lineage off.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core.config import load_project
from nbpipe.core.layout import RunDir
from nbpipe.run import failpoints
from nbpipe.run.runner import Runner
from tests.support.cli import run_cli
from tests.support.env import free_port
from tests.support.openlineage import Receiver, validate_event
from tests.support.projects import build_project

pytestmark = pytest.mark.slow
SECRET = "s3cr3t-T0KEN-value"
AIRFLOW_PARENT = "airflow-ns/flights_dag.ingest/01936f2a-7c1e-7d3a-9b8e-2f9a1c3d4e5f"
AIRFLOW_ROOT = "airflow-ns/flights_dag/01936f2a-0000-7000-8000-000000000001"


def lineage_project(root: Path, url: str, **extra: Any) -> Path:
    return build_project(root, pipelines={"ok": {}, "secret": {}},
                         lineage={"transport": {"type": "http", "url": url}, **extra})


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(root), "PATH": "/usr/bin:/bin"})


def test_runs_emit_start_and_one_closing_event_with_facets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as receiver:
        root = lineage_project(tmp_path / "p", receiver.url, namespace="flights-prod")
        git(root, "init", "-q")
        git(root, "remote", "add", "origin", "https://bob:hunter2@git.example.com/org/flights.git")
        git(root, "add", ".")
        git(root, "commit", "-qm", "init")
        monkeypatch.setenv("OPENLINEAGE_PARENT_ID", AIRFLOW_PARENT)
        monkeypatch.setenv("OPENLINEAGE_ROOT_PARENT_ID", AIRFLOW_ROOT)
        monkeypatch.setenv("THE_TOKEN", SECRET)
        with Runner(load_project(project_dir=root)) as runner:
            ok = runner.run("ok", {"run_date": "2013-01-02"})
            secret = runner.run("secret", {"api_token": "env:THE_TOKEN"}, from_cli=frozenset({"api_token"}))
        assert (ok.status, secret.status) == ("succeeded", "succeeded")
        for event in receiver.events:
            validate_event(event)
        assert all(p == "/api/v1/lineage" for p in receiver.paths)
        assert SECRET not in json.dumps(receiver.events)
        assert SECRET not in RunDir(secret.run_dir).lineage.read_text()

    run_id = ok.record["lineage"]["run_id"]
    assert uuid.UUID(run_id).version == 7
    events = receiver.of_run(run_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert ok.record["lineage"]["events"] == ["START", "COMPLETE"] and ok.record["lineage"]["pending"] == 0
    assert json.loads(RunDir(ok.run_dir).record.read_text())["lineage"]["run_id"] == run_id
    assert not RunDir(ok.run_dir).lineage_outbox.exists()
    complete = events[1]
    assert complete["job"]["namespace"] == "flights-prod" and complete["job"]["name"] == "ok"
    job = complete["job"]["facets"]
    assert (job["jobType"]["processingType"], job["jobType"]["integration"], job["jobType"]["jobType"]) == (
        "BATCH", "NBPIPE", "NOTEBOOK")
    assert "print('run_date', run_date" in job["sourceCode"]["sourceCode"]
    assert "2013-01-02" not in job["sourceCode"]["sourceCode"]  # the saved code, not the injected parameters
    location = job["sourceCodeLocation"]
    assert location["url"] == "https://git.example.com/org/flights.git" and location["path"] == "ok.ipynb"
    assert len(location["version"]) == 40
    facets = complete["run"]["facets"]
    assert facets["nominalTime"]["nominalStartTime"] == "2013-01-02T00:00:00+00:00"
    parent_job = facets["parent"]["job"]
    assert (parent_job["namespace"], parent_job["name"]) == ("airflow-ns", "flights_dag.ingest")
    assert facets["parent"]["run"]["runId"] == AIRFLOW_PARENT.rsplit("/", 1)[1]
    assert facets["parent"]["root"]["run"]["runId"] == AIRFLOW_ROOT.rsplit("/", 1)[1]
    other = secret.record["lineage"]["run_id"]
    assert other != run_id and [e["eventType"] for e in receiver.of_run(other)] == ["START", "COMPLETE"]
    assert "nominalTime" not in receiver.of_run(other)[0]["run"]["facets"]  # no run date parameter


def test_killed_runner_is_closed_with_abort_by_the_next_run(tmp_path: Path) -> None:
    with Receiver() as receiver:
        root = lineage_project(tmp_path / "p", receiver.url)
        killed = run_cli(root, "run", "ok", env={failpoints.ENV: "after_run_started"})
        assert killed.returncode == -9, killed.stderr
        (killed_dir,) = (root / "runs" / "ok").iterdir()
        killed_id = json.loads(RunDir(killed_dir).lineage.read_text())["run_id"]
        with Runner(load_project(project_dir=root)) as runner:
            result = runner.run("ok", {"run_date": "2013-01-03"})
        assert result.status == "succeeded"
        for event in receiver.events:
            validate_event(event)
    closing = [e["eventType"] for e in receiver.of_run(killed_id)]
    assert closing == ["START", "ABORT"]
    abort = receiver.of_run(killed_id)[1]
    assert "killed" in abort["run"]["facets"]["errorMessage"]["message"]
    assert [e["eventType"] for e in receiver.of_run(result.record["lineage"]["run_id"])] == ["START", "COMPLETE"]
    assert not RunDir(killed_dir).lineage_outbox.exists()


def test_unreachable_endpoint_keeps_the_events_and_flush_delivers_them(tmp_path: Path) -> None:
    port = free_port()
    root = lineage_project(tmp_path / "p", f"http://alice:pa55word@127.0.0.1:{port}")
    with Runner(load_project(project_dir=root)) as runner:
        result = runner.run("ok", {"run_date": "2013-01-04"})
    assert result.status == "succeeded" and result.exit_code == 0
    warning = next(w for w in result.record["warnings"] if "OpenLineage" in w)
    assert f"http://127.0.0.1:{port}/api/v1/lineage" in warning and "pa55word" not in json.dumps(result.record)
    assert result.record["lineage"]["pending"] == 2
    outbox = RunDir(result.run_dir).lineage_outbox
    assert [json.loads(x)["eventType"] for x in outbox.read_text().splitlines()] == ["START", "COMPLETE"]
    down = run_cli(root, "lineage", "flush")
    assert down.returncode == 1 and "could not deliver" in down.stderr and "pa55word" not in down.stderr + down.stdout
    with Receiver(port) as receiver:
        flushed = run_cli(root, "lineage", "flush")
        assert flushed.returncode == 0, flushed.stderr
        assert "delivered 2 OpenLineage event(s) of 1 run(s)" in flushed.stdout
    assert [e["eventType"] for e in receiver.events] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in receiver.events} == {result.record["lineage"]["run_id"]}
    assert receiver.headers[0].get("Authorization") is None or "pa55word" not in receiver.headers[0]["Authorization"]
    assert not outbox.exists()
    again = run_cli(root, "lineage", "flush")
    assert again.returncode == 0 and "nothing to deliver" in again.stdout


def test_lineage_off_imports_no_openlineage(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", pipelines={"ok": {}})
    script = (
        "import sys, json\n"
        "from nbpipe.core.config import load_project\n"
        "from nbpipe.run.runner import Runner\n"
        f"with Runner(load_project(project_dir={str(root)!r})) as r:\n"
        "    res = r.run('ok', {'run_date': '2013-01-05'})\n"
        "print(json.dumps([res.status, res.record['lineage'], sorted(m for m in sys.modules if 'openlineage' in m)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                         env={**__import__("os").environ, "OPENLINEAGE_URL": ""})
    assert out.returncode == 0, out.stderr
    status, lineage, modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert (status, lineage, modules) == ("succeeded", None, [])


def test_the_runs_of_one_dag_run_share_its_parent(tmp_path: Path) -> None:
    """``nbpipe dag run``: each run's ``parent`` facet names the DAG run (job ``dag``), the same for all."""
    from nbpipe.ops.dag import run_dag

    with Receiver() as receiver:
        root = build_project(tmp_path / "p", pipelines={"ok": {}, "after_ok": {"notebook": "ok.ipynb",
                                                                              "depends_on": ["ok"]}},
                             lineage={"transport": {"type": "http", "url": receiver.url}})
        outcomes = run_dag(load_project(project_dir=root))
        assert [o.status for o in outcomes] == ["succeeded", "succeeded"]
        records = {p: json.loads(next((root / "runs" / p).glob("*/run.json")).read_text()) for p in ("ok", "after_ok")}
        for event in receiver.events:
            validate_event(event)
    parents = set()
    for pipeline, record in records.items():
        events = receiver.of_run(record["lineage"]["run_id"])
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"], pipeline
        parent = events[0]["run"]["facets"]["parent"]
        assert (parent["job"]["namespace"], parent["job"]["name"]) == ("test", "dag"), parent
        parents.add(parent["run"]["runId"])
    (dag_run_uuid,) = parents  # one DAG run, one parent for both runs
    assert uuid.UUID(dag_run_uuid).version == 5
