"""Checks the runner makes before it journals a publish: nothing is moved unless both pass.

* :func:`check_untouched`: published datasets still hold exactly what their last publish committed
  (:mod:`nbpipe.core.manifest`). A notebook that writes into a dataset's folder itself, bypassing
  ``ctx.write``, or any other program that changed it, fails the run instead of being published
  over and silently mixed with the new data.
* :func:`check_writable`: the user running nbpipe may create, swap and delete what the publish
  touches in the warehouse, so a read-only warehouse fails with the path and the fix, before the
  publish journal has an entry that the next run would have to roll forward.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.layout import dataset_config, dataset_root, publish_work_dir, quarantine_name
from nbpipe.core.manifest import MANIFEST, changes_since_commit
from nbpipe.errors import DatasetError, NbpipeError


def _roots(project: Project, names: Iterable[str]) -> dict[str, Path]:
    """Dataset name -> root, for the file datasets among ``names`` (others are skipped)."""
    roots: dict[str, Path] = {}
    for name in sorted(set(names)):
        try:
            cfg = dataset_config(project, name)
        except NbpipeError:  # an undeclared name has no folder to check
            continue
        if cfg.format in ("csv", "json", "parquet"):
            roots[name] = dataset_root(project, name, cfg)
    return roots


def outputs(project: Project, declared: Iterable[str], staged: Iterable[dict[str, Any]]) -> list[str]:
    """The datasets a run may have changed: its declared outputs, what it staged, and their quarantines."""
    names = {str(e["dataset"]) for e in staged} | set(declared)
    return sorted(names | {quarantine_name(n) for n in names if not n.endswith("__rejected")})


def check_untouched(project: Project, names: Iterable[str]) -> None:
    """Refuse to publish when a published dataset changed since its last commit.

    Raises:
        DatasetError: files were added, changed or removed outside the publish step; the message
            names the dataset, the files and ``ctx.write``. Nothing is published; the files are
            left as they are (nbpipe keeps no copy of bytes it did not publish, so it cannot
            restore them).
    """
    for name, root in _roots(project, names).items():
        changes = changes_since_commit(name, root)
        if not changes:
            continue
        raise DatasetError(
            f"dataset {name!r} was changed outside nbpipe's publish step since run "
            f"{changes.manifest.get('run_id')} published it: {changes.describe()} in {root}. Nothing was "
            "published and no state was committed; those files were left as they are",
            hint=f"write datasets only with ctx.write(df, {name!r}), never into {root} directly; then undo the "
            f"change (remove added files, restore changed or removed ones) or delete {root / MANIFEST} to accept "
            "the folder as it is now, and rerun",
        )


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _needs(root: Path, run_id: str, units: list[str]) -> list[Path]:
    """Directories a publish of ``units`` into ``root`` writes into (existing ones)."""
    dirs = [_nearest_existing(publish_work_dir(root, run_id).parent)]
    for unit in units:
        target = root / unit if unit else root
        if target.is_dir():
            dirs += [target, target.parent]  # a directory moved to another parent must be writable itself
        else:
            dirs.append(_nearest_existing(target.parent))
    if units != [""]:
        dirs.append(_nearest_existing(root))  # the manifest
    return list(dict.fromkeys(dirs))


def check_writable(project: Project, run_id: str, staged: Iterable[dict[str, Any]]) -> None:
    """Refuse to journal a publish the warehouse would refuse (read-only folder or filesystem).

    Raises:
        DatasetError: a directory the publish must write into is not writable; nothing was moved.
    """
    units: dict[str, list[str]] = {}
    for e in staged:
        name = str(e["dataset"])
        whole = e.get("mode") == "overwrite" or not e.get("partition_by")
        units.setdefault(name, []).extend([""] if whole else [str(p) for p in e.get("partitions") or []])
    for name, root in _roots(project, units).items():
        wanted = [""] if "" in units[name] else units[name]
        for directory in _needs(root, run_id, wanted):
            if not os.access(directory, os.W_OK | os.X_OK):
                raise DatasetError(
                    f"cannot publish dataset {name!r}: {directory} is not writable (read-only warehouse "
                    f"{project.warehouse}); nothing was published and no state was committed",
                    hint=f"make it writable for the user running nbpipe (e.g. `chmod -R u+w {directory}` or "
                    "remount the filesystem read-write), or point the profile's warehouse at a writable "
                    "directory, then rerun",
                )
