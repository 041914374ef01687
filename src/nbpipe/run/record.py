"""What a run leaves behind, and what later runs read back from it.

The runner (:mod:`nbpipe.run.runner`) orders a run's steps and keeps what it learns in a
:class:`RunFacts`; this module turns those facts and the run's event log into the run record
(fields in :mod:`nbpipe.core.records`), masks secret values in every artifact and renders the
report. It also computes the fingerprint a later run compares to skip an unchanged run, and reads
back the parameters and input snapshot of a failed run to resume.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core import records
from nbpipe.core.config import Project
from nbpipe.core.layout import RunDir
from nbpipe.core.masking import Masker
from nbpipe.core.params import ResolvedParams
from nbpipe.core.protocol import Mode
from nbpipe.errors import NbpipeError, ParameterError, RunFailedError
from nbpipe.run import resources


@dataclass
class RunResult:
    """The outcome of one ``nbpipe run``.

    ``error`` is masked (secret values replaced by ``***``), so printing it is safe.
    """

    run_id: str
    pipeline: str
    status: str
    exit_code: int
    run_dir: Path
    record: dict[str, Any]
    error: NbpipeError | None = None

    @property
    def stopped_early(self) -> str | None:
        """Why the notebook ended before its last cell without failing (``sys.exit(0)``), or None."""
        note = self.record.get("stopped_early")
        return str(note["message"]) if note else None


@dataclass
class Attempt:
    """One execution of the notebook within a run."""

    attempt: int
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    status: str = "running"
    error: NbpipeError | None = None


@dataclass(kw_only=True)
class RunFacts:
    """What a run's record is built from, filled in by the runner as the run goes."""

    pipeline: str
    notebook: Path
    params: ResolvedParams
    mode: Mode
    run_id: str
    run_dir: Path
    started_at: dt.datetime
    masker: Masker
    attempts: list[Attempt] = field(default_factory=list)
    state_before: dict[str, Any] = field(default_factory=dict)
    state_after: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    resumed: dict[str, Any] | None = None
    fingerprint: str | None = None
    fingerprint_parts: dict[str, str] = field(default_factory=dict)
    fingerprint_basis: tuple[Any, Any] = ({}, None)  # the notebook and the input listings at start
    stopped_early: dict[str, Any] | None = None  # the last attempt's clean sys.exit(): cell and message
    not_skipped: dict[str, Any] | None = None  # why an up-to-date check did not skip: what changed, since which run
    lineage: dict[str, Any] | None = None  # OpenLineage: run_id, namespace, job, events emitted, pending

    @property
    def files(self) -> RunDir:
        """The run directory's files (``run.json``, ``events.jsonl``, ``staging/`` …)."""
        return RunDir(self.run_dir)


def write_record(
    project: Project, run: RunFacts, *, status: str, exit_code: int, ended: dt.datetime, error: NbpipeError | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Write ``run.json``, mask secrets in the run's files and render ``report.html``.

    A report that cannot be rendered adds a warning to ``run.warnings`` instead of failing the run.

    Returns:
        The record and the run's events, both masked, for the run store.
    """
    record = run.masker.data(build_record(project, run, status, exit_code, ended, error))
    out_nb = run.files.output
    if out_nb.exists():
        from nbpipe.run import engine

        engine.write_notebook(engine.read_notebook(out_nb), out_nb, mask=run.masker if run.masker else None)
    records.write_json(run.files.record, record)
    if run.masker:
        mask_file(run.files.events, run.masker)
        mask_file(run.files.kernel_log, run.masker)
    try:
        from nbpipe.report.run_report import render_report

        render_report(record, out_nb, run.files.report, mask=run.masker if run.masker else None)
    except NbpipeError as exc:
        run.warnings.append(f"report.html could not be rendered: {exc}")
    return record, run.masker.data(list(ev.read_events(run.files.events)))


def build_record(
    project: Project, run: RunFacts, status: str, exit_code: int, ended: dt.datetime, error: NbpipeError | None
) -> dict[str, Any]:
    """The run record (``run.json``) of ``run``, unmasked."""
    events = list(ev.read_events(run.files.events))
    last = run.attempts[-1].attempt if run.attempts else None
    nb_json: dict[str, Any] = {}
    out_nb = run.files.output
    if out_nb.exists():
        try:
            nb_json = json.loads(out_nb.read_text(encoding="utf-8", errors="replace"))
        except ValueError:
            nb_json = {}
    checks = records.checks_entries(events, last)
    duration = (ended - run.started_at).total_seconds()
    record: dict[str, Any] = {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": run.run_id,
        "pipeline": run.pipeline,
        "project": project.config.project,
        "notebook": str(run.notebook.relative_to(project.root))
        if run.notebook.is_relative_to(project.root)
        else str(run.notebook),
        "mode": run.mode,
        "profile": project.profile_name,
        "status": status,
        "exit_code": exit_code,
        "started_at": records.iso(run.started_at),
        "ended_at": records.iso(ended),
        "duration_s": round(duration, 3),
        "params": run.params.masked(),
        "secret_params": sorted(run.params.secret_names),
        "attempts": [attempt_dict(a) for a in run.attempts],
        "error": error_dict(error),
        "cells": _cells(nb_json, run.stopped_early),
        "stopped_early": run.stopped_early,
        "datasets": records.dataset_entries(events, last),
        "checks": checks,
        "metrics": records.metrics_entries(events, last),
        "state": {"before": run.state_before, "after": run.state_after or run.state_before},
        "quality": records.quality_status(checks),
        "warnings": run.warnings
        + ([str(run.stopped_early["message"])] if run.stopped_early and status == "succeeded" else [])
        + [str(e.get("message")) for e in ev.of_kind(events, ev.LOG, last) if e.get("level") == "warning"],
        "versions": records.versions(),
        "git": records.git_facts(project.root),
        **{k: v for k, v in records.host_facts().items() if k in ("host", "pid")},
        "fingerprint": run.fingerprint,
        "fingerprint_parts": run.fingerprint_parts,
        "not_skipped": run.not_skipped,
        "skipped_reason": run.warnings[-1] if status == "skipped" else None,
        "resumed_from": run.resumed["run_id"] if run.resumed else None,
        "incremental": bool(records.proposals(events, last)),
        "retry_command": records.retry_command(
            run.pipeline,
            run.params.values,
            run.params.secret_names,
            project.profile_name,
            resume_run_id=run.run_id if status == "failed" and records.proposals(events, last) else None,
            env_variables=run.params.env_variables,
        ),
        **resources.record_fields(project, run.run_id, events, [attempt_dict(a) for a in run.attempts], duration),
        "lineage": run.lineage,
        "artifacts": {"notebook": RunDir.OUTPUT, "report": RunDir.REPORT, "events": RunDir.EVENTS},
    }
    return record


def _cells(nb_json: dict[str, Any], stopped_early: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The record's ``cells``; the cell that ended the notebook with a clean ``sys.exit()`` is ``stopped``."""
    cells = records.cells_summary(nb_json)
    if stopped_early is not None:
        for cell in cells:
            if cell["index"] == stopped_early["cell_index"]:
                cell["status"] = "stopped"
    return cells


def mask_error(error: NbpipeError | None, masker: Masker) -> NbpipeError | None:
    """Mask secret values in ``error`` in place (message, hint, the kernel's evalue and traceback).

    The runner masks every error where it first holds it, so the record, the events, the progress
    view and the CLI's failure line all print the masked text.
    """
    if error is None or not masker:
        return error
    error.message = masker.text(error.message)
    error.hint = None if error.hint is None else masker.text(error.hint)
    error.evalue = None if error.evalue is None else masker.text(error.evalue)
    error.traceback = [masker.text(line) for line in error.traceback]
    error.args = tuple(masker.text(a) if isinstance(a, str) else a for a in error.args)
    return error


def attempt_dict(a: Attempt) -> dict[str, Any]:
    """One entry of the record's ``attempts``."""
    return {
        "attempt": a.attempt,
        "status": a.status,
        "started_at": records.iso(a.started_at),
        "ended_at": records.iso(a.ended_at),
        "duration_s": round((a.ended_at - a.started_at).total_seconds(), 3) if a.ended_at else None,
        "error": None if a.error is None else a.error.message,
    }


def error_dict(error: NbpipeError | None) -> dict[str, Any] | None:
    """The record's ``error``: class, message, hint, exit code and, if a cell raised it, that cell."""
    if error is None:
        return None
    out: dict[str, Any] = {
        "type": type(error).__name__,
        "message": error.message,
        "hint": error.hint,
        "exit_code": error.exit_code,
    }
    if isinstance(error, RunFailedError) or error.ename is not None:
        out.update(cell_index=error.cell_index, ename=error.ename, evalue=error.evalue, traceback=error.traceback)
    return out


def mask_file(path: Path, masker: Masker) -> bool:
    """Replace secret values in a text file (atomically; untouched when there are none).

    Returns:
        Whether the file held a secret.
    """
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8", errors="replace")
    masked = masker.text(text)
    if masked != text:
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(masked, encoding="utf-8")
        os.replace(tmp, path)
        return True
    return False








def resume_source(project: Project, store: Any, pipeline: str, run_id: str) -> dict[str, Any]:
    """Parameters and the exact input snapshot of the failed run to resume.

    Raises:
        ParameterError: the run belongs to another pipeline or did not fail.
    """
    record = store.get_run(run_id)
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
    run_dir = project.runs_dir / pipeline / str(record["run_id"])
    events = list(ev.read_events(RunDir(run_dir).events))
    attempts = [e.get("attempt") for e in ev.of_kind(events, ev.STATE_PROPOSAL)]
    last = max((a for a in attempts if a is not None), default=None)
    snapshot = {e["dataset"]: e for e in ev.of_kind(events, ev.STATE_PROPOSAL, last)}
    return {
        "run_id": record["run_id"],
        "params": record.get("params") or {},
        "secret_params": record.get("secret_params") or [],
        "snapshot": snapshot,
    }
