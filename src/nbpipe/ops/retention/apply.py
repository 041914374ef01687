"""Deleting what a retention plan lists, crash-safely.

A dataset's expired partitions leave in two steps, under the locks of every pipeline that reads
or writes it and the dataset's manifest lock:

1. commit a manifest without them (:func:`nbpipe.core.manifest.write_manifest`, one atomic
   rename): from here on, readers that follow the manifest no longer see them;
2. move each partition directory into ``.<dataset>.publish/gc-<id>/trash/`` (one rename each)
   and delete the trash.

A ``kill -9`` before step 1 changes nothing; after it, only unreferenced directories remain,
which the next gc deletes (expired partitions are found on disk as well as in the manifest, and
gc work directories are themselves gc items). The failpoints ``gc_after_manifest`` and
``gc_mid_delete`` (:mod:`nbpipe.run.failpoints`) let tests kill it at those places.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nbpipe.core.config import Project, inside
from nbpipe.core.layout import PUBLISH_SUFFIX, dataset_config, dataset_root, publish_work_dir
from nbpipe.core.manifest import manifest_lock, new_manifest, read_manifest, write_manifest
from nbpipe.errors import RunLockedError
from nbpipe.ops.retention.plan import Item, Plan, related_pipelines
from nbpipe.run import failpoints
from nbpipe.run.locks import PipelineLock
from nbpipe.run.store_queries import StoreQueries

GC_POINTS = ("gc_after_manifest", "gc_mid_delete", "gc_after_run_dirs")
GC_LOCK = "_nbpipe_gc"  # one gc at a time: a lock file beside the pipelines' locks


@dataclass
class Outcome:
    """What a gc deleted, and what it left because a pipeline was running."""

    deleted: list[Item] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.deleted)


@contextlib.contextmanager
def _locks(project: Project, pipelines: list[str], gc_id: str, now: dt.datetime) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in sorted(pipelines):
            stack.enter_context(PipelineLock(project.runs_dir, name, gc_id, now.isoformat()))
        yield


@contextlib.contextmanager
def gc_lock(project: Project, gc_id: str, now: dt.datetime) -> Iterator[None]:
    """Hold the one-gc-at-a-time lock (RunLockedError naming the other gc)."""
    try:
        lock = PipelineLock(project.runs_dir, GC_LOCK, gc_id, now.isoformat()).acquire()
    except RunLockedError as exc:
        raise RunLockedError(exc.message.replace(f"pipeline {GC_LOCK!r} is already running", "another gc is running"),
                             hint="wait for the other `nbpipe gc` to finish; gc is safe to run again afterwards",
                             ) from None
    try:
        yield
    finally:
        lock.release()


def _prune(root: Path, unit_dir: Path) -> None:
    """Remove the empty parents of a deleted multi-level unit (``day=…/`` of ``day=…/carrier=…``)."""
    parent = unit_dir.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def delete_units(root: Path, dataset: str, units: list[str], gc_id: str) -> None:
    """Commit ``root``'s manifest without ``units``, then delete their directories (re-entrant)."""
    with manifest_lock(root):
        previous = read_manifest(root)
        manifest = previous if previous is not None else new_manifest(dataset, gc_id, root, None, None)
        kept = {u: e for u, e in manifest["units"].items() if u not in units}
        if previous is None or kept != previous["units"]:
            version = int(manifest.get("version", 0)) + (1 if previous is not None else 0)
            write_manifest(root, {**manifest, "version": version, "run_id": gc_id, "units": kept})
        failpoints.hit("gc_after_manifest")
        work = publish_work_dir(root, gc_id)
        for unit in units:
            live = inside(root, root / unit, f"partition {unit!r} of dataset {dataset!r}")
            if live.exists():
                trash = work / "trash" / unit
                trash.parent.mkdir(parents=True, exist_ok=True)
                os.rename(live, trash)
                _prune(root.resolve(), live)
            failpoints.hit("gc_mid_delete")
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            work.parent.rmdir()  # .<dataset>.publish/, when no publish is in flight


def _pending(queries: StoreQueries, pipelines: list[str]) -> list[str]:
    return sorted({j["run_id"] for p in pipelines for j in queries.store.pending_publishes(p)})


def apply_plan(project: Project, queries: StoreQueries, plan: Plan, *, gc_id: str, now: dt.datetime) -> Outcome:
    """Delete what ``plan`` lists; a dataset whose pipelines are running is skipped, not waited for."""
    outcome = Outcome()
    by_dataset: dict[str, list[Item]] = defaultdict(list)
    for item in plan.items:
        if item.kind in ("partition", "quarantine"):
            by_dataset[item.owner].append(item)
    for dataset, items in sorted(by_dataset.items()):
        pipelines = related_pipelines(project, dataset)
        try:
            with _locks(project, pipelines, gc_id, now):
                pending = _pending(queries, pipelines)
                if pending:
                    outcome.skipped.append(f"{dataset}: the publish of run {pending[0]} was interrupted; the "
                                           "next run of its pipeline completes it, then gc can delete")
                    continue
                root = dataset_root(project, dataset, dataset_config(project, dataset))
                delete_units(root, dataset, [i.unit for i in items], gc_id)
                outcome.deleted.extend(items)
        except RunLockedError as exc:
            outcome.skipped.append(f"{dataset}: {exc.message}")
    runs = plan.of("run")
    for item in runs:
        shutil.rmtree(inside(project.runs_dir, item.path, f"run directory of {item.run_id!r}"), ignore_errors=True)
    failpoints.hit("gc_after_run_dirs")
    if runs:
        queries.store.delete_runs([i.run_id for i in runs])
        outcome.deleted.extend(runs)
    for item in plan.of("staging"):
        pipeline = item.owner if item.path.name == "staging" else None
        try:
            with _locks(project, [pipeline] if pipeline else [], gc_id, now):
                shutil.rmtree(item.path, ignore_errors=True)
                for parent in (item.path.parent, item.path.parent.parent):  # an emptied .<dataset>.publish/<id>/
                    if parent.parent.name.endswith(PUBLISH_SUFFIX) or parent.name.endswith(PUBLISH_SUFFIX):
                        with contextlib.suppress(OSError):
                            parent.rmdir()
            outcome.deleted.append(item)
        except RunLockedError as exc:
            outcome.skipped.append(f"{item.path}: {exc.message}")
    return outcome
