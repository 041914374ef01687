"""Kernels started ahead for sequential runs: the run's own environment, no leaks, safe fallbacks."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import nbformat

from nbpipe.ops.dag import run_dag


def printed(run_dir: Path) -> str:
    nb = nbformat.read(run_dir / "output.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def lines(run_dir: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in printed(run_dir).splitlines() if " " in line)


def test_taken_kernel_adopts_the_runs_environment_and_secrets_do_not_leak(make_project, runner_for):
    secret = "tok-pool-7c1e9a-SECRET"
    root = make_project(pipelines={"env_echo": {}, "secret": {}})
    runner = runner_for(root, prestart_kernels=True)
    first = runner.run("env_echo", {"label": "one"}, from_cli=frozenset({"label"}))
    assert first.status == "succeeded"
    assert lines(first.run_dir)["PRELOADED"] == "False", "the first run starts its own kernel"

    os.environ["POOL_TOKEN"] = secret
    try:
        second = runner.run("secret", {"api_token": "env:POOL_TOKEN"}, from_cli=frozenset({"api_token"}))
    finally:
        del os.environ["POOL_TOKEN"]
    assert second.status == "succeeded", second.error
    assert f"length {len(secret)}" in printed(second.run_dir), "the taken kernel received the secret"

    third = runner.run("env_echo", {"label": "three"}, from_cli=frozenset({"label"}))
    assert third.status == "succeeded"
    assert runner._pool.taken == 2 and runner._pool.started == 3
    got = lines(third.run_dir)
    assert got["RUN_ID"] == third.run_id and got["PIPELINE"] == "env_echo" and got["LABEL"] == "three"
    assert got["PRELOADED"] == "True", "a kernel started ahead has the heavy imports done"
    assert got["NAMES"] == "[]", "the preload binds no name in the notebook"
    assert got["SECRET_VARS"] == "[]", "the previous run's secret is not in the next kernel"
    runner.close()
    for path in [*root.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"
    assert not list((root / "runs" / ".kernels").glob("*")), "spare logs and environment files are removed"
    record = json.loads((third.run_dir / "run.json").read_text())
    assert record["status"] == "succeeded" and (third.run_dir / "kernel.log").is_file()


def test_a_dead_spare_is_replaced_by_a_fresh_kernel(make_project, runner_for):
    root = make_project(pipelines={"env_echo": {}})
    runner = runner_for(root, prestart_kernels=True)
    assert runner.run("env_echo").status == "succeeded"
    spare = runner._pool._spare
    assert spare is not None
    pid = spare.km.provisioner.process.pid
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    again = runner.run("env_echo")
    assert again.status == "succeeded"
    assert runner._pool.taken == 0
    assert lines(again.run_dir)["PRELOADED"] == "False"


def test_sequential_dag_runs_boot_the_next_kernel_ahead(make_project, monkeypatch):
    from nbpipe.core.config import load_project

    root = make_project(
        pipelines={
            "a": {"notebook": "env_echo.ipynb", "writes": ["x"]},
            "b": {"notebook": "env_echo.ipynb", "reads": ["x"], "writes": ["y"]},
            "c": {"notebook": "env_echo.ipynb", "reads": ["y"]},
        },
        datasets={"x": {"format": "parquet"}, "y": {"format": "parquet"}},
    )
    prepared = []

    def prepare() -> None:
        # e.g. `nbpipe demo` starting its Spark server: the first kernel is already booting meanwhile,
        # and what prepare puts in the environment still reaches it (the kernel adopts the run's env).
        prepared.append(sorted(p.name for p in (root / "runs" / ".kernels").glob("spare-*.log")))
        monkeypatch.setenv("NBPIPE_SPARK_REMOTE", "sc://127.0.0.1:1")

    outcomes = run_dag(load_project(project_dir=root), prepare=prepare)
    assert [(o.pipeline, o.status) for o in outcomes] == [("a", "succeeded"), ("b", "succeeded"), ("c", "succeeded")]
    assert len(prepared) == 1 and len(prepared[0]) == 1, "prepare ran once, with the first kernel started"
    seen = {}
    for o in outcomes:
        got = lines(root / "runs" / o.pipeline / str(o.run_id))
        assert got["RUN_ID"] == o.run_id and got["PIPELINE"] == o.pipeline
        assert got["SPARK_REMOTE"] == "sc://127.0.0.1:1"
        seen[o.pipeline] = got["PRELOADED"]
    assert seen == {"a": "True", "b": "True", "c": "True"}
    assert not list((root / "runs" / ".kernels").glob("*")), "no spare is left running or on disk"
