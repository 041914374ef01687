"""The runner: the only place that orders a run's side effects.

    lock → recover → params → (attempt: stage → execute → gates)* → publish + commit state
         → record (run.json, output.ipynb, report.html, store) → notify → unlock

Parameters are validated before any kernel starts. Each attempt's notebook runs through an
:class:`~nbpipe.run.engine.Executor` (papermill by default); an nbpipe error raised inside the
kernel comes back as its own class (:func:`nbpipe.errors.by_name`), with its exit code. A failed
attempt is retried with exponential backoff and jitter when its error class is ``retryable``.
Outputs are published and incremental state committed in one journaled step, only after the
notebook and every gate succeeded; a crash in between is rolled forward by the next run. The
record is built and written by :mod:`nbpipe.run.record`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nbpipe.core import events as ev
from nbpipe.core import protocol, records
from nbpipe.core.config import PipelineConfig, Project, check_name
from nbpipe.core.events import ProgressFn
from nbpipe.core.masking import Masker
from nbpipe.core.params import ResolvedParams, build_definitions, resolve
from nbpipe.errors import (
    CellExecutionError,
    NbpipeError,
    NotebookError,
    ParameterError,
    QualityGateError,
    RunCancelledError,
    RunFailedError,
    StateError,
)
from nbpipe.run import cancel, failpoints, observe, recovery, resources, uptodate
from nbpipe.run.lineage import hooks as lineage_hooks
from nbpipe.run.locks import PipelineLock
from nbpipe.run.observe import RunObserver
from nbpipe.run.record import (
    Attempt,
    RunFacts,
    RunResult,  # re-exported: the outcome of Runner.run
    mask_error,
    resume_source,
    write_record,
)

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.run.engine import Executor
    from nbpipe.run.kernelpool import KernelPool

Mode = Literal["prod", "explore"]


@dataclass(frozen=True)
class BackfillSlot:
    """How a backfill runs one of its days (``nbpipe.ops.backfill`` holds the pipeline lock).

    Attributes:
        backfill_id: The backfill that holds the pipeline lock and already ran recovery, so the
            run neither takes the lock nor recovers (sibling days may be running).
        concurrent: Sibling days run at the same time: a run that proposes incremental state
            fails before publishing, because its input depended on a state its siblings share.
        day: The day (``YYYY-MM-DD``) this run re-processes; the kernel's ``ctx.incremental`` reads
            that day's partition and proposes no state.
    """

    backfill_id: str
    concurrent: bool = False
    day: str | None = None


@dataclass(kw_only=True)
class _Run(RunFacts):
    """A run in progress: the facts of its record plus what only the runner needs."""

    cfg: PipelineConfig
    force: bool = False
    backfill: BackfillSlot | None = None
    dag_run: str | None = None  # the `nbpipe dag run` this run is part of (its OpenLineage parent)
    lineage_run: Any = None  # nbpipe.run.lineage.emitter.LineageRun when lineage is on


class Runner:
    """Runs pipelines of one project.

    Clock, run-id factory, sleep, jitter and the notebook executor are injectable. The runner owns
    its executor: :meth:`close` closes it. Without ``executor`` it runs notebooks with papermill
    (:class:`~nbpipe.run.engine.PapermillExecutor`), booting kernels ahead with ``prestart_kernels``.
    """

    def __init__(
        self,
        project: Project,
        *,
        clock: Callable[[], dt.datetime] = ev.utcnow,
        run_id_factory: Callable[[dt.datetime], str] = records.new_run_id,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        on_progress: ProgressFn | None = None,
        prestart_kernels: bool = False,
        executor: Executor | None = None,
        on_finished: RunObserver | None = None,
    ) -> None:
        self.project = project
        self.on_finished = on_finished  # called once per run with the final result (nbpipe.run.observe)
        self.clock = clock
        self.run_id_factory = run_id_factory
        self.sleep = sleep
        self.jitter = jitter
        self.on_progress = on_progress
        self._store: Any = None
        # Sequential DAG runs: boot the next notebook's kernel while this one runs (see kernelpool).
        self._pool: KernelPool | None = None
        if executor is None:
            from nbpipe.run.engine import PapermillExecutor

            if prestart_kernels:
                from nbpipe.run.kernelpool import KernelPool

                self._pool = KernelPool(project.runs_dir / ".kernels")
            executor = PapermillExecutor(pool=self._pool)
        self.executor: Executor = executor
        self.prestart_next = prestart_kernels  # set per run by the caller that knows what follows

    # -- public -------------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        if self._store is None:
            from nbpipe.run.store import RunStore

            self._store = RunStore(self.project.store_url)
        return self._store

    def prestart(self, pipeline: str) -> None:
        """Boot the kernel ``pipeline``'s next run will take, so other work can overlap its start.

        A no-op without ``prestart_kernels`` or for an unknown pipeline (its run reports that).
        """
        cfg = self.project.config.pipelines.get(pipeline)
        if cfg is not None:
            self.executor.prestart(cfg.kernel, self.project.path(cfg.notebook).parent)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop kernels started ahead and close the store (``with Runner(...) as runner`` does it)."""
        self.executor.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def validate(
        self,
        pipeline: str,
        given: dict[str, Any] | None = None,
        *,
        from_cli: frozenset[str] = frozenset(),
        config: PipelineConfig | None = None,
    ) -> tuple[PipelineConfig, Path, ResolvedParams]:
        """Check the pipeline, its notebook and the parameters, without starting a kernel."""
        from nbpipe.run import engine

        cfg = config or self.project.pipeline(pipeline)
        nb_path = self.project.notebook_path(pipeline, cfg)
        try:
            nb = engine.read_notebook(nb_path)
        except NotebookError as exc:
            if exc.__cause__ is None:
                raise
            # The reader's own message may quote the file's first bytes: name the problem only.
            raise NotebookError(
                f"notebook {cfg.notebook} of pipeline {pipeline!r} is not a readable Jupyter notebook "
                f"({type(exc.__cause__).__name__})",
                hint="open it in JupyterLab and save it again, or point 'notebook:' in nbpipe.yaml at an .ipynb file",
            ) from None
        given = dict(given or {})
        declared = engine.inspect_parameters(nb, cfg.kernel)
        if given and engine.parameters_cell_index(nb) < 0 and not cfg.params:
            raise NotebookError(
                f"notebook {cfg.notebook} has no cell tagged 'parameters', so it takes no parameters "
                f"(got {', '.join(sorted(given))})",
                hint="in JupyterLab select the cell with the defaults, open the property inspector and add "
                "the tag 'parameters'",
            )
        defs = build_definitions(declared, cfg.params, self.project.config.secrets.param_patterns, pipeline=pipeline)
        return cfg, nb_path, resolve(defs, given, from_cli=from_cli)

    def run(
        self,
        pipeline: str,
        given: dict[str, Any] | None = None,
        *,
        from_cli: frozenset[str] = frozenset(),
        mode: Mode = "prod",
        force: bool = False,
        resume: str | None = None,
        config: PipelineConfig | None = None,
        backfill: BackfillSlot | None = None,
        dag_run: str | None = None,
    ) -> RunResult:
        """Run ``pipeline`` once (with its retries) and write its run record.

        Args:
            pipeline: Name of the pipeline (its run records live under ``runs/<pipeline>/``).
            given: Parameter values; strings from the command line are coerced (see ``from_cli``).
            from_cli: Names in ``given`` whose values are command-line strings.
            mode: ``prod`` (strict, publishes, commits state) or ``explore`` (sandboxed).
            force: Run even when code, parameters and inputs match the last successful run.
            resume: Id of a failed run to repeat with its parameters and exact input snapshot.
            config: Use this pipeline config instead of the one in nbpipe.yaml (``nbpipe promote``
                runs notebooks that are not declared yet).
            backfill: Run as one day of a backfill that holds the pipeline lock (see
                :class:`BackfillSlot`); the skip check compares with the last success with the
                same parameters instead of the last success of the pipeline.
            dag_run: The id of the ``nbpipe dag run`` this run is part of (its OpenLineage parent).
        """
        check_name(pipeline, "pipeline")
        resumed: dict[str, Any] | None = None
        if resume:
            resumed = resume_source(self.project, self.store, pipeline, resume)
            given = {
                **{k: v for k, v in resumed["params"].items() if k not in resumed["secret_params"]},
                **(given or {}),
            }
            missing = [k for k in resumed["secret_params"] if k not in (given or {})]
            if missing:
                raise ParameterError(
                    f"run {resume} had secret parameter(s) {', '.join(missing)}, which are never stored",
                    hint="pass them again, e.g. " + " ".join(f"-p {k}=env:{k.upper()}" for k in missing),
                )
            force = True
        cfg, nb_path, params = self.validate(pipeline, given, from_cli=from_cli, config=config)
        lineage_hooks.check(self.project)  # a bad lineage setup fails here, before anything started
        started = self.clock()
        run_id = self.run_id_factory(started)
        run = _Run(
            pipeline=pipeline,
            cfg=cfg,
            notebook=nb_path,
            params=params,
            mode=mode,
            run_id=run_id,
            run_dir=self.project.runs_dir / pipeline / run_id,
            started_at=started,
            masker=Masker(params.secret_values),
            force=force,
            resumed=resumed,
            backfill=backfill,
            dag_run=dag_run,
        )
        lock = PipelineLock(self.project.runs_dir, pipeline, run_id, records.iso(started) or "")
        if backfill is not None:  # the backfill holds this pipeline's lock for all its days
            return self._run_locked(run, lock)
        lock.acquire()
        failpoints.hit("after_lock")
        try:
            return self._run_locked(run, lock)
        finally:
            lock.release()

    # -- steps --------------------------------------------------------------------------------
    def _run_locked(self, run: _Run, lock: PipelineLock) -> RunResult:
        run.run_dir.mkdir(parents=True, exist_ok=False)
        log = ev.EventLog.in_run_dir(run.run_dir, source="runner", masker=run.masker)
        log.emit(
            ev.RUN_STARTED,
            run_id=run.run_id,
            pipeline=run.pipeline,
            mode=run.mode,
            profile=self.project.profile_name,
            params=run.params.masked(),
            pid=os.getpid(),
        )
        self._progress({"event": ev.PROGRESS_RUN_STARTED, "run_id": run.run_id, "run_dir": str(run.run_dir)})
        if lock.broken_stale:
            run.warnings.append(
                f"broke the stale lock of run {lock.broken_stale.get('run_id')} "
                f"(pid {lock.broken_stale.get('pid')}, started {lock.broken_stale.get('started_at')}), "
                "whose runner was killed"
            )
        self.store.start_run(
            run.run_id,
            run.pipeline,
            started_at=records.iso(run.started_at),
            mode=run.mode,
            profile=self.project.profile_name,
            params=run.params.masked(),
            run_dir=str(run.run_dir),
        )
        resources.begin(run.run_id)
        run.lineage_run = lineage_hooks.start(
            self.project, pipeline=run.pipeline, run_id=run.run_id, run_dir=run.run_dir, notebook=run.notebook,
            params=run.params.effective, masker=run.masker, started=run.started_at,
            backfill_id=run.backfill.backfill_id if run.backfill is not None else None, log=log, mode=run.mode,
            dag_run_id=run.dag_run)
        failpoints.hit("after_run_started")
        if run.backfill is None:
            run.warnings.extend(recovery.recover(self.project, self.store, run.pipeline, by=run.run_id,
                                                 now=self.clock(), log=log, masker=run.masker))
        run.state_before = self.store.get_state(run.pipeline) if run.mode == "prod" else {}
        run.files.state_in.write_text(json.dumps(run.state_before, indent=1))
        if run.resumed is not None:
            run.files.resume_snapshot.write_text(json.dumps(run.resumed["snapshot"], indent=1))
        skip_reason = self._fingerprint(run)
        if skip_reason is not None:
            return self._finish(run, log, None, skipped=skip_reason)
        error: NbpipeError | None = None
        try:
            error = self._attempts(run, log)
            if error is None and run.mode == "prod":
                with cancel.deferred() as held:  # a publish is never cut short: it completes
                    self._publish_and_commit(run, log)
                if held:
                    run.warnings.append("a cancel arrived while publishing; the publish completed")
        except NbpipeError as exc:
            error = exc
        except KeyboardInterrupt:  # SIGINT, or SIGTERM under `nbpipe run` (nbpipe.run.cancel)
            shutil.rmtree(run.files.staging, ignore_errors=True)
            error = RunCancelledError("the run was cancelled (SIGINT/SIGTERM); nothing was published",
                                      hint="rerun it with the command below")
            self._progress({"event": ev.PROGRESS_INTERRUPTED})
        with cancel.deferred():  # the record is written whole, even when a second signal arrives
            return self._finish(run, log, error)

    def recover(self, pipeline: str, *, by: str) -> list[str]:
        """Roll forward half-done publishes and close orphaned runs; the caller holds the lock.

        ``nbpipe backfill`` calls this once, holding the pipeline lock, before its days run.

        Args:
            pipeline: The pipeline whose lock the caller holds.
            by: Who recovers (a run or backfill id), named in the closed runs' records.

        Returns:
            Warnings describing what was recovered.
        """
        return recovery.recover(self.project, self.store, pipeline, by=by, now=self.clock())

    def _env(self, run: _Run, attempt: int) -> tuple[dict[str, str], dict[str, str]]:
        """The kernel's environment for one attempt, and ``{secret parameter: its variable}``."""
        secrets = {name: run.params.values[name] for name in sorted(run.params.secret_names)
                   if name in run.params.values}
        handoff = protocol.Handoff(
            project_dir=self.project.root, profile=self.project.profile_name, mode=run.mode, run_id=run.run_id,
            run_dir=run.run_dir, pipeline=run.pipeline, attempt=attempt,
            params={k: v for k, v in run.params.effective.items() if k not in run.params.secret_names},
            secrets=secrets, state_file=run.files.state_in,
            resume_file=run.files.resume_snapshot if run.resumed is not None else None,
            backfill_day=run.backfill.day if run.backfill is not None else None,
        )
        env = protocol.kernel_env(handoff, os.environ, python=sys.executable)
        return env, {name: protocol.secret_variable(name) for name in secrets}

    def _attempts(self, run: _Run, log: ev.EventLog) -> NbpipeError | None:
        """Attempt until one succeeds or retries run out; ``timeout_s`` bounds all attempts together."""
        from nbpipe.run.engine import ExecutionLimits, ExecutionRequest
        from nbpipe.run.replies import error_from_kernel, out_of_time

        max_attempts = run.cfg.retries + 1
        limit = run.cfg.timeout_s
        deadline = run.started_at + dt.timedelta(seconds=limit) if limit is not None else None
        error: NbpipeError | None = None
        for n in range(1, max_attempts + 1):
            remaining = (deadline - self.clock()).total_seconds() if deadline is not None else None
            if remaining is not None and remaining <= 0:
                return out_of_time(limit, n - 1, error)
            attempt = Attempt(n, self.clock())
            run.attempts.append(attempt)
            shutil.rmtree(run.files.staging, ignore_errors=True)
            log.attempt = n
            log.emit(ev.ATTEMPT_STARTED)
            self._progress({"event": ev.PROGRESS_ATTEMPT_STARTED, "attempt": n, "of": max_attempts})
            env, secret_env = self._env(run, n)
            request = ExecutionRequest(
                notebook=run.notebook,
                output_path=run.files.output,
                params=run.params,
                kernel_name=run.cfg.kernel,
                cwd=run.notebook.parent,
                env=env,
                limits=ExecutionLimits(cell_timeout_s=run.cfg.cell_timeout_s, run_timeout_s=remaining,
                                       run_limit_s=limit),
                secret_env=secret_env,
                kernel_log_path=run.files.kernel_log,
                on_progress=self.on_progress,
                prestart_next=self.prestart_next,
                masker=run.masker,
            )
            error = None
            run.stopped_early = None
            failpoints.hit("before_execute")
            try:
                outcome = self.executor.execute(request)
                run.stopped_early = outcome.stop_record() if outcome is not None else None
                failpoints.hit("after_execute")
                error = self._gates(run, n)
                failpoints.hit("after_gates")
            except CellExecutionError as exc:
                error = error_from_kernel(exc, run.run_dir, n)
            except RunFailedError as exc:
                error = exc
            error = mask_error(error, run.masker)  # every printer and record downstream is safe
            attempt.ended_at = self.clock()
            attempt.status = "succeeded" if error is None else "failed"
            attempt.error = error
            log.emit(
                ev.ATTEMPT_FINISHED,
                status=attempt.status,
                error=None if error is None else error.message,  # masked above (and by the event log)
            )
            if error is None:
                return None
            if n == max_attempts or not error.retryable:
                break
            shutil.copyfile(run.files.output, run.run_dir / f"attempt-{n}.ipynb")
            delay = run.cfg.retry_delay_s * (2 ** (n - 1)) * (1 + 0.5 * self.jitter())
            if deadline is not None and (deadline - self.clock()).total_seconds() <= delay:
                return out_of_time(limit, n, error)  # the next attempt could not start in time
            self._progress({"event": ev.PROGRESS_RETRYING, "attempt": n, "delay_s": delay, "error": error.message})
            self.sleep(delay)
        return error

    def _gates(self, run: _Run, attempt: int) -> RunFailedError | None:
        """Quality gates the kernel reported but did not raise for (e.g. an exception swallowed)."""
        if run.mode != "prod":
            return None
        checks = records.checks_entries(list(ev.read_events(run.files.events)), attempt)
        # The checkpoint decided in the kernel (failing rows quarantined = passed); a swallowed
        # QualityGateError is caught here.
        failed = [c for c in checks if not records.gate_passed(c)]
        if failed and run.cfg.quality == "fail":
            names = ", ".join(str(c.get("suite")) for c in failed)
            return QualityGateError(
                f"quality gate failed: suite(s) {names}",
                hint="see the Checks section of report.html; fix the data or the suite, "
                "or set quality: warn for this pipeline",
            )
        for c in failed:
            run.warnings.append(f"quality check {c.get('suite')!r} failed (pipeline quality: warn)")
        return None

    def _publish_and_commit(self, run: _Run, log: ev.EventLog) -> None:
        events = list(ev.read_events(run.files.events))
        last = run.attempts[-1].attempt
        staged = [
            e
            for e in ev.of_kind(events, ev.DATASET_STAGED, last) + ev.of_kind(events, ev.DATASET_REJECTED, last)
            if not e.get("sandbox")
        ]
        proposals = {e["dataset"]: e["position"] for e in ev.of_kind(events, ev.STATE_PROPOSAL, last)}
        from nbpipe.run import preflight

        try:  # before the journal: a refused publish leaves nothing to roll forward
            preflight.check_untouched(self.project, preflight.outputs(self.project, run.cfg.writes, staged))
            preflight.check_writable(self.project, run.run_id, staged)
        except NbpipeError:
            shutil.rmtree(run.files.staging, ignore_errors=True)
            raise
        if not staged and not proposals:
            return
        if proposals and run.backfill is not None and run.backfill.concurrent:
            raise StateError(
                f"pipeline {run.pipeline!r} reads incrementally ({', '.join(sorted(proposals))}): its runs "
                "depend on the state the previous run committed, so its days cannot run in parallel; "
                "nothing was published",
                hint=f"backfill it with --parallel 1 (rerun the same `nbpipe backfill {run.pipeline} ...` "
                "command: finished days are skipped)",
            )
        journal = self.store.begin_publish(
            run.run_id, run.pipeline, {"run_dir": str(run.run_dir), "staged": staged, "positions": proposals}
        )
        failpoints.hit("after_publish_journal")
        if staged:
            from nbpipe.run.publish import publish

            published = publish(self.project, run.run_dir, staged)
            log.emit(ev.PUBLISHED, datasets=published)
        failpoints.hit("after_publish")
        self.store.finish_publish(
            journal,
            pipeline=run.pipeline,
            run_id=run.run_id,
            positions=proposals,
            committed_at=records.iso(self.clock()),
        )
        failpoints.hit("after_commit")
        run.state_after = {**run.state_before, **proposals}
        basis = run.fingerprint_basis[0]
        if proposals and isinstance(basis, uptodate.Basis) and uptodate.caught_up(basis, proposals):
            # Record the fingerprint of the inputs as this run leaves them (same files, the committed
            # positions): a next run that finds exactly this has nothing new to read and is skipped.
            left = uptodate.after_commit(basis, run.state_after)
            run.fingerprint_parts, run.fingerprint = left.parts, left.fingerprint
        if proposals:
            log.emit(ev.STATE_COMMITTED, positions=proposals)
        shutil.rmtree(run.files.staging, ignore_errors=True)

    def _fingerprint(self, run: _Run) -> str | None:
        """Fingerprint the run; return why it can be skipped, or None to run it (logging what changed)."""
        from nbpipe.run import engine

        verdict = uptodate.check(self.project, self.store, run.pipeline, run.cfg, notebook=run.notebook,
                                 nb_json=engine.read_notebook(run.notebook), params=run.params, mode=run.mode,
                                 state=run.state_before, force=run.force, same_params=run.backfill is not None)
        run.fingerprint_basis = (verdict.basis, verdict.basis.listings)
        run.fingerprint_parts, run.fingerprint = verdict.basis.parts, verdict.basis.fingerprint
        run.not_skipped = verdict.not_skipped
        if verdict.not_skipped is not None:
            ev.EventLog.in_run_dir(run.run_dir, source="runner", masker=run.masker).emit(
                ev.LOG, level="info", **verdict.not_skipped)
        return verdict.skip

    def _finish(
        self, run: _Run, log: ev.EventLog, error: NbpipeError | None, *, skipped: str | None = None
    ) -> RunResult:
        ended = self.clock()
        error = mask_error(error, run.masker)
        status = ("skipped" if skipped else "succeeded" if error is None
                  else "cancelled" if isinstance(error, RunCancelledError) else "failed")
        exit_code = 0 if error is None else error.exit_code
        if skipped:
            run.warnings.append(skipped)
        if status == "succeeded" and run.mode == "prod":
            last = run.attempts[-1].attempt if run.attempts else None
            events = list(ev.read_events(run.files.events))
            run.warnings.extend(observe.volume_findings(self.project, self.store, run.pipeline, run.run_id,
                                                        run.started_at, events, last, log))
        log.attempt = None
        log.emit(
            ev.RUN_FINISHED,
            status=status,
            exit_code=exit_code,
            error=None if error is None else error.message,  # masked above (and by the event log)
        )
        if run.lineage_run is not None:
            run.lineage = run.lineage_run.finish(
                status=status, error=None if error is None else error.message, ended=ended, log=log,
                attempt=run.attempts[-1].attempt if run.attempts else None)
        record, all_events = write_record(
            self.project, run, status=status, exit_code=exit_code, ended=ended, error=error
        )
        failpoints.hit("after_record")
        self.store.save_run(record, all_events)
        result = RunResult(run.run_id, run.pipeline, status, exit_code, run.run_dir, record, error)
        if self.on_finished is not None:
            observe.after_record(result, self.on_finished, log, self.store)
        self._progress({"event": ev.PROGRESS_FINISHED, "status": status, "run_id": run.run_id})
        return result

    def _progress(self, event: dict[str, Any]) -> None:
        if self.on_progress:
            self.on_progress(event)

