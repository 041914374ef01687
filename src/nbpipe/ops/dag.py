"""Run pipelines in dependency order: one at a time in this process, or N at a time in workers.

A failed pipeline marks everything downstream of it "upstream failed" and never runs it; other
branches go on. Sequential runs share this process (imports are paid once) and boot the next
notebook's kernel while the current one runs (``nbpipe.run.kernelpool``); ``parallel > 1`` runs
each pipeline in a worker process of its own, so kernels and locks stay independent. Scheduling
and outcomes are those of every multi-run service (``nbpipe.ops._execute``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from nbpipe.core import dag, records
from nbpipe.core import events as ev
from nbpipe.core.config import Project
from nbpipe.core.events import ProgressFn, utcnow
from nbpipe.ops._execute import InProcess, Job, Outcome, ProcessPool, schedule
from nbpipe.ops.notify.service import run_observer
from nbpipe.ops.shared_spark import ServerFn, shared_spark, spark_runs
from nbpipe.run.runner import Runner


def run_dag(
    project: Project,
    *,
    only: list[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    parallel: int = 1,
    force: bool = False,
    on_progress: ProgressFn | None = None,
    prepare: Callable[[], None] | None = None,
    local_spark: bool = False,
    on_spark_server: ServerFn | None = None,
) -> list[Outcome]:
    """Run the selected pipelines (and everything upstream) in order; return one outcome each.

    Args:
        project: The loaded project.
        only: Pipelines to run (with their upstream); all when None.
        params: Parameters per pipeline name (values as given on a command line).
        parallel: How many pipelines may run at once.
        force: Run every pipeline even when it is up to date.
        on_progress: Receives ``pipeline_started``/``pipeline_finished`` events, and in a sequential
            run each pipeline's own progress (cells, attempts, retries).
        prepare: Work to do before the first pipeline runs (e.g. start a shared Spark server). In a
            sequential run of several pipelines it overlaps the first kernel's boot; worker
            processes start after it, with the environment it leaves.
        local_spark: Let every notebook start its own Spark. Otherwise, on a local profile, two or
            more pipelines using Spark share one Spark Connect server started for the command (after
            ``prepare``, which may have set up one already; see ``nbpipe.ops.shared_spark``).
        on_spark_server: Called once the shared Spark server is up.

    Returns:
        One outcome per pipeline, in run order.
    """
    pipelines = project.config.pipelines
    deps = dag.dependencies(pipelines)
    todo = dag.order(pipelines, only)
    params = params or {}
    dag_run = "dag-" + records.new_run_id(utcnow())  # every run of this DAG run names it (OpenLineage parent)
    jobs = [
        Job(name, name, dict(params.get(name, {})), frozenset(params.get(name, {})), force,
            after=frozenset(deps[name] & set(todo)), dag_run=dag_run)
        for name in todo
    ]

    def started(job: Job) -> None:
        if on_progress is not None:
            on_progress({"event": ev.PROGRESS_PIPELINE_STARTED, "pipeline": job.pipeline})

    def finished(job: Job, outcome: Outcome) -> None:
        if on_progress is not None:
            on_progress({"event": ev.PROGRESS_PIPELINE_FINISHED, "pipeline": job.pipeline,
                         "status": outcome.status, "run_id": outcome.run_id})

    with contextlib.ExitStack() as stack:

        def prepare_all() -> None:
            if prepare is not None:
                prepare()
            share = not local_spark and spark_runs(project, todo) > 1
            stack.enter_context(shared_spark(project, enabled=share, on_server=on_spark_server))

        if parallel > 1 and len(jobs) > 1:
            prepare_all()
            with ProcessPool(project, min(parallel, len(jobs))) as pool:
                outcomes = schedule(jobs, pool, on_start=started, on_done=finished)
        else:
            with Runner(project, on_progress=on_progress, prestart_kernels=len(jobs) > 1,
                        on_finished=run_observer(project)) as runner:
                executor = InProcess(runner)
                if jobs:
                    executor.warm(jobs[0])
                prepare_all()
                outcomes = schedule(jobs, executor, on_start=started, on_done=finished)
    return [outcomes[name] for name in todo]


def declared_params(project: Project, pipeline: str, pairs: dict[str, str]) -> dict[str, str]:
    """The subset of ``pairs`` a pipeline declares (in nbpipe.yaml or its parameters cell)."""
    from nbpipe.run import engine

    cfg = project.pipeline(pipeline)
    declared = set(cfg.params)
    nb_path = project.path(cfg.notebook)
    if nb_path.exists():
        declared |= {p.name for p in engine.inspect_parameters(engine.read_notebook(nb_path), cfg.kernel)}
    return {k: v for k, v in pairs.items() if k in declared}
