"""What ``nbpipe gc`` would delete: expired partitions, quarantine partitions, runs and staging.

Planning reads only: the datasets' directories and manifests, the run store and the run
directories. :mod:`nbpipe.ops.retention.apply` deletes a plan's items. The rules:

* a dataset partition goes when the date in its date partition column (``retention_column``,
  default the first of ``partition_by``) is more than ``retention_days`` before today, unless an
  incremental reader has not consumed it yet (a ``files`` position that lacks one of its files) or
  a watermark on that column points into it or later;
* a quarantine partition (``nbpipe_run_id=<run>``) goes when its run started more than
  ``quarantine_retention_days`` (default ``retention_days``) ago;
* a run (its directory and store rows) goes when it started more than ``runs.retention_days`` ago,
  except runs still running, the last ``runs.keep_failed`` failed runs and the last succeeded run
  of each pipeline (the up-to-date check compares with it), runs that committed a current
  incremental position, and runs whose publish a recovery still has to complete;
* staging of dead runs and trash of interrupted publishes or deletes (:func:`nbpipe.run.publish.gc_staging`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.core.config import DatasetConfig, Project, check_name
from nbpipe.core.layout import (
    REJECTED_SUFFIX,
    dataset_config,
    dataset_root,
    publish_work_dir,
    quarantine_name,
    tree_bytes,
)
from nbpipe.core.manifest import data_listing, read_manifest
from nbpipe.core.retention import cutoff, partition_date, run_id_date, unit_value
from nbpipe.errors import DatasetError
from nbpipe.run.publish import gc_staging
from nbpipe.run.store_queries import StoreQueries

GC_PREFIX = "gc-"  # work directories of gc's deletes: .<dataset>.publish/gc-<id>/trash


@dataclass(frozen=True)
class Item:
    """One thing gc deletes: a partition (``unit`` of ``dataset``), a run, or a staging directory."""

    kind: str  # "partition" | "quarantine" | "run" | "staging"
    owner: str  # the dataset (partitions) or pipeline (runs, staging)
    path: Path
    bytes: int
    reason: str
    unit: str = ""  # partitions: the unit under the dataset root
    run_id: str = ""  # runs

    @property
    def label(self) -> str:
        return f"{self.owner}/{self.unit}" if self.unit else (f"{self.owner}/{self.run_id}" if self.run_id else
                                                               str(self.path))


@dataclass
class Plan:
    """Everything one gc would delete, and what it keeps that it could otherwise have deleted."""

    today: dt.date
    items: list[Item] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "what: why", protected by a reader, state or policy
    counted: dict[str, int] = field(default_factory=dict)  # kinds only counted (a summary): kind -> items

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]

    def summary(self) -> dict[str, dict[str, int | None]]:
        """``{kind: {"items": n, "bytes": b}}`` for every kind with something to delete (bytes None: not measured)."""
        out: dict[str, dict[str, int | None]] = {k: {"items": n, "bytes": None} for k, n in self.counted.items() if n}
        for item in self.items:
            entry = out.setdefault(item.kind, {"items": 0, "bytes": 0})
            entry["items"] = int(entry["items"] or 0) + 1
            entry["bytes"] = int(entry["bytes"] or 0) + item.bytes
        return out


def du(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it is gone)."""
    return tree_bytes(path)


def related_pipelines(project: Project, dataset: str) -> list[str]:
    """Pipelines whose runs may read or write ``dataset`` (undeclared ones count: they may read anything)."""
    base = dataset.removesuffix(REJECTED_SUFFIX)
    out = []
    for name, cfg in project.config.pipelines.items():
        declared = {*cfg.reads, *cfg.writes}
        if not declared or base in declared or dataset in declared:
            out.append(name)
    return sorted(out)


def units_of(root: Path) -> dict[str, list[str]]:
    """Units on disk (with data files) and in the manifest, with their data files on disk.

    Both: a crash between the manifest commit and the deletes leaves units on disk only.
    """
    found = {unit: sorted(files) for unit, files in data_listing(root).items()}
    manifest = read_manifest(root)
    for unit in (manifest or {}).get("units", {}):
        found.setdefault(unit, [])
    return {u: files for u, files in found.items() if u}


def _unconsumed(project: Project, queries: StoreQueries, dataset: str, column: str) -> tuple[
        list[dict[str, Any]], dt.date | None]:
    """``files`` positions of readers of ``dataset``, and the oldest watermark date on ``column``."""
    files_positions: list[dict[str, Any]] = []
    low: dt.date | None = None
    for pipeline in related_pipelines(project, dataset):
        position = queries.store.get_state(pipeline).get(dataset)
        if not isinstance(position, dict):
            continue
        if position.get("kind") == "files":
            files_positions.append(dict(position.get("files") or {}))
        elif position.get("kind") == "watermark" and position.get("column") == column and position.get("high"):
            day = partition_date(str(position["high"]))
            if day is not None and (low is None or day < low):
                low = day
    return files_positions, low


def plan_dataset(project: Project, queries: StoreQueries, name: str, cfg: DatasetConfig, plan: Plan) -> None:
    """Add the expired partitions of ``name`` to ``plan``."""
    column = cfg.date_column()
    if cfg.retention_days is None or column is None:
        return
    root = dataset_root(project, name, cfg)
    if not root.is_dir():
        return
    limit = cutoff(plan.today, cfg.retention_days)
    files_positions, watermark = _unconsumed(project, queries, name, column)
    for unit, names in sorted(units_of(root).items()):
        value = unit_value(unit, column)
        day = partition_date(value) if value is not None else None
        if day is None:
            raise DatasetError(
                f"dataset {name!r}: partition {unit!r} has no date in its column {column!r} "
                f"(value {value!r}), so retention_days cannot apply to it",
                hint=f"set datasets.{name}.retention_column to the partition column that holds a date "
                "(yyyy-mm-dd), or remove retention_days",
            )
        if day >= limit:
            continue
        if watermark is not None and day >= watermark:
            plan.kept.append(f"{name}/{unit}: a watermark on {column} points at {watermark} or earlier")
            continue
        files = [f"{unit}/{f}" for f in names]
        if any(f not in consumed for consumed in files_positions for f in files):
            plan.kept.append(f"{name}/{unit}: an incremental reader has not read it yet")
            continue
        plan.items.append(Item("partition", name, root / unit, du(root / unit),
                               f"{column}={day} is past retention_days {cfg.retention_days}", unit=unit))


def plan_quarantine(project: Project, queries: StoreQueries, name: str, cfg: DatasetConfig, plan: Plan) -> None:
    """Add the quarantine partitions of ``name`` whose run is past ``quarantine_retention_days``."""
    days = cfg.quarantine_days()
    if days is None:
        return
    qname = quarantine_name(name)
    root = dataset_root(project, qname, dataset_config(project, qname))
    if not root.is_dir():
        return
    limit = cutoff(plan.today, days)
    units = sorted(units_of(root))
    run_ids = [unit_value(u, "nbpipe_run_id") or "" for u in units]
    starts = queries.run_starts([r for r in run_ids if r])
    for unit, run_id in zip(units, run_ids, strict=True):
        day = partition_date(starts[run_id]) if run_id in starts else run_id_date(run_id)
        if day is None:
            plan.kept.append(f"{qname}/{unit}: the date of its run is unknown")
        elif day < limit:
            plan.items.append(Item("quarantine", qname, root / unit, du(root / unit),
                                   f"run {run_id} of {day} is past {days} days", unit=unit))


def plan_runs(project: Project, queries: StoreQueries, pipeline: str | None, plan: Plan, *,
              count_only: bool = False) -> None:
    """Add the runs past ``runs.retention_days`` that no rule keeps (``count_only``: just count them)."""
    policy = project.config.runs
    limit = dt.datetime.combine(cutoff(plan.today, policy.retention_days), dt.time(), dt.UTC).isoformat()
    protected = queries.state_run_ids() | {j["run_id"] for j in queries.store.pending_publishes(pipeline)}
    for name in [pipeline] if pipeline is not None else queries.pipelines():
        protected |= queries.newest_ids(name, "failed", policy.keep_failed)
        protected |= queries.newest_ids(name, "succeeded", 1)
    if count_only:
        plan.counted["run"] = queries.count_runs_before(limit, protected, pipeline)
        return
    old = queries.runs_started_before(limit, pipeline)
    runs_dir = project.runs_dir
    for run in old:
        rid = str(run["run_id"])
        if run["status"] == "running" or rid in protected or "/" in rid or rid.startswith("."):
            continue  # (an id that could name a path outside the runs directory is never deleted)
        path = runs_dir / check_name(run["pipeline"], "pipeline") / rid
        plan.items.append(Item("run", run["pipeline"], path, du(path),
                               f"started {run['started_at'][:10]}, past runs.retention_days "
                               f"{policy.retention_days}", run_id=run["run_id"]))


def plan_staging(project: Project, pipeline: str | None, plan: Plan) -> None:
    """Add the staging of dead runs and the trash of interrupted publishes and deletes."""
    for path in gc_staging(project, project.runs_dir, pipeline=pipeline, dry_run=True):
        if path.parent.name.startswith(GC_PREFIX):
            continue  # an interrupted gc's trash: its whole work directory is listed below
        owner = path.parent.parent.name  # runs/<pipeline>/<run>/staging, or .<dataset>.publish/<run>/trash
        plan.items.append(Item("staging", owner, path, du(path), "left by a dead run or an interrupted publish"))
    if pipeline is not None:
        return
    for name in sorted(project.config.datasets):
        for root in (dataset_root(project, name), dataset_root(project, quarantine_name(name))):
            for work in sorted(publish_work_dir(root, GC_PREFIX + "*").parent.glob(GC_PREFIX + "*")):
                plan.items.append(Item("staging", name, work, du(work), "left by an interrupted gc"))


def make_plan(project: Project, queries: StoreQueries, *, today: dt.date, dataset: str | None = None,
              pipeline: str | None = None, count_runs_only: bool = False) -> Plan:
    """What gc would delete now (``--dataset``: only that dataset; ``--pipeline``: its runs, staging, outputs).

    ``count_runs_only`` (the dashboard) counts the expired runs with one aggregate instead of listing
    and measuring each run directory, so its cost does not grow with the expired history.
    """
    plan = Plan(today)
    if dataset is not None:
        names = [dataset]
        project.dataset(dataset)  # DatasetError with a did-you-mean for an unknown name
    elif pipeline is not None:
        names = sorted(project.pipeline(pipeline).writes)
    else:
        names = sorted(project.config.datasets)
    for name in names:
        if name.endswith(REJECTED_SUFFIX):
            continue
        cfg = project.dataset(name)
        plan_dataset(project, queries, name, cfg, plan)
        plan_quarantine(project, queries, name, cfg, plan)
    if dataset is None:
        plan_runs(project, queries, pipeline, plan, count_only=count_runs_only)
        plan_staging(project, pipeline, plan)
    return plan
