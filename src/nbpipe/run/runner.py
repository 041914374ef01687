"""The runner: the only place that orders a run's side effects.

    lock → recover → params → (attempt: stage → execute → gates)* → publish + commit state
         → record (run.json, output.ipynb, report.html, store) → notify → unlock

Parameters are validated before any kernel starts. A failed attempt is retried with exponential
backoff and jitter when the failure may be transient (not for quality gates or contract errors).
Outputs are published and incremental state committed in one journaled step, only after the
notebook and every gate succeeded; a crash in between is rolled forward by the next run.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nbpipe.core import events as ev
from nbpipe.core import protocol, records
from nbpipe.core.config import PipelineConfig, Project, check_name
from nbpipe.core.events import ProgressFn
from nbpipe.core.layout import RunDir, dataset_root, list_files
from nbpipe.core.masking import Masker
from nbpipe.core.params import ResolvedParams, build_definitions, resolve
from nbpipe.errors import (
    BadRowsError,
    CellExecutionError,
    ContractViolationError,
    NbpipeError,
    NotebookError,
    ParameterError,
    QualityGateError,
    RunFailedError,
    StateError,
)
from nbpipe.run import failpoints, recovery
from nbpipe.run.locks import PipelineLock

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.run.kernelpool import KernelPool

Mode = Literal["prod", "explore"]
# Errors raised in the kernel whose retry cannot help: the data or the notebook must change.
NOT_RETRYABLE = {
    "QualityGateError",
    "ContractViolationError",
    "BadRowsError",
    "DatasetError",
    "ParameterError",
    "ConfigError",
    "NotebookError",
    "SyntaxError",
    "NameError",
}
KERNEL_ERRORS: dict[str, type[RunFailedError]] = {"QualityGateError": QualityGateError}


@dataclass
class RunResult:
    """The outcome of one ``nbpipe run``."""

    run_id: str
    pipeline: str
    status: str
    exit_code: int
    run_dir: Path
    record: dict[str, Any]
    error: NbpipeError | None = None


@dataclass(frozen=True)
class BackfillSlot:
    """How a backfill runs one of its days (``nbpipe.ops.backfill`` holds the pipeline lock).

    Attributes:
        backfill_id: The backfill that holds the pipeline lock and already ran recovery, so the
            run neither takes the lock nor recovers (sibling days may be running).
        concurrent: Sibling days run at the same time: a run that proposes incremental state
            fails before publishing, because its input depended on a state its siblings share.
    """

    backfill_id: str
    concurrent: bool = False


@dataclass
class _Attempt:
    attempt: int
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    status: str = "running"
    error: RunFailedError | None = None


@dataclass
class _Run:
    pipeline: str
    cfg: PipelineConfig
    notebook: Path
    params: ResolvedParams
    mode: Mode
    run_id: str
    run_dir: Path
    started_at: dt.datetime
    masker: Masker
    attempts: list[_Attempt] = field(default_factory=list)
    state_before: dict[str, Any] = field(default_factory=dict)
    state_after: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    force: bool = False
    resumed: dict[str, Any] | None = None
    fingerprint: str | None = None
    fingerprint_parts: dict[str, str] = field(default_factory=dict)
    backfill: BackfillSlot | None = None
    fingerprint_basis: tuple[Any, Any] = ({}, None)


class Runner:
    """Runs pipelines of one project. Clock, run-id factory, sleep and jitter are injectable."""

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
    ) -> None:
        self.project = project
        self.clock = clock
        self.run_id_factory = run_id_factory
        self.sleep = sleep
        self.jitter = jitter
        self.on_progress = on_progress
        self._store: Any = None
        # Sequential DAG runs: boot the next notebook's kernel while this one runs (see kernelpool).
        self._pool: KernelPool | None = None
        if prestart_kernels:
            from nbpipe.run.kernelpool import KernelPool

            self._pool = KernelPool(project.runs_dir / ".kernels")
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
        if self._pool is not None and cfg is not None:
            self._pool.prestart(cfg.kernel, self.project.path(cfg.notebook).parent)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
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
        nb_path = self.project.path(cfg.notebook)
        nb = engine.read_notebook(nb_path)
        given = dict(given or {})
        declared = engine.inspect_parameters(nb, cfg.kernel)
        if given and engine.parameters_cell_index(nb) < 0 and not cfg.params:
            raise NotebookError(
                f"notebook {cfg.notebook} has no cell tagged 'parameters', so it takes no parameters "
                f"(got {', '.join(sorted(given))})",
                hint="in JupyterLab select the cell with the defaults, open the property inspector and add "
                "the tag 'parameters'",
            )
        defs = build_definitions(declared, cfg.params, self.project.config.secrets.param_patterns)
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
        """
        check_name(pipeline, "pipeline")
        resumed: dict[str, Any] | None = None
        if resume:
            resumed = self._resume_source(pipeline, resume)
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
        log = ev.EventLog.in_run_dir(run.run_dir, source="runner")
        log.emit(
            ev.RUN_STARTED,
            run_id=run.run_id,
            pipeline=run.pipeline,
            mode=run.mode,
            profile=self.project.profile_name,
            params=run.params.masked(),
            pid=os.getpid(),
        )
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
        failpoints.hit("after_run_started")
        if run.backfill is None:
            run.warnings.extend(recovery.recover(self.project, self.store, run.pipeline, by=run.run_id,
                                                 now=self.clock(), log=log))
        run.state_before = self.store.get_state(run.pipeline) if run.mode == "prod" else {}
        RunDir(run.run_dir).state_in.write_text(json.dumps(run.state_before, indent=1))
        if run.resumed is not None:
            RunDir(run.run_dir).resume_snapshot.write_text(json.dumps(run.resumed["snapshot"], indent=1))
        skip_reason = self._fingerprint(run)
        if skip_reason is not None:
            return self._finish(run, log, None, skipped=skip_reason)
        error: NbpipeError | None = None
        try:
            error = self._attempts(run, log)
            if error is None and run.mode == "prod":
                self._publish_and_commit(run, log)
        except NbpipeError as exc:
            error = exc
        except KeyboardInterrupt:
            error = RunFailedError("the run was interrupted (Ctrl-C / SIGINT)", hint="rerun it with the command below")
            self._progress({"event": "interrupted"})
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
        rundir = RunDir(run.run_dir)
        handoff = protocol.Handoff(
            project_dir=self.project.root, profile=self.project.profile_name, mode=run.mode, run_id=run.run_id,
            run_dir=run.run_dir, pipeline=run.pipeline, attempt=attempt,
            params={k: v for k, v in run.params.effective.items() if k not in run.params.secret_names},
            secrets=secrets, state_file=rundir.state_in,
            resume_file=rundir.resume_snapshot if run.resumed is not None else None,
        )
        env = protocol.kernel_env(handoff, os.environ, python=sys.executable)
        return env, {name: protocol.secret_variable(name) for name in secrets}

    def _attempts(self, run: _Run, log: ev.EventLog) -> NbpipeError | None:
        from nbpipe.run import engine

        max_attempts = run.cfg.retries + 1
        error: RunFailedError | None = None
        for n in range(1, max_attempts + 1):
            attempt = _Attempt(n, self.clock())
            run.attempts.append(attempt)
            shutil.rmtree(RunDir(run.run_dir).staging, ignore_errors=True)
            log.attempt = n
            log.emit(ev.ATTEMPT_STARTED)
            self._progress({"event": "attempt_started", "attempt": n, "of": max_attempts})
            env, secret_env = self._env(run, n)
            nb = engine.read_notebook(run.notebook)
            nb = engine.parameterize(nb, run.params, kernel_name=run.cfg.kernel, secret_env=secret_env)
            error = None
            failpoints.hit("before_execute")
            try:
                engine.execute(
                    nb,
                    run.run_dir / records.OUTPUT_NOTEBOOK,
                    kernel_name=run.cfg.kernel,
                    cwd=run.notebook.parent,
                    env=env,
                    limits=engine.ExecutionLimits(
                        cell_timeout_s=run.cfg.cell_timeout_s, run_timeout_s=run.cfg.timeout_s
                    ),
                    on_progress=self.on_progress,
                    kernel_log_path=RunDir(run.run_dir).kernel_log,
                    pool=self._pool,
                    prestart_next=self.prestart_next,
                )
                failpoints.hit("after_execute")
                error = self._gates(run, n)
                failpoints.hit("after_gates")
            except CellExecutionError as exc:
                error = _from_kernel(exc)
            except RunFailedError as exc:
                error = exc
            attempt.ended_at = self.clock()
            attempt.status = "succeeded" if error is None else "failed"
            attempt.error = error
            log.emit(
                ev.ATTEMPT_FINISHED,
                status=attempt.status,
                error=None if error is None else run.masker.text(error.message),
            )
            if error is None:
                return None
            if n == max_attempts or not _retryable(error):
                break
            shutil.copyfile(run.run_dir / records.OUTPUT_NOTEBOOK, run.run_dir / f"attempt-{n}.ipynb")
            delay = run.cfg.retry_delay_s * (2 ** (n - 1)) * (1 + 0.5 * self.jitter())
            self._progress({"event": "retrying", "attempt": n, "delay_s": delay, "error": error.message})
            self.sleep(delay)
        return error

    def _gates(self, run: _Run, attempt: int) -> RunFailedError | None:
        """Quality gates the kernel reported but did not raise for (e.g. an exception swallowed)."""
        if run.mode != "prod":
            return None
        checks = records.checks_entries(list(ev.read_events(run.run_dir / ev.EVENTS_FILE)), attempt)
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
        events = list(ev.read_events(run.run_dir / ev.EVENTS_FILE))
        last = run.attempts[-1].attempt
        staged = [
            e
            for e in ev.of_kind(events, ev.DATASET_STAGED, last) + ev.of_kind(events, ev.DATASET_REJECTED, last)
            if not e.get("sandbox")
        ]
        proposals = {e["dataset"]: e["position"] for e in ev.of_kind(events, ev.STATE_PROPOSAL, last)}
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
        if proposals and _caught_up(proposals, run.fingerprint_basis[1]):
            # Record the fingerprint of the inputs as this run leaves them (same files, the committed
            # positions): a next run that finds exactly this has nothing new to read and is skipped.
            self._set_fingerprint(run, run.state_after)
        if proposals:
            log.emit(ev.STATE_COMMITTED, positions=proposals)
        shutil.rmtree(RunDir(run.run_dir).staging, ignore_errors=True)

    def _fingerprint(self, run: _Run) -> str | None:
        """Fingerprint the run; return why it can be skipped, or None to run it."""
        from nbpipe.run import engine

        nb_json = engine.read_notebook(run.notebook)
        inputs = self._input_listing(run.cfg)
        run.fingerprint_basis = (nb_json, inputs)
        parts = self._set_fingerprint(run, run.state_before)
        if run.force or run.mode != "prod" or inputs is None:
            return None
        if run.backfill is not None:  # compare a day with the last success of that same day
            last = self.store.last_successful(run.pipeline, params_fingerprint=parts["params"])
        else:
            last = self.store.last_successful(run.pipeline)
        if last and last.get("fingerprint") == run.fingerprint:
            return f"up to date: notebook code, parameters and inputs are unchanged since run {last['run_id']}"
        return None

    def _set_fingerprint(self, run: _Run, state: dict[str, Any]) -> dict[str, str]:
        """Set ``run.fingerprint`` (and its parts) over the code, params, inputs and ``state``."""
        from nbpipe.core import fingerprint

        nb_json, inputs = run.fingerprint_basis
        basis = (nb_json, run.params.effective, {"state": state, "files": inputs})
        extra = {"profile": self.project.profile_name, "mode": run.mode}
        run.fingerprint_parts = fingerprint.fingerprint_parts(*basis, extra=extra)
        run.fingerprint = fingerprint.run_fingerprint(*basis, extra=extra)
        return run.fingerprint_parts

    def _input_listing(self, cfg: PipelineConfig) -> dict[str, Any] | None:
        """File listings of the declared inputs; None when an input cannot be fingerprinted."""
        if not cfg.reads:
            return None
        out: dict[str, Any] = {}
        for name in cfg.reads:
            ds = self.project.config.datasets.get(name)
            if ds is None or ds.format in ("jdbc", "kafka"):
                return None
            root = dataset_root(self.project, name, ds)
            out[name] = list_files(root) if root.exists() else {}
        return out

    def _resume_source(self, pipeline: str, run_id: str) -> dict[str, Any]:
        """Parameters and the exact input snapshot of the failed run to resume."""
        record = self.store.get_run(run_id)
        if record.get("pipeline") != pipeline:
            raise ParameterError(
                f"run {record.get('run_id')} belongs to pipeline {record.get('pipeline')!r}, not {pipeline!r}",
                hint=f"nbpipe run {record.get('pipeline')} --resume {record.get('run_id')}",
            )
        if record.get("status") != "failed":
            raise ParameterError(
                f"run {record.get('run_id')} {record.get('status')}; only failed runs can be resumed",
                hint=f"run it again with `nbpipe run {pipeline} --force`",
            )
        run_dir = self.project.runs_dir / pipeline / str(record["run_id"])
        events = list(ev.read_events(run_dir / ev.EVENTS_FILE))
        attempts = [e.get("attempt") for e in ev.of_kind(events, ev.STATE_PROPOSAL)]
        last = max((a for a in attempts if a is not None), default=None)
        snapshot = {e["dataset"]: e for e in ev.of_kind(events, ev.STATE_PROPOSAL, last)}
        return {
            "run_id": record["run_id"],
            "params": record.get("params") or {},
            "secret_params": record.get("secret_params") or [],
            "snapshot": snapshot,
        }

    def _finish(
        self, run: _Run, log: ev.EventLog, error: NbpipeError | None, *, skipped: str | None = None
    ) -> RunResult:
        ended = self.clock()
        status = "skipped" if skipped else "succeeded" if error is None else "failed"
        exit_code = 0 if error is None else error.exit_code
        if skipped:
            run.warnings.append(skipped)
        log.attempt = None
        log.emit(
            ev.RUN_FINISHED,
            status=status,
            exit_code=exit_code,
            error=None if error is None else run.masker.text(error.message),
        )
        record = self._record(run, status, exit_code, ended, error)
        record = run.masker.data(record)
        out_nb = run.run_dir / records.OUTPUT_NOTEBOOK
        if out_nb.exists():
            from nbpipe.run import engine

            engine.write_notebook(engine.read_notebook(out_nb), out_nb, mask=run.masker if run.masker else None)
        records.write_json(run.run_dir / records.RUN_JSON, record)
        if run.masker:
            _mask_file(run.run_dir / ev.EVENTS_FILE, run.masker)
            _mask_file(RunDir(run.run_dir).kernel_log, run.masker)
        try:
            from nbpipe.report.run_report import render_report

            render_report(record, out_nb, run.run_dir / records.REPORT_HTML, mask=run.masker if run.masker else None)
        except NbpipeError as exc:
            run.warnings.append(f"report.html could not be rendered: {exc}")
        all_events = run.masker.data(list(ev.read_events(run.run_dir / ev.EVENTS_FILE)))
        failpoints.hit("after_record")
        self.store.save_run(record, all_events)
        self._progress({"event": "finished", "status": status, "run_id": run.run_id})
        return RunResult(run.run_id, run.pipeline, status, exit_code, run.run_dir, record, error)

    def _record(
        self, run: _Run, status: str, exit_code: int, ended: dt.datetime, error: NbpipeError | None
    ) -> dict[str, Any]:
        events = list(ev.read_events(run.run_dir / ev.EVENTS_FILE))
        last = run.attempts[-1].attempt if run.attempts else None
        nb_json: dict[str, Any] = {}
        out_nb = run.run_dir / records.OUTPUT_NOTEBOOK
        if out_nb.exists():
            try:
                nb_json = json.loads(out_nb.read_text(encoding="utf-8", errors="replace"))
            except ValueError:
                nb_json = {}
        checks = records.checks_entries(events, last)
        duration = (ended - run.started_at).total_seconds()
        cores = self.project.spark_cores
        record: dict[str, Any] = {
            "schema_version": records.SCHEMA_VERSION,
            "run_id": run.run_id,
            "pipeline": run.pipeline,
            "project": self.project.config.project,
            "notebook": str(run.notebook.relative_to(self.project.root))
            if run.notebook.is_relative_to(self.project.root)
            else str(run.notebook),
            "mode": run.mode,
            "profile": self.project.profile_name,
            "status": status,
            "exit_code": exit_code,
            "started_at": records.iso(run.started_at),
            "ended_at": records.iso(ended),
            "duration_s": round(duration, 3),
            "params": run.params.masked(),
            "secret_params": sorted(run.params.secret_names),
            "attempts": [_attempt_dict(a) for a in run.attempts],
            "error": _error_dict(error),
            "cells": records.cells_summary(nb_json),
            "datasets": records.dataset_entries(events, last),
            "checks": checks,
            "metrics": records.metrics_entries(events, last),
            "state": {"before": run.state_before, "after": run.state_after or run.state_before},
            "quality": records.quality_status(checks),
            "warnings": run.warnings
            + [str(e.get("message")) for e in ev.of_kind(events, ev.LOG, last) if e.get("level") == "warning"],
            "versions": records.versions(),
            "git": records.git_facts(self.project.root),
            **{k: v for k, v in records.host_facts().items() if k in ("host", "pid")},
            "fingerprint": run.fingerprint,
            "fingerprint_parts": run.fingerprint_parts,
            "skipped_reason": run.warnings[-1] if status == "skipped" else None,
            "resumed_from": run.resumed["run_id"] if run.resumed else None,
            "incremental": bool(records.proposals(events, last)),
            "retry_command": records.retry_command(
                run.pipeline,
                run.params.values,
                run.params.secret_names,
                self.project.profile_name,
                resume_run_id=run.run_id if status == "failed" and records.proposals(events, last) else None,
            ),
            "cost_usd": round(duration / 3600 * cores * self.project.config.cost.core_hour_usd, 6),
            "artifacts": {"notebook": records.OUTPUT_NOTEBOOK, "report": records.REPORT_HTML, "events": ev.EVENTS_FILE},
        }
        return record

    def _progress(self, event: dict[str, Any]) -> None:
        if self.on_progress:
            self.on_progress(event)


def _from_kernel(exc: CellExecutionError) -> RunFailedError:
    """Map an nbpipe error raised inside the kernel to its class (e.g. QualityGateError)."""
    cls = KERNEL_ERRORS.get(exc.ename or "")
    if cls is None:
        return exc
    return cls(
        exc.message,
        hint=exc.hint,
        cell_index=exc.cell_index,
        ename=exc.ename,
        evalue=exc.evalue,
        traceback=exc.traceback,
    )


def _caught_up(proposals: dict[str, Any], listings: dict[str, Any] | None) -> bool:
    """Whether the proposed file positions cover every file listed at run start (no ``max_files`` rest)."""
    for dataset, position in proposals.items():
        if not isinstance(position, dict) or position.get("kind") != "files":
            continue
        read = position.get("files") or {}
        listed = (listings or {}).get(dataset) or {}
        if any(read.get(path) != meta for path, meta in listed.items()):
            return False
    return True


def _retryable(error: NbpipeError) -> bool:
    if isinstance(error, (QualityGateError, ContractViolationError, BadRowsError, ParameterError)):
        return False
    return not (isinstance(error, RunFailedError) and error.ename in NOT_RETRYABLE)


def _attempt_dict(a: _Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "status": a.status,
        "started_at": records.iso(a.started_at),
        "ended_at": records.iso(a.ended_at),
        "duration_s": round((a.ended_at - a.started_at).total_seconds(), 3) if a.ended_at else None,
        "error": None if a.error is None else a.error.message,
    }


def _error_dict(error: NbpipeError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    out: dict[str, Any] = {
        "type": type(error).__name__,
        "message": error.message,
        "hint": error.hint,
        "exit_code": error.exit_code,
    }
    if isinstance(error, RunFailedError):
        out.update(cell_index=error.cell_index, ename=error.ename, evalue=error.evalue, traceback=error.traceback)
    return out


def _mask_file(path: Path, masker: Masker) -> None:
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    masked = masker.text(text)
    if masked != text:
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(masked, encoding="utf-8")
        os.replace(tmp, path)
