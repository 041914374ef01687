"""The runner side of an output's life: the atomic, idempotent publish of staged units, and clean-up.

:func:`publish` (no Spark) replaces, per unit, the warehouse directory by the one a run staged under
``<run_dir>/staging/<dataset>/`` (see :mod:`nbpipe.data.write` for how units are staged):

1. move the unit to ``.<dataset>.publish/<run_id>/incoming/<unit>`` beside the dataset root (a
   rename; a copy + rename when the staging area is on another filesystem);
2. keep the live unit's committed files in ``incoming/<unit>/.nbpipe_prev`` (hard links), so that
   reads through nbpipe still find them once the unit is swapped;
3. swap it with the live directory (``renameat2(RENAME_EXCHANGE)`` where the kernel has it: readers
   see the old or the new unit, never neither; else two renames);
4. move what came out to ``…/trash/<unit>`` and delete it;

and once every unit of the dataset is in place, commit its manifest (``_nbpipe_manifest.json``, one
atomic rename; :mod:`nbpipe.core.manifest`) and drop the kept copies. Until that commit ``ctx.read``
sees the previous publish whole; a plain reader of the folder sees each unit old or new. A dataset
replaced whole carries its new manifest inside, so the swap itself is its commit.

Each step is re-entrant: the markers tell whether ``incoming`` holds our new data or the old data
it replaced, so calling :func:`publish` again with the same events (crash recovery) rolls forward
and ends in the same state. A failed or killed run never calls publish; its staging is removed
by the runner (:func:`discard_staging`) or :func:`gc_staging`. The checks made before a publish is
journaled live in :mod:`nbpipe.run.preflight`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nbpipe.core import events, manifest
from nbpipe.core.config import Project, inside
from nbpipe.core.layout import (
    EXPLORE_DIR,
    PUBLISH_SUFFIX,
    RunDir,
    dataset_config,
    dataset_root,
    migrate_layout,
    publish_work_dir,
    read_marker,
)
from nbpipe.errors import DatasetError
from nbpipe.run import failpoints

_RENAME_EXCHANGE = 2

def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover - not glibc
        return None


_LIBC = _libc()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False when unsupported."""
    fn = getattr(_LIBC, "renameat2", None)
    if fn is None:
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: filesystem or kernel without exchange
        return False
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; copy then rename when they are on different filesystems."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV
            raise
        tmp = dst.with_name(f".{dst.name}.copying")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        os.rename(tmp, dst)
        shutil.rmtree(src)


def _units(event: dict[str, Any]) -> list[str]:
    """Publish units of one staged event: its partitions, or the whole dataset ("")."""
    if event.get("mode") == "overwrite" or not event.get("partition_by"):
        return [""]
    return [str(p) for p in event.get("partitions") or []]


def _publish_unit(staged: Path, target: Path, work: Path, unit: str, run_id: str,
                  before_swap: Callable[[Path], None]) -> None:
    """Swap one staged unit into place (re-entrant: resumes whatever an earlier call left).

    ``before_swap(incoming)`` runs once the new unit is beside the live one and before they swap
    (the manifest's kept copy or, for a whole dataset, its new manifest).
    """
    incoming = work / "incoming" / (unit or "_all")
    trash = work / "trash" / (unit or "_all")
    if staged.is_dir():
        if incoming.is_dir() and read_marker(incoming).get("run_id") == run_id:
            shutil.rmtree(staged)  # a cross-device copy completed but its source was not yet deleted
        else:
            _move(staged, incoming)
    if incoming.is_dir() and read_marker(incoming).get("run_id") == run_id:
        if target.exists() and read_marker(target).get("run_id") == run_id:
            shutil.rmtree(incoming)  # already live (published by an earlier call)
        else:
            before_swap(incoming)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(incoming, target)
            elif not _exchange(incoming, target):
                shutil.rmtree(trash, ignore_errors=True)
                _move(target, trash)
                os.rename(incoming, target)
    if incoming.exists():  # after an exchange: the old data
        shutil.rmtree(trash, ignore_errors=True)
        _move(incoming, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _staged_by_dataset(staged_events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for e in staged_events:
        if e.get("kind") not in (events.DATASET_STAGED, events.DATASET_REJECTED, None) or e.get("sandbox"):
            continue
        name = str(e["dataset"])
        cur = merged.setdefault(name, {"dataset": name, "units": [], "rows": 0, "bytes": 0, "events": []})
        cur["events"].append(e)
        for unit in _units(e):
            if unit == "":
                cur["units"] = [""]
            elif cur["units"] != [""] and unit not in cur["units"]:
                cur["units"].append(unit)
        cur["rows"] += int(e.get("rows") or 0)
        cur["bytes"] += int(e.get("bytes") or 0)
        for key in ("schema_version", "format", "partition_by", "source_dataset"):
            if e.get(key) is not None:
                cur[key] = e[key]
    return merged


def publish(project: Project, run_dir: Path, staged_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Publish a successful run's staged datasets into the warehouse.

    Only the units (partitions) named by the events are replaced; an unpartitioned dataset (or a
    write with ``mode="overwrite"``) is replaced whole. Idempotent: calling it again with the
    same events after a crash completes the publish and returns the same list.

    Args:
        project: the loaded project (locates the warehouse and datasets).
        run_dir: ``runs/<pipeline>/<run_id>``; its name is the run id.
        staged_events: the last attempt's ``dataset_staged``/``dataset_rejected`` events.

    Returns:
        One dict per dataset: ``dataset, path, partitions, rows, bytes, schema_version, format,
        run_id`` (the same on every call with the same events).

    Raises:
        DatasetError: a staged unit is missing although nothing was published, or was staged by
            another run.
    """
    run_dir = Path(run_dir)
    run_id = run_dir.name
    staging_root = RunDir(run_dir).staging
    results = []
    for name, info in sorted(_staged_by_dataset(staged_events).items()):
        cfg = dataset_config(project, name)
        root = dataset_root(project, name, cfg)
        stage = inside(staging_root, staging_root / name, f"staging of dataset {name!r}")
        work = publish_work_dir(root, run_id)
        migrate_layout(root)  # older quarantine partitions and markers: today's names, readable by every tool
        try:
            _publish_dataset(name, root, stage, work, info["units"], run_id)
        except OSError as exc:
            where = exc.filename or root
            raise DatasetError(
                f"the publish of dataset {name!r} by run {run_id!r} stopped at {where}: "
                f"{exc.strerror or exc}; readers through nbpipe still see its last committed publish",
                hint=f"make {root.parent} writable for the user running nbpipe (or free space), then run the "
                "pipeline again: its next run completes this publish first",
            ) from exc
        results.append({
            "dataset": name, "path": str(root), "partitions": [u for u in info["units"] if u],
            "rows": info["rows"], "bytes": info["bytes"], "schema_version": info.get("schema_version"),
            "format": info.get("format", cfg.format), "run_id": run_id,
        })
    return results


def _publish_dataset(name: str, root: Path, stage: Path, work: Path, units: list[str], run_id: str) -> None:
    """Swap every staged unit of one dataset into place, then commit its manifest (re-entrant)."""
    whole = units == [""]
    for unit in units:
        staged = stage / unit if unit else stage
        target = root / unit if unit else root
        live = target.exists() and read_marker(target).get("run_id") == run_id
        in_flight = (work / "incoming" / (unit or "_all")).exists()
        if not (staged.is_dir() or live or in_flight):
            raise DatasetError(
                f"cannot publish dataset {name!r}: staged unit {staged} is missing and was never published",
                hint="the run's staging was removed; rerun the pipeline",
            )
        owner = read_marker(staged).get("run_id") if staged.is_dir() else run_id
        if owner != run_id:
            raise DatasetError(f"cannot publish {staged}: it was staged by run {owner!r}, not {run_id!r}",
                               hint="rerun the pipeline; stale staging is removed by `nbpipe gc`")

        def before_swap(incoming: Path, target: Path = target) -> None:
            if whole:  # the new manifest travels with the dataset: the swap itself is the commit
                manifest.write_manifest(
                    incoming, manifest.new_manifest(name, run_id, incoming, manifest.read_manifest(root), None))
            elif target.is_dir():  # readers through nbpipe keep the committed unit until the manifest moves on
                manifest.keep_previous(target, incoming)

        _publish_unit(staged, target, work, unit, run_id, before_swap)
        failpoints.hit("mid_publish")  # crash tests: die after the first unit is swapped in
    if not whole:
        root.mkdir(parents=True, exist_ok=True)
        with manifest.manifest_lock(root):
            previous = manifest.read_manifest(root)
            if not manifest.committed(previous, run_id, units):
                manifest.write_manifest(root, manifest.new_manifest(name, run_id, root, previous, units))
        for unit in units:
            manifest.drop_previous(root / unit)
    shutil.rmtree(work, ignore_errors=True)
    if work.parent.is_dir() and not any(work.parent.iterdir()):
        work.parent.rmdir()


def discard_staging(run_dir: Path) -> bool:
    """Delete a run's staging area (failed attempt, failed run); True if there was one."""
    staging = RunDir(Path(run_dir)).staging
    existed = staging.exists()
    shutil.rmtree(staging, ignore_errors=True)
    return existed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, someone else's
        return True
    return True


def run_is_live(run_dir: Path, *, min_age_s: float = 6 * 3600) -> bool:
    """Whether a run may still be executing (so its staging must be kept).

    Finished records (``run.json`` status other than ``running``, or a ``run_finished`` event)
    are not live; a ``running`` record whose pid is gone on this host is not live; without either,
    a run whose directory changed less than ``min_age_s`` ago is presumed live.
    """
    record_path = RunDir(Path(run_dir)).record
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {}
        if record.get("status") not in (None, "running"):
            return False
        if record.get("pid") and record.get("host") in (None, socket.gethostname()):
            return _pid_alive(int(record["pid"]))
    if any(e.get("kind") == events.RUN_FINISHED for e in events.read_events(RunDir(Path(run_dir)).events)):
        return False
    newest = max((p.stat().st_mtime for p in (Path(run_dir), *Path(run_dir).glob("*")) if p.exists()), default=0.0)
    return time.time() - newest < min_age_s


def gc_staging(
    project: Project,
    runs_dir: Path,
    *,
    pipeline: str | None = None,
    exclude: Iterable[Path] = (),
    min_age_s: float = 6 * 3600,
    dry_run: bool = False,
) -> list[Path]:
    """Remove staging litter of failed or killed runs, and trash left by interrupted publishes.

    Args:
        project: the loaded project.
        runs_dir: the runs root (``runs/``), holding ``<pipeline>/<run_id>/``.
        pipeline: only this pipeline's runs (the runner calls it so under the pipeline lock).
        exclude: run directories to keep (the current run).
        min_age_s: a run without a record is presumed live for this long; pass 0 under the lock.
        dry_run: only list what would be removed.

    Returns:
        The directories removed (or that would be).
    """
    keep = {Path(p).resolve() for p in exclude}
    found: list[Path] = []
    pattern = f"{pipeline or '*'}/*/{RunDir.STAGING}"
    for staging in sorted(Path(runs_dir).glob(pattern)):
        run_dir = staging.parent
        if run_dir.resolve() in keep or run_dir.parent.name == EXPLORE_DIR:
            continue
        if not run_is_live(run_dir, min_age_s=min_age_s):
            found.append(staging)
    warehouse = project.warehouse
    if warehouse.is_dir():
        for trash in sorted(warehouse.glob(f".*{PUBLISH_SUFFIX}/*/trash")):
            found.append(trash)
    if not dry_run:
        for path in found:
            shutil.rmtree(path, ignore_errors=True)
    return found
