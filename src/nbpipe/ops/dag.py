"""Run pipelines in dependency order: sequentially in this process, or N at a time.

A failed pipeline marks everything downstream of it "upstream failed" and never runs it; other
branches go on. Sequential runs share this process (imports are paid once) and boot the next
notebook's kernel while the current one runs (``nbpipe.run.kernelpool``); ``parallel > 1`` runs each
pipeline as its own ``nbpipe run`` process so kernels and locks stay independent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from nbpipe.core import dag
from nbpipe.core.config import Project
from nbpipe.core.events import ProgressFn
from nbpipe.errors import NbpipeError


@dataclass
class PipelineOutcome:
    pipeline: str
    status: str  # succeeded | failed | skipped | upstream_failed
    run_id: str | None = None
    duration_s: float = 0.0
    message: str = ""
    exit_code: int = 0


def run_dag(
    project: Project,
    *,
    only: list[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    parallel: int = 1,
    force: bool = False,
    on_progress: ProgressFn | None = None,
    prepare: Callable[[], None] | None = None,
) -> list[PipelineOutcome]:
    """Run the selected pipelines (and everything upstream) in order; return one outcome each.

    Args:
        project: The loaded project.
        only: Pipelines to run (with their upstream); all when None.
        params: Parameters per pipeline name (values as given on a command line).
        parallel: How many pipelines may run at once.
        force: Pass ``--force`` to every run.
        on_progress: Receives per-pipeline progress events.
        prepare: Work to do before the first pipeline runs (e.g. start a shared Spark server). In a
            sequential run of several pipelines it overlaps the first kernel's boot.
    """
    pipelines = project.config.pipelines
    deps = dag.dependencies(pipelines)
    todo = dag.order(pipelines, only)
    params = params or {}
    outcomes: dict[str, PipelineOutcome] = {}

    def blocked(name: str) -> str | None:
        for dep in deps[name]:
            if dep in outcomes and outcomes[dep].status in ("failed", "upstream_failed"):
                return dep
        return None

    def notify(event: dict[str, Any]) -> None:
        if on_progress:
            on_progress(event)

    if parallel <= 1:
        from nbpipe.run.runner import Runner

        runner = Runner(project, on_progress=on_progress, prestart_kernels=len(todo) > 1)
        try:
            if todo:
                runner.prestart(todo[0])
            if prepare is not None:
                prepare()
            for i, name in enumerate(todo):
                runner.prestart_next = i < len(todo) - 1  # the last pipeline boots no spare kernel
                outcomes[name] = _sequential(runner, name, params.get(name, {}), force, blocked(name), notify)
        finally:
            runner.close()
        return [outcomes[n] for n in todo]

    if prepare is not None:
        prepare()
    pending = list(todo)
    running: dict[Future[PipelineOutcome], str] = {}
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        while pending or running:
            for name in list(pending):
                upstream = blocked(name)
                if upstream is not None:
                    outcomes[name] = PipelineOutcome(name, "upstream_failed", message=f"upstream {upstream} failed")
                    pending.remove(name)
                    notify({"event": "pipeline_finished", "pipeline": name, "status": "upstream_failed"})
                elif len(running) < parallel and all(d in outcomes for d in deps[name] if d in todo):
                    pending.remove(name)
                    notify({"event": "pipeline_started", "pipeline": name})
                    running[pool.submit(_subprocess, project, name, params.get(name, {}), force)] = name
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                name = running.pop(fut)
                outcomes[name] = fut.result()
                notify({"event": "pipeline_finished", "pipeline": name, "status": outcomes[name].status})
    return [outcomes[n] for n in todo]


def _sequential(
    runner: Any, name: str, given: dict[str, Any], force: bool, upstream: str | None, notify: ProgressFn
) -> PipelineOutcome:
    if upstream is not None:
        notify({"event": "pipeline_finished", "pipeline": name, "status": "upstream_failed"})
        return PipelineOutcome(name, "upstream_failed", message=f"upstream {upstream} failed")
    notify({"event": "pipeline_started", "pipeline": name})
    start = time.monotonic()
    try:
        result = runner.run(name, given, from_cli=frozenset(given), force=force)
    except NbpipeError as exc:
        out = PipelineOutcome(
            name, "failed", duration_s=time.monotonic() - start, message=exc.message, exit_code=exc.exit_code
        )
    else:
        message = result.error.message if result.error else (result.record.get("skipped_reason") or "")
        out = PipelineOutcome(name, result.status, result.run_id, time.monotonic() - start, message, result.exit_code)
    notify({"event": "pipeline_finished", "pipeline": name, "status": out.status, "run_id": out.run_id})
    return out


def _subprocess(project: Project, name: str, given: dict[str, Any], force: bool) -> PipelineOutcome:
    cmd = [
        sys.executable,
        "-m",
        "nbpipe.cli",
        "run",
        name,
        "--project",
        str(project.root),
        "--profile",
        project.profile_name,
    ]
    for key, value in given.items():
        cmd += ["-p", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    if force:
        cmd.append("--force")
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    duration = time.monotonic() - start
    from nbpipe.run.store import RunStore

    store = RunStore(project.store_url)
    try:
        latest = store.list_runs(name, limit=1)
    finally:
        store.close()
    run = latest[0] if latest else {}
    status = "failed" if proc.returncode else str(run.get("status", "succeeded"))
    message = proc.stderr.strip().splitlines()[0] if proc.returncode and proc.stderr.strip() else ""
    return PipelineOutcome(name, status, run.get("run_id"), duration, message, proc.returncode)
