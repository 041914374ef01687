"""Backfills: one run of a pipeline per day of a date range, resumable and optionally parallel.

``nbpipe backfill PIPELINE --from D --to D`` lands here. A backfill

* holds the pipeline's lock for its whole duration (a concurrent ``nbpipe run`` of the same
  pipeline is refused, and so is a second backfill), recovers what killed runs left behind once,
  then runs its days under that lock (:class:`nbpipe.run.runner.BackfillSlot`);
* puts each day into one parameter (``run_date`` by default) on top of the common parameters, and
  tells the day's kernel which day it re-processes (``NBPIPE_BACKFILL_DAY``): there
  ``ctx.incremental`` reads the files of that day's ``<column>=YYYY-MM-DD`` partitions, whether or
  not a run read them before, and proposes no position (a watermark or Kafka read refuses);
* skips a day whose notebook code, parameters and inputs match the last *successful run with
  the same parameters* (the runner records it as ``skipped``), so rerunning a backfill resumes
  it: done days are skipped, failed and new days run;
* continues past a failed day and ends with one outcome per day (non-zero exit if any failed).

Days run one after the other in this process, each booting the next day's kernel ahead
(``nbpipe.ops._execute``). Parallel backfills (``parallel > 1``) run days in spawned worker
processes, each with its own runner and kernel. Days of one pipeline may run at the same time
only when they do not share incremental state: the first day that really runs goes alone, and if
it proposed incremental state the remaining days run one after the other, with a warning (a
files read of a backfill day proposes none, so such days do run in parallel). A concurrent day
that proposes state anyway fails before publishing (``StateError``), so
state never forks.
Parallel days must write disjoint partitions (partition the outputs by the day parameter).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from nbpipe.core import records
from nbpipe.core.config import Project, check_name
from nbpipe.errors import ParameterError, did_you_mean
from nbpipe.ops._execute import InProcess, Job, Outcome, ProcessPool, schedule
from nbpipe.ops.notify.service import run_observer
from nbpipe.ops.shared_spark import ServerFn, shared_spark, spark_runs
from nbpipe.run.locks import PipelineLock
from nbpipe.run.runner import BackfillSlot, Runner

MAX_DAYS = 3660
DayFn = Callable[["DayOutcome"], None]


@dataclass(frozen=True, kw_only=True)
class DayOutcome(Outcome):
    """What happened to one day of a backfill: the day's :class:`~nbpipe.ops._execute.Outcome`."""

    day: str

    @property
    def error(self) -> str | None:
        """Why the day failed; None unless it failed."""
        return self.message if self.status == "failed" else None


@dataclass
class BackfillResult:
    """The outcome of a backfill: one :class:`DayOutcome` per day, in day order."""

    backfill_id: str
    pipeline: str
    param: str
    days: list[DayOutcome]
    parallel: int
    warnings: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many days ended with ``status``."""
        return sum(1 for d in self.days if d.status == status)

    @property
    def exit_code(self) -> int:
        """0 when no day failed, else the exit code of the first failed day."""
        return next((d.exit_code or 1 for d in self.days if d.status == "failed"), 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        days = [{**asdict(d), "error": d.error} for d in self.days]
        return {**asdict(self), "days": days, "exit_code": self.exit_code}


def parse_day(value: str | dt.date, option: str) -> dt.date:
    """A ``YYYY-MM-DD`` date from the command line."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ParameterError(f"{option} {value!r} is not a date",
                             hint=f"use YYYY-MM-DD, e.g. {option} 2013-01-01") from None


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise ParameterError(
            f"--to {end} is before --from {start}", hint=f"swap them: --from {end} --to {start}"
        )
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise ParameterError(f"the range {start}..{end} has {count} days, more than {MAX_DAYS}",
                             hint="split the backfill into smaller ranges")
    return [start + dt.timedelta(days=i) for i in range(count)]


def backfill(
    project: Project,
    pipeline: str,
    *,
    start: dt.date,
    end: dt.date,
    param: str = "run_date",
    parallel: int = 1,
    given: dict[str, Any] | None = None,
    from_cli: frozenset[str] = frozenset(),
    on_day: DayFn | None = None,
    local_spark: bool = False,
    on_spark_server: ServerFn | None = None,
) -> BackfillResult:
    """Run ``pipeline`` once per day from ``start`` to ``end`` (inclusive).

    Args:
        project: The loaded project (its active profile is used by every day).
        pipeline: The pipeline to backfill.
        start: First day.
        end: Last day.
        param: The parameter that receives each day (``YYYY-MM-DD``).
        parallel: How many days may run at the same time (worker processes).
        given: Parameters common to every day (``-p k=v``); must not contain ``param``.
        from_cli: Names in ``given`` whose values are command-line strings.
        on_day: Called with each day's outcome as soon as it is known.
        local_spark: Let every day's notebook start its own Spark. Otherwise, on a local profile,
            the days of a notebook using Spark (two or more) share one Spark Connect server started
            for the backfill and stopped at its end (``nbpipe.ops.shared_spark``).
        on_spark_server: Called once the shared Spark server is up.

    Returns:
        The outcome of every day, in day order.

    Raises:
        ParameterError: bad range, ``param`` not a parameter of the notebook, or bad parameters.
        RunLockedError: the pipeline is running (or being backfilled) already.
    """
    check_name(pipeline, "pipeline")
    if parallel < 1:
        raise ParameterError(f"--parallel {parallel}: need at least 1", hint="e.g. --parallel 2")
    given = dict(given or {})
    if param in given:
        raise ParameterError(f"parameter {param!r} is set by the backfill for each day; do not pass -p {param}=…",
                             hint=f"drop -p {param}=…, or backfill another parameter with --param NAME")
    days = days_between(start, end)
    with Runner(project, prestart_kernels=len(days) > 1, on_finished=run_observer(project)) as runner:
        _check_param(runner, pipeline, param, days[0], given, from_cli)
        started = dt.datetime.now(dt.UTC)
        backfill_id = "backfill-" + records.new_run_id(started)
        result = BackfillResult(backfill_id, pipeline, param, [], parallel)
        lock = PipelineLock(project.runs_dir, pipeline, backfill_id, records.iso(started) or "")
        with lock:
            result.warnings += runner.recover(pipeline, by=backfill_id)
            jobs = [
                Job(day.isoformat(), pipeline, {**given, param: day.isoformat()}, from_cli | {param},
                    backfill=BackfillSlot(backfill_id, day=day.isoformat()))
                for day in days
            ]
            share = not local_spark and spark_runs(project, [pipeline] * len(days)) > 1
            if share:
                runner.prestart(pipeline)  # the first day's kernel boots while the server starts
            with shared_spark(project, enabled=share, on_server=on_spark_server):
                result.days = _run_days(runner, project, jobs, parallel, result.warnings, on_day)
    return result


def _check_param(runner: Runner, pipeline: str, param: str, day: dt.date, given: dict[str, Any],
                 from_cli: frozenset[str]) -> None:
    """Validate the pipeline and the parameters of the first day before anything runs."""
    from nbpipe.run import engine

    cfg = runner.project.pipeline(pipeline)
    nb = engine.read_notebook(runner.project.path(cfg.notebook))
    declared = {p.name for p in engine.inspect_parameters(nb, cfg.kernel)} | set(cfg.params)
    if param not in declared:
        raise ParameterError(
            f"pipeline {pipeline!r} has no parameter {param!r} to put the day in"
            f"{did_you_mean(param, sorted(declared))}",
            hint=f"pass --param NAME with one of: {', '.join(sorted(declared)) or '(none)'}",
        )
    runner.validate(pipeline, {**given, param: day.isoformat()}, from_cli=from_cli | {param})


def _run_days(runner: Runner, project: Project, jobs: list[Job], parallel: int, warnings: list[str],
              on_day: DayFn | None) -> list[DayOutcome]:
    """Run the days: alone until one really ran, then in parallel if it did not read incrementally."""
    outcomes: dict[str, DayOutcome] = {}

    def done(job: Job, outcome: Outcome) -> None:
        outcomes[job.key] = DayOutcome(**vars(outcome), day=job.key)
        if on_day is not None:
            on_day(outcomes[job.key])

    in_process = InProcess(runner)
    pending = jobs
    if parallel > 1:  # probe: the first day that runs decides whether days can overlap
        probed = schedule(jobs, in_process, on_done=done, until=lambda outcome: outcome.status != "skipped")
        pending = [job for job in jobs if job.key not in probed]
        ran = [outcome for outcome in probed.values() if outcome.status != "skipped"]
        if pending and ran and ran[0].incremental:
            warnings.append(
                f"pipeline {ran[0].pipeline!r} reads incrementally (ctx.incremental): each run depends on the state "
                f"the previous one committed, so its days ran one after the other despite --parallel {parallel}"
            )
        elif pending:
            with ProcessPool(project, min(parallel, len(pending))) as pool:
                schedule([_concurrent(job) for job in pending], pool, on_done=done)
            pending = []
    schedule(pending, in_process, on_done=done)
    return [outcomes[job.key] for job in jobs]


def _concurrent(job: Job) -> Job:
    """The same day, run while sibling days run (see :class:`~nbpipe.run.runner.BackfillSlot`)."""
    assert job.backfill is not None
    return dataclasses.replace(job, backfill=dataclasses.replace(job.backfill, concurrent=True))
