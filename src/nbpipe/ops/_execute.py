"""Run many pipeline runs: one scheduling loop, two executors (in this process, or a process pool).

``nbpipe dag run`` and ``nbpipe backfill`` both hand :func:`schedule` a list of :class:`Job` s. The
loop starts every job whose predecessors are done, as many at a time as the executor has slots,
and gives each job one :class:`Outcome`. A job after a failed (or itself blocked) job is not
run: its outcome is ``upstream_failed``. Only the executor differs (as in kedro's
``AbstractRunner._get_executor``):

* :class:`InProcess` runs one job at a time on the caller's :class:`~nbpipe.run.runner.Runner`
  (imports are paid once) and boots the next job's kernel while the current one runs
  (``nbpipe.run.kernelpool``).
* :class:`ProcessPool` runs up to N jobs at a time in spawned worker processes. Each worker
  builds its own runner (its own kernels, store connection and pipeline lock) and sends the
  outcome back; a worker that dies (OOM, killed) fails its job, not the schedule.

Both run a job with :func:`run_one`, the single place that turns a run's result, or the error that
prevented the run, into an outcome with a status and an exit code.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nbpipe.core.config import Project, load_project
from nbpipe.errors import NbpipeError
from nbpipe.ops.notify.service import run_observer
from nbpipe.run.runner import BackfillSlot, Runner

FAILED = "failed"
UPSTREAM_FAILED = "upstream_failed"
BLOCKING = frozenset({FAILED, UPSTREAM_FAILED})  # statuses that keep the jobs after them from running


@dataclass(frozen=True)
class Job:
    """One pipeline run to do. Picklable: it travels to worker processes as it is.

    Attributes:
        key: Names the job in its schedule (the pipeline in a DAG run, the day in a backfill).
        pipeline: The pipeline to run.
        given: Parameter values (see ``from_cli``).
        from_cli: Names in ``given`` whose values are command-line strings, to be coerced.
        force: Run even when code, parameters and inputs match the last successful run.
        backfill: Run as one day of a backfill that holds the pipeline lock.
        dag_run: The ``nbpipe dag run`` the job belongs to (the run's OpenLineage parent).
        after: Keys of jobs of the same schedule that must finish first; when one of them fails,
            this job does not run.
    """

    key: str
    pipeline: str
    given: dict[str, Any] = field(default_factory=dict)
    from_cli: frozenset[str] = frozenset()
    force: bool = False
    backfill: BackfillSlot | None = None
    after: frozenset[str] = frozenset()
    dag_run: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What happened to one job.

    Attributes:
        pipeline: The pipeline.
        status: ``succeeded``, ``failed``, ``skipped`` (up to date) or ``upstream_failed`` (not run).
        run_id: The run's id; None when no run was recorded (bad parameters, lock held, not run).
        duration_s: Wall-clock seconds the job took.
        message: Why it failed, was skipped or was not run; empty on success.
        exit_code: The exit code ``nbpipe run`` would have ended with (0 unless failed).
        incremental: The notebook read incrementally (``ctx.incremental``).
    """

    pipeline: str
    status: str
    run_id: str | None = None
    duration_s: float = 0.0
    message: str = ""
    exit_code: int = 0
    incremental: bool = False


def run_one(runner: Runner, job: Job) -> Outcome:
    """Run ``job`` through ``runner``; an error raised before a run exists becomes a failed outcome."""
    began = time.monotonic()
    try:
        result = runner.run(job.pipeline, job.given, from_cli=job.from_cli, force=job.force, backfill=job.backfill,
                            dag_run=job.dag_run)
    except NbpipeError as exc:
        return Outcome(job.pipeline, FAILED, None, _since(began), exc.message, exc.exit_code)
    message = result.error.message if result.error is not None else str(result.record.get("skipped_reason") or "")
    return Outcome(
        job.pipeline,
        result.status,
        result.run_id,
        _since(began),
        message,
        result.exit_code,
        bool(result.record.get("incremental")),
    )


class Executor(Protocol):
    """Where :func:`schedule` runs jobs."""

    slots: int  # how many jobs may run at the same time

    def warm(self, job: Job) -> None:
        """Get ready for ``job`` (e.g. boot its kernel) so that other work can overlap it."""

    def submit(self, job: Job, *, more: bool) -> cf.Future[Outcome]:
        """Start ``job``; ``more`` tells whether another job will follow it."""
        ...


class InProcess:
    """Run jobs one at a time in this process, on ``runner`` (the caller closes it).

    With a runner made with ``prestart_kernels=True``, the kernel of the next job boots while the
    current job runs; the last job boots none.
    """

    slots = 1

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def warm(self, job: Job) -> None:
        self.runner.prestart(job.pipeline)

    def submit(self, job: Job, *, more: bool) -> cf.Future[Outcome]:
        self.runner.prestart_next = more
        future: cf.Future[Outcome] = cf.Future()
        future.set_result(run_one(self.runner, job))
        return future


class ProcessPool:
    """Run up to ``slots`` jobs at a time, each in a spawned worker process with its own runner.

    Use it as a context manager: leaving it waits for running jobs and cancels queued ones.
    Workers start at the first :meth:`submit`, with this process's environment at that moment.
    """

    def __init__(self, project: Project, slots: int) -> None:
        self.slots = slots
        self._root = str(project.root)
        self._profile = project.profile_name
        self._pool = cf.ProcessPoolExecutor(max_workers=slots, mp_context=multiprocessing.get_context("spawn"))

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def warm(self, job: Job) -> None:
        """Nothing to do: a worker boots its kernel when it takes its job."""

    def submit(self, job: Job, *, more: bool) -> cf.Future[Outcome]:
        try:
            return self._pool.submit(_work, self._root, self._profile, job)
        except cf.BrokenExecutor as exc:  # an earlier worker died and took the pool with it
            future: cf.Future[Outcome] = cf.Future()
            future.set_exception(exc)
            return future


def _work(root: str, profile: str, job: Job) -> Outcome:
    """Run one job in a worker process, on a runner of its own."""
    project = load_project(project_dir=Path(root), profile=profile)
    with Runner(project, on_finished=run_observer(project)) as runner:
        return run_one(runner, job)


def schedule(
    jobs: Sequence[Job],
    executor: Executor,
    *,
    on_start: Callable[[Job], None] | None = None,
    on_done: Callable[[Job, Outcome], None] | None = None,
    until: Callable[[Outcome], bool] | None = None,
) -> dict[str, Outcome]:
    """Run ``jobs`` on ``executor``, each once its ``after`` jobs are done; return outcomes by key.

    Jobs start in the order given whenever a slot is free, so an order that puts every job after
    its predecessors (a topological order) runs one-slot executors in exactly that order.

    Args:
        jobs: The jobs, with unique keys; ``after`` may only name keys of these jobs.
        executor: Where the jobs run.
        on_start: Called as a job starts.
        on_done: Called with each job's outcome as soon as it is known (``upstream_failed`` too).
        until: Start no further job once an outcome satisfies this (running jobs still finish);
            the jobs never started have no outcome.

    Raises:
        ValueError: duplicate keys, or ``after`` names an unknown key or forms a cycle.
    """
    by_key = {job.key: job for job in jobs}
    if len(by_key) != len(jobs):
        raise ValueError("jobs of one schedule need unique keys")
    for job in jobs:
        unknown = job.after - by_key.keys()
        if unknown:
            raise ValueError(f"job {job.key!r} runs after unknown job(s) {sorted(unknown)}")
    outcomes: dict[str, Outcome] = {}
    pending = list(jobs)
    running: dict[cf.Future[Outcome], tuple[Job, float]] = {}
    stopped = False

    def finish(job: Job, outcome: Outcome) -> None:
        nonlocal stopped
        outcomes[job.key] = outcome
        stopped = stopped or (until is not None and until(outcome))
        if on_done is not None:
            on_done(job, outcome)

    while running or (pending and not stopped):
        for job in list(pending):
            if stopped:
                break
            failed_before = sorted(k for k in job.after if k in outcomes and outcomes[k].status in BLOCKING)
            if failed_before:
                pending.remove(job)
                finish(job, Outcome(job.pipeline, UPSTREAM_FAILED, message=f"upstream {failed_before[0]} failed"))
            elif len(running) < executor.slots and job.after <= outcomes.keys():
                pending.remove(job)
                if on_start is not None:
                    on_start(job)
                began = time.monotonic()
                running[executor.submit(job, more=bool(pending) and until is None)] = (job, began)
        if not running:
            if pending and not stopped:
                raise ValueError(f"jobs wait for each other in a cycle: {sorted(j.key for j in pending)}")
            break
        done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: jobs.index(running[f][0])):
            job, began = running.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # the worker process died (OOM, killed) or could not start
                outcome = Outcome(job.pipeline, FAILED, None, _since(began),
                                  f"the run's worker process died: {type(exc).__name__}: {exc}", 1)
            finish(job, outcome)
    return outcomes


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)
