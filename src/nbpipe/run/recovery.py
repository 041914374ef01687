"""Recovery after a killed runner: roll half-done publishes forward, close orphaned runs, drop staging.

Every run (and ``nbpipe backfill``, once) calls :func:`recover` holding the pipeline's lock, before it
executes anything: a publish whose journal entry is still open is completed (the staged files are
moved and the state committed), runs still marked ``running`` lost their runner and get a record
from what they left on disk, and staging left by failed or killed runs is removed.

A killed run's files were masked as they were written (:mod:`nbpipe.run.kernel_log`, the engine's
notebook saves, the event log). Recovery masks them once more with the secrets the recovering run
knows (usually the same ``env:`` secrets), which also covers files an older nbpipe left unmasked.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events as ev
from nbpipe.core import records
from nbpipe.core.config import Project
from nbpipe.core.layout import RunDir
from nbpipe.core.masking import Masker

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.run.store import RunStore


def recover(project: Project, store: RunStore, pipeline: str, *, by: str, now: dt.datetime,
            log: ev.EventLog | None = None, masker: Masker | None = None) -> list[str]:
    """Roll forward publishes a killed runner left half done; close the runs it left open.

    The caller holds the pipeline's lock. ``masker`` (the recovering run's secrets) re-masks the
    files of the runs it closes. Returns warnings describing what was recovered.
    """
    warnings: list[str] = []
    pending = store.pending_publishes(pipeline)
    finished_by_publish = {j["run_id"] for j in pending}
    for journal in pending:
        payload = journal["payload"]
        if payload.get("staged"):  # a state-only publish has nothing to move
            from nbpipe.run.publish import publish

            publish(project, Path(payload["run_dir"]), payload["staged"])
        store.finish_publish(
            journal["id"],
            pipeline=pipeline,
            run_id=journal["run_id"],
            positions=payload.get("positions", {}),
            committed_at=now.astimezone(dt.UTC).isoformat(),
        )
        if log is not None:
            log.emit("recovered", run_id=journal["run_id"], action="publish rolled forward")
        warnings.append(
            f"completed the publish of run {journal['run_id']}, whose runner was killed "
            "between publishing and committing state"
        )
    # We hold the pipeline lock, so any other run still marked running lost its runner.
    for orphan in store.list_runs(pipeline, status="running", limit=100):
        if orphan["run_id"] == by:
            continue
        published = orphan["run_id"] in finished_by_publish or store.publish_done(orphan["run_id"])
        _close_orphan(project, store, orphan, published=published, by=by, masker=masker or Masker())
        if log is not None:
            log.emit("recovered", run_id=orphan["run_id"], action="marked the orphaned run as ended")
    # Staging left by this pipeline's failed or killed runs (nothing of it was ever published).
    from nbpipe.run.publish import gc_staging

    current = project.runs_dir / pipeline / by
    removed = gc_staging(project, project.runs_dir, pipeline=pipeline, exclude=[current], min_age_s=0)
    if removed and log is not None:
        log.emit("recovered", action="removed staging litter", paths=[str(p) for p in removed])
    return warnings


def _close_orphan(project: Project, store: RunStore, orphan: dict[str, Any], *, published: bool,
                  by: str, masker: Masker) -> None:
    """Write the record of a run whose runner was killed, from what it left on disk (masked again)."""
    run_dir = project.runs_dir / orphan["pipeline"] / orphan["run_id"]
    if masker and run_dir.is_dir():
        remask(run_dir, masker)
    events = masker.data(list(ev.read_events(RunDir(run_dir).events)))
    started = orphan.get("started_at")
    error = (
        None
        if published
        else {
            "type": "RunnerKilledError",
            "exit_code": 1,
            "cell_index": None,
            "ename": None,
            "evalue": None,
            "traceback": [],
            "message": "the runner process was killed before the run finished; nothing was published and no "
            "state was committed",
            "hint": f"the next run ({by}) cleaned up; rerun the pipeline if its output is still needed",
        }
    )
    record = {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": orphan["run_id"],
        "pipeline": orphan["pipeline"],
        "project": project.config.project,
        "mode": orphan.get("mode"),
        "profile": orphan.get("profile"),
        "status": "succeeded" if published else "failed",
        "exit_code": 0 if published else 1,
        "started_at": started,
        "ended_at": None,
        "duration_s": None,
        "params": orphan.get("params") or {},
        "attempts": [],
        "error": error,
        "cells": [],
        "datasets": records.dataset_entries(events, None),
        "checks": records.checks_entries(events, None),
        "metrics": records.metrics_entries(events, None),
        "warnings": [
            f"closed by run {by}: its runner was killed"
            + (" after publishing; the state commit was completed" if published else "")
        ],
        "state": {},
        "quality": "none",
        "versions": records.versions(),
        "artifacts": {},
    }
    written = records.read_record(RunDir(run_dir).record)
    if written.get("status") in ("succeeded", "failed", "skipped") and written.get("run_id") == orphan["run_id"]:
        record = written  # the runner died after writing run.json, before the store had it
    if run_dir.is_dir():
        shutil.rmtree(RunDir(run_dir).staging, ignore_errors=True)
        if not written:
            records.write_json(RunDir(run_dir).record, record)
    store.save_run(record, events)
    if run_dir.is_dir():
        from nbpipe.run.lineage import hooks as lineage_hooks

        lineage_hooks.close_orphan(project, run_dir, published=record.get("status") == "succeeded",
                                   ended=dt.datetime.now(dt.UTC))


# What a run leaves in its directory that can hold text a cell printed (staging holds data, not logs).
_TEXT_SUFFIXES = (".ipynb", ".log", ".jsonl", ".json", ".html", ".txt")


def remask(run_dir: Path, masker: Masker) -> list[Path]:
    """Mask ``masker``'s secrets in every text file a run left in ``run_dir``; return those changed."""
    from nbpipe.run.record import mask_file

    changed = []
    staging = RunDir(run_dir).staging
    for path in sorted(run_dir.rglob("*")):
        text_file = path.is_file() and path.suffix in _TEXT_SUFFIXES and not path.is_relative_to(staging)
        if text_file and mask_file(path, masker):
            changed.append(path)
    return changed
